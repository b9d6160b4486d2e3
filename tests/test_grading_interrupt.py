"""An interrupted grader leaves nothing behind: no graded copy, no kernel, no temporary file.

The grader runs as a teacher runs it, in a subprocess, on fixture notebooks that loop forever;
once their kernels run, it gets SIGINT (Ctrl-C) or SIGTERM (``kill``, a CI runner's cancel).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SOLUTION = FIXTURES / "solutions" / "00_fixture.ipynb"
LEARNER = FIXTURES / "notebooks" / "00_fixture.ipynb"


def _looping_notebook(path: Path) -> None:
    nb = nbformat.read(LEARNER, as_version=4)
    for cell in nb.cells:
        if cell.id == "exercise-00-1":
            cell.source = cell.source.replace("# YOUR CODE HERE\n    raise NotImplementedError()", "while True:\n        pass")
    nbformat.write(nb, path)


def _kernels(pid: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.Process(pid).children(recursive=True):
        try:
            if "ipykernel_launcher" in " ".join(proc.cmdline()):
                found.append(proc)
        except psutil.Error:
            pass
    return found


@pytest.mark.parametrize("mode", ["one notebook", "class"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_grader_leaves_no_copy_kernel_or_temporary_file(mode, signum, tmp_path):
    subs, scratch = tmp_path / "subs", tmp_path / "tmp"
    subs.mkdir()
    scratch.mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "numbers.txt").write_bytes((FIXTURES / "data" / "numbers.txt").read_bytes())
    names = ["a.ipynb"] if mode == "one notebook" else ["a.ipynb", "b.ipynb", "c.ipynb"]
    for name in names:
        _looping_notebook(subs / name)
    args = [str(subs / "a.ipynb")] if mode == "one notebook" else [str(subs), "--out", str(tmp_path / "grades.csv"), "--jobs", "2"]
    env = dict(os.environ, TMPDIR=str(scratch), OMP_NUM_THREADS="1")
    grader = subprocess.Popen(
        [sys.executable, "-m", "course_lib.grading", *args, "--solution", str(SOLUTION)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True,
    )
    try:
        expected_kernels = min(len(names), 2)
        deadline = time.monotonic() + 120
        while len(kernels := _kernels(grader.pid)) < expected_kernels and time.monotonic() < deadline:
            time.sleep(0.3)
        assert len(kernels) == expected_kernels, "the grader's kernels never started"
        time.sleep(3)  # into the looping cell
        assert len(list(subs.glob(".grading-*"))) == expected_kernels
        assert any(scratch.iterdir()), "the run's temporary folder (the kernels' connection files) lies in TMPDIR"
        grader.send_signal(signum)
        output, _ = grader.communicate(timeout=60)
    finally:
        if grader.poll() is None:
            os.killpg(grader.pid, signal.SIGKILL)
            grader.wait()
    assert grader.returncode == 130, output
    assert "interrupted: graded copies deleted and kernels stopped; nothing written" in output
    assert [proc.pid for proc in kernels if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE] == []
    assert sorted(path.name for path in subs.iterdir()) == names, "no .grading-* copy is left"
    assert list(scratch.iterdir()) == [], "no temporary folder or kernel connection file is left"
    assert not (tmp_path / "grades.csv").exists()
