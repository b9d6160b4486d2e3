"""The RULER task definitions: templates, answer prefixes, token budgets and metrics (chapter 02).

RULER (Hsieh et al., 2024, arXiv 2404.06654) builds 13 tasks out of five task families. The
text of every template and answer prefix below is the reference implementation's
(NVIDIA/RULER, ``scripts/data/synthetic/constants.py``), and the 13 task configurations are
its ``scripts/synthetic.yaml``. A prompt is ``template.format(...) + answer_prefix``; a chat
model gets the template as the user turn and the answer prefix at the start of its own turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NEEDLE = "One of the special magic {type_needle_v} for {key} is: {value}."
NOISE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
DOCUMENT = "Document {i}:\n{document}"

TEMPLATES = {
    "niah": (
        "Some special magic {type_needle_v} are hidden within the following text. Make sure to memorize it. "
        "I will quiz you about the {type_needle_v} afterwards.\n{context}\n"
        "What are all the special magic {type_needle_v} for {query} mentioned in the provided text?"
    ),
    "variable_tracking": (
        "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n{context}\n"
        "Question: Find all variables that are assigned the value {query} in the text above."
    ),
    "common_words_extraction": (
        "Below is a numbered list of words. In these words, some appear more often than others. "
        "Memorize the ones that appear most often.\n{context}\n"
        "Question: What are the 10 most common words in the above list?"
    ),
    "freq_words_extraction": (
        "Read the following coded text and track the frequency of each coded word. Find the three most "
        "frequently appeared coded words. {context}\nQuestion: Do not provide any explanation. Please ignore "
        "the dots '....'. What are the three most frequently appeared words in the above coded text?"
    ),
    "qa": (
        "Answer the question based on the given documents. Only give me the answer and do not output any other "
        "words.\n\nThe following are given documents.\n\n{context}\n\nAnswer the question based on the given "
        "documents. Only give me the answer and do not output any other words.\n\nQuestion: {query}"
    ),
}

ANSWER_PREFIXES = {
    "niah": " The special magic {type_needle_v} for {query} mentioned in the provided text are",
    "variable_tracking": (
        " Answer: According to the chain(s) of variable assignment in the text above, {num_v} variables are "
        "assigned the value {query}, they are: "
    ),
    "common_words_extraction": " Answer: The top 10 words that appear most often in the list are:",
    "freq_words_extraction": " Answer: According to the coded text above, the three most frequently appeared words are:",
    "qa": " Answer:",
}

# Tokens to generate per family (the paper's budgets); the prompt plus this budget fills the length.
TOKENS_TO_GENERATE = {
    "niah": 128,
    "variable_tracking": 30,
    "common_words_extraction": 120,
    "freq_words_extraction": 50,
    "qa": 32,
}

# Metric per family (reference scripts/eval/synthetic/constants.py).
METRICS = {
    "niah": "string_match_all",
    "variable_tracking": "string_match_all",
    "common_words_extraction": "string_match_all",
    "freq_words_extraction": "string_match_all",
    "qa": "string_match_part",
}


def singular_niah(text: str) -> str:
    """The reference's rewording of the NIAH template + prefix when one value is asked for:
    ``Some`` -> ``A``, ``are all`` -> ``is``, ``are`` -> ``is``, ``answers`` -> ``answer`` (niah.py)."""
    return text.replace("Some", "A").replace("are all", "is").replace("are", "is").replace("answers", "answer")


@dataclass(frozen=True)
class TaskSpec:
    """One of the 13 RULER tasks: its family and the generator arguments of ``synthetic.yaml``."""

    name: str
    family: str
    args: dict = field(default_factory=dict)

    @property
    def category(self) -> str:
        """The paper's grouping (Table 2): retrieval, multi-hop tracing, aggregation, question answering."""
        return {"niah": "retrieval", "variable_tracking": "multi-hop tracing", "qa": "question answering"}.get(
            self.family, "aggregation"
        )


def _niah(name: str, haystack: str, key: str, value: str, k: int = 1, v: int = 1, q: int = 1) -> TaskSpec:
    args = dict(type_haystack=haystack, type_needle_k=key, type_needle_v=value, num_needle_k=k, num_needle_v=v, num_needle_q=q)
    return TaskSpec(name, "niah", args)


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in [
        _niah("niah_single_1", "noise", "words", "numbers"),
        _niah("niah_single_2", "essay", "words", "numbers"),
        _niah("niah_single_3", "essay", "words", "uuids"),
        _niah("niah_multikey_1", "essay", "words", "numbers", k=4),
        _niah("niah_multikey_2", "needle", "words", "numbers"),
        _niah("niah_multikey_3", "needle", "uuids", "uuids"),
        _niah("niah_multivalue", "essay", "words", "numbers", v=4),
        _niah("niah_multiquery", "essay", "words", "numbers", q=4),
        TaskSpec("vt", "variable_tracking", dict(type_haystack="noise", num_chains=1, num_hops=4)),
        TaskSpec("cwe", "common_words_extraction", dict(freq_cw=30, freq_ucw=3, num_cw=10)),
        TaskSpec("fwe", "freq_words_extraction", dict(alpha=2.0)),
        TaskSpec("qa_1", "qa", dict(dataset="squad")),
        TaskSpec("qa_2", "qa", dict(dataset="hotpotqa")),
    ]
}
TASK_NAMES = tuple(TASKS)
