"""Keep other libraries' warnings about each other out of what users see.

peft reads ``model.is_gradient_checkpointing``, which transformers 5.x
deprecated (``is_activation_checkpointing``), so loading or wrapping a LoRA
adapter prints a ``FutureWarning`` the user can do nothing about. The SDK and
the trainer wrap their peft calls in :func:`quiet_peft`; every other warning
still shows.

bitsandbytes (0.50) tries, when it is imported on a CPU machine, to fetch a
4-bit kernel from the Hugging Face hub (``kernels-community``), and logs a
warning when it cannot (no network, or the repository is not in the trust
allowlist) before using its own kernel. Importing sentence-transformers or
peft imports it, so every trainer run and every 4-bit load showed it.
:func:`quiet_bitsandbytes_kernel_fetch` drops that one record (the SDK's
4-bit loader says itself that 4-bit on a CPU is slow); bitsandbytes' other
messages still show.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_peft() -> Iterator[None]:
    """Ignore transformers' deprecation warning that peft triggers (and only that one) inside the block."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


#: the start of bitsandbytes' message when its hub kernel cannot be fetched (bitsandbytes/backends/cpu/ops.py)
BNB_KERNEL_FETCH = "Failed to load CPU gemm_4bit_forward from kernels-community"


class _DropBitsandbytesKernelFetch(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(BNB_KERNEL_FETCH)


def quiet_bitsandbytes_kernel_fetch() -> None:
    """Drop bitsandbytes' "failed to load the CPU kernel from the hub" warning (and only it); idempotent."""
    target = logging.getLogger("bitsandbytes.backends.cpu.ops")
    if not any(isinstance(f, _DropBitsandbytesKernelFetch) for f in target.filters):
        target.addFilter(_DropBitsandbytesKernelFetch())


__all__ = ["BNB_KERNEL_FETCH", "quiet_bitsandbytes_kernel_fetch", "quiet_peft"]
