r"""The 13 RULER task generators with length control under any tokenizer (chapter 02).

Every sample is drawn from its own random generator, seeded by ``(seed, task, length, index)``:
sample ``i`` is the same whatever else was generated before it. A generator first draws a
*plan* (keys, values, insertion depths, the stream of distractors...) and then *renders* it
with a haystack of ``size`` units (essay words, list words or coded words; whole noise
paragraphs, distractor needles or documents, as in the reference). The number of tokens grows
with ``size``, so a binary search finds the largest haystack for which

.. math:: \text{tokens}(\text{input} + \text{answer prefix}) + \text{tokens to generate} \le \text{length},

which is the reference implementation's definition of a sample of length ``length``.
"""

from __future__ import annotations

import math
import random
import string
import uuid
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Callable

from course_lib.longctx.ruler import qa as qa_facts
from course_lib.longctx.ruler.templates import (
    ANSWER_PREFIXES,
    DOCUMENT,
    NEEDLE,
    NOISE,
    TASKS,
    TEMPLATES,
    TOKENS_TO_GENERATE,
    singular_niah,
)
from course_lib.longctx.ruler.text import count_tokens, essay_text, split_sentences
from course_lib.longctx.ruler.words import ADJECTIVES, NOUNS, VERBS

# Insertion depths: 40 evenly spaced percentages from 0 to 100 (reference niah.py).
DEPTHS = [int(round(100 * i / 39)) for i in range(40)]


@dataclass
class Sample:
    """One RULER sample: the user turn ``input``, the ``answer_prefix`` that starts the answer,
    the reference ``outputs`` and the token counts under the tokenizer it was built for."""

    task: str
    length: int
    index: int
    input: str
    answer_prefix: str
    outputs: list[str]
    tokens_to_generate: int
    prompt_tokens: int
    haystack_size: int
    meta: dict = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        """What a base model reads: the input followed by the answer prefix."""
        return self.input + self.answer_prefix

    @property
    def total_tokens(self) -> int:
        """Prompt tokens plus the generation budget: at most ``length``, and close to it."""
        return self.prompt_tokens + self.tokens_to_generate


# ---------------------------------------------------------------- random values
def random_number(rng: random.Random, num_digits: int = 7) -> str:
    """A random ``num_digits``-digit number (reference: 7 digits)."""
    return str(rng.randint(10 ** (num_digits - 1), 10**num_digits - 1))


