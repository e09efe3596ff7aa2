"""Cascades: a cheap reranker orders every candidate, a stronger one rescores (or explains) the best few.

The shape of a production reranking stack (Rank-DistiLLM, DeAR): a fast
cross-encoder scores all 100 candidates in the request path, the slow LLM only
the top 20. A :class:`Cascade` is itself a reranker (``rerank``,
``rerank_batch``, ``arerank``, ``score``), so it goes wherever a
:class:`~interank_sdk.Reranker` goes: the LlamaIndex and LangChain adapters,
``interank serve``, ``interank eval``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from .base import BaseReranker
from .calibration import Calibration, warn_uncalibrated
from .errors import InvalidInputError, UnsupportedError, check_fraction, check_int
from .pipeline import check_batch, check_explain, check_top_k, interpolate
from .types import DocumentLike, RankedDocument, RerankResult, RerankStats, check_min_score

logger = logging.getLogger(__name__)


class Cascade(BaseReranker):
    """Rerank with ``first``, then rescore its best ``depth`` with ``second``.

    Every result says which stage scored it (:attr:`RankedDocument.stage`: 1 or
    2) and with which strategy. The head (stage 2) comes first, in the second
    stage's order; the rest keep the first stage's order below it. The two
    stages' own scores are on their own scales; :meth:`calibrate` maps both onto
    P(relevant), measured on the same judgments, so one threshold
    (``min_score``) applies across the stages.

    With ``fusion_weight`` the head is ordered by both stages: each head
    document's ``score`` becomes ``(1 - w) * second + w * first``, both min-max
    normalised over the head (:func:`~interank_sdk.pipeline.interpolate`, as
    :class:`~interank_sdk.Reranker`'s ``fusion_weight`` does with
    ``Document.score``); its ``model_score`` stays the second stage's, so
    ``min_score`` keeps its meaning.

    Args:
        first: the cheap reranker that sees every candidate (a cross-encoder, a bi-encoder...).
        second: the stronger reranker for the head (an LLM: ``qlm``, a preset, or a
            generative model that can explain).
        depth: how many of the first stage's best the second stage rescores.
        fusion_weight: weight of the first stage's score in the head's order, in
            ``[0, 1]``; 0 (default): the second stage alone orders the head.

    Example:
        >>> from interank_sdk import Cascade, Reranker
        >>> cascade = Cascade(Reranker("student/"), Reranker("Qwen/Qwen2.5-1.5B-Instruct"), depth=20)  # doctest: +SKIP
        >>> ranked = cascade.rerank(query, docs, top_k=5, explain=True)  # doctest: +SKIP
        >>> [(r.stage, r.strategy, r.explanation) for r in ranked]  # doctest: +SKIP
    """

    def __init__(self, first: BaseReranker, second: BaseReranker, *, depth: int = 20,
                 fusion_weight: float = 0.0) -> None:
        for name, value in (("first", first), ("second", second)):
            if not isinstance(value, BaseReranker):
                raise InvalidInputError(f"{name} must be a Reranker (or Cascade), got {type(value).__name__}")
        check_int("depth", depth)
        self.first = first
        self.second = second
        self.depth = depth
        self.fusion_weight = check_fraction("fusion_weight", fusion_weight)
        self.model_name = f"{first.model_name} -> {second.model_name}"

    def __repr__(self) -> str:
        fused = f", fusion_weight={self.fusion_weight}" if self.fusion_weight else ""
        return f"Cascade(first={self.first!r}, second={self.second!r}, depth={self.depth}{fused})"

    @property
    def backend(self):
        """The first stage's backend (what serves every request)."""
        return getattr(self.first, "backend", None)

    @property
    def strategy(self):
        """The first stage's strategy."""
        return getattr(self.first, "strategy", None)

    def rerank_batch(
        self,
        queries: Sequence[str],
        documents_per_query: Sequence[Sequence[DocumentLike]],
        top_k: int | None = None,
        explain: bool | int = False,
        min_score: float | None = None,
    ) -> list[RerankResult]:
        """Rerank several queries: all candidates by ``first``, the best ``depth`` by ``second``.

        Args:
            queries, documents_per_query: as in :meth:`Reranker.rerank_batch`.
            top_k: keep the best ``top_k`` of each query.
            explain: passed to the second stage (``True``: it explains every document
                of the head; ``k``: its own best ``k``).
            min_score: drop the documents whose (stage's) model score is below it, after merging the
                stages; meaningful across stages once both are calibrated (:meth:`calibrate`).
        """
        check_batch(queries, documents_per_query)
        check_top_k(top_k)
        check_explain(explain)
        check_min_score(min_score)
        warn_uncalibrated(self, min_score)
        firsts = self.first.rerank_batch(queries, documents_per_query)
        heads = [list(result[: self.depth]) for result in firsts]
        seconds = self.second.rerank_batch(queries, [[r.document for r in head] for head in heads], explain=explain)
        out: list[RerankResult] = []
        for first, head, second in zip(firsts, heads, seconds):
            merged: list[RankedDocument] = list(second)
            if self.fusion_weight > 0 and merged:
                fused = interpolate([r.score for r in merged], [head[r.index].score for r in merged],
                                    self.fusion_weight)
                for r, score in zip(merged, fused):
                    r.score = score
                merged.sort(key=lambda r: -r.score)  # stable: ties keep the second stage's order
            for r in merged:
                r.index = head[r.index].index  # back to the caller's positions
                r.stage = 2
            for r in first[self.depth:]:
                r.stage = 1
                merged.append(r)
            stats = RerankStats()
            stats.merge(first.stats)
            stats.merge(second.stats)
            out.append(RerankResult(merged, stats).above(min_score, top_k))
        return out

    @property
    def calibration(self) -> Calibration | None:
        """The second stage's calibration when both stages are calibrated (one scale), else ``None``."""
        first, second = getattr(self.first, "calibration", None), getattr(self.second, "calibration", None)
        return second if first is not None and second is not None else None

    def calibrate(self, data: Any, run: Any = None, **options: Any) -> tuple[Calibration, Calibration]:
        """Calibrate both stages on the same judgments, so their scores are one scale, P(relevant), and a
        threshold applies across stages: the first on the run's top ``depth`` (default 100), the second on the
        run's top :attr:`depth` (about as many candidates as it sees per query, and the expensive stage). Takes :meth:`Reranker.calibrate <interank_sdk.Reranker.calibrate>`'s
        options; returns the two calibrations.

        Raises:
            UnsupportedError: a stage that cannot be calibrated (not a ``Reranker`` or ``Cascade``).
        """
        out = []
        for name, stage in (("first", self.first), ("second", self.second)):
            if not hasattr(stage, "calibrate"):
                raise UnsupportedError(f"the {name} stage ({type(stage).__name__}) cannot be calibrated")
            depth = options.get("depth", 100) if name == "first" else min(options.get("depth", 100), self.depth)
            fitted = stage.calibrate(data, run, **{**options, "depth": depth})
            out.append(fitted[-1] if isinstance(fitted, tuple) else fitted)
        return out[0], out[1]

    def describe(self) -> dict[str, Any]:
        """Both stages' descriptions, the depth, and whether the cascade's scores are one calibrated scale."""
        describe = lambda stage: stage.describe() if hasattr(stage, "describe") else {"model": stage.model_name}  # noqa: E731
        return {"model": self.model_name, "depth": self.depth, "fusion_weight": self.fusion_weight,
                "first": describe(self.first),
                "second": describe(self.second), "calibrated": self.calibration is not None}


__all__ = ["Cascade"]
