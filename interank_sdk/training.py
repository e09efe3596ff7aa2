"""The public seam the trainer (``interank-trainer``) builds on: what training needs to read a model as ``Reranker`` does.

Training and inference must read a model the same way (its kind, its head,
its label tokens, its pair rendering), so the trainer imports these names and
no private SDK module.

Example:
    >>> from interank_sdk.training import inspect
    >>> profile = inspect("cross-encoder/ms-marco-MiniLM-L6-v2")  # doctest: +SKIP
    >>> profile.family, profile.strategy, profile.num_labels  # doctest: +SKIP
    ('cross-encoder', 'classifier', 1)
"""

from __future__ import annotations

from pathlib import Path

from .detect import ModelProfile, inspect_model
from .sources import resolve_source


def inspect(model: str | Path, *, local_files_only: bool = False) -> ModelProfile:
    """What ``model`` (hub id, folder, ``.gguf``, adapter) is, read from its own files as ``Reranker`` reads it.

    Raises:
        ModelLoadError: the model cannot be found or its ``config.json`` read.
    """
    return inspect_model(resolve_source(model, local_files_only=local_files_only))


__all__ = ["ModelProfile", "inspect"]
