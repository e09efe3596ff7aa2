"""Classifier heads: cross-encoders and LLM classifiers score a (query, passage) pair with a logit.

The score is the model's declared activation of its logit: sigmoid for one
label (the default, and what sentence-transformers records for rerankers), the
positive class's softmax for two. A model that declares no squashing
(``Identity``) still gets a sigmoid score so every score lies in ``[0, 1]``;
its logit is :attr:`~interank_sdk.types.RankedDocument.raw_score` (what
``CrossEncoder.predict`` returns for it).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..backends.base import PairClassifier
from ..errors import InvalidInputError
from .base import Judgment, Strategy, sigmoid

logger = logging.getLogger(__name__)

ACTIVATIONS = ("sigmoid", "identity", "tanh", "softmax")


@dataclass(frozen=True)
class PairFormat:
    """How a (query, document) pair becomes the classifier's two input texts.

    Attributes:
        query: the first text, with a ``{query}`` slot.
        document: the second text, with a ``{passage}`` slot.
        title_separator: between a document's title and its text (``{passage}``
            is the text alone when there is no title).
    """

    query: str = "{query}"
    document: str = "{passage}"
    title_separator: str = "\n"

    def __post_init__(self) -> None:
        if "{query}" not in self.query or "{passage}" not in self.document:
            raise InvalidInputError(f"a pair format needs {{query}} and {{passage}} slots, got {self}")

    @classmethod
    def of(cls, value: PairFormat | Mapping[str, Any] | None, *, decoder: bool = False) -> PairFormat:
        if value is None:
            return LLM_PAIR_FORMAT if decoder else ENCODER_PAIR_FORMAT
        if isinstance(value, PairFormat):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {"query", "document", "title_separator"}
            if unknown:
                raise InvalidInputError(f"unknown pair_format keys {sorted(unknown)}")
            return cls(**dict(value))
        raise InvalidInputError(f"pair_format must be a PairFormat or a dict, got {type(value).__name__}")

    def first(self, query: str) -> str:
        return self.query.replace("{query}", query)

    def second(self, passage: str) -> str:
        return self.document.replace("{passage}", passage)


#: encoder cross-encoders (ms-marco-MiniLM, bge-reranker...): query and passage as they are
ENCODER_PAIR_FORMAT = PairFormat()
#: decoder LLM classifiers (DeAR, RankLLaMA): their shared "query: ..." / "document: {title} {text}" convention
LLM_PAIR_FORMAT = PairFormat(query="query: {query}", document="document: {passage}", title_separator=" ")


class ClassifierStrategy(Strategy[PairClassifier]):
    """Score = the classifier's activated logit for the pair.

    Args:
        activation: ``"sigmoid"``, ``"identity"``, ``"tanh"`` or ``"softmax"``
            (default: what the model declares; sigmoid for one label, softmax for two).
        pair_format: a :class:`PairFormat` (or dict); default: the plain pair for
            encoders, ``"query: ..."``/``"document: ..."`` for decoder LLMs.
        num_labels: the classifier's outputs (checked against the model).
        positive_label: the output that means relevant when there are several (default 1).
        decoder: the model is a decoder LLM (picks the default pair format).
    """

    name = "classifier"
    has_template = False

    def __init__(
        self,
        prompt_version: str | None = None,
        *,
        activation: str | None = None,
        pair_format: PairFormat | Mapping[str, Any] | None = None,
        num_labels: int | None = None,
        positive_label: int | None = None,
        decoder: bool = False,
    ) -> None:
        super().__init__(prompt_version)
        if activation is not None and activation not in ACTIVATIONS:
            raise InvalidInputError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        if num_labels is not None and num_labels > 2 and positive_label is None:
            raise InvalidInputError(
                f"the classifier has {num_labels} outputs; pass positive_label= (the output that means relevant)")
        self.activation = activation
        self.pair_format = PairFormat.of(pair_format, decoder=decoder)
        self.num_labels = num_labels
        self.positive_label = 1 if positive_label is None else positive_label
        if activation == "identity":
            logger.info("the model declares no activation (Identity): scores are sigmoid(logit), the logit is raw_score")

    def options(self) -> dict[str, Any]:
        return {"pair_format": asdict(self.pair_format),
                **({"activation": self.activation} if self.activation else {})}

    def format_passage(self, text: str, title: str | None) -> str:
        return f"{title}{self.pair_format.title_separator}{text}" if title else text

    def reserved_tokens(self, backend: PairClassifier, query: str) -> int:
        fixed = self.pair_format.second("")
        return backend.pair_overhead(self.pair_format.first(query)) + (backend.count_tokens([fixed])[0] if fixed else 0)

    def judge(self, backend: PairClassifier, pairs: Sequence[tuple[str, str]]) -> list[Judgment]:
        if not pairs:
            return []
        fmt = self.pair_format
        scored = backend.score_pairs([(fmt.first(q), fmt.second(p)) for q, p in pairs])
        logits = np.asarray(scored.logits, dtype=np.float64)
        if self.num_labels is not None and logits.shape[1] != self.num_labels:
            raise InvalidInputError(f"the model returned {logits.shape[1]} outputs, expected {self.num_labels}")
        judgments = [self._judgment(row) for row in logits]
        for j, cut in zip(judgments, scored.truncated):
            j.truncated = cut
        return judgments

    def _judgment(self, row: np.ndarray) -> Judgment:
        if not np.all(np.isfinite(row)):
            from ..errors import BackendError

            raise BackendError(f"the classifier returned a non-finite logit {row.tolist()}")
        if row.shape[0] == 1:
            logit = float(row[0])
            score = (math.tanh(logit) + 1.0) / 2.0 if self.activation == "tanh" else sigmoid(logit)
            return Judgment(score=score, raw_score=logit)
        if self.positive_label >= row.shape[0]:
            raise InvalidInputError(f"positive_label {self.positive_label} but the model has {row.shape[0]} outputs")
        probs = np.exp(row - row.max())
        probs /= probs.sum()
        others = np.delete(row, self.positive_label)
        raw = float(row[self.positive_label] - (others.max() if others.size else 0.0))
        return Judgment(score=float(probs[self.positive_label]), raw_score=raw)


__all__ = ["ClassifierStrategy", "ENCODER_PAIR_FORMAT", "LLM_PAIR_FORMAT", "PairFormat"]
