"""The ``slow`` mark is applied as pyproject.toml defines it, so ``pytest -m "not slow"`` is a real quick suite:
a test that starts a subprocess itself carries the mark (tests using the offline models or a server fixture get
it from conftest's ``SLOW_FIXTURES``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SUBPROCESS = ("subprocess", "Popen", "sys.executable")


def _test_files() -> list[Path]:
    return sorted([*(REPO / "tests").rglob("test_*.py"), *(REPO / "trainer" / "tests").rglob("test_*.py")])


def _marked_slow(decorators: list[ast.expr]) -> bool:
    return any("mark.slow" in ast.unparse(d) for d in decorators)


def test_every_test_that_starts_a_subprocess_is_marked_slow():
    unmarked = []
    for path in _test_files():
        if path.name == "test_markers.py":  # this file names the words it looks for
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module_slow = any(isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in n.targets)
                          and "mark.slow" in ast.unparse(n.value) for n in tree.body)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                body = ast.unparse(node)
                if any(word in body for word in SUBPROCESS) and not (module_slow or _marked_slow(node.decorator_list)):
                    unmarked.append(f"{path.relative_to(REPO)}::{node.name}")
    assert not unmarked, f"tests that start a subprocess without @pytest.mark.slow: {unmarked}"


def test_tests_using_an_offline_model_are_marked_slow(request, pytestconfig):
    """conftest marks the items that use a SLOW_FIXTURES fixture (tests/ and trainer/tests alike); this session's
    items show it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("interank_markers_conftest", REPO / "tests" / "conftest.py")
    core = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(core)
    SLOW_FIXTURES = core.SLOW_FIXTURES  # noqa: N806

    session_items = request.session.items
    using = [item for item in session_items if SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))]
    assert all(item.get_closest_marker("slow") for item in using)
    if not using:
        pytest.skip("no test of this session uses an offline model fixture (run with the whole suite to check)")
