"""Results as JSON that carry no machine's absolute paths (shared by bench/ and examples/ scripts).

Paths under the interank cache, the shared data folder, a site-packages folder,
the repository or the temporary folder are written relative to them:
``$INTERANK_CACHE/...``, ``../shared/...``, ``<site-packages>/...``, ``./...``,
``$TMPDIR/...`` (a run's scratch output, e.g. ``/tmp/run1``).
"""

from __future__ import annotations

import json
import os
import re
import site
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _prefixes() -> list[tuple[str, str]]:
    cache = Path(os.environ.get("INTERANK_CACHE", Path.home() / ".cache" / "interank"))
    data = Path(os.environ.get("INTERANK_DATA", REPO.parent / "shared" / "data"))
    packages = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    pairs = [(p, "<site-packages>") for p in packages]
    pairs += [(str(cache), "$INTERANK_CACHE"), (str(data), "../shared/data"), (str(REPO.parent / "shared"), "../shared"),
              (str(REPO), "."), (str(Path.home()), "~"), (tempfile.gettempdir(), "$TMPDIR")]
    return sorted(pairs, key=lambda p: -len(p[0]))  # the longest (most specific) prefix first


def portable(value: Any, _prefixes_: list[tuple[str, str]] | None = None) -> Any:
    """``value`` with every absolute path prefix above replaced, in strings nested in dicts and lists."""
    prefixes = _prefixes() if _prefixes_ is None else _prefixes_
    if isinstance(value, dict):
        return {k: portable(v, prefixes) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable(v, prefixes) for v in value]
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        for prefix, short in prefixes:
            value = re.sub(re.escape(prefix.rstrip("/")) + r"(?=/|$|\W)", short, value)
    return value


def machine() -> str:
    """The CPU a timing was taken on: its model name, cores and the instruction sets that change CPU speed here
    (AVX-512, VNNI, bf16, AMX), e.g. ``"AMD EPYC, 2 cores, avx2 avx512f avx512_vnni avx512_bf16"``."""
    from interank_sdk.backends.hf.device import cpu_info

    info = cpu_info()
    if info is None:
        import platform

        return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    flags = set(info.get("flags", "").split())
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
    return f"{info.get('model name', '?')}, {os.cpu_count()} cores, {' '.join(f for f in wanted if f in flags)}"


def write_json(path: Path, results: dict[str, Any], indent: int = 2) -> None:
    """Write ``results`` to ``path`` (folders made) with :func:`portable` paths."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(portable(results), indent=indent, default=str) + "\n")


__all__ = ["machine", "portable", "write_json"]
