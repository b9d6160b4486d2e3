"""Run the grading subprocess under watch: a time limit, a dead kernel, a stop request; nothing left behind.

nbval's kernel is started by jupyter_client in a session of its own, so neither Ctrl-C in
the terminal nor killing pytest reaches it, and a kernel that dies in the middle of a cell
leaves nbval waiting for the whole per-cell timeout. ``run_watched`` starts pytest in a new
session and polls it; when the notebook's time limit passes, the kernel dies while a cell
runs, ``cancel`` is set, or the caller is interrupted (KeyboardInterrupt, or the grader's
SIGTERM handler), it kills pytest, the kernel and everything they started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import psutil

POLL_S = 0.25
TIME_LIMIT = "time limit"
KERNEL_DIED = "kernel died"
CANCELLED = "cancelled"


@dataclass
class WatchedRun:
    """How the subprocess ended: its exit code, or why it was stopped (``stopped``), and its output."""

    returncode: int | None
    stopped: str | None
    output: str
    duration_s: float


def kill_tree(pid: int) -> None:
    """Kill process ``pid`` and every process below it, and wait until they are gone.

    The root is stopped first so that it starts nothing new; each session leader found
    (the kernel runs in a session of its own) has its whole process group killed.
    """
    try:
        root = psutil.Process(pid)
        root.suspend()
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    own_group = os.getpgrp() if hasattr(os, "killpg") else None
    for proc in procs:
        with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
            if own_group is not None and os.getpgid(proc.pid) == proc.pid != own_group:
                os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(procs, timeout=10)


class _ChildWatch:
    """Notices when a direct child of ``pid`` (nbval's kernel) has exited while ``pid`` runs on."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.seen: dict[int, psutil.Process] = {}

    def a_child_died(self) -> bool:
        with contextlib.suppress(psutil.Error):
            for child in self.root.children():
                self.seen.setdefault(child.pid, child)
        for child in self.seen.values():
            try:
                if not child.is_running() or child.status() == psutil.STATUS_ZOMBIE:
                    return True
            except psutil.NoSuchProcess:
                return True
        return False


def run_watched(
    cmd: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    log_path: Path,
    time_limit: float | None = None,
    cancel: threading.Event | None = None,
    cell_running: Callable[[], bool] = lambda: False,
) -> WatchedRun:
    """Run ``cmd`` to its end or until stopped; its output goes to ``log_path`` and is returned.

    Stops it when ``time_limit`` seconds have passed, when one of its children (the kernel)
    has died while ``cell_running()`` says a cell is executing, or when ``cancel`` is set.
    Whatever happens, including an exception in the caller, nothing it started survives.
    """
    start = time.monotonic()
    stopped = None
    with open(log_path, "w+", encoding="utf-8", errors="replace") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            children = _ChildWatch(proc.pid)
            while proc.poll() is None:
                if cancel is not None and cancel.is_set():
                    stopped = CANCELLED
                elif time_limit is not None and time.monotonic() - start > time_limit:
                    stopped = TIME_LIMIT
                elif children.a_child_died() and cell_running() and proc.poll() is None:
                    stopped = KERNEL_DIED
                if stopped:
                    break
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(POLL_S)
        finally:
            if proc.poll() is None:
                kill_tree(proc.pid)
            proc.wait()
        log.seek(0)
        output = log.read()
    return WatchedRun(None if stopped else proc.returncode, stopped, output, time.monotonic() - start)