def random_uuid(rng: random.Random) -> str:
    """A random version-4 UUID."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def random_key_word(rng: random.Random) -> str:
    """An ``adjective-noun`` key, as the reference draws from the wonderwords lists."""
    return f"{rng.choice(ADJECTIVES)}-{rng.choice(NOUNS)}"


def random_value(rng: random.Random, kind: str) -> str:
    if kind == "numbers":
        return random_number(rng)
    if kind == "words":
        return random_key_word(rng)
    if kind == "uuids":
        return random_uuid(rng)
    raise ValueError(f"needle type {kind!r}: choose 'numbers', 'words' or 'uuids'")


# ---------------------------------------------------------------- haystack pieces
def take_units(units: Callable[[int], str], count: int) -> list[str]:
    """Whole units ``units(0), ..., units(count - 1)``: the essay's words (the reference counts the essay in
    words, so its last sentence may be cut), and the noise, distractor-needle and document haystacks, which the
    reference builds from whole sentences, needles and documents (never a cut one)."""
    return [units(i) for i in range(count)]


def insert_at_depths(pieces: list[str], items: list[str], depths: list[int]) -> list[str]:
    """Insert ``items[j]`` before piece ``int(len(pieces) * depths[j] / 100)`` (depth in percent)."""
    positions = sorted(int(len(pieces) * d / 100) for d in depths)
    out, start = [], 0
    for position, item in zip(positions, items):
        out.extend(pieces[start:position])
        out.append(item)
        start = position
    out.extend(pieces[start:])
    return out


class Stream:
    """An endless list drawn on demand from its own generator: ``stream(i)`` never changes."""

    def __init__(self, seed: int, draw: Callable[[random.Random], str]) -> None:
        self.rng, self.draw, self.items = random.Random(seed), draw, []

    def __call__(self, i: int) -> str:
        while len(self.items) <= i:
            self.items.append(self.draw(self.rng))
        return self.items[i]


@lru_cache(maxsize=1)
def essay_words() -> tuple[str, ...]:
    """The essay haystack as words (the reference splits the essays on whitespace too)."""
    return tuple(essay_text().split())


def _essay_unit(i: int) -> str:
    words = essay_words()
    return words[i % len(words)]


def haystack_pieces(kind: str, size: int, stream: Stream | None = None) -> tuple[list[str], str]:
    """The haystack of ``size`` units as insertion slots, and the string that joins them.

    essay: ``size`` words, split into sentences and joined by spaces (the essay repeats when it runs
    out, as in the reference); noise: ``size`` copies of the noise paragraph, one per line; needle:
    ``size`` whole distractor needles, one per line.
    """
    if kind == "essay":
        text = " ".join(take_units(_essay_unit, size))
        return split_sentences(text), " "
    if kind == "noise":
        return take_units(lambda i: NOISE, size), "\n"
    if kind == "needle":
        return take_units(stream, size), "\n"
    raise ValueError(f"haystack type {kind!r}: choose 'essay', 'noise' or 'needle'")


# ---------------------------------------------------------------- the five families
Rendered = tuple[str, str, list[str]]  # input, answer prefix, outputs


def niah_plan(rng: random.Random, args: dict) -> dict:
    """Keys, values, needles and their depths for one NIAH sample (reference niah.py)."""
    num_k = max(args["num_needle_k"], args["num_needle_q"])
    kind_k, kind_v = args["type_needle_k"], args["type_needle_v"]
    keys, values, needles = [], [], []
    for _ in range(num_k):
        keys.append(random_value(rng, kind_k))
        values.append([random_value(rng, kind_v) for _ in range(args["num_needle_v"])])
        needles.extend(NEEDLE.format(type_needle_v=kind_v, key=keys[-1], value=v) for v in values[-1])
    rng.shuffle(needles)  # the reference reseeds this shuffle: every sample gets the same permutation
    queried = rng.sample(range(num_k), args["num_needle_q"])

    def distractor(r: random.Random) -> str:  # a needle with a key that is not one of the sample's keys
        key = random_value(r, kind_k)
        while key in keys:
            key = random_value(r, kind_k)
        return NEEDLE.format(type_needle_v=kind_v, key=key, value=random_value(r, kind_v))

    stream = Stream(rng.getrandbits(64), distractor)
    return dict(keys=keys, values=values, needles=needles, depths=rng.sample(DEPTHS, len(needles)),
                queried=queried, stream=stream)


def niah_render(plan: dict, args: dict, size: int) -> Rendered:
    pieces, joiner = haystack_pieces(args["type_haystack"], size, plan["stream"])
    context = joiner.join(p for p in insert_at_depths(pieces, plan["needles"], plan["depths"]) if p)
    queries = [plan["keys"][i] for i in plan["queried"]]
    outputs = [v for i in plan["queried"] for v in plan["values"][i]]
    query = ", ".join(queries[:-1]) + ", and " + queries[-1] if len(queries) > 1 else queries[0]
    template, prefix, kind_v = TEMPLATES["niah"], ANSWER_PREFIXES["niah"], args["type_needle_v"]
    if args["num_needle_q"] * args["num_needle_v"] == 1:
        template, prefix, kind_v = singular_niah(template), singular_niah(prefix), kind_v[:-1]
    fill = dict(type_needle_v=kind_v, context=context, query=query)
    return template.format(**fill), prefix.format(**fill), outputs


def vt_chain(rng: random.Random, num_hops: int, name_len: int = 5) -> tuple[list[str], list[str]]:
    """Variable names and the lines ``VAR A = 12345``, ``VAR B = VAR A `` ... of one chain."""
    names: list[str] = []
    while len(names) < num_hops + 1:
        name = "".join(rng.choices(string.ascii_uppercase, k=name_len))
        if name not in names:
            names.append(name)
    lines = [f"VAR {names[0]} = {rng.randint(10000, 99998)}"]
    lines += [f"VAR {names[j + 1]} = VAR {names[j]} " for j in range(num_hops)]
    return names, lines


def vt_plan(rng: random.Random, args: dict, name_len: int = 5) -> dict:
    chains = [vt_chain(rng, args["num_hops"], name_len) for _ in range(args["num_chains"])]
    depths = [sorted(rng.sample(DEPTHS, args["num_hops"] + 1)) for _ in chains]
    return dict(chains=chains, depths=depths)


def vt_render(plan: dict, args: dict, size: int) -> Rendered:
    """``size`` noise lines with the chain lines inserted in order (reference variable_tracking.py)."""
    sentences = take_units(lambda i: NOISE, size)
    for (_, lines), depths in zip(plan["chains"], plan["depths"]):
        sentences = insert_at_depths(sentences, lines, depths)
    context = "\n".join(sentences).replace(". \n", ".\n")
    names, lines = plan["chains"][0]
    value = lines[0].split("=")[-1].strip()
    fill = dict(context=context, query=value, num_v=args["num_hops"] + 1)
    return TEMPLATES["variable_tracking"].format(**fill), ANSWER_PREFIXES["variable_tracking"].format(**fill), names


def cwe_pool() -> tuple[list[str], list[str]]:
    """Words for the CWE lists: the word lists, and lower-case essay words for when more are
    needed (the reference: the wonderwords lists, then its larger English word list)."""
    base = sorted(set(NOUNS) | set(ADJECTIVES) | set(VERBS))
    extra = sorted({w for w in essay_words() if w.isalpha() and w.islower() and len(w) > 3} - set(base))
    return base, extra


def cwe_list(rng: random.Random, pool: list[str], num_words: int, repeats: tuple[int, int], num_cw: int) -> tuple[str, list[str]]:
    """A numbered list: ``num_cw`` common words ``repeats[0]`` times, the others ``repeats[1]`` times."""
    if num_words > len(pool):
        raise ValueError(f"CWE needs {num_words} distinct words and the pool holds {len(pool)}: use a shorter length")
    chosen = pool[:num_words]
    common, uncommon = chosen[:num_cw], chosen[num_cw:]
    words = common * repeats[0] + uncommon * repeats[1]
    rng.shuffle(words)
    return " ".join(f"{i + 1}. {w}" for i, w in enumerate(words)), common


def cwe_repeats(length: int) -> tuple[tuple[int, int, int], tuple[int, int]]:
    """(example words, common, uncommon repeats) of the one-shot example and the (common,
    uncommon) repeats of the list: the reference's small setting below 4096 tokens."""
    return ((20, 3, 1), (6, 1)) if length < 4096 else ((40, 10, 3), (30, 3))


