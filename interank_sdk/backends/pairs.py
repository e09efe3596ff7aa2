"""Encode (query, passage) pairs for a classifier, the same way for every runtime that runs one.

The tokenizer's own pair template (separators, token type ids) is used; only
the second text is ever cut, and a first text that leaves it no room is an
error, never a silently shortened query. The transformers, OpenVINO and vLLM
classifier backends share this so they feed their models the same ids.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInputError, check_int
from .tokens import ensure_pad_token

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


def resolve_max_length(max_length: int | None, limit: int | None) -> int:
    """The caller's ``max_length`` (checked), capped by the model's limit; default: the limit (or 512)."""
    check_int("max_length", max_length, minimum=8, allow_none=True)
    if max_length is not None and limit is not None and max_length > limit:
        logger.info("max_length %d is past the model's position limit; using %d", max_length, limit)
        max_length = limit
    return max_length or limit or 512


@dataclass
class EncodedPairs:
    """Pairs as token ids, fitted to the encoder's ``max_length``.

    Attributes:
        input_ids: one row per pair, special tokens included.
        token_type_ids: one row per pair when the model takes them, else ``None``.
        truncated: per pair, whether its second text was cut to fit.
    """

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None
    truncated: list[bool]


class PairEncoder:
    """Token ids (and token type ids) of text pairs, with the tokenizer's pair template.

    Args:
        tokenizer: a transformers tokenizer.
        max_length: tokens of one encoded pair, special tokens included.
        token_types: produce ``token_type_ids`` (when the model takes them and the
            tokenizer produces them for it, as its own call would).
    """

    def __init__(self, tokenizer: Any, max_length: int, token_types: bool) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.token_types = token_types and "token_type_ids" in getattr(tokenizer, "model_input_names", ())
        self.specials = tokenizer.num_special_tokens_to_add(pair=True)

    @classmethod
    def for_model(cls, model: Any, tokenizer: Any, max_length: int | None) -> PairEncoder:
        """The encoder of a transformers ``*ForSequenceClassification`` model, as every runtime that runs one needs it.

        ``max_length`` is checked and capped by the model's limit (default: that limit),
        token type ids go in when the model's ``forward`` takes them, and a tokenizer
        without a pad token pads with eos (else unk).
        """
        ensure_pad_token(tokenizer)
        limit = resolve_max_length(max_length, model_position_limit(model.config, tokenizer))
        return cls(tokenizer, limit, token_types="token_type_ids" in inspect.signature(model.forward).parameters)

    def overhead(self, first: str) -> int:
        """Tokens a pair costs besides its second text."""
        return len(self.tokenizer(first, add_special_tokens=False, verbose=False).input_ids) + self.specials

    def encode(self, pairs: Sequence[tuple[str, str]]) -> EncodedPairs:
        """Each pair's ids, fitted to ``max_length`` in one tokenizer call (only the second text is cut).

        Raises:
            InvalidInputError: a first text (the query) that leaves no room for the second within ``max_length``.
        """
        firsts = [a for a, _ in pairs]
        unique = list(dict.fromkeys(firsts))  # a query's pairs share their first text: count it once
        lengths = dict(zip(unique, map(len, self.tokenizer(unique, add_special_tokens=False, verbose=False).input_ids)))
        first_lengths = [lengths[a] for a in firsts]
        for i, n in enumerate(first_lengths):
            if n + self.specials >= self.max_length:
                raise InvalidInputError(
                    f"the query of pair {i} has {n} tokens; with the special tokens it leaves no room for "
                    f"the document within max_length={self.max_length} (the query is never cut)"
                )
        enc = self.tokenizer(firsts, [b for _, b in pairs], truncation="only_second", max_length=self.max_length,
                             return_token_type_ids=self.token_types)
        rows = [list(r) for r in enc["input_ids"]]
        types = enc.get("token_type_ids") if self.token_types else None
        encodings = getattr(enc, "encodings", None)  # a fast tokenizer records what it cut
        truncated = ([bool(e.overflowing) for e in encodings] if encodings
                     else self.cut(pairs, [len(r) for r in rows]))
        return EncodedPairs(rows, [list(t) for t in types] if types is not None else None, truncated)

    def cut(self, pairs: Sequence[tuple[str, str]], lengths: Sequence[int]) -> list[bool]:
        """Which pairs lost tokens of their second text, from the lengths their encoding came to (for a runtime
        that encodes pairs itself, or a slow tokenizer): only pairs that fill ``max_length`` are counted again."""
        out = [False] * len(pairs)
        full = [i for i, n in enumerate(lengths) if n >= self.max_length]
        if full:
            texts = [t for i in full for t in pairs[i]]
            counts = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False, verbose=False).input_ids]
            for k, i in enumerate(full):
                out[i] = counts[2 * k] + counts[2 * k + 1] + self.specials > self.max_length
        return out


class PairBudget:
    """What a classifier runtime says about its input budget, from its ``pairs`` and ``max_length`` (a mixin)."""

    pairs: PairEncoder
    max_length: int

    @property
    def max_input_tokens(self) -> int | None:
        return self.max_length

    def pair_overhead(self, first: str) -> int:
        return self.pairs.overhead(first)


__all__ = ["EncodedPairs", "PairBudget", "PairEncoder", "model_position_limit", "resolve_max_length"]
