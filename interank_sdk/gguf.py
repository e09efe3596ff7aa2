"""Convert a GGUF model file into a plain transformers safetensors folder, once.

transformers can load a ``.gguf`` file directly
(``AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)``), but it
de-quantizes every tensor on every load (tens of seconds on a CPU), keeps a
GGUF quantizer attached that refuses ``save_pretrained`` and any other
quantization (bitsandbytes) on top. :func:`convert_gguf` pays that cost once
and writes an ordinary folder -- ``config.json``, ``model.safetensors``,
``generation_config.json`` and the tokenizer files, chat template included --
that every backend of the SDK loads like any hub checkpoint.

The conversion is atomic: it is written into a temporary folder next to the
destination and renamed into place only when complete, so an interrupted run
never leaves a half folder behind. A finished folder carries a marker file
(:data:`MARKER_NAME`) that records the source file's name, size and
modification time and the dtype; converting the same file again into the same
folder returns at once.

Example::

    from interank_sdk.gguf import cached_conversion_dir, convert_gguf

    folder = convert_gguf("SmolLM2-135M-Instruct.Q4_1.gguf",
                          cached_conversion_dir("SmolLM2-135M-Instruct.Q4_1.gguf"))
    model = AutoModelForCausalLM.from_pretrained(folder)
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import inspect
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ._deps import require
from .errors import InvalidInputError, ModelLoadError

logger = logging.getLogger(__name__)

#: Name of the marker file written last into a finished conversion folder.
MARKER_NAME = "interank_gguf.json"

_MARKER_FORMAT = 1
_GGUF_MAGIC = b"GGUF"
_DTYPES = ("bfloat16", "float16", "float32")
_TMP_TAG = ".tmp-"
_OLD_TAG = ".old-"

__all__ = ["MARKER_NAME", "cached_conversion_dir", "convert_gguf", "default_cache_dir"]


def default_cache_dir() -> Path:
    """Return the SDK's cache folder.

    ``$INTERANK_CACHE`` when set (``~`` is expanded), else ``~/.cache/interank``.
    The folder is not created.
    """
    env = os.environ.get("INTERANK_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "interank"


def cached_conversion_dir(gguf_path: str | Path) -> Path:
    """Return the cache folder that :func:`convert_gguf` should write ``gguf_path`` into.

    The folder is ``<default_cache_dir()>/gguf/<stem>-<hash>`` where the hash
    covers the file's absolute path, size and modification time, so a file that
    changes gets a fresh folder. Nothing is created.

    Raises:
        ModelLoadError: ``gguf_path`` does not exist or is not a file.
    """
    src = _check_source(gguf_path)
    st = src.stat()
    key = f"{src}\0{st.st_size}\0{st.st_mtime_ns}".encode()
    digest = hashlib.sha256(key).hexdigest()[:12]
    return default_cache_dir() / "gguf" / f"{src.stem}-{digest}"


def convert_gguf(gguf_path: str | Path, out_dir: str | Path, *, dtype: str = "bfloat16") -> Path:
    """Convert a GGUF causal-LM file into a transformers safetensors folder.

    The weights are de-quantized and cast to ``dtype``; the GGUF
    ``quantization_config`` is dropped, so the folder loads with a plain
    ``AutoModelForCausalLM.from_pretrained(out_dir)`` (and can be quantized
    again, e.g. with bitsandbytes). Tied input/output embeddings stay tied
    (one tensor in the file). The tokenizer is saved with its chat template.

    If ``out_dir`` already holds a finished conversion of the same file (same
    name, size and modification time) in the same dtype, it is returned
    without any work. A stale conversion there (other source, other dtype) is
    replaced; a non-empty folder that is not a conversion is never touched.

    Args:
        gguf_path: the ``.gguf`` file.
        out_dir: destination folder; its parent is created if needed.
        dtype: ``"bfloat16"`` (default; fast on CPUs with AMX and half the
            size of float32), ``"float16"`` or ``"float32"``.

    Returns:
        ``out_dir`` as an absolute :class:`~pathlib.Path`.

    Raises:
        ModelLoadError: the file is missing, is not a GGUF file, its
            architecture is not supported by transformers, or ``out_dir`` is
            an existing folder that is not a conversion.
        InvalidInputError: ``dtype`` is not one of the supported names.
        MissingDependencyError: the ``gguf`` package is not installed.
    """
    src = _check_source(gguf_path)
    dtype_name = _dtype_name(dtype)
    out = Path(out_dir).expanduser().absolute()
    record = _source_record(src, dtype_name)

    if _is_complete(out, record):
        logger.info("GGUF conversion of %s already at %s", src.name, out)
        return out
    if out.exists() and not out.is_dir():
        raise ModelLoadError(f"Cannot convert {src} into {out}: a file with that name exists.")
    if out.is_dir() and any(out.iterdir()) and _read_marker(out) is None:
        raise ModelLoadError(
            f"Cannot convert {src} into {out}: the folder is not empty and is not a GGUF conversion "
            f"(no {MARKER_NAME}); refusing to overwrite it. Choose another out_dir."
        )

    require("gguf", "gguf")
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_dirs(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}{_TMP_TAG}{os.getpid()}-", dir=out.parent))
    start = time.perf_counter()
    try:
        logger.info("Converting %s (%.0f MB) to %s safetensors in %s", src, record["size"] / 1e6, dtype_name, out)
        info = _convert_into(src, tmp, dtype_name)
        record.update(info)
        record["seconds"] = round(time.perf_counter() - start, 1)
        _write_json(tmp / MARKER_NAME, record)
        _install(tmp, out, record)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("Converted %s in %.1f s -> %s", src.name, time.perf_counter() - start, out)
    return out


# --------------------------------------------------------------------------- helpers


def _check_source(gguf_path: str | Path) -> Path:
    """Absolute path of an existing GGUF file, or :class:`ModelLoadError`."""
    src = Path(gguf_path).expanduser()
    if not src.exists():
        raise ModelLoadError(f"GGUF file not found: {src}")
    if not src.is_file():
        raise ModelLoadError(f"GGUF path is not a file: {src}")
    return src.resolve()


def _check_magic(src: Path) -> None:
    try:
        with open(src, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelLoadError(f"Cannot read GGUF file {src}: {exc}") from exc
    if magic != _GGUF_MAGIC:
        raise ModelLoadError(f"{src} is not a GGUF file (starts with {magic!r}, expected {_GGUF_MAGIC!r}).")


def _dtype_name(dtype: Any) -> str:
    name = str(dtype).removeprefix("torch.")
    aliases = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32", "float": "float32"}
    name = aliases.get(name, name)
    if name not in _DTYPES:
        raise InvalidInputError(f"dtype must be one of {', '.join(_DTYPES)}; got {dtype!r}.")
    return name


def _source_record(src: Path, dtype_name: str) -> dict[str, Any]:
    st = src.stat()
    return {
        "format": _MARKER_FORMAT,
        "source_name": src.name,
        "source_path": str(src),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "dtype": dtype_name,
    }


def _read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        with open(folder / MARKER_NAME, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _is_complete(folder: Path, record: dict[str, Any]) -> bool:
    """Whether ``folder`` is a finished conversion of the source described by ``record``."""
    marker = _read_marker(folder)
    if marker is None:
        return False
    keys = ("format", "source_name", "size", "mtime_ns", "dtype")
    if any(marker.get(k) != record[k] for k in keys):
        logger.info("Conversion in %s is stale (source or dtype changed); converting again", folder)
        return False
    has_weights = (folder / "model.safetensors").is_file() or (folder / "model.safetensors.index.json").is_file()
    return has_weights and (folder / "config.json").is_file()


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _remove_stale_temp_dirs(out: Path) -> None:
    """Remove temp folders of ``out`` left by conversions of this host that were killed."""
    for tag in (_TMP_TAG, _OLD_TAG):
        for leftover in out.parent.glob(f".{out.name}{tag}*"):
            try:
                pid = int(leftover.name[len(out.name) + 1 + len(tag) :].split("-", 1)[0])
            except ValueError:
                continue
            if pid != os.getpid() and not _pid_alive(pid):
                logger.info("Removing leftover of an interrupted conversion: %s", leftover)
                shutil.rmtree(leftover, ignore_errors=True)


def _install(tmp: Path, out: Path, record: dict[str, Any]) -> None:
    """Move the finished ``tmp`` folder to ``out`` with renames only."""
    old: Path | None = None
    if out.exists():
        if _is_complete(out, record):  # another process finished the same conversion meanwhile
            return
        if any(out.iterdir()) and _read_marker(out) is None:
            raise ModelLoadError(f"{out} appeared during the conversion and is not a GGUF conversion; not replacing it.")
        old = out.parent / f".{out.name}{_OLD_TAG}{os.getpid()}-{time.time_ns()}"
        os.rename(out, old)
    try:
        os.rename(tmp, out)
    except OSError as exc:
        if _is_complete(out, record):
            return
        raise ModelLoadError(f"Could not move the converted model into {out}: {exc}") from exc
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _convert_into(src: Path, dest: Path, dtype_name: str) -> dict[str, Any]:
    """Load ``src`` with transformers' GGUF loader and save it as safetensors in ``dest``."""
    _check_magic(src)
    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch_dtype = getattr(torch, dtype_name)
    folder, name = str(src.parent), src.name

    try:
        t0 = time.perf_counter()
        config = AutoConfig.from_pretrained(folder, gguf_file=name)
        logger.info("Read GGUF config (%s) in %.1f s", config.model_type, time.perf_counter() - t0)

        t0 = time.perf_counter()
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        logger.info("Read GGUF tokenizer (%d tokens) in %.1f s", len(tokenizer), time.perf_counter() - t0)

        t0 = time.perf_counter()
        load_kwargs: dict[str, Any] = {}
        gguf_config_cls = getattr(transformers, "GgufConfig", None)
        if gguf_config_cls is not None:
            # transformers >= 5.2x may keep GGUF blocks packed (GgufLinear); ask for plain dense weights.
            load_kwargs["quantization_config"] = gguf_config_cls(dequantize=True)
        gguf_model = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=name, config=config, dtype=torch_dtype, **load_kwargs
        )
        logger.info("De-quantized GGUF weights in %.1f s", time.perf_counter() - t0)
    except (ValueError, KeyError, OSError, RuntimeError, NotImplementedError) as exc:
        raise ModelLoadError(f"transformers could not load GGUF file {src}: {exc}") from exc

    # A clean copy without the GGUF quantizer: same tensors (no copy), plain config.
    t0 = time.perf_counter()
    clean_config = copy.deepcopy(gguf_model.config)
    clean_config.__dict__.pop("quantization_config", None)
    state_dict = gguf_model.state_dict()
    model, loading = type(gguf_model).from_pretrained(
        None, config=clean_config, state_dict=state_dict, dtype=torch_dtype, output_loading_info=True
    )
    missing = [k for k in loading.get("missing_keys", ()) if k not in _tied_keys(model)]
    if missing or loading.get("mismatched_keys"):
        raise ModelLoadError(
            f"Converting {src} lost weights: missing {missing[:5]}, mismatched {list(loading.get('mismatched_keys', []))[:5]}"
        )
    generation_config = copy.deepcopy(gguf_model.generation_config)
    _merge_eos(generation_config, tokenizer)
    model.generation_config = generation_config
    del gguf_model, state_dict

    save_kwargs: dict[str, Any] = {}
    if "safe_serialization" in inspect.signature(model.save_pretrained).parameters:
        save_kwargs["safe_serialization"] = True  # transformers 4.x; 5.x always writes safetensors
    model.save_pretrained(dest, **save_kwargs)
    max_positions = getattr(model.config, "max_position_embeddings", None)
    if max_positions and getattr(tokenizer, "model_max_length", 0) > 10**12:  # GGUF carries no limit: use the model's
        tokenizer.model_max_length = int(max_positions)
    tokenizer.save_pretrained(dest)
    _apply_umask(dest)
    logger.info("Saved safetensors and tokenizer in %.1f s", time.perf_counter() - t0)

    return {
        "model_type": model.config.model_type,
        "architectures": list(getattr(model.config, "architectures", None) or [type(model).__name__]),
        "tie_word_embeddings": bool(getattr(model.config, "tie_word_embeddings", False)),
        "has_chat_template": bool(getattr(tokenizer, "chat_template", None)),
        "transformers_version": transformers.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _apply_umask(folder: Path) -> None:
    """Give ``folder`` (made 0700 by mkdtemp) and its files the usual permissions for the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)
    for path in folder.rglob("*"):
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)


def _tied_keys(model: Any) -> set[str]:
    tied = getattr(model, "_tied_weights_keys", None) or ()
    if isinstance(tied, dict):
        return set(tied)
    return set(tied)


def _merge_eos(generation_config: Any, tokenizer: Any) -> None:
    """Make generation stop at the tokenizer's EOS (chat models end turns with it) as well as the config's."""
    tok_eos = getattr(tokenizer, "eos_token_id", None)
    if tok_eos is None:
        return
    eos = generation_config.eos_token_id
    ids = [] if eos is None else ([eos] if isinstance(eos, int) else list(eos))
    if tok_eos not in ids:
        ids.append(tok_eos)
    generation_config.eos_token_id = ids[0] if len(ids) == 1 else ids
    if generation_config.pad_token_id is None and getattr(tokenizer, "pad_token_id", None) is not None:
        generation_config.pad_token_id = tokenizer.pad_token_id