def cwe_plan(rng: random.Random, args: dict, length: int) -> dict:
    base, extra = cwe_pool()
    (n_ex, c_ex, u_ex), repeats = cwe_repeats(length)
    example_context, example_answer = cwe_list(rng, rng.sample(base, len(base)), n_ex, (c_ex, u_ex), args["num_cw"])
    pool = rng.sample(base, len(base)) + rng.sample(extra, len(extra))
    return dict(pool=pool, repeats=repeats, seed=rng.getrandbits(64),
                example=(example_context, example_answer))


def numbered(words: list[str]) -> str:
    return " ".join(f"{i + 1}. {w}" for i, w in enumerate(words))


def cwe_render(plan: dict, args: dict, size: int) -> Rendered:
    """One-shot example, then the list (reference common_words_extraction.py)."""
    template = TEMPLATES["common_words_extraction"] + ANSWER_PREFIXES["common_words_extraction"]
    example_context, example_answer = plan["example"]
    example = template.format(context=example_context) + " " + numbered(example_answer)
    context, common = cwe_list(random.Random(plan["seed"]), plan["pool"], args["num_cw"] + size, plan["repeats"], args["num_cw"])
    fill = dict(context=context)
    text = example + "\n" + TEMPLATES["common_words_extraction"].format(**fill)
    return text, ANSWER_PREFIXES["common_words_extraction"], common


