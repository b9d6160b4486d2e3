"""Clean a solution notebook, execute it in place (outputs stored for nbval), clean it again.

    python -m course_lib.authoring.execute solutions/01_infini_attention.ipynb [--timeout S]

The kernel runs in the notebook's folder, as nbval and the grader run it. Afterwards
run ``python -m course_lib.authoring.generate`` to refresh the learner notebook.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from jupyter_client import KernelManager
from nbclient import NotebookClient
from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

from course_lib.authoring.generate import clean_solution


def execute_solution(path: str | Path, timeout: float = 600) -> float:
    """Run every cell of the notebook at ``path``, save it with its outputs, clean it; return seconds taken.

    The kernel is this Python environment's own (as with nbval's ``--nbval-current-env``).
    """
    path = Path(path)
    os.environ.setdefault("COURSE_WIDGETS", "static")  # stored outputs hold static figures (the kernel inherits this)
    clean_solution(path)  # badges and Colab cell first, so the stored execution is of the final sources
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    kernel = KernelManager(kernel_name=CURRENT_ENV_KERNEL_NAME, kernel_spec_manager=NbvalKernelspecManager())
    client = NotebookClient(nb, km=kernel, timeout=timeout, resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    seconds = time.perf_counter() - start
    nbformat.write(nb, path)
    clean_solution(path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Command line: execute each notebook given, printing its run time."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.authoring.execute", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", type=Path, nargs="+")
    parser.add_argument("--timeout", type=float, default=600, help="per-cell time limit in seconds (default: %(default)s)")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        print(f"{path}: executed in {execute_solution(path, args.timeout):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
