"""The set-up files agree with each other: requirements, Binder, the README's commands, CI."""

from __future__ import annotations

import os
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _requirement_names(path: Path) -> set[str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return {re.match(r"[A-Za-z0-9_.-]+", line).group(0).lower() for line in lines if re.match(r"[A-Za-z]", line)}


def test_requirements_are_loose_and_install_the_course():
    lines = [line.strip() for line in (REPO_ROOT / "requirements.txt").read_text().splitlines() if line.strip()]
    assert lines[-1] == "-e ."
    pinned = [line for line in lines if "==" in line or "<" in line]
    assert not pinned, f"requirements.txt takes lower bounds only, found {pinned}"


def test_binder_installs_the_same_packages():
    assert _requirement_names(REPO_ROOT / "binder" / "requirements.txt") == _requirement_names(REPO_ROOT / "requirements.txt")
    assert os.access(REPO_ROOT / "binder" / "postBuild", os.X_OK)


def test_ci_runs_the_readme_test_command():
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    install = re.search(r"^install_cmd='(.*)'$", ci, re.MULTILINE).group(1)
    test = re.search(r"^test_cmd='(.*)'$", ci, re.MULTILINE).group(1)
    readme_lines = (REPO_ROOT / "README.md").read_text().splitlines()
    assert f"{install} && {test}" in readme_lines
    assert os.access(REPO_ROOT / ".ci" / "run", os.X_OK)


def test_readme_starts_jupyterlab_on_the_first_chapter():
    readme_lines = (REPO_ROOT / "README.md").read_text().splitlines()
    assert "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt && .venv/bin/jupyter lab notebooks/01_infini_attention.ipynb" in readme_lines
