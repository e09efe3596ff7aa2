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
* :func:`quiet_peft`: peft calls without transformers' deprecation warning;
* :func:`label_logprobs_from_logits`, :func:`expected_label`, :func:`log_odds`,
  :data:`YESNO_LABELS`, :data:`GRADED_LABELS`: how a label strategy reads its
  score from a causal LM's logits (the label tokens' variants summed, the
  graded expectation, the yes/no log-odds), on tensors, so a scorer is
  trained on the number ``Reranker`` reads; :func:`sigmoid`, how a logit becomes a score.

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
from .backends.hf.causal import label_logprobs_from_logits
from .backends.tokens import leading_bos_id
from .detect import ModelProfile, inspect_model
from .backends.hf.device import cpu_supports_bf16, resolve_device, resolve_dtype
from .sources import resolve_source
from .strategies.reasoning import END as REASONING_END
from .strategies.base import sigmoid
from .strategies.labels import GradedStrategy, YesNoStrategy, expected_label, log_odds
from .strategies.reasoning import MARKER as REASONING_MARKER

#: the ``yesno`` strategy's labels and their values
YESNO_LABELS: tuple[tuple[str, ...], tuple[float, ...]] = (YesNoStrategy.labels, YesNoStrategy.values)
#: the ``graded`` strategy's labels and their values
GRADED_LABELS: tuple[tuple[str, ...], tuple[float, ...]] = (GradedStrategy.labels, GradedStrategy.values)


def inspect(model: str | Path, *, local_files_only: bool = False) -> ModelProfile:
    """What ``model`` (hub id, folder, ``.gguf``, adapter) is, read from its own files as ``Reranker`` reads it.

    Raises:
        ModelLoadError: the model cannot be found or its ``config.json`` read.
    """
    return inspect_model(resolve_source(model, local_files_only=local_files_only))


__all__ = [
    "GRADED_LABELS", "HFBackend", "ModelProfile", "REASONING_END", "REASONING_MARKER", "YESNO_LABELS",
    "cpu_supports_bf16", "expected_label", "inspect", "label_logprobs_from_logits", "leading_bos_id", "log_odds",
    "quiet_peft", "resolve_device", "resolve_dtype", "sigmoid",
]
