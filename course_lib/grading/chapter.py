"""Which chapter a notebook belongs to, read from the notebook itself, and its solution notebook.

The generator writes ``{"course": {"chapter": "01"}}`` into the metadata of every solution
and learner notebook (``stamp_chapter``). A notebook saved before that, or whose metadata a
tool dropped, still names its chapter in its cell tags: ``check-01-3``, ``exercise-01-3``.
The file name is never used to find the chapter: learners rename their notebooks
(``alice_01.ipynb``, ``01_infini_attention (1).ipynb``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import nbformat

METADATA_KEY = "course"
_CHAPTER = re.compile(r"^\d\d$")
_CHAPTER_TAG = re.compile(r"^(?:check|exercise)-(\d\d)-.+$")
_CHAPTER_FILE = re.compile(r"^(\d\d)_")


@dataclass(frozen=True)
class ChapterInfo:
    """The chapter a notebook names (``None`` when it names none or several) and where that was read."""

    chapter: str | None
    source: str


def chapter_from_file_name(name: str) -> str | None:
    """``"01"`` for a course file name such as ``01_infini_attention.ipynb``; ``None`` for others."""
    match = _CHAPTER_FILE.match(name)
    return match.group(1) if match else None


def stamp_chapter(nb: nbformat.NotebookNode, name: str) -> None:
    """Write ``course.chapter`` into ``nb``'s metadata from its course file name ``NN_*.ipynb``."""
    chapter = chapter_from_file_name(name)
    if chapter is not None:
        nb.metadata[METADATA_KEY] = nbformat.NotebookNode({"chapter": chapter})


def notebook_chapter(nb: nbformat.NotebookNode) -> ChapterInfo:
    """The chapter ``nb`` belongs to: its ``course.chapter`` metadata, else its check and exercise tags."""
    course = nb.get("metadata", {}).get(METADATA_KEY)
    chapter = course.get("chapter") if isinstance(course, dict) else None
    if isinstance(chapter, str) and _CHAPTER.match(chapter):
        return ChapterInfo(chapter, "course.chapter metadata")
    counts = Counter(
        match.group(1)
        for cell in nb.get("cells", [])
        for tag in cell.get("metadata", {}).get("tags", [])
        if isinstance(tag, str) and (match := _CHAPTER_TAG.match(tag))
    )
    if not counts:
        return ChapterInfo(None, "no course.chapter metadata and no check-NN-K or exercise-NN-K tags")
    ranked = counts.most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        named = " and ".join(f"{chapter} ({count})" for chapter, count in ranked)
        return ChapterInfo(None, f"no course.chapter metadata, and its tags name chapters {named} equally often")
    return ChapterInfo(ranked[0][0], "its check and exercise tags")


def find_solution(chapter: str, folders: list[Path], prefer_name: str | None = None) -> Path | None:
    """The solution notebook of ``chapter`` in the first of ``folders`` that has one.

    A folder's ``NN_*.ipynb`` files are its chapter-NN solutions; when it holds several,
    the one named ``prefer_name`` wins, else the first in name order. ``None`` when no folder has one.
    """
    for folder in folders:
        found = sorted(folder.glob(f"{chapter}_*.ipynb"))
        if found:
            return next((path for path in found if path.name == prefer_name), found[0])
    return None
