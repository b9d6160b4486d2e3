"""Write (and check) a notebook's Colab/Binder badges and its Colab set-up cell.

The badges sit in the notebook's first markdown cell between ``<!-- badges -->`` and
``<!-- /badges -->``; the set-up cell is the code cell tagged ``colab-setup``. Both are
generated from ``course_lib.links`` for the notebook's repository-relative path.
"""

from __future__ import annotations

import re

import nbformat

from course_lib import links

_BADGES_BLOCK = re.compile(re.escape(links.BADGES_BEGIN) + r".*?" + re.escape(links.BADGES_END), re.DOTALL)


def badges_block(path: str) -> str:
    """The marker-delimited badge block for the notebook at repository-relative ``path``."""
    return f"{links.BADGES_BEGIN}\n{links.badges_line(path)}\n{links.BADGES_END}"


def _first_markdown(nb: nbformat.NotebookNode) -> int | None:
    return next((i for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown"), None)


def _colab_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [
        cell
        for cell in nb.cells
        if cell.cell_type == "code" and links.COLAB_SETUP_TAG in cell.metadata.get("tags", [])
    ]


def apply_links(nb: nbformat.NotebookNode, path: str) -> None:
    """(Re)write the badges and the Colab set-up cell of ``nb`` in place for ``path``.

    Without markers, the badge block goes after the first line (the title) of the first
    markdown cell; without a ``colab-setup`` cell, one is inserted right after that cell.
    """
    md_index = _first_markdown(nb)
    if md_index is None:
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(badges_block(path), id="title"))
        md_index = 0
    title = nb.cells[md_index]
    if _BADGES_BLOCK.search(title.source):
        title.source = _BADGES_BLOCK.sub(lambda _: badges_block(path), title.source, count=1)
    else:
        first, _, rest = title.source.partition("\n")
        rest = rest.strip("\n")
        title.source = f"{first}\n\n{badges_block(path)}" + (f"\n\n{rest}" if rest else "")

    colab_cells = _colab_cells(nb)
    if colab_cells:
        for cell in colab_cells:
            cell.source = links.colab_setup_source()
    else:
        cell = nbformat.v4.new_code_cell(links.colab_setup_source(), id=links.COLAB_SETUP_TAG)
        cell.metadata["tags"] = [links.COLAB_SETUP_TAG]
        nb.cells.insert(md_index + 1, cell)


def link_problems(nb: nbformat.NotebookNode, path: str) -> list[str]:
    """What differs between ``nb``'s badges/Colab cell and what ``course_lib.links`` generates."""
    problems = []
    md_index = _first_markdown(nb)
    found = _BADGES_BLOCK.findall(nb.cells[md_index].source) if md_index is not None else []
    if found != [badges_block(path)]:
        problems.append(f"the first markdown cell's badge block is {found!r}, expected {badges_block(path)!r}")
    colab_cells = _colab_cells(nb)
    if len(colab_cells) != 1:
        problems.append(f"expected exactly one code cell tagged {links.COLAB_SETUP_TAG!r}, found {len(colab_cells)}")
    elif colab_cells[0].source != links.colab_setup_source():
        problems.append("the colab-setup cell's source differs from course_lib.links.colab_setup_source()")
    return problems
