"""A synthetic-fact QA generator: the offline substitute for SQuAD and HotpotQA (chapter 02).

RULER's QA tasks hide the golden paragraph(s) of a real QA pair among distractor paragraphs
(qa_1: SQuAD, one golden paragraph; qa_2: HotpotQA, two that must be combined). No
license-clean real QA set ships offline, so this module writes short fact documents about
invented people and towns, one golden document for qa_1 and a two-hop pair for qa_2. It is a
stand-in for the real data, not a reproduction of it: a notebook that uses it says so.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from course_lib.longctx.ruler.words import NOUNS

FIRST_NAMES = tuple("""Ada Bram Cleo Dario Elin Faro Greta Hugo Iris Jonas Kaia Lior Mira Nilo Orla Pavel Quin
Rosa Soren Tala Ulla Vito Wren Xena Yara Zeno Alba Bruno Cora Dex Esme Finn Gala Hale Ines Jura""".split())
LAST_NAMES = tuple("""Ashby Brandt Corvin Dale Ennis Falk Garrow Hollis Ivers Jarret Kell Lorne Marsh Norrell
Oakes Penrose Quill Rook Stroud Thorne Upton Vance Wilde Yorke Zell Abney Birch Calder Dunmore Elway""".split())
TOWNS = tuple("""Ambervale Brightwater Cinderford Dunhollow Elmstead Fernridge Glenmoor Harrowgate Ivywick
Juniper Kestrel Larkspur Millbrook Northcliff Oakhaven Pinecrest Quarry Redfield Saltmarsh Thornbury
Underhill Violetmere Westbrook Yarrow Zephyrton Ashcombe Briarwood Coldspring Deepwell Eastmere""".split())
COUNTRIES = tuple("""Avaland Belmoria Corvania Drenmark Estoria Fenwyn Galdora Hestia Istvania Jorvik Kaldor
Lumeria Morvath Norland Ostria Pellan""".split())
JOBS = tuple("""baker painter sailor teacher farmer doctor pilot weaver carpenter singer potter miner
gardener jeweler librarian fisher""".split())

PERSON_DOC = "{name} was born in {town}. {name} works as a {job} and lives near the old {place}."
TOWN_DOC = "{town} is a town in the country of {country}. The town is known for its {thing}."
QUESTIONS = {
    "born": "Where was {name} born?",
    "job": "What does {name} work as?",
    "country": "In which country was {name} born?",
}
QA_WORDS = tuple(
    {w.strip(".?,") for text in (PERSON_DOC, TOWN_DOC, *QUESTIONS.values()) for w in text.split() if "{" not in w}
) + FIRST_NAMES + LAST_NAMES + TOWNS + COUNTRIES + JOBS


@dataclass
class QAItem:
    """A question, its answers and its golden documents (1 for qa_1, 2 for qa_2)."""

    question: str
    answers: list[str]
    golden: list[str]


def _person(rng: random.Random, name: str, town: str) -> str:
    return PERSON_DOC.format(name=name, town=town, job=rng.choice(JOBS), place=rng.choice(NOUNS))


def _town(rng: random.Random, town: str, country: str) -> str:
    return TOWN_DOC.format(town=town, country=country, thing=rng.choice(NOUNS))


def make_item(rng: random.Random, dataset: str) -> QAItem:
    """One QA item: ``squad`` asks a fact of one document, ``hotpotqa`` chains two documents."""
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    town = rng.choice(TOWNS)
    if dataset == "squad":
        doc = _person(rng, name, town)
        kind = rng.choice(["born", "job"])
        answer = town if kind == "born" else doc.split(" works as a ")[1].split(" and ")[0]
        return QAItem(QUESTIONS[kind].format(name=name), [answer], [doc])
    if dataset == "hotpotqa":
        country = rng.choice(COUNTRIES)
        return QAItem(QUESTIONS["country"].format(name=name), [country], [_person(rng, name, town), _town(rng, town, country)])
    raise ValueError(f"dataset={dataset!r}: the synthetic QA generator knows 'squad' (qa_1) and 'hotpotqa' (qa_2)")


def distractor(rng: random.Random, item: QAItem) -> str:
    """A distractor document that never contradicts ``item``: about another person or another town."""
    golden_text = " ".join(item.golden)
    while True:
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        town = rng.choice(TOWNS)
        if rng.random() < 0.5 and name not in golden_text:
            return _person(rng, name, town)
        if town not in golden_text:
            return _town(rng, town, rng.choice(COUNTRIES))
