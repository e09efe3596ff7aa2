"""Sequence classifiers in process with transformers: cross-encoders and LLM classifiers.

Covers encoder cross-encoders (BERT/MiniLM, ELECTRA, RoBERTa/XLM-R,
DeBERTa-v2, ModernBERT: ``*ForSequenceClassification``) and decoder LLMs with
a classification head (DeAR, RankLLaMA: ``LlamaForSequenceClassification`` and
friends). Pairs are encoded with the tokenizer's own pair template (separators,
token type ids); only the second text is ever truncated; batches are sorted by
length and right-padded, as the models' reference code pads them.

A decoder classifier reads its score at the last token that is not padding,
found by comparing ids with ``config.pad_token_id``. When the pad id also
occurs in real tokens (pad = eos, a common default, and an input that ends
with eos), the model would read the wrong position. Each batch is therefore
padded with an id that occurs in none of its rows, and the model is told that
id for the call: the head always reads the last real token.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..base import PairClassifier, PairLogits
from ..pairs import PairBudget, PairEncoder
from .runtime import HFRuntime, _torch

logger = logging.getLogger(__name__)

class HFClassifierBackend(PairBudget, HFRuntime, PairClassifier):
    """A ``*ForSequenceClassification`` model in process.

    Takes every option of :class:`~interank_sdk.backends.hf.runtime.HFRuntime`, and:

    Args:
        max_length: tokens of one encoded pair, special tokens included
            (default and upper bound: the model's position limit).
        batch_size: pairs per forward pass (default 64: faster than smaller batches on CPU for
            MiniLM-sized encoders; ``bench/cross_encoder_speed.py``, docs/performance.md).

    Example:
        >>> from interank_sdk.backends.hf import HFClassifierBackend
        >>> backend = HFClassifierBackend("cross-encoder/ms-marco-MiniLM-L6-v2")  # doctest: +SKIP
        >>> backend.classify([("how many people live in berlin?", "Berlin has 3.5 million people.")])  # doctest: +SKIP
        array([[8.4]])
    """

    task = "sequence-classification"
    padding_side = "right"

    def __init__(self, model: Any, *, max_length: int | None = None, batch_size: int = 64, **options: Any) -> None:
        super().__init__(model, batch_size=batch_size, **options)
        config = self.model.config
        self.num_labels = int(config.num_labels)
        from ...detect import encoder_model_types

        self.is_decoder = config.model_type not in encoder_model_types()
        self.pairs = PairEncoder.for_model(self.model, self.tokenizer, max_length)  # the head is told which id pads
        self.max_length = self.pairs.max_length
        self._vocab = int(getattr(config, "vocab_size", 0) or len(self.tokenizer))

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> PairLogits:
        torch = _torch()
        if not pairs:
            return PairLogits(np.zeros((0, self.num_labels), dtype=np.float64))
        encoded = self.pairs.encode(pairs)
        rows, types = encoded.input_ids, encoded.token_type_ids
        type_of = {id(r): t for r, t in zip(rows, types)} if types is not None else {}

        def fn(batch: list[Sequence[int]]) -> list[np.ndarray]:
            pad = self._batch_pad_id(batch)
            input_ids, mask, _ = self.batch_tensors(batch, pad_id=pad)
            kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask}
            if type_of:
                tt = torch.zeros_like(input_ids)
                for i, row in enumerate(batch):
                    tt[i, : len(row)] = torch.tensor(type_of[id(row)], dtype=torch.long)
                kwargs["token_type_ids"] = tt
            config = self.model.config.get_text_config() if self.is_decoder else None
            saved = config.pad_token_id if config is not None else None
            try:
                if config is not None:
                    config.pad_token_id = pad  # the head finds the last real token by this id
                with torch.inference_mode():
                    logits = self.model(**kwargs).logits
            finally:
                if config is not None:
                    config.pad_token_id = saved
            self.forward_passes += 1
            return list(logits.float().reshape(len(batch), -1).double().cpu().numpy())

        return PairLogits(np.stack(self._run_batches(rows, fn, "scoring")), encoded.truncated)

    def _batch_pad_id(self, batch: Sequence[Sequence[int]]) -> int:
        """The tokenizer's pad id, or, for a decoder whose rows contain it, an id none of them contains."""
        pad = self.pad_id()
        if not self.is_decoder:
            return pad
        used = {t for row in batch for t in row}
        if pad not in used:
            return pad
        candidate = next(i for i in range(self._vocab) if i not in used)
        logger.debug("pad id %d occurs in the batch; padding with %d for this pass", pad, candidate)
        return candidate

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "num_labels": self.num_labels, "max_length": self.max_length,
                "decoder": self.is_decoder}


__all__ = ["HFClassifierBackend"]
