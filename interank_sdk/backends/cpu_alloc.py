"""Keep freed memory in the process, so batched CPU inference does not page-fault on every tensor.

glibc serves large allocations (above a threshold that tops out at 32 MiB) with
fresh ``mmap`` pages and gives them back to the kernel when freed; freed memory
at the top of the heap is trimmed away too. A batched forward pass allocates
tensors of tens of MiB per layer (16 sequences x 120 tokens x 4,864 MLP units
in fp32 is 37 MiB), so every layer pays the kernel for zeroed pages again
(docs/performance.md, "Memory reuse", has the measurement). This is what the PyTorch CPU performance guides get by
preloading jemalloc or tcmalloc; ``mallopt`` gets it without a preload.

The setting is process-wide and only changes *when* memory is returned to the
kernel: the peak is unchanged, but memory freed after a peak stays with the
process for the next batch. It is applied once, by the transformers backend on
CPU; ``INTERANK_KEEP_FREED_MEMORY=0`` (or ``HFBackend(keep_freed_memory=False)``)
turns it off. It does nothing where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

logger = logging.getLogger(__name__)

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: allocations up to this size come from the heap instead of fresh mmap pages
MMAP_THRESHOLD = 1 << 30
#: freed memory at the top of the heap is returned to the kernel only above this
TRIM_THRESHOLD = 2**31 - 1

_applied: bool | None = None


def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def release_free_memory() -> bool:
    """Return the memory that the process has freed but glibc still holds to the kernel (``malloc_trim``).

    Loading a model frees a lot (checkpoint buffers, dtype conversions, the
    fp32 weights that the int8 path replaces), in places glibc does not trim by
    itself (docs/performance.md, "Memory reuse": the int8 demo model's resident size roughly halves).

    Returns:
        True when memory was released.
    """
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None) if libc is not None else None
    if trim is None:
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return bool(trim(0))


def keep_freed_memory() -> bool:
    """Tune glibc's allocator once per process (see the module docstring).

    Returns:
        True when the setting is in effect (now or from an earlier call).
    """
    global _applied
    if _applied is not None:
        return _applied
    if os.environ.get("INTERANK_KEEP_FREED_MEMORY", "1").strip().lower() in ("0", "false", "no", "off"):
        logger.debug("allocator tuning off (INTERANK_KEEP_FREED_MEMORY=0)")
        _applied = False
        return False
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None) if libc is not None else None
    if mallopt is None:
        _applied = False
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    logger.info("allocator: freed memory is kept for reuse (glibc mallopt: %s)", "applied" if ok else "refused")
    _applied = ok
    return ok
