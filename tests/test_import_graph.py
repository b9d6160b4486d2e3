"""course_lib's packages import each other without a cycle: a package builds on others, never both ways.

The graph is read from the source with ``ast``, so an import hidden inside a function counts as
much as one at the top of a file: a cycle cannot be dodged by importing late.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def module_names(root: Path) -> dict[str, Path]:
    """``{"course_lib.attention.mha": path, "course_lib.attention": .../__init__.py, ...}`` under ``root``."""
    modules = {}
    for path in sorted((root / "course_lib").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    """(course_lib module, line) of every import statement of the module, wherever it sits in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            package = name if path.name == "__init__.py" else name.rpartition(".")[0]
            base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]) if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module for alias in node.names]
        else:
            continue
        found += [(target, node.lineno) for target in dict.fromkeys(targets) if target in modules]
    return found


def package_of(module: str) -> str:
    """The package a module belongs to: ``course_lib.longctx`` for ``course_lib.longctx.ruler.tasks``;
    a module directly under course_lib (``course_lib.assets``) is a package of its own."""
    return ".".join(module.split(".")[:2])


def package_graph(root: Path) -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> the import lines that make the edge (``module:line``)."""
    modules = module_names(root)
    graph: dict[str, dict[str, list[str]]] = {package_of(m): {} for m in modules}
    for name, path in modules.items():
        for target, line in imported_modules(name, path, modules):
            if package_of(target) != package_of(name):
                graph[package_of(name)].setdefault(package_of(target), []).append(f"{name}:{line} imports {target}")
    return graph


def find_cycle(graph: dict[str, dict[str, list[str]]]) -> list[str]:
    """The packages of one cycle, first package repeated at the end; [] if the graph has none."""
    state: dict[str, str] = {}  # "open" while on the search path, "done" once every edge out is explored
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_course_lib_packages_have_no_import_cycle():
    graph = package_graph(REPO_ROOT)
    cycle = find_cycle(graph)
    evidence = [line for a, b in zip(cycle, cycle[1:]) for line in graph[a][b]]
    assert not cycle, f"import cycle between packages {' -> '.join(cycle)}:\n" + "\n".join(evidence)


def test_the_chapter_packages_build_on_attention_never_the_reverse():
    graph = package_graph(REPO_ROOT)
    assert "course_lib.attention" in graph["course_lib.longctx"] and "course_lib.attention" in graph["course_lib.lm"]
    later = {"course_lib.longctx", "course_lib.vision", "course_lib.lm", "course_lib.vlm"} & set(graph["course_lib.attention"])
    assert not later, f"course_lib.attention imports {sorted(later)}: " + "; ".join(line for p in sorted(later) for line in graph["course_lib.attention"][p])


def _write(root: Path, files: dict[str, str]) -> None:
    for name, source in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(source))


def test_a_cycle_through_an_import_inside_a_function_is_found(tmp_path):
    # the shape of the cycle chapter 01/02 once had: attention's passkey training imported the
    # passkey task from longctx, and longctx's RULER training imported attention's tiny LM
    _write(tmp_path, {
        "course_lib/__init__.py": "",
        "course_lib/attention/__init__.py": "from course_lib.attention.tiny_lm import TinyLM\n",
        "course_lib/attention/tiny_lm.py": "class TinyLM: ...\n",
        "course_lib/attention/passkey_training.py": "def build():\n    from course_lib.longctx.passkey import Task\n",
        "course_lib/longctx/__init__.py": "",
        "course_lib/longctx/passkey.py": "class Task: ...\n",
        "course_lib/longctx/ruler/__init__.py": "",
        "course_lib/longctx/ruler/training.py": "from ..ruler import __name__\nfrom course_lib.attention import tiny_lm\n",
    })
    graph = package_graph(tmp_path)
    assert find_cycle(graph) == ["course_lib.attention", "course_lib.longctx", "course_lib.attention"]
    assert graph["course_lib.attention"]["course_lib.longctx"] == [
        "course_lib.attention.passkey_training:2 imports course_lib.longctx.passkey"]
    assert graph["course_lib.longctx"]["course_lib.attention"] == [
        "course_lib.longctx.ruler.training:2 imports course_lib.attention.tiny_lm"]
    _write(tmp_path, {"course_lib/attention/passkey_training.py": "def build(): ...\n"})
    assert find_cycle(package_graph(tmp_path)) == []
