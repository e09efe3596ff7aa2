"""The package's layout: no import cycle between ``interank_sdk`` modules.

Every ``.py`` file under ``interank_sdk/`` is parsed (nothing is imported) and each
``import``/``from ... import`` statement, at module level or inside a function or
class, relative or absolute, becomes an edge to the ``interank_sdk`` module it
names (``from pkg import name`` points at ``pkg.name`` when that is a module,
else at ``pkg``). A cycle in that graph is an import cycle waiting for the
first module-level import to turn it into an ``ImportError``: the CLI and the
HTTP service (``cli/``, ``serve/``) must have none; the rest may have only the
known ones listed in :data:`KNOWN_CYCLES`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import interank_sdk

PACKAGE = "interank_sdk"
ROOT = Path(interank_sdk.__file__).resolve().parent

#: import cycles known outside cli/ and serve/ (each a sorted tuple of module names), tolerated for now
KNOWN_CYCLES: set[tuple[str, ...]] = {
    # the prompt registry: prompts/__init__.py imports its built-in template modules at its end so that they
    # register themselves (lists: the listwise, pairwise and setwise prompts), and they import ``Prompt``,
    # ``PromptTemplate`` and ``register`` back from the package
    ("interank_sdk.prompts", "interank_sdk.prompts.lists", "interank_sdk.prompts.templates_v1",
     "interank_sdk.prompts.templates_v2"),
}


def module_name(path: Path) -> str:
    """``interank_sdk/serve/app.py`` -> ``interank_sdk.serve.app``; a package's ``__init__.py`` is the package."""
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> dict[str, Path]:
    """Every module of the package by its dotted name."""
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _resolve(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The absolute module a ``from ... import`` names (``from ..x import y`` in ``a.b.c`` -> ``a.x``)."""
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules ``name`` imports anywhere in its file (module level, functions, classes)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(node, name, path.name == "__init__.py")
            targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # ``import a.b.c`` of a name inside a module: its module
                target = target.rpartition(".")[0]
            if target.startswith(PACKAGE) and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    modules = package_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """The strongly connected components with more than one module (each sorted), by Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[tuple[str, ...]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(tuple(sorted(component)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_the_package():
    graph = import_graph()
    assert {"interank_sdk.cli", "interank_sdk.serve.app", "interank_sdk.reranker"} <= set(graph)
    assert "interank_sdk.serve.app" in graph["interank_sdk.serve"]  # a function-level import is an edge
    assert "interank_sdk.cli.serve" in graph["interank_sdk.cli"]  # relative ``from . import serve``


def test_no_import_cycle_involves_the_cli_or_the_service():
    involved = [c for c in cycles(import_graph())
                if any(m.startswith((f"{PACKAGE}.cli", f"{PACKAGE}.serve")) for m in c)]
    assert not involved, f"import cycles through cli/ or serve/: {involved}"


def test_no_other_import_cycle():
    assert set(cycles(import_graph())) <= KNOWN_CYCLES


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [("a", "b", "c")]
    assert cycles({"a": {"b"}, "b": set()}) == []
