"""The RULER templates and answer prefixes are the reference implementation's text, word for word.

The strings below are quoted from NVIDIA/RULER, scripts/data/synthetic/constants.py (TASKS), the
needle and noise strings from scripts/data/synthetic/niah.py, the QA document format from qa.py.
"""

from __future__ import annotations

import pytest

from course_lib.longctx.ruler import templates
from course_lib.longctx.ruler.tasks import generate_sample
from course_lib.longctx.ruler.text import course_tokenizer

REFERENCE = {
    "niah": (
        """Some special magic {type_needle_v} are hidden within the following text. Make sure to memorize it. I will quiz you about the {type_needle_v} afterwards.\n{context}\nWhat are all the special magic {type_needle_v} for {query} mentioned in the provided text?""",
        """ The special magic {type_needle_v} for {query} mentioned in the provided text are""",
        128,
    ),
    "variable_tracking": (
        """Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n{context}\nQuestion: Find all variables that are assigned the value {query} in the text above.""",
        """ Answer: According to the chain(s) of variable assignment in the text above, {num_v} variables are assigned the value {query}, they are: """,
        30,
    ),
    "common_words_extraction": (
        """Below is a numbered list of words. In these words, some appear more often than others. Memorize the ones that appear most often.\n{context}\nQuestion: What are the 10 most common words in the above list?""",
        """ Answer: The top 10 words that appear most often in the list are:""",
        120,
    ),
    "freq_words_extraction": (
        """Read the following coded text and track the frequency of each coded word. Find the three most frequently appeared coded words. {context}\nQuestion: Do not provide any explanation. Please ignore the dots '....'. What are the three most frequently appeared words in the above coded text?""",
        """ Answer: According to the coded text above, the three most frequently appeared words are:""",
        50,
    ),
    "qa": (
        """Answer the question based on the given documents. Only give me the answer and do not output any other words.\n\nThe following are given documents.\n\n{context}\n\nAnswer the question based on the given documents. Only give me the answer and do not output any other words.\n\nQuestion: {query}""",
        """ Answer:""",
        32,
    ),
}


@pytest.mark.parametrize("family", sorted(REFERENCE))
def test_template_prefix_and_budget_match_the_reference(family):
    template, prefix, budget = REFERENCE[family]
    assert templates.TEMPLATES[family] == template
    assert templates.ANSWER_PREFIXES[family] == prefix
    assert templates.TOKENS_TO_GENERATE[family] == budget


def test_needle_noise_and_document_strings():
    assert templates.NEEDLE == "One of the special magic {type_needle_v} for {key} is: {value}."
    assert templates.NOISE == "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
    assert templates.DOCUMENT == "Document {i}:\n{document}"


def test_metrics_per_family():
    assert templates.METRICS == {
        "niah": "string_match_all", "variable_tracking": "string_match_all", "common_words_extraction": "string_match_all",
        "freq_words_extraction": "string_match_all", "qa": "string_match_part",
    }


def test_the_13_tasks_of_synthetic_yaml():
    t = templates.TASKS
    assert list(t) == ["niah_single_1", "niah_single_2", "niah_single_3", "niah_multikey_1", "niah_multikey_2", "niah_multikey_3",
                       "niah_multivalue", "niah_multiquery", "vt", "cwe", "fwe", "qa_1", "qa_2"]
    assert t["niah_single_1"].args["type_haystack"] == "noise" and t["niah_single_3"].args["type_needle_v"] == "uuids"
    assert t["niah_multikey_1"].args["num_needle_k"] == 4 and t["niah_multikey_2"].args["type_haystack"] == "needle"
    assert t["niah_multikey_3"].args["type_needle_k"] == "uuids" and t["niah_multivalue"].args["num_needle_v"] == 4
    assert t["niah_multiquery"].args["num_needle_q"] == 4
    assert t["vt"].args == {"type_haystack": "noise", "num_chains": 1, "num_hops": 4}
    assert t["cwe"].args == {"freq_cw": 30, "freq_ucw": 3, "num_cw": 10} and t["fwe"].args == {"alpha": 2.0}


REDUCED = {"niah": 48, "variable_tracking": 30, "common_words_extraction": 40, "freq_words_extraction": 24, "qa": 16}


@pytest.mark.parametrize("task,expected_start,expected_prefix", [
    # one value asked for: the reference rewrites Some -> A, are -> is and drops the plural s
    ("niah_single_2", "A special magic number is hidden within the following text. Make sure to memorize it. I will quiz you about the number afterwards.\n",
     " The special magic number for {q} mentioned in the provided text is"),
    ("niah_multivalue", "Some special magic numbers are hidden within the following text. Make sure to memorize it. I will quiz you about the numbers afterwards.\n",
     " The special magic numbers for {q} mentioned in the provided text are"),
    ("niah_single_3", "A special magic uuid is hidden within the following text.", " The special magic uuid for {q} mentioned in the provided text is"),
])
def test_rendered_niah_prompts_use_the_reference_wording(task, expected_start, expected_prefix):
    sample = generate_sample(task, 1024, course_tokenizer(), tokens_to_generate=REDUCED)
    assert sample.input.startswith(expected_start)
    question = sample.input.rsplit("\n", 1)[1]
    query = question.split(" for ", 1)[1].split(" mentioned", 1)[0]
    assert sample.answer_prefix == expected_prefix.format(q=query)
    singular = expected_prefix.endswith(" is")
    assert question.startswith("What is the special" if singular else "What are all the special")


def test_rendered_prompts_of_other_families_end_with_their_question_and_prefix():
    tok = course_tokenizer()
    vt = generate_sample("vt", 1024, tok, tokens_to_generate=REDUCED, vt_example_length=160)
    assert vt.answer_prefix == REFERENCE["variable_tracking"][1].format(num_v=5, query=vt.input.split("assigned the value ")[-1].split(" ")[0])
    assert vt.input.count("Memorize and track the chain(s)") == 2  # the one-shot example, then the task
    cwe = generate_sample("cwe", 1024, tok, tokens_to_generate=REDUCED)
    assert cwe.input.endswith("\nQuestion: What are the 10 most common words in the above list?")
    assert cwe.input.count("Below is a numbered list of words.") == 2  # one-shot example with its answer
    fwe = generate_sample("fwe", 1024, tok, tokens_to_generate=REDUCED)
    assert fwe.input.startswith("Read the following coded text and track the frequency of each coded word. Find the three most frequently appeared coded words. ")
    qa = generate_sample("qa_1", 1024, tok, tokens_to_generate=REDUCED)
    assert "\n\nDocument 1:\n" in qa.input and qa.answer_prefix == " Answer:"
