"""Method code never reads the answer sheet: the procedural ground truth (course_lib.scenes) and, below the
chapter pipelines, the shipped stand-in models (course_lib.priors) stay out of the method packages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

COURSE_LIB = Path(__file__).resolve().parents[1] / "course_lib"
# package -> the course_lib packages it must not import
FORBIDDEN = {
    "geometry": ("course_lib.scenes", "course_lib.priors"),
    "splatting": ("course_lib.scenes", "course_lib.priors"),
    "diffusion": ("course_lib.scenes", "course_lib.priors"),
    "fields": ("course_lib.scenes", "course_lib.priors"),
    "text_to_3d": ("course_lib.scenes",),  # the chapter pipelines run on the shipped priors, never on the truth
}


def import_statements(source: str) -> list[tuple[int, set[str]]]:
    """(line, modules) for every ``import`` / ``from ... import`` statement of ``source``; ``from a import b``
    names both ``a`` and ``a.b`` (``from course_lib import scenes`` imports the package)."""
    statements = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            statements.append((node.lineno, {alias.name for alias in node.names}))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            statements.append((node.lineno, {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}))
    return statements


def violations(package_dir: Path, forbidden: tuple[str, ...]) -> list[str]:
    """``file:line imports ...`` for every statement of the package at ``package_dir`` that imports a forbidden package."""
    found = []
    for file in sorted(package_dir.rglob("*.py")):
        for line, modules in import_statements(file.read_text(encoding="utf-8")):
            bad = sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden))
            if bad:
                found.append(f"{file.relative_to(package_dir.parent)}:{line} imports {bad[0]}")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_method_package_does_not_import_ground_truth(package):
    package_dir = COURSE_LIB / package
    if not package_dir.exists():
        return  # created when its chapter lands (see the README's contributor section)
    assert violations(package_dir, FORBIDDEN[package]) == []


def test_the_method_packages_of_the_3d_chapters_exist():
    assert all((COURSE_LIB / package / "__init__.py").exists() for package in ("geometry", "splatting", "diffusion", "fields"))


@pytest.mark.parametrize("line", [
    "from course_lib.scenes import render_view",
    "from course_lib import scenes",
    "import course_lib.scenes.raycast as rc",
    "def f():\n    from course_lib.priors.shipped import load_prior\n",
])
def test_a_planted_violation_is_found(tmp_path, line):
    package = tmp_path / "splatting"
    package.mkdir()
    (package / "ok.py").write_text("from course_lib.geometry import Camera\nimport torch\n")
    (package / "bad.py").write_text(line + "\n")
    found = violations(package, FORBIDDEN["splatting"])
    assert len(found) == 1 and found[0].startswith("splatting/bad.py")
