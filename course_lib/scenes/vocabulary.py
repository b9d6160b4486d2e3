"""The small prompt vocabulary of the procedural worlds and its parser (chapters 05-07).

A prompt is a short English phrase such as ``"a red house beside two green trees"``: groups of
(number, colour, object) joined by filler words. Every word must be in the vocabulary; an
unknown word raises :class:`UnknownPromptWordError`, which names the word and lists the
vocabulary, so a learner sees at once what the tiny text-conditioned models understand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.80, 0.15, 0.12), "green": (0.20, 0.60, 0.20), "blue": (0.15, 0.30, 0.80),
    "yellow": (0.92, 0.80, 0.15), "white": (0.92, 0.92, 0.90), "gray": (0.50, 0.50, 0.52),
    "orange": (0.95, 0.50, 0.10), "purple": (0.50, 0.20, 0.60), "brown": (0.50, 0.32, 0.18),
    "black": (0.10, 0.10, 0.12),
}
NUMBERS: dict[str, int] = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4}
# Singular and plural spelling of each object -> its canonical name.
OBJECTS: dict[str, str] = {
    "house": "house", "houses": "house", "tree": "tree", "trees": "tree", "car": "car", "cars": "car",
    "ball": "ball", "balls": "ball", "box": "box", "boxes": "box", "building": "building", "buildings": "building",
    "table": "table", "tables": "table",
}
SETTINGS: tuple[str, ...] = ("street", "room", "park", "garden", "city", "yard", "square", "field")
ADJECTIVES: tuple[str, ...] = ("small", "big", "tall", "sunny", "quiet")
FILLER: tuple[str, ...] = ADJECTIVES + (
    "the", "and", "with", "beside", "next", "to", "near", "on", "in", "of", "under", "behind",
    "front", "along", "at", "by", "inside", "around", "sky", "view",
)
VOCABULARY: frozenset[str] = frozenset(COLORS) | frozenset(NUMBERS) | frozenset(OBJECTS) | frozenset(SETTINGS) | frozenset(FILLER)


class UnknownPromptWordError(ValueError):
    """A prompt used a word outside the procedural vocabulary (chapters 05-07)."""


@dataclass(frozen=True)
class ObjectPhrase:
    """One parsed group: ``count`` objects of kind ``name`` with colour ``color`` (``None`` = the default colour) (chapters 05-07)."""

    count: int
    color: str | None
    name: str


def tokenize(prompt: str) -> list[str]:
    """Lower-case words of a prompt; punctuation is ignored, digits and non-English letters stay in the words (chapters 05-07).

    So ``"5 red cars"`` is reported as using the unknown word ``"5"`` instead of silently becoming ``"red cars"``.
    """
    return re.findall(r"[^\W_]+", prompt.lower())


def check_prompt(prompt: str) -> list[str]:
    """Return the prompt's words, or raise :class:`UnknownPromptWordError` naming every unknown word (chapter 05)."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("the prompt is empty; write a short phrase such as 'a red house beside two green trees'")
    words = tokenize(prompt)
    unknown = [w for w in words if w not in VOCABULARY]
    if unknown:
        raise UnknownPromptWordError(
            f"prompt {prompt!r} uses word(s) outside the procedural vocabulary: {sorted(set(unknown))}. "
            f"Use only these words: {' '.join(sorted(VOCABULARY))}."
        )
    return words


def parse_prompt(prompt: str) -> tuple[list[ObjectPhrase], str | None]:
    """Parse a prompt into object phrases and the setting word, if any (chapter 06).

    ``"a red house beside two green trees"`` -> ``[ObjectPhrase(1, 'red', 'house'), ObjectPhrase(2, 'green', 'tree')]``.
    A number or colour with no object after it is an error.
    """
    words = check_prompt(prompt)
    phrases: list[ObjectPhrase] = []
    setting = next((w for w in words if w in SETTINGS), None)
    count, color = None, None
    for w in words:
        if w in NUMBERS:
            count = NUMBERS[w]
        elif w in COLORS:
            color = w
        elif w in OBJECTS:
            plural = w != OBJECTS[w]
            phrases.append(ObjectPhrase(count or (2 if plural else 1), color, OBJECTS[w]))
            count, color = None, None
        elif w in SETTINGS and color is None:
            count = None  # "in a park": the article belongs to the setting
        elif (count is not None or color is not None) and w not in ADJECTIVES:
            raise ValueError(
                f"prompt {prompt!r}: the number/colour before {w!r} is not followed by an object; "
                f"the objects are {sorted(set(OBJECTS.values()))}"
            )
    if count is not None or color is not None:
        raise ValueError(f"prompt {prompt!r} ends with a number or colour but no object; the objects are {sorted(set(OBJECTS.values()))}")
    return phrases, setting
