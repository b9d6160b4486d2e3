"""Haystack text and the word-level tokenizer of the reduced scale (chapter 02).

RULER fills its prompts with Paul Graham's essays; those are not license-clean to ship, so the
course's essay haystack is prose from the Python reference manual that every CPython ships
(``pydoc_data.topics``, PSF licence), extracted once into the asset ``ch02_essay`` (a
safetensors file holding the UTF-8 bytes, so it is verified like every other asset).

:class:`WordTokenizer` is the reduced scale's tokenizer: one token per known word, digits and
letters of unknown words one by one, a ``▁`` marking a space before a token (as SentencePiece
does) so that decoding gives back the text. At full scale any Hugging Face tokenizer counts
the tokens instead (:func:`count_tokens` accepts both).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Protocol, Sequence

import torch

from course_lib import assets
from course_lib.longctx.ruler.qa import QA_WORDS
from course_lib.longctx.ruler.templates import ANSWER_PREFIXES, DOCUMENT, NEEDLE, NOISE, TEMPLATES
from course_lib.longctx.ruler.words import ADJECTIVES, NOUNS, VERBS

SPACE = "▁"
NEWLINE = "\n"
SPECIAL_TOKENS = ("<pad>", "<eos>", NEWLINE)
_PIECE = re.compile(r"[A-Za-z]+|\d+|[^\sA-Za-z\d]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(\[])")


def extract_essay_text() -> str:
    """Prose paragraphs of the Python reference manual (``pydoc_data.topics``), one per line.

    Keeps paragraphs of 25+ words that end with a period, have no code markup and are at
    least 90% letters and spaces; topics in sorted order, so the result depends only on the
    Python version that ships the manual.
    """
    from pydoc_data.topics import topics

    paragraphs = []
    for key in sorted(topics):
        for block in re.split(r"\n\s*\n", topics[key]):
            if block.startswith((" ", "\t", "*", "-", "=", ">")):
                continue
            text = " ".join(block.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"').split())
            text = re.sub(r"\s*\[\d+\]", "", text)
            if len(text.split()) < 25 or "::" in text or "`" in text or ">>>" in text or not text.endswith("."):
                continue
            if not text.isascii() or sum(c.isalpha() or c == " " for c in text) / len(text) < 0.9:
                continue
            paragraphs.append(text)
    return "\n".join(paragraphs)


def build_essay_asset(out_path: Path, *, seed: int, quick: bool = False) -> dict:
    """Asset recipe ``ch02_essay``: the extracted text as a uint8 tensor of its UTF-8 bytes."""
    text = extract_essay_text()
    data = torch.tensor(list(text.encode("utf-8")), dtype=torch.uint8)
    assets.save_safetensors({"utf8": data}, out_path, {"source": "pydoc_data.topics (PSF licence)"})
    return {"characters": len(text), "words": len(text.split()), "paragraphs": text.count("\n") + 1}


@lru_cache(maxsize=1)
def essay_text() -> str:
    """The shipped essay haystack (asset ``ch02_essay``), verified against the manifest."""
    return bytes(assets.load("ch02_essay")["utf8"].tolist()).decode("utf-8")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``: split after ``.``, ``!`` or ``?`` followed by a space and a capital
    (the reference uses nltk's ``sent_tokenize``; this simple rule suffices for the essay)."""
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


class Tokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...


def count_tokens(tokenizer, text: str) -> int:
    """Number of tokens of ``text`` under the course's WordTokenizer or a Hugging Face tokenizer
    (without the special tokens a Hugging Face tokenizer would add around it)."""
    if hasattr(tokenizer, "add_special_tokens") and hasattr(tokenizer, "__call__") and not isinstance(tokenizer, WordTokenizer):
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])
    if not hasattr(tokenizer, "encode"):
        raise TypeError(
            f"count_tokens needs a tokenizer with .encode(text) (the course's WordTokenizer or a Hugging Face "
            f"tokenizer), got {type(tokenizer).__name__}"
        )
    return len(tokenizer.encode(text))


class WordTokenizer:
    """A word-level tokenizer with a fixed vocabulary and a character fallback (chapter 02).

    Text is cut into pieces (a run of letters, a run of digits, or one other character); a piece
    after whitespace gets a ``▁`` in front, and a newline is a token of its own. A known piece is
    one token; an unknown word, and any number longer than ``max_number`` digits' worth, falls back
    to one token per character, so 7-digit values, UUIDs and coded words cost one token per character.
    """

    def __init__(self, words: Sequence[str], max_number: int = 1024) -> None:
        pieces = set()
        for w in words:
            pieces.update((w, SPACE + w))
        for c in string.ascii_letters + string.digits + string.punctuation:
            pieces.update((c, SPACE + c))
        for n in range(max_number):
            pieces.update((str(n), SPACE + str(n)))
        self.tokens = list(SPECIAL_TOKENS) + sorted(pieces - set(SPECIAL_TOKENS))
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.pad_id, self.eos_id, self.newline_id = (self.index[t] for t in SPECIAL_TOKENS)

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def _piece_tokens(self, piece: str, spaced: bool) -> list[str]:
        marked = SPACE + piece if spaced else piece
        if marked in self.index and not (piece.isdigit() and piece != str(int(piece))):
            return [marked]
        chars = list(piece)
        return ([SPACE + chars[0]] if spaced else [chars[0]]) + chars[1:]

    def tokenize(self, text: str) -> list[str]:
        """The token strings of ``text``."""
        out: list[str] = []
        spaced = False
        position = 0
        for match in _PIECE.finditer(text):
            gap = text[position : match.start()]
            out.extend(NEWLINE for _ in range(gap.count("\n")))
            spaced = bool(gap) and "\n" not in gap
            out.extend(self._piece_tokens(match.group(), spaced))
            position = match.end()
        out.extend(NEWLINE for _ in range(text[position:].count("\n")))
        return out

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no special tokens added)."""
        return [self.index[t] for t in self.tokenize(text)]

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids``; ``<pad>`` and ``<eos>`` are dropped, ``▁`` becomes a space."""
        drop = {self.pad_id, self.eos_id}
        return "".join(self.tokens[int(i)] for i in ids if int(i) not in drop).replace(SPACE, " ")


def vocabulary_words(essay: str, essay_words: int = 1500) -> list[str]:
    """The words of the reduced-scale vocabulary: every word of the templates, needles and word
    lists, the synthetic QA vocabulary, and the ``essay_words`` most frequent words of the essay."""
    fixed = " ".join([*TEMPLATES.values(), *ANSWER_PREFIXES.values(), NEEDLE, NOISE, DOCUMENT, "VAR numbers uuids words"])
    words = set(re.findall(r"[A-Za-z]+", fixed)) | set(ADJECTIVES) | set(NOUNS) | set(VERBS) | set(QA_WORDS)
    counts = Counter(re.findall(r"[A-Za-z]+", essay))
    words |= {w for w, _ in counts.most_common(essay_words)}
    return sorted(words)


@lru_cache(maxsize=1)
def course_tokenizer() -> WordTokenizer:
    """The reduced scale's tokenizer (fixed vocabulary: the tiny models' embeddings depend on it)."""
    return WordTokenizer(vocabulary_words(essay_text()))
