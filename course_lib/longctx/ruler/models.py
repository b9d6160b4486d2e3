"""Models behind RULER's one interface, ``model(prompt, max_new_tokens) -> text`` (chapter 02).

* :class:`Oracle` parses the prompt the way its generator wrote it: 100 on every task shows
  that each answer can be recovered from the prompt.
* :class:`NeedleLookup` is a regex baseline that only looks things up: the values of the
  needles whose key the question names, the variables assigned the queried value. It solves
  vanilla needle-in-a-haystack and nothing that needs tracing or aggregating.
* :class:`GreedyLM` runs a course language model (chapter 01's TinyInfiniLM) with greedy decoding.
* :class:`HFCausalLM` (in ``hf.py``) runs any Hugging Face causal LM with its chat template.

A model may also offer ``batch(prompts, max_new_tokens) -> list[str]``; the harness uses it.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Protocol, Sequence

import torch

from course_lib.longctx.ruler.qa import QUESTIONS

_NEEDLE = re.compile(r"One of the special magic \w+ for (\S+) is: (\S+?)\.(?=\s|$)")
_VAR_VALUE = re.compile(r"VAR (\w+) = (\d+)")
_VAR_VAR = re.compile(r"VAR (\w+) = VAR (\w+)")
MARKERS = {  # the first words of each family's template
    "niah": re.compile(r"(Some|A) special magic \w+ (are|is) hidden"),
    "variable_tracking": re.compile(r"Memorize and track the chain"),
    "common_words_extraction": re.compile(r"Below is a numbered list of words"),
    "freq_words_extraction": re.compile(r"Read the following coded text"),
    "qa": re.compile(r"Answer the question based on the given documents\. Only give me the answer and do not output any other words\.\n\nThe following"),
}


class TextModel(Protocol):
    def __call__(self, prompt: str, max_new_tokens: int) -> str: ...


def last_task(prompt: str) -> tuple[str, str]:
    """The family of the task the prompt ends with, and the prompt from that task's template on
    (a one-shot example before it is cut off)."""
    starts = {family: [m.start() for m in marker.finditer(prompt)] for family, marker in MARKERS.items()}
    found = {family: s[-1] for family, s in starts.items() if s}
    if not found:
        raise ValueError("this prompt is not a RULER prompt: none of the five task templates occurs in it")
    family = max(found, key=found.get)
    return family, prompt[found[family] :]


def trace_variables(text: str, value: str) -> list[str]:
    """Every variable that ends up holding ``value``: those assigned it (``VAR X = value``), then,
    hop by hop, those assigned one of them (``VAR Y = VAR X``), in the order they are found.
    The multi-hop tracing that RULER's variable-tracking task asks for (2404.06654, §3.2)."""
    parents = _VAR_VAR.findall(text)
    names = [name for name, v in _VAR_VALUE.findall(text) if v == value]
    changed = True
    while changed:
        changed = False
        for child, parent in parents:
            if parent in names and child not in names:
                names.append(child)
                changed = True
    return names


class Oracle:
    """Answers every RULER prompt by parsing it (chapter 02); scores 100 when the generator is right."""

    def __call__(self, prompt: str, max_new_tokens: int = 128) -> str:
        family, text = last_task(prompt)
        return getattr(self, f"_{family}")(text)

    @staticmethod
    def _niah(text: str) -> str:
        needles: dict[str, list[str]] = {}
        for key, value in _NEEDLE.findall(text):
            needles.setdefault(key, []).append(value)
        query = re.search(r"special magic \w+ for (.+?) mentioned in the provided text\?", text).group(1)
        keys = [k for k in re.split(r", and |, ", query) if k]
        return ", ".join(v for k in keys for v in needles.get(k, []))

    @staticmethod
    def _variable_tracking(text: str) -> str:
        value = re.search(r"assigned the value (\d+) in the text above", text).group(1)
        return " ".join(trace_variables(text.rsplit("\nQuestion:", 1)[0], value))

    @staticmethod
    def _common_words_extraction(text: str) -> str:
        listing = text.split("most often.\n", 1)[1].split("\nQuestion:", 1)[0]
        counts = Counter(re.findall(r"\d+\. (\S+)", listing))
        return " ".join(f"{i + 1}. {w}" for i, (w, _) in enumerate(counts.most_common(10)))

    @staticmethod
    def _freq_words_extraction(text: str) -> str:
        coded = text.split("coded words. ", 1)[1].split("\nQuestion:", 1)[0]
        counts = Counter(w for w in coded.split() if w != "...")
        return " ".join(w for w, _ in counts.most_common(3))

    @staticmethod
    def _qa(text: str) -> str:
        question = text.rsplit("Question: ", 1)[1].split("?", 1)[0] + "?"
        for kind, pattern in QUESTIONS.items():
            match = re.fullmatch(re.escape(pattern).replace(r"\{name\}", "(.+)"), question)
            if match:
                name = match.group(1)
                town = re.search(rf"{re.escape(name)} was born in (\w+)\.", text)
                if kind == "job":
                    return re.search(rf"{re.escape(name)} works as a (\w+)", text).group(1)
                if kind == "born":
                    return town.group(1)
                return re.search(rf"{town.group(1)} is a town in the country of (\w+)\.", text).group(1)
        return ""


