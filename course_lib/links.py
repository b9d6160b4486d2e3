"""The one place that knows where the course lives online.

Every Colab badge, Binder badge and Colab set-up cell is generated from the constants
below (by ``python -m course_lib.authoring.generate``); nothing of it is typed into a
notebook or the README by hand, and a test checks that they all agree with this file.
"""

from __future__ import annotations

REPO = "ml-paper-rebuilds/course"
REPO_URL = f"https://github.com/{REPO}"
BRANCH = "main"

COLAB_BADGE_SVG = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE_SVG = "https://mybinder.org/badge_logo.svg"

BADGES_BEGIN = "<!-- badges -->"
BADGES_END = "<!-- /badges -->"
COLAB_SETUP_TAG = "colab-setup"

# Colab ships torch built for its runtime: these stay exactly as installed (pinned as constraints).
COLAB_KEEP = ("torch", "torchvision", "torchaudio")
# Requirements not installed on Colab: its own torch, and the tooling Colab's runtime provides or
# that only the test suite needs (upgrading jupyterlab or ipykernel there breaks the runtime).
COLAB_SKIP = COLAB_KEEP + ("jupyterlab", "ipykernel", "nbval", "nbformat", "nbclient", "pytest")


def colab_url(path: str) -> str:
    """URL that opens the notebook at repository-relative ``path`` on Google Colab."""
    return f"https://colab.research.google.com/github/{REPO}/blob/{BRANCH}/{path}"


def binder_url(path: str) -> str:
    """URL that opens JupyterLab on Binder at repository-relative ``path``."""
    return f"https://mybinder.org/v2/gh/{REPO}/{BRANCH}?urlpath=lab/tree/{path}"


def colab_badge(path: str) -> str:
    """Markdown of the "Open in Colab" badge for the notebook at ``path`` (repository-relative)."""
    return f"[![Open In Colab]({COLAB_BADGE_SVG})]({colab_url(path)})"


def binder_badge(path: str) -> str:
    """Markdown of the "launch Binder" badge for the notebook at ``path`` (repository-relative)."""
    return f"[![Binder]({BINDER_BADGE_SVG})]({binder_url(path)})"


def badges_line(path: str) -> str:
    """Both badges on one line, as they appear in a notebook's title cell and in the README."""
    return f"{colab_badge(path)} {binder_badge(path)}"


def colab_setup_source() -> str:
    """Source of a notebook's Colab set-up cell.

    On Colab only, it clones the course, installs ``course_lib`` (editable, ``--no-deps``) and
    the requirements a notebook needs at run time, with Colab's installed torch pinned as a
    constraint so that it is never replaced (``COLAB_SKIP`` lists what is left out); then it
    moves into ``notebooks/`` so that paths such as ``../data/...`` work. Anywhere else the
    cell does nothing.
    """
    return f'''# Runs only on Google Colab: installs the course, keeping Colab's own torch. Elsewhere it does nothing.
import sys

if "google.colab" in sys.modules:
    import importlib.metadata, os, re, subprocess
    repo_dir = "/content/course"
    if not os.path.isfile(os.path.join(repo_dir, "requirements.txt")):  # absent, or a clone cut short
        subprocess.run(["rm", "-rf", repo_dir], check=True)
        subprocess.run(["git", "clone", "--depth", "1", "--branch", "{BRANCH}", "{REPO_URL}", repo_dir], check=True)
    if not os.path.exists("/tmp/course_installed"):  # running the cell again installs nothing again
        pins = []
        for name in {COLAB_KEEP!r}:
            try:
                pins.append(f"{{name}}=={{importlib.metadata.version(name)}}")
            except importlib.metadata.PackageNotFoundError:
                pass
        with open("/tmp/colab_constraints.txt", "w") as f:
            f.write("\\n".join(pins) + "\\n")
        with open(os.path.join(repo_dir, "requirements.txt")) as f:
            wanted = [line.strip() for line in f if re.match(r"[A-Za-z]", line)]
        skip = {COLAB_SKIP!r}
        wanted = [req for req in wanted if re.match(r"[A-Za-z0-9_.-]+", req).group(0).lower() not in skip]
        pip = [sys.executable, "-m", "pip", "install", "-q"]
        subprocess.run(pip + ["-c", "/tmp/colab_constraints.txt"] + wanted, check=True)
        subprocess.run(pip + ["--no-deps", "-e", repo_dir], check=True)
        open("/tmp/course_installed", "w").close()
    if repo_dir not in sys.path:
        sys.path.insert(0, repo_dir)
    os.chdir(os.path.join(repo_dir, "notebooks"))'''
