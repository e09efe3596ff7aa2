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

from .base import BaseReranker
from .errors import InvalidInputError
from .pipeline import check_batch, check_explain, check_top_k
from .types import DocumentLike, RankedDocument, RerankResult, RerankStats

logger = logging.getLogger(__name__)


class Cascade(BaseReranker):
    """Rerank with ``first``, then rescore its best ``depth`` with ``second``.

    Every result says which stage scored it (:attr:`RankedDocument.stage`: 1 or
    2) and with which strategy. The head (stage 2) comes first, in the second
    stage's order; the rest keep the first stage's order below it. The two
    stages' scores are on their own scales: compare scores within a stage.

    Args:
        first: the cheap reranker that sees every candidate (a cross-encoder, a bi-encoder...).
        second: the stronger reranker for the head (an LLM: ``qlm``, a preset, or a
            generative model that can explain).
        depth: how many of the first stage's best the second stage rescores.

    Example:
        >>> from interank_sdk import Cascade, Reranker
        >>> cascade = Cascade(Reranker("student/"), Reranker("Qwen/Qwen2.5-1.5B-Instruct"), depth=20)  # doctest: +SKIP
        >>> ranked = cascade.rerank(query, docs, top_k=5, explain=True)  # doctest: +SKIP
        >>> [(r.stage, r.strategy, r.explanation) for r in ranked]  # doctest: +SKIP
    """

    def __init__(self, first: BaseReranker, second: BaseReranker, *, depth: int = 20) -> None:
        for name, value in (("first", first), ("second", second)):
            if not isinstance(value, BaseReranker):
                raise InvalidInputError(f"{name} must be a Reranker (or Cascade), got {type(value).__name__}")
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise InvalidInputError(f"depth must be a positive int, got {depth!r}")
        self.first = first
        self.second = second
        self.depth = depth
        self.model_name = f"{first.model_name} -> {second.model_name}"

    def __repr__(self) -> str:
        return f"Cascade(first={self.first!r}, second={self.second!r}, depth={self.depth})"

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
    ) -> list[RerankResult]:
        """Rerank several queries: all candidates by ``first``, the best ``depth`` by ``second``.

        Args:
            queries, documents_per_query: as in :meth:`Reranker.rerank_batch`.
            top_k: keep the best ``top_k`` of each query.
            explain: passed to the second stage (``True``: it explains every document
                of the head; ``k``: its own best ``k``).
        """
        check_batch(queries, documents_per_query)
        check_top_k(top_k)
        check_explain(explain)
        firsts = self.first.rerank_batch(queries, documents_per_query)
        heads = [list(result[: self.depth]) for result in firsts]
        seconds = self.second.rerank_batch(queries, [[r.document for r in head] for head in heads], explain=explain)
        out: list[RerankResult] = []
        for first, head, second in zip(firsts, heads, seconds):
            merged: list[RankedDocument] = []
            for r in second:
                r.index = head[r.index].index  # back to the caller's positions
                r.stage = 2
                merged.append(r)
            for r in first[self.depth:]:
                r.stage = 1
                merged.append(r)
            stats = RerankStats()
            stats.merge(first.stats)
            stats.merge(second.stats)
            out.append(RerankResult(merged[:top_k] if top_k is not None else merged, stats))
        return out


__all__ = ["Cascade"]
