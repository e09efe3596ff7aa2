"""Where and in which precision a model runs: ``device`` and ``dtype`` as every local runtime reads them.

``device="auto"`` is ``"cuda"`` when a GPU is visible, else ``"cpu"``;
``dtype="auto"`` is bf16 where the hardware runs it natively (AMX or
AVX512-BF16 CPUs, GPUs with bf16), else fp32 (fp16 on GPUs without bf16).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import InvalidInputError, UnsupportedError

#: accepted spellings of a dtype, by canonical name
DTYPE_NAMES: dict[str, str] = {
    "bf16": "bfloat16", "bfloat16": "bfloat16",
    "fp16": "float16", "float16": "float16", "half": "float16",
    "fp32": "float32", "float32": "float32", "float": "float32",
}


def _torch():
    from ..._deps import require

    return require("torch", "hf")


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is visible, else ``"cpu"``.

    Raises:
        UnsupportedError: a CUDA device was asked for on a machine without one.
    """
    torch = _torch()
    if not isinstance(device, str) or not device:
        raise InvalidInputError(f"device must be a string such as 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UnsupportedError(f"device={device!r} was requested but CUDA is not available")
    return device


def cpu_info() -> dict[str, str] | None:
    """The first processor's fields in ``/proc/cpuinfo`` (``"model name"``, ``"flags"``, ...); ``None`` where it
    cannot be read (not Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return None
    info: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info.setdefault(key.strip(), value.strip())
    return info


def cpu_flags() -> frozenset[str] | None:
    """The CPU's instruction-set flags (``None`` where ``/proc/cpuinfo`` cannot be read or has none)."""
    info = cpu_info()
    return None if info is None or "flags" not in info else frozenset(info["flags"].split())


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 instructions (AVX512-BF16 or AMX), read from ``/proc/cpuinfo``."""
    return bool({"avx512_bf16", "amx_bf16"} & (cpu_flags() or frozenset()))


def dtype_name(dtype: Any) -> str:
    """The canonical name (``"bfloat16"``, ``"float16"``, ``"float32"``, ``"auto"``) of a dtype argument."""
    if dtype is None or dtype == "auto":
        return "auto"
    text = str(dtype).replace("torch.", "")
    if text not in DTYPE_NAMES:
        raise InvalidInputError(f"unknown dtype {dtype!r}; use 'auto', 'bfloat16', 'float16' or 'float32'")
    return DTYPE_NAMES[text]


def resolve_dtype(dtype: Any, device: str):
    """``"auto"`` -> bf16 where the hardware runs it natively, else fp32 (fp16 on GPUs without bf16)."""
    torch = _torch()
    if isinstance(dtype, torch.dtype):
        return dtype
    name = dtype_name(dtype)
    if name == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if cpu_supports_bf16() else torch.float32
    return getattr(torch, name)


__all__ = ["DTYPE_NAMES", "cpu_flags", "cpu_info", "cpu_supports_bf16", "dtype_name", "resolve_device", "resolve_dtype"]