def zeta(alpha: float, terms: int = 100_000) -> float:
    r""":math:`\zeta(\alpha) = \sum_{k \ge 1} k^{-\alpha}` (series plus the integral of its tail), alpha > 1."""
    if alpha <= 1:
        raise ValueError(f"alpha={alpha}: the Zeta distribution needs alpha > 1")
    return math.fsum(k**-alpha for k in range(1, terms)) + terms ** (1 - alpha) / (alpha - 1)


def fwe_plan(rng: random.Random, args: dict, length: int) -> dict:
    """A coded vocabulary of ``(length - budget) // 50`` six-letter words, rank 1 replaced by '...'."""
    vocab_size = max(4, (length - args["budget"]) // 50)
    vocab: list[str] = []
    while len(vocab) < vocab_size:
        word = "".join(rng.choices(string.ascii_lowercase, k=args.get("coded_wordlen", 6)))
        if word not in vocab:
            vocab.append(word)
    vocab[0] = "..."  # the most frequent word is noise
    return dict(vocab=vocab, seed=rng.getrandbits(64))


def fwe_counts(num_words: int, vocab_size: int, alpha: float) -> list[int]:
    r"""Word counts :math:`\lfloor n\,k^{-\alpha} / \zeta(\alpha) \rfloor` for ranks k = 1..V (Zeta law)."""
    z = zeta(alpha)
    return [int(num_words * k**-alpha / z) for k in range(1, vocab_size + 1)]


def fwe_render(plan: dict, args: dict, size: int) -> Rendered:
    """Coded words drawn with Zeta(alpha) frequencies, shuffled (reference freq_words_extraction.py)."""
    counts = fwe_counts(size, len(plan["vocab"]), args["alpha"])
    words = [w for w, c in zip(plan["vocab"], counts) for _ in range(c)]
    random.Random(plan["seed"]).shuffle(words)
    text = TEMPLATES["freq_words_extraction"].format(context=" ".join(words))
    return text, ANSWER_PREFIXES["freq_words_extraction"], plan["vocab"][1:4]


def qa_plan(rng: random.Random, args: dict) -> dict:
    item = qa_facts.make_item(rng, args["dataset"])
    stream = Stream(rng.getrandbits(64), lambda r: qa_facts.distractor(r, item))
    return dict(item=item, stream=stream, depths=rng.sample(DEPTHS, len(item.golden)))


def qa_render(plan: dict, args: dict, size: int) -> Rendered:
    """Golden documents among ``size`` whole distractor documents, numbered ``Document i:`` (reference qa.py)."""
    item = plan["item"]
    docs = insert_at_depths(take_units(plan["stream"], size), item.golden, plan["depths"])
    context = "\n\n".join(DOCUMENT.format(i=i + 1, document=d) for i, d in enumerate(docs))
    return TEMPLATES["qa"].format(context=context, query=item.question), ANSWER_PREFIXES["qa"], list(item.answers)


# ---------------------------------------------------------------- length control
def largest_fitting(fits: Callable[[int], bool], start: int = 16) -> int | None:
    """The largest ``size >= 0`` with ``fits(size)``, for ``fits`` true up to some size and false
    after: doubling to bracket it, then binary search. None when even size 0 does not fit."""
    if not fits(0):
        return None
    low, high = 0, max(1, start)
    while fits(high):
        low, high = high, high * 2
    while high - low > 1:  # fits(low) and not fits(high)
        mid = (low + high) // 2
        if fits(mid):
            low = mid
        else:
            high = mid
    return low


def sample_rng(seed: int, task: str, length: int, index: int) -> random.Random:
    """The generator of one sample: the same sample whatever was generated before it."""
    return random.Random(f"ruler|{seed}|{task}|{length}|{index}")


def _planner(task: str, length: int, budget: int) -> tuple[Callable, Callable]:
    spec = TASKS[task]
    args = dict(spec.args, budget=budget)
    family = spec.family
    if family == "niah":
        return (lambda rng: niah_plan(rng, args)), (lambda plan, n: niah_render(plan, args, n))
    if family == "variable_tracking":
        return (lambda rng: vt_plan(rng, args)), (lambda plan, n: vt_render(plan, args, n))
    if family == "common_words_extraction":
        return (lambda rng: cwe_plan(rng, args, length)), (lambda plan, n: cwe_render(plan, args, n))
    if family == "freq_words_extraction":
        return (lambda rng: fwe_plan(rng, args, length)), (lambda plan, n: fwe_render(plan, args, n))
    return (lambda rng: qa_plan(rng, args)), (lambda plan, n: qa_render(plan, args, n))


def vt_example(rng: random.Random, tokenizer, example_length: int, args: dict) -> str:
    """The one-shot VT example: a chain of 3-letter names in ``example_length`` tokens, answered
    (reference: a 500-token example, ``input + " " + answer + "\\n"``)."""
    plan = vt_plan(rng, args, name_len=3)

    def text(n: int) -> str:
        user, prefix, names = vt_render(plan, args, n)
        return user + prefix + " " + " ".join(names) + "\n"

    size = largest_fitting(lambda n: count_tokens(tokenizer, text(n)) <= example_length, start=4)
    return text(size or 0)


def generate_sample(
    task: str,
    length: int,
    tokenizer,
    index: int = 0,
    seed: int = 0,
    tokens_to_generate: dict[str, int] | None = None,
    vt_example_length: int = 500,
    haystack_size: int | None = None,
) -> Sample:
    """Sample ``index`` of ``task`` at ``length`` tokens under ``tokenizer`` (reproducible).

    ``tokens_to_generate`` maps a family to its budget (default: the paper's); the prompt gets the
    largest haystack for which prompt tokens + budget <= length. ``haystack_size`` renders the same
    sample with a haystack of that many units instead (it may then be longer than ``length``): how
    the tests check that one more unit would not have fitted.
    """
    if task not in TASKS:
        raise KeyError(f"unknown RULER task {task!r}; the 13 tasks are: {', '.join(TASKS)}")
    family = TASKS[task].family
    budget = (tokens_to_generate or TOKENS_TO_GENERATE)[family]
    rng = sample_rng(seed, task, length, index)
    plan_fn, render = _planner(task, length, budget)
    plan = plan_fn(rng)
    example = ""
    if family == "variable_tracking":
        example = vt_example(rng, tokenizer, vt_example_length, TASKS[task].args) + "\n"

    def build(n: int) -> Rendered:
        user, prefix, outputs = render(plan, n)
        return example + user, prefix, outputs

    def fits(n: int) -> bool:
        user, prefix, _ = build(n)
        return count_tokens(tokenizer, user + prefix) + budget <= length

    size = largest_fitting(fits) if haystack_size is None else haystack_size
    if size is None:
        user, prefix, _ = build(0)
        need = count_tokens(tokenizer, user + prefix) + budget
        raise ValueError(
            f"length={length} is too short for task {task!r}: its prompt without haystack and its "
            f"{budget}-token answer budget already take {need} tokens; use a length of at least {need}"
        )
    user, prefix, outputs = build(size)
    return Sample(task, length, index, user, prefix, outputs, budget, count_tokens(tokenizer, user + prefix), size)


def generate_samples(
    task: str, length: int, tokenizer, num_samples: int, seed: int = 0, **kwargs
) -> list[Sample]:
    """Samples ``0 .. num_samples - 1`` of ``task`` at ``length`` (see :func:`generate_sample`)."""
    return [generate_sample(task, length, tokenizer, i, seed, **kwargs) for i in range(num_samples)]