class NeedleLookup:
    """A regex baseline (chapter 02): values of the needles whose key is named in the question, and
    the variables assigned the queried number directly. No tracing, counting or reading."""

    def __call__(self, prompt: str, max_new_tokens: int = 128) -> str:
        _, text = last_task(prompt)
        body, _, question = text.rpartition("\n")
        answers = [value for key, value in _NEEDLE.findall(body) if key in question]
        answers += [name for name, value in _VAR_VALUE.findall(body) if value in question]
        return ", ".join(answers)


class GreedyLM:
    """Greedy decoding with a course language model and the course tokenizer (chapter 02).

    ``model`` is a :class:`course_lib.attention.TinyInfiniLM` (full attention when its segment
    spans the prompt, block-local attention with memory off, Infini-attention otherwise).
    Prompts are right-padded into one batch: every model of the course is causal, so the pads
    after a prompt never change what the model computes for it.
    """

    def __init__(self, model: torch.nn.Module, tokenizer, stop_at_eos: bool = True) -> None:
        self.model, self.tokenizer, self.stop_at_eos = model.eval(), tokenizer, stop_at_eos

    def __call__(self, prompt: str, max_new_tokens: int) -> str:
        return self.batch([prompt], max_new_tokens)[0]

    @torch.no_grad()
    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        """Final hidden states (B, T, D), streamed segment by segment through the memory."""
        states = [None] * len(self.model.blocks)
        outputs = []
        for segment in tokens.split(self.model.cfg.segment_len, dim=1):
            hidden, states = self.model.forward_segment(segment, states)
            outputs.append(hidden)
        return torch.cat(outputs, dim=1)

    @torch.no_grad()
    def batch(self, prompts: Sequence[str], max_new_tokens: int) -> list[str]:
        """Greedy continuations of ``prompts`` (at most ``max_new_tokens`` tokens, up to <eos>)."""
        ids = [self.tokenizer.encode(p) for p in prompts]
        lengths = torch.tensor([len(i) for i in ids])
        device = next(self.model.parameters()).device
        tokens = torch.full((len(ids), int(lengths.max()) + max_new_tokens), self.tokenizer.pad_id, dtype=torch.long)
        for row, seq in enumerate(ids):
            tokens[row, : len(seq)] = torch.tensor(seq)
        generated = [[] for _ in ids]
        done = torch.zeros(len(ids), dtype=torch.bool)
        rows = torch.arange(len(ids))
        for step in range(max_new_tokens):
            width = int(lengths.max()) + step
            h = self.hidden(tokens[:, :width].to(device))  # (B, width, D)
            last = h[rows, lengths + step - 1]  # (B, D): the last real position of every row
            next_ids = self.model.logits(last).argmax(-1).cpu()  # (B,)
            for row in range(len(ids)):
                if not done[row]:
                    if self.stop_at_eos and int(next_ids[row]) == self.tokenizer.eos_id:
                        done[row] = True
                    else:
                        generated[row].append(int(next_ids[row]))
            tokens[rows, lengths + step] = next_ids
            if bool(done.all()):
                break
        return [self.tokenizer.decode(g) for g in generated]


class ContextBlind:
    """A control (chapter 02): ``model`` asked only the prompt's last line — the question and the
    answer prefix — so it answers without the context. What it scores is what a model gets without
    reading the haystack."""

    def __init__(self, model: TextModel) -> None:
        self.model = model

    @staticmethod
    def question(prompt: str) -> str:
        return prompt.rsplit("\n", 1)[-1]

    def __call__(self, prompt: str, max_new_tokens: int) -> str:
        return self.model(self.question(prompt), max_new_tokens)

    def batch(self, prompts: Sequence[str], max_new_tokens: int) -> list[str]:
        """The model's batch of the questions alone (or its answers one by one)."""
        questions = [self.question(p) for p in prompts]
        if hasattr(self.model, "batch"):
            return self.model.batch(questions, max_new_tokens)
        return [self.model(q, max_new_tokens) for q in questions]
