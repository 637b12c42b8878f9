"""No import cycles between tailjax's modules, function-local imports included.

The graph is read from the source with `ast` (nothing is imported): an edge A -> B for every
`import B` / `from B import name` in A, at any depth. `from P import name` points at the
submodule P.name when there is one, else at P (its __init__). The implicit import of a module's
parent packages is not an edge: every module has it, and it would make each package a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "tailjax"
ROOT = Path(__file__).resolve().parents[1]

def module_files() -> dict[str, Path]:
    """{"tailjax.model.qwen2": path, "tailjax.model": .../model/__init__.py, ...}."""
    out = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imported(node: ast.AST, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The tailjax modules one import statement names."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in modules}
    if not isinstance(node, ast.ImportFrom):
        return set()
    base = node.module or ""
    if node.level:  # relative: resolve against this module's package
        package = module.split(".")
        package = package if is_package else package[:-1]
        package = package[:len(package) - (node.level - 1)]
        base = ".".join(package + ([base] if base else []))
    found = set()
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        if sub in modules:
            found.add(sub)
        elif base in modules:
            found.add(base)
    return found


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    modules = set(files)
    graph = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        graph[module] = set().union(*(imported(n, module, is_package, modules)
                                      for n in ast.walk(tree))) - {module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search, white/grey/black)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_sees_local_and_relative_imports():
    graph = import_graph()
    assert "tailjax.model.qwen2" in graph["tailjax.model"]           # from X import (names)
    assert "tailjax.tasks.simulation" in graph["tailjax.tasks"]      # from P import submodule
    assert "tailjax.host" in graph["tailjax.eval"]                   # inside a function
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)

