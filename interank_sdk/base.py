"""The small interface every reranker shares (:class:`~interank_sdk.Reranker`, :class:`~interank_sdk.Cascade`).

A subclass implements :meth:`BaseReranker.rerank_batch`; the single-query,
async and score variants are derived from it here, once, so the adapters
(LlamaIndex, LangChain), the eval runner and ``interank serve`` work with any
of them.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence

from .types import DocumentLike, RerankResult


class BaseReranker(ABC):
    """Reorder a query's candidate documents by relevance.

    Attributes:
        model_name: a name for reports and service responses.
    """

    model_name: str = ""

    @abstractmethod
    def rerank_batch(
        self,
        queries: Sequence[str],
        documents_per_query: Sequence[Sequence[DocumentLike]],
        top_k: int | None = None,
        explain: bool | int = False,
        min_score: float | None = None,
    ) -> list[RerankResult]:
        """Rerank several queries at once; one :class:`RerankResult` per query, in order."""

    def rerank(
        self,
        query: str,
        documents: Sequence[DocumentLike],
        top_k: int | None = None,
        explain: bool | int = False,
        min_score: float | None = None,
    ) -> RerankResult:
        """Rerank ``documents`` for ``query``, best first.

        Args:
            query: the search query (non-empty string; never truncated).
            documents: ``str``, :class:`Document`, or dicts with ``text`` and
                optional ``title``, ``id``, ``metadata``, ``score``.
            top_k: return only the best ``top_k`` (default: all).
            explain: ``False`` (default) scores with the reranker's strategy;
                ``True`` explains and scores every document with the
                ``reasoning`` strategy; an int ``k`` is a cascade: every
                document is scored with the fast strategy, then the best ``k``
                are explained, rescored and reordered by the ``reasoning``
                strategy (the others keep their fast scores and order below
                them). ``RankedDocument.strategy`` says which scored each one.
                Explaining needs a causal LM; to explain with a second model,
                use :class:`~interank_sdk.Cascade`.
            min_score: drop the documents whose ``score`` is below it (their
                order is kept; ``top_k`` applies after). Meant for calibrated
                rerankers, whose score is a probability of relevance; the result's
                ``nothing_relevant`` says whether no document reached it.

        Returns:
            a :class:`RerankResult` (a list of :class:`RankedDocument`, best
            first, ties in input order) with a ``stats`` attribute.

        Raises:
            InvalidInputError: empty or non-string query, ``None`` or non-text
                documents, bad ``top_k`` or ``min_score``.
        """
        return self.rerank_batch([query], [documents], top_k=top_k, explain=explain, min_score=min_score)[0]

    async def arerank(
        self,
        query: str,
        documents: Sequence[DocumentLike],
        top_k: int | None = None,
        explain: bool | int = False,
        min_score: float | None = None,
    ) -> RerankResult:
        """Async :meth:`rerank`: runs in a worker thread, so the event loop is never blocked."""
        return await asyncio.to_thread(self.rerank, query, documents, top_k, explain, min_score)

    async def arerank_batch(
        self,
        queries: Sequence[str],
        documents_per_query: Sequence[Sequence[DocumentLike]],
        top_k: int | None = None,
        explain: bool | int = False,
        min_score: float | None = None,
    ) -> list[RerankResult]:
        """Async :meth:`rerank_batch` (worker thread)."""
        return await asyncio.to_thread(self.rerank_batch, queries, documents_per_query, top_k, explain, min_score)

    def score(self, query: str, documents: Sequence[DocumentLike]) -> list[float]:
        """Relevance scores of ``documents`` for ``query``, in input order (no sorting).

        The pair-scoring call for code that needs numbers rather than a ranking
        (teachers, evaluation, thresholds): the scores :meth:`rerank` gives, as a
        list aligned with ``documents``.

        Example:
            >>> reranker.score("how do plants make food?", ["Photosynthesis ...", "Paris ..."])  # doctest: +SKIP
            [0.91, 0.02]
        """
        return self.score_batch([query], [documents])[0]

    def score_batch(
        self, queries: Sequence[str], documents_per_query: Sequence[Sequence[DocumentLike]]
    ) -> list[list[float]]:
        """:meth:`score` for several queries at once (see :meth:`rerank_batch` for how they are batched)."""
        out: list[list[float]] = []
        for result in self.rerank_batch(queries, documents_per_query):
            scores = [0.0] * len(result)
            for r in result:
                scores[r.index] = r.score
            out.append(scores)
        return out


__all__ = ["BaseReranker"]
