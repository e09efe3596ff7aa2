"""The benchmark scripts still start: bench/ is not run by CI, so an import that breaks
(as when tests/conftest.py began importing its sibling tiny_vocab) would otherwise go
unnoticed until someone reproduces a figure. Each script runs in a fresh interpreter,
as a user runs it; only ``--help`` and the shared request builder, nothing heavy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHES = sorted(p.name for p in (REPO / "bench").glob("*.py") if p.name != "results_io.py")


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=300,
                          check=False)


@pytest.mark.parametrize("script", BENCHES)
def test_bench_script_starts(script):
    done = _run([f"bench/{script}", "--help"])
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage" in done.stdout.lower()


def test_serve_benches_build_requests_from_the_tests_vocabulary():
    code = ("import sys; sys.path.insert(0, 'bench'); import serve_load; "
            "r = serve_load.make_requests(3, 4); print(len(r), len(r[0]['documents']))")
    done = _run(["-c", code])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["3", "4"]


def test_results_carry_no_machine_paths():
    """bench/results_io.portable: cache, data, repository and temporary paths written relative to them."""
    import tempfile

    sys.path.insert(0, str(REPO / "bench"))
    from results_io import portable

    scratch = Path(tempfile.gettempdir()) / "run1" / "adapter"
    out = portable({"a": [str(REPO / "bench" / "x.json"), scratch], "b": f"--model {scratch} --json", "n": 3})
    assert out == {"a": ["./bench/x.json", "$TMPDIR/run1/adapter"], "b": "--model $TMPDIR/run1/adapter --json",
                   "n": 3}
