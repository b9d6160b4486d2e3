"""Generate the learner notebooks ``notebooks/NN_*.ipynb`` from ``solutions/NN_*.ipynb``.

In every code cell, each region from a line ``### BEGIN SOLUTION`` to a line
``### END SOLUTION`` (both included) becomes ``# YOUR CODE HERE`` and
``raise NotImplementedError()`` at the indentation of the BEGIN line; in markdown cells,
regions between ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->`` are removed.
Outputs and execution counts are stripped, metadata is cleaned (cell ``tags`` kept), cell
ids are kept, check cells are marked read-only, the chapter is written into the notebook's
metadata (``course.chapter``, read by the grader whatever the learner renames the file to),
and the badges and Colab set-up cell are written from ``course_lib.links``. The output is
byte-for-byte deterministic.

    python -m course_lib.authoring.generate                    # regenerate notebooks/ and README table
    python -m course_lib.authoring.generate --check            # exit 1 if anything is out of sync
    python -m course_lib.authoring.generate --clean-solutions  # also clean solutions/ in place first
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import re
import sys
from pathlib import Path

import nbformat

from course_lib.authoring.badges import apply_links
from course_lib.authoring.readme import update_readme
from course_lib.grading.chapter import stamp_chapter

REPO_ROOT = Path(__file__).resolve().parents[2]

CODE_BEGIN = "### BEGIN SOLUTION"
CODE_END = "### END SOLUTION"
MARKDOWN_BEGIN = "<!-- BEGIN SOLUTION -->"
MARKDOWN_END = "<!-- END SOLUTION -->"
PLACEHOLDER = ("# YOUR CODE HERE", "raise NotImplementedError()")

NOTEBOOK_METADATA_KEEP = ("kernelspec", "language_info")
CELL_METADATA_KEEP = ("tags", "editable", "deletable")


class SolutionMarkerError(ValueError):
    """A solution region is malformed (unterminated, nested, or a misspelt marker)."""


def _replace_regions(source: str, begin: str, end: str, placeholder: tuple[str, ...], where: str) -> str:
    """Replace each ``begin``..``end`` line region of ``source`` by ``placeholder`` lines."""
    out: list[str] = []
    indent: str | None = None
    for number, line in enumerate(source.split("\n"), start=1):
        stripped = line.strip()
        if stripped == begin:
            if indent is not None:
                raise SolutionMarkerError(f"{where}, line {number}: {begin!r} inside another solution region")
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + text for text in placeholder)
        elif stripped == end:
            if indent is None:
                raise SolutionMarkerError(f"{where}, line {number}: {end!r} without a {begin!r} before it")
            indent = None
        elif "BEGIN SOLUTION" in line or "END SOLUTION" in line:
            raise SolutionMarkerError(
                f"{where}, line {number}: {line.strip()!r} looks like a solution marker but is not exactly "
                f"{begin!r} or {end!r} on a line of its own; fix it so the solution does not leak"
            )
        elif indent is None:
            out.append(line)
    if indent is not None:
        raise SolutionMarkerError(f"{where}: {begin!r} is never closed by {end!r}")
    return "\n".join(out)


def strip_solution_code(source: str, where: str = "cell") -> str:
    """Replace every ``### BEGIN SOLUTION`` .. ``### END SOLUTION`` region of a code cell."""
    return _replace_regions(source, CODE_BEGIN, CODE_END, PLACEHOLDER, where)


def strip_solution_markdown(source: str, where: str = "cell") -> str:
    """Remove every ``<!-- BEGIN SOLUTION -->`` .. ``<!-- END SOLUTION -->`` region of a markdown cell."""
    stripped = _replace_regions(source, MARKDOWN_BEGIN, MARKDOWN_END, (), where)
    if stripped == source:
        return source
    return re.sub(r"\n{3,}", "\n\n", stripped).strip("\n")


def _cell_id(cell: nbformat.NotebookNode, index: int) -> str:
    """The cell's id, or a deterministic one for notebooks saved without ids (nbformat < 4.5)."""
    if cell.get("id"):
        return cell["id"]
    return "cell-" + hashlib.sha1(f"{index}:{cell.source}".encode()).hexdigest()[:8]


def clean_metadata(nb: nbformat.NotebookNode) -> None:
    """Drop metadata noise (Colab, widget state, execution timings, ...) from ``nb`` in place.

    Keeps the notebook's ``kernelspec``/``language_info`` and each cell's ``tags``,
    ``editable`` and ``deletable``; gives cells without an id a deterministic one.
    """
    nb.metadata = nbformat.NotebookNode({k: nb.metadata[k] for k in NOTEBOOK_METADATA_KEEP if k in nb.metadata})
    nb.nbformat, nb.nbformat_minor = 4, max(5, nb.get("nbformat_minor", 5))
    for index, cell in enumerate(nb.cells):
        cell.metadata = nbformat.NotebookNode({k: cell.metadata[k] for k in CELL_METADATA_KEEP if k in cell.metadata})
        cell.id = _cell_id(cell, index)


