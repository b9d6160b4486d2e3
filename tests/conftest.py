"""Shared test helpers: grade a notebook and report every notebook's run time at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from course_lib.grading.grader import GradeResult, grade

REPO_ROOT = Path(__file__).resolve().parents[1]

def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests marked ``gpu`` where no CUDA GPU is visible, saying so."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU and none is visible here (run it on a GPU machine: pytest -m gpu)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


# (label, seconds) of every notebook run by the suite, printed in the terminal summary.
NOTEBOOK_DURATIONS: list[tuple[str, float]] = []


@pytest.fixture
def record_notebook_duration() -> Callable[[str, float], None]:
    """Record that a notebook run labelled ``label`` took ``seconds``."""
    return lambda label, seconds: NOTEBOOK_DURATIONS.append((label, seconds))


@pytest.fixture
def grade_notebook(record_notebook_duration) -> Callable[..., GradeResult]:
    """``grade(...)`` that also records the run's duration, labelled with ``label``."""

    def run(notebook: Path, solution: Path | None = None, *, label: str, **kwargs) -> GradeResult:
        result = grade(notebook, solution, **kwargs)
        record_notebook_duration(label, result.duration_s)
        return result

    return run


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how long each notebook executed by the suite took."""
    if not NOTEBOOK_DURATIONS:
        return
    terminalreporter.ensure_newline()
    terminalreporter.section("notebook run times")
    width = max(len(label) for label, _ in NOTEBOOK_DURATIONS)
    for label, seconds in NOTEBOOK_DURATIONS:
        terminalreporter.write_line(f"{label.ljust(width)}  {seconds:7.1f} s")
    total = sum(seconds for _, seconds in NOTEBOOK_DURATIONS)
    terminalreporter.write_line(f"{'total'.ljust(width)}  {total:7.1f} s")


@pytest.fixture(scope="session")
def hf_tokenizer():
    """A small byte-level BPE tokenizer trained here on the course's essay haystack, wrapped as a
    Hugging Face fast tokenizer with a chat template (chapter 02's full-scale path, no download)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from course_lib.longctx.ruler.text import essay_text

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=4000, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator([essay_text()], trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="</s>",
        chat_template="{% for m in messages %}<s>[{{ m['role'] }}] {{ m['content'] }}</s>{% endfor %}"
                      "{% if add_generation_prompt %}<s>[assistant]{% endif %}",
    )
