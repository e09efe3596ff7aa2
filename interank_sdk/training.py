"""The public seam the trainer (``interank-trainer``) builds on: what training needs to read a model as ``Reranker`` does.

Training and inference must read a model the same way (its kind, its head,
its label tokens, its pair rendering, its prompt tokens), so the trainer
imports these names and no private SDK module. Besides :func:`inspect`, they
are the SDK's own objects, re-exported as they are:

* :class:`HFBackend`, :func:`resolve_device`, :func:`resolve_dtype`,
  :func:`cpu_supports_bf16`: the transformers loader a student is trained on
  (the same loading, chat-template rendering and tokenization as inference),
  and how ``device``/``dtype="auto"`` are decided;
* :func:`leading_bos_id`: whether the tokenizer adds a BOS token itself;
* :data:`REASONING_MARKER`, :data:`REASONING_END`: what the ``reasoning``
  strategy reads its label after (``"Relevance Label:"``) and ends on;
* :func:`quiet_peft`: peft calls without transformers' deprecation warning.

Example:
    >>> from interank_sdk.training import inspect
    >>> profile = inspect("cross-encoder/ms-marco-MiniLM-L6-v2")  # doctest: +SKIP
    >>> profile.family, profile.strategy, profile.num_labels  # doctest: +SKIP
    ('cross-encoder', 'classifier', 1)
"""

from __future__ import annotations

from pathlib import Path

from ._compat import quiet_peft
from .backends.hf import HFBackend
from .backends.tokens import leading_bos_id
from .detect import ModelProfile, inspect_model
from .sources import cpu_supports_bf16, resolve_device, resolve_dtype, resolve_source
from .strategies.reasoning import END as REASONING_END
from .strategies.reasoning import MARKER as REASONING_MARKER


def inspect(model: str | Path, *, local_files_only: bool = False) -> ModelProfile:
    """What ``model`` (hub id, folder, ``.gguf``, adapter) is, read from its own files as ``Reranker`` reads it.

    Raises:
        ModelLoadError: the model cannot be found or its ``config.json`` read.
    """
    return inspect_model(resolve_source(model, local_files_only=local_files_only))


__all__ = [
    "HFBackend", "ModelProfile", "REASONING_END", "REASONING_MARKER", "cpu_supports_bf16", "inspect",
    "leading_bos_id", "quiet_peft", "resolve_device", "resolve_dtype",
]
