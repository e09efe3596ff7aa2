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

import inspect
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import InvalidInputError
from .runtime import HFRuntime, _torch

logger = logging.getLogger(__name__)

#: model types whose position ids start after the padding index (fairseq heritage)
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "camembert", "xlm-roberta-xl", "longformer", "data2vec-text"}


def model_position_limit(config: Any, tokenizer: Any) -> int | None:
    """The longest input the model can take: its position table (and the tokenizer's declared limit)."""
    limits = []
    n = getattr(config, "max_position_embeddings", None)
    if isinstance(n, int) and n > 0:
        if getattr(config, "model_type", None) in _OFFSET_POSITIONS and isinstance(config.pad_token_id, int):
            n -= config.pad_token_id + 1
        limits.append(n)
    declared = getattr(tokenizer, "model_max_length", None)
    if isinstance(declared, int) and 0 < declared < 1_000_000:
        limits.append(declared)
    return min(limits) if limits else None


class HFClassifierBackend(HFRuntime):
    """A ``*ForSequenceClassification`` model in process.

    Takes every option of :class:`~interank_sdk.backends.hf.runtime.HFRuntime`, and:

    Args:
        max_length: tokens of one encoded pair, special tokens included
            (default and upper bound: the model's position limit).

    Example:
        >>> from interank_sdk.backends.hf import HFClassifierBackend
        >>> backend = HFClassifierBackend("cross-encoder/ms-marco-MiniLM-L6-v2")  # doctest: +SKIP
        >>> backend.classify([("how many people live in berlin?", "Berlin has 3.5 million people.")])  # doctest: +SKIP
        array([[8.4]])
    """

    task = "sequence-classification"
    kind = "sequence-classification"
    padding_side = "right"

    def __init__(self, model: Any, *, max_length: int | None = None, **options: Any) -> None:
        super().__init__(model, **options)
        config = self.model.config
        self.num_labels = int(config.num_labels)
        from ...detect import _encoder_types

        self.is_decoder = config.model_type not in _encoder_types()
        limit = model_position_limit(config, self.tokenizer)
        if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int)
                                       or max_length < 8):
            raise InvalidInputError(f"max_length must be an int >= 8, got {max_length!r}")
        if max_length is not None and limit is not None and max_length > limit:
            logger.info("max_length %d is past the model's position limit; using %d", max_length, limit)
            max_length = limit
        self.max_length = max_length or limit or 512
        if self.tokenizer.pad_token_id is None:
            # padding is masked out (and the head is told which id pads), so any id serves
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        # token type ids go in when the tokenizer produces them for this model (as its own call would)
        params = inspect.signature(self.model.forward).parameters
        self._takes_token_types = "token_type_ids" in params and "token_type_ids" in getattr(
            self.tokenizer, "model_input_names", ())
        self._vocab = int(getattr(config, "vocab_size", 0) or len(self.tokenizer))
        self._pair_specials = self.tokenizer.num_special_tokens_to_add(pair=True)

    @property
    def max_input_tokens(self) -> int | None:
        return self.max_length

    def pair_overhead(self, first: str) -> int:
        return len(self.tokenizer(first, add_special_tokens=False).input_ids) + self._pair_specials

    def encode_pairs(self, pairs: Sequence[tuple[str, str]]) -> tuple[list[list[int]], list[list[int]] | None]:
        """``(input_ids, token_type_ids)`` of each pair, with the tokenizer's pair template.

        Raises:
            InvalidInputError: a first text (the query) that leaves no room for the second within ``max_length``.
        """
        firsts = [a for a, _ in pairs]
        lengths = self.tokenizer(firsts, add_special_tokens=False).input_ids
        for i, ids in enumerate(lengths):
            if len(ids) + self._pair_specials >= self.max_length:
                raise InvalidInputError(
                    f"the query of pair {i} has {len(ids)} tokens; with the special tokens it leaves no room for "
                    f"the document within max_length={self.max_length} (the query is never cut)"
                )
        enc = self.tokenizer(firsts, [b for _, b in pairs], truncation="only_second", max_length=self.max_length,
                             return_token_type_ids=self._takes_token_types)
        types = enc.get("token_type_ids") if self._takes_token_types else None
        return [list(r) for r in enc["input_ids"]], ([list(t) for t in types] if types is not None else None)

    def classify(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        torch = _torch()
        if not pairs:
            return np.zeros((0, self.num_labels), dtype=np.float64)
        rows, types = self.encode_pairs(pairs)
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

        return np.stack(self._run_batches(rows, fn, "scoring"))

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


__all__ = ["HFClassifierBackend", "model_position_limit"]
