"""Put the reference check cells into a learner's notebook before it is run.

A check cell is tagged ``check`` and ``check-NN-K`` (cell id ``check-NN-K``); the exercise it
checks is tagged ``exercise`` and ``exercise-NN-K``. Cells are matched by the ``check-NN-K``
tag, falling back to the cell id, never by position, so that a learner who edits, deletes,
moves or fakes the output of a check cell gets the reference cell back.
"""

from __future__ import annotations

import copy
import re

import nbformat

CHECK_TAG = "check"
_CHECK_KEY = re.compile(r"^check-.+$")


class GradingError(ValueError):
    """The notebooks cannot be graded (missing file, no check cells, unexecuted reference...)."""


def check_key(cell: nbformat.NotebookNode) -> str | None:
    """The ``check-NN-K`` key a cell carries as a tag (or, for a cell tagged ``check``, its id)."""
    tags = cell.get("metadata", {}).get("tags", [])
    for tag in tags:
        if _CHECK_KEY.match(tag):
            return tag
    if CHECK_TAG in tags:
        return cell.get("id")
    return None


def exercise_tag(key: str) -> str:
    """The tag of the exercise cell checked by the check cell with key ``check-NN-K``."""
    return "exercise-" + key.removeprefix("check-")


def reference_checks(reference: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """The reference notebook's check cells by key, in notebook order.

    Raises ``GradingError`` when there are none, a key repeats, or a check cell has no
    stored output (the solution notebook must be executed and saved before grading).
    """
    checks: dict[str, nbformat.NotebookNode] = {}
    for cell in reference.cells:
        key = check_key(cell) if cell.cell_type == "code" else None
        if key is None:
            continue
        if key in checks:
            raise GradingError(f"the reference notebook has two check cells with the key {key!r}")
        if not cell.get("id"):
            raise GradingError(
                f"reference check cell {key!r} has no cell id: save the solution with nbformat >= 5.1 "
                "(python -m course_lib.authoring.generate --clean-solutions)"
            )
        if cell.get("execution_count") is None or not cell.get("outputs"):
            raise GradingError(
                f"reference check cell {key!r} has no stored output: execute the solution notebook and save it"
            )
        checks[key] = cell
    if not checks:
        raise GradingError(
            "the reference notebook has no check cells (code cells tagged 'check' and 'check-NN-K')"
        )
    return checks


def _matching_key(cell: nbformat.NotebookNode, checks: dict[str, nbformat.NotebookNode]) -> str | None:
    for tag in cell.get("metadata", {}).get("tags", []):
        if tag in checks:
            return tag
    cell_id = cell.get("id")
    return next((key for key, ref in checks.items() if cell_id and cell_id in (key, ref.get("id"))), None)


def _demote(cell: nbformat.NotebookNode) -> None:
    tags = cell.metadata.get("tags", [])
    cell.metadata["tags"] = [tag for tag in tags if tag != CHECK_TAG and not _CHECK_KEY.match(tag)]


def _insert_position(cells: list, reference: nbformat.NotebookNode, key: str) -> tuple[int, str]:
    """Where a missing check cell goes: after its exercise, else after the nearest earlier reference cell."""
    wanted = exercise_tag(key)
    for index, cell in enumerate(cells):
        if wanted in cell.get("metadata", {}).get("tags", []):
            return index + 1, f"after its exercise cell {wanted!r}"
    ref_ids = [cell.get("id") for cell in reference.cells]
    ref_index = next(i for i, cell in enumerate(reference.cells) if check_key(cell) == key)
    for ref_id in reversed(ref_ids[:ref_index]):
        for index, cell in enumerate(cells):
            if ref_id and cell.get("id") == ref_id:
                return index + 1, f"after cell {ref_id!r} (its exercise cell is gone too)"
    return len(cells), "at the end (neither its exercise nor an earlier cell was found)"


# Learner code that can reach into the kernel the checks run in. The grader cannot stop code
# that patches a checker before it runs; it names such cells so that a teacher reads them.
_SUSPICIOUS = (
    "course_lib.grading", "checks_0", "get_ipython", "sys.modules", "builtins", "setattr", "_getframe",
    "input_transformers", "course_lib.attention.infini", "course_lib.attention.sdpa", "allclose =",
)


def _suspicious_cells(cells: list, reference: nbformat.NotebookNode, checks: dict) -> list[str]:
    reference_sources = {cell.source for cell in reference.cells if cell.cell_type == "code"}
    notes = []
    for cell in cells:
        if cell.cell_type != "code" or check_key(cell) in checks or cell.source in reference_sources:
            continue
        found = [token for token in _SUSPICIOUS if token in cell.source]
        if found:
            notes.append(
                f"cell {cell.get('id')!r} uses {', '.join(found)}: it could change what the checks see; review it by hand"
            )
    return notes


def merge_checks(
    learner: nbformat.NotebookNode, reference: nbformat.NotebookNode
) -> tuple[nbformat.NotebookNode, list[str]]:
    """A copy of ``learner`` whose check cells are exactly the reference's ones.

    Each learner cell matching a reference check (by ``check-NN-K`` tag, else by id) is
    replaced by the reference cell (source, outputs, execution count, metadata, id); a missing
    check cell, or one moved away from its exercise, is re-inserted after the learner's ``exercise-NN-K`` cell (else after the nearest
    earlier reference cell found, else at the end); learner cells claiming a check tag the
    reference does not have, or claiming one twice, lose their check tags. Returns the merged
    notebook and notes saying what was restored.
    """
    checks = reference_checks(reference)
    merged = copy.deepcopy(learner)
    merged.nbformat, merged.nbformat_minor = 4, max(5, merged.get("nbformat_minor", 5))
    notes: list[str] = []
    placed: set[str] = set()
    moved: set[str] = set()
    exercise_at = {
        tag: index for index, cell in enumerate(merged.cells) for tag in cell.get("metadata", {}).get("tags", [])
    }
    cells = []
    for index, cell in enumerate(merged.cells):
        key = _matching_key(cell, checks) if cell.cell_type == "code" else None
        if key is not None and key not in placed and exercise_at.get(exercise_tag(key), index - 1) != index - 1:
            moved.add(key)  # a check cell must run right after its exercise: it goes back there below
            continue
        if key is not None and key not in placed:
            placed.add(key)
            ref_cell = copy.deepcopy(checks[key])
            if cell.source != ref_cell.source:
                notes.append(f"{key}: the check cell was edited; the reference cell was restored")
            cells.append(ref_cell)
            continue
        if key is not None or check_key(cell) is not None:
            _demote(cell)
            notes.append(f"cell {cell.get('id')!r} claimed a check tag it does not own; it counts for nothing")
        cells.append(cell)
    for key, ref_cell in checks.items():
        if key not in placed:
            index, where = _insert_position(cells, reference, key)
            cells.insert(index, copy.deepcopy(ref_cell))
            what = "was moved away from its exercise" if key in moved else "was missing"
            notes.append(f"{key}: the check cell {what}; re-inserted {where}")
    notes.extend(_suspicious_cells(cells, reference, checks))
    ref_ids = {cell.get("id") for cell in checks.values()}
    seen: set[str] = set()
    for index, cell in enumerate(cells):
        is_reference = check_key(cell) in checks and cell.get("id") in ref_ids
        if not cell.get("id") or cell.id in seen or (cell.id in ref_ids and not is_reference):
            cell.id = f"learner-{index}"
        seen.add(cell.id)
    merged.cells = cells
    return merged, notes