def make_learner_notebook(solution: nbformat.NotebookNode, path: str) -> nbformat.NotebookNode:
    """The learner version of ``solution``, for repository-relative ``path`` (badges, chapter)."""
    nb = copy.deepcopy(solution)
    clean_metadata(nb)
    stamp_chapter(nb, Path(path).name)
    for cell in nb.cells:
        where = f"{path}, cell {cell.id}"
        if cell.cell_type == "code":
            cell.source = strip_solution_code(cell.source, where)
            cell.outputs = []
            cell.execution_count = None
            if "check" in cell.metadata.get("tags", []):
                cell.metadata["editable"] = False
                cell.metadata["deletable"] = False
        elif cell.cell_type == "markdown":
            cell.source = strip_solution_markdown(cell.source, where)
    apply_links(nb, path)
    return nb


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """The canonical text of a notebook: nbformat's JSON (indent 1, sorted keys) plus a newline."""
    return nbformat.writes(nb, version=4).rstrip("\n") + "\n"


def _repo_path(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return f"{path.parent.name}/{path.name}"


def clean_solution(path: str | Path) -> bool:
    """Clean a solution notebook in place: strip metadata noise, write chapter, badges and Colab cell.

    Outputs and execution counts are kept (nbval compares the check cells against them).
    Returns whether the file changed.
    """
    path = Path(path)
    before, after = _cleaned(path)
    if after != before:
        path.write_bytes(after)
    return after != before


def solution_is_clean(path: str | Path) -> bool:
    """Whether :func:`clean_solution` would leave the notebook at ``path`` as it is (writes nothing)."""
    before, after = _cleaned(Path(path))
    return before == after


def _cleaned(path: Path) -> tuple[bytes, bytes]:
    before = path.read_bytes()
    nb = nbformat.reads(before.decode("utf-8"), as_version=4)
    clean_metadata(nb)
    stamp_chapter(nb, path.name)
    apply_links(nb, _repo_path(path))
    return before, notebook_text(nb).encode("utf-8")


def learner_text(solution_path: Path, learner_path: Path) -> str:
    """The exact text the generator writes to ``learner_path`` for ``solution_path``."""
    solution = nbformat.read(solution_path, as_version=4)
    return notebook_text(make_learner_notebook(solution, _repo_path(learner_path)))


def generate_all(solutions: Path, notebooks: Path, check: bool = False) -> list[str]:
    """Generate ``notebooks/X`` for every ``solutions/X`` (``NN_*.ipynb``).

    Returns one line per learner notebook that was rewritten (or, with ``check=True``,
    which writes nothing, that is out of date).
    """
    changes = []
    for solution_path in sorted(solutions.glob("[0-9][0-9]_*.ipynb")):
        learner_path = notebooks / solution_path.name
        text = learner_text(solution_path, learner_path)
        if learner_path.exists() and learner_path.read_bytes() == text.encode("utf-8"):
            continue
        if check:
            changes.append(f"{learner_path} is out of date with {solution_path}")
        else:
            learner_path.parent.mkdir(parents=True, exist_ok=True)
            learner_path.write_bytes(text.encode("utf-8"))
            changes.append(f"wrote {learner_path} from {solution_path}")
    return changes


def orphan_notebooks(solutions: Path, notebooks: Path) -> list[Path]:
    """Learner notebooks that have no solution notebook of the same name."""
    return [path for path in sorted(notebooks.glob("[0-9][0-9]_*.ipynb")) if not (solutions / path.name).exists()]


def main(argv: list[str] | None = None) -> int:
    """Command line: regenerate (or ``--check``) the learner notebooks and the README table."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.authoring.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if anything is out of sync")
    parser.add_argument("--clean-solutions", action="store_true", help="first clean solutions/ in place (metadata, badges)")
    parser.add_argument("--solutions", type=Path, default=REPO_ROOT / "solutions", help="default: %(default)s")
    parser.add_argument("--notebooks", type=Path, default=REPO_ROOT / "notebooks", help="default: %(default)s")
    parser.add_argument("--readme", type=Path, default=REPO_ROOT / "README.md", help="default: %(default)s")
    args = parser.parse_args(argv)
    if not args.solutions.is_dir():
        parser.error(f"no solutions folder at {args.solutions}")
    if args.clean_solutions and not args.check:
        for path in sorted(args.solutions.glob("[0-9][0-9]_*.ipynb")):
            if clean_solution(path):
                print(f"cleaned {path}")
    changes = generate_all(args.solutions, args.notebooks, check=args.check)
    if args.readme.exists() and update_readme(args.readme, check=args.check):
        changes.append(f"{args.readme}'s chapter table is out of date" if args.check else f"wrote {args.readme}")
    orphans = orphan_notebooks(args.solutions, args.notebooks)
    for line in changes:
        print(line)
    for path in orphans:
        print(f"{path} has no solution notebook in {args.solutions}: delete it or add the solution", file=sys.stderr)
    if args.check and changes:
        print("run `python -m course_lib.authoring.generate` to regenerate", file=sys.stderr)
    return 1 if orphans or (args.check and changes) else 0

if __name__ == "__main__":
    sys.exit(main())
