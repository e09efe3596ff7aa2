"""Keep other libraries' warnings about each other out of what users see.

peft reads ``model.is_gradient_checkpointing``, which transformers 5.x
deprecated (``is_activation_checkpointing``), so loading or wrapping a LoRA
adapter prints a ``FutureWarning`` the user can do nothing about. The SDK and
the trainer wrap their peft calls in :func:`quiet_peft`; every other warning
still shows.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_peft() -> Iterator[None]:
    """Ignore transformers' deprecation warning that peft triggers (and only that one) inside the block."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


__all__ = ["quiet_peft"]
