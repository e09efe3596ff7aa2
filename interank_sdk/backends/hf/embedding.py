"""Embedding encoders in process with transformers (sentence-transformers bi-encoders).

The encoder's token states are pooled as the model's sentence-transformers
configuration says (mean, CLS, max or last token) and L2-normalised when the
model has a Normalize module; inputs are cut at the model's ``max_seq_length``,
as sentence-transformers does. The pooling settings are read from the model's
files by :mod:`interank_sdk.detect` and passed in here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import InvalidInputError
from ..base import Encoder
from ..pairs import model_position_limit
from ..tokens import ensure_pad_token
from .runtime import HFRuntime, _torch

logger = logging.getLogger(__name__)

POOLING_MODES = ("mean", "cls", "max", "lasttoken", "mean_sqrt_len")


class HFEmbeddingBackend(HFRuntime, Encoder):
    """An encoder (``AutoModel``) whose pooled token states are embeddings.

    Takes every option of :class:`~interank_sdk.backends.hf.runtime.HFRuntime`, and:

    Args:
        pooling: ``"mean"`` (default), ``"cls"``, ``"max"``, ``"lasttoken"`` or ``"mean_sqrt_len"``.
        normalize: L2-normalise the embeddings.
        max_length: tokens per text (default: the model's limit).
        batch_size: texts per forward pass (default 64, as for cross-encoders).
    """

    task = "embedding"
    padding_side = "right"

    def __init__(self, model: Any, *, pooling: str = "mean", normalize: bool = False, max_length: int | None = None,
                 batch_size: int = 64, **options: Any) -> None:
        if pooling not in POOLING_MODES:
            raise InvalidInputError(f"pooling must be one of {POOLING_MODES}, got {pooling!r}")
        super().__init__(model, batch_size=batch_size, **options)
        self.pooling = pooling
        self.normalize = normalize
        limit = model_position_limit(self.model.config, self.tokenizer)
        self.max_length = min(max_length, limit) if (max_length and limit) else (max_length or limit or 512)
        ensure_pad_token(self.tokenizer)

    @property
    def max_input_tokens(self) -> int | None:
        return self.max_length

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        torch = _torch()
        if not texts:
            return np.zeros((0, int(self.model.config.hidden_size)), dtype=np.float64)
        rows = [list(r) for r in self.tokenizer(list(texts), truncation=True, max_length=self.max_length).input_ids]

        def fn(batch: list[Sequence[int]]) -> list[np.ndarray]:
            input_ids, mask, _ = self.batch_tensors(batch)
            with torch.inference_mode():
                states = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state.float()
            self.forward_passes += 1
            pooled = self._pool(states, mask)
            if self.normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
            return list(pooled.double().cpu().numpy())

        return np.stack(self._run_batches(rows, fn, "embedding"))

    def _pool(self, states: Any, mask: Any) -> Any:
        torch = _torch()
        m = mask.unsqueeze(-1).to(states.dtype)
        if self.pooling == "cls":
            return states[:, 0]
        if self.pooling == "lasttoken":
            last = mask.sum(dim=1) - 1  # right padding
            return states[torch.arange(states.shape[0]), last]
        if self.pooling == "max":
            return states.masked_fill(m == 0, float("-inf")).max(dim=1).values
        summed = (states * m).sum(dim=1)
        counts = m.sum(dim=1).clamp(min=1e-9)
        return summed / (counts.sqrt() if self.pooling == "mean_sqrt_len" else counts)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "pooling": self.pooling, "normalize": self.normalize,
                "max_length": self.max_length}


__all__ = ["HFEmbeddingBackend", "POOLING_MODES"]
