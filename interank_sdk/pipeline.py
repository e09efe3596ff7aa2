"""The scoring pipeline behind ``Reranker.rerank``: documents to passages, passages to judgments, judgments to a ranking.

1. validate the query and normalise the documents (:func:`prepare`);
2. fit each document to the token budget the strategy leaves it: whole,
   truncated, or split into overlapping windows (:meth:`Pipeline.passages`).
   A runtime that fits each pair in the tokenizer call that encodes it (a pair
   classifier) gets whole documents and says which it cut; documents are
   tokenized here only to be windowed;
3. judge every (query, passage) pair in batched strategy calls (one call for
   all queries on engines that batch for themselves; one per query on the
   local runtimes, so a query's batches, and scores, do not depend on the
   other queries of a ``rerank_batch``), keep each document's best window
   (:meth:`Pipeline.judge`);
4. order best first (ties keep input order), optionally fuse with the
   first-stage score, optionally explain the head with the reasoning strategy.

An ordering strategy (listwise, pairwise, setwise) replaces steps 2-3: it is
given each query's documents whole, fits its own prompts to ``max_length`` (the
context of one call), and returns an order (:meth:`Pipeline.order`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .backends.base import Backend
from .calibration import Calibration, apply_calibration
from .errors import InvalidInputError, check_int
from .strategies import Strategy
from .strategies.base import Judgment
from .strategies.ordering import OrderingStrategy, rank_score
from .types import Document, RankedDocument, RerankResult, RerankStats, check_encodable, to_document

logger = logging.getLogger(__name__)

#: the least passage budget (tokens) a query may leave in ``max_length``
MIN_PASSAGE_TOKENS = 16


@dataclass
class Item:
    """One (query, document window) pair to score."""

    query_pos: int
    doc_pos: int
    window: int
    passage: str


@dataclass
class Prepared:
    """One query's validated input and what was done to fit its documents."""

    query: str
    docs: list[Document]
    truncated: list[bool]
    num_windows: list[int]
    query_truncated: bool = False


def prepare(query: Any, documents: Any) -> Prepared:
    """Validate one query and its documents.

    Raises:
        InvalidInputError: a non-string or empty query, documents that are not a list, a bad document.
    """
    if not isinstance(query, str):
        raise InvalidInputError(f"query must be a str, got {type(query).__name__}")
    if not query.strip():
        raise InvalidInputError("query is empty")
    check_encodable(query, "query")
    if documents is None or isinstance(documents, (str, bytes)) or not isinstance(documents, Sequence):
        raise InvalidInputError(f"documents must be a list of documents, got {type(documents).__name__}")
    docs = [to_document(d, i) for i, d in enumerate(documents)]
    return Prepared(query=query, docs=docs, truncated=[False] * len(docs), num_windows=[1] * len(docs))


@dataclass
class Pipeline:
    """Fits documents to a strategy's budget and turns judgments into rankings (no model state)."""

    backend: Backend
    max_length: int | None
    long_documents: str = "truncate"
    window_overlap: int = 64
    fusion_weight: float = 0.0
    query_max_tokens: int | None = None
    #: the map from raw score to P(relevant) applied to the scores of its strategy (``None``: none)
    calibration: Calibration | None = None

    def query_limit(self, strategy: Strategy) -> int | None:
        """The most tokens a query keeps: ``query_max_tokens``, else half of what the strategy's prompt leaves
        in ``max_length`` (``None`` when the runtime fits inputs itself)."""
        return self._limit(strategy.reserved_tokens(self.backend, ""))

    def _limit(self, overhead: int | None) -> int | None:
        """:meth:`query_limit` from the prompt's own tokens (``overhead``, the reservation of an empty query)."""
        if self.query_max_tokens is not None:
            return self.query_max_tokens
        if overhead is None or self.max_length is None:
            return None
        return max(1, (self.max_length - overhead) // 2)

    def fit_query(self, prep: Prepared, strategy: Strategy) -> int | None:
        """Cut a query longer than :meth:`query_limit` to its first tokens (marked on ``prep``) when it would leave
        the documents less than their share; returns the tokens the strategy reserves around the passage
        (``None``: the runtime fits documents itself). A query that leaves the documents their share is never cut.
        """
        reserved = strategy.reserved_tokens(self.backend, prep.query)
        if reserved is None or self.max_length is None:
            return reserved
        overhead = strategy.reserved_tokens(self.backend, "")  # the prompt around an empty query: tokenized once
        limit = self._limit(overhead)
        if limit is not None and overhead is not None and reserved - overhead > limit:
            n_query = self.backend.count_tokens([prep.query])[0]
            if n_query > limit:
                cut = self.backend.split_windows(prep.query, limit, 0)[0]
                logger.debug("a query of %d tokens was cut to its first %d (query_max_tokens) to leave the documents "
                             "their share of max_length=%d", n_query, limit, self.max_length)
                prep.query, prep.query_truncated = cut, True
                reserved = strategy.reserved_tokens(self.backend, prep.query)
        return reserved

    def passages(self, prep: Prepared, strategy: Strategy, doc_positions: Sequence[int]) -> dict[int, list[str]]:
        """Each document as one or more passages that fit the budget (marks truncation on ``prep``)."""
        docs = [prep.docs[i] for i in doc_positions]
        reserved = self.fit_query(prep, strategy)
        if reserved is None or self.max_length is None:  # the runtime fits documents itself
            return {pos: [strategy.format_passage(d.text, d.title)] for pos, d in zip(doc_positions, docs)}
        budget = self.max_length - reserved
        if budget < MIN_PASSAGE_TOKENS:
            raise InvalidInputError(
                f"the prompt leaves {budget} tokens for the document within max_length={self.max_length} even with "
                f"the query cut to {self.query_limit(strategy)} tokens; lower query_max_tokens or raise max_length"
            )
        if self.backend.fits_pairs and self.long_documents != "window":  # cut where they are encoded
            return {pos: [strategy.format_passage(d.text, d.title)] for pos, d in zip(doc_positions, docs)}
        count = self.backend.count_tokens
        frame_tokens = count([strategy.format_passage("", d.title) if d.title else "" for d in docs])
        text_tokens = count([d.text for d in docs])
        out: dict[int, list[str]] = {}
        for pos, doc, n_frame, n_text in zip(doc_positions, docs, frame_tokens, text_tokens):
            text_budget = max(MIN_PASSAGE_TOKENS, budget - n_frame)
            if n_text <= text_budget:
                out[pos] = [strategy.format_passage(doc.text, doc.title)]
                continue
            if self.long_documents == "window":
                windows = self.backend.split_windows(doc.text, text_budget, self.window_overlap)
                prep.num_windows[pos] = len(windows)
            else:
                windows = self.backend.split_windows(doc.text, text_budget, 0)[:1]
                prep.truncated[pos] = True
            out[pos] = [strategy.format_passage(w, doc.title) for w in windows]
        return out

    def judge(
        self,
        prepared: list[Prepared],
        strategy: Strategy,
        subsets: list[Sequence[int]],
        accounting: dict[int, RerankStats],
    ) -> dict[tuple[int, int], tuple[Judgment, int]]:
        """Judge the documents ``subsets[qi]`` of each query; best window per document.

        Every window judged is counted into ``accounting[qi]`` (pairs, generations,
        tokens, missing markers), not only the best one.
        """
        items: list[Item] = []
        for qi, (prep, subset) in enumerate(zip(prepared, subsets)):
            if not subset:
                continue
            for di, windows in self.passages(prep, strategy, subset).items():
                items.extend(Item(qi, di, wi, p) for wi, p in enumerate(windows))
        if getattr(self.backend, "mixes_queries", True):
            calls = [items]
        else:  # one call per query: its forward batches are the same whoever asked (rerank or rerank_batch)
            per_query: dict[int, list[Item]] = {}
            for it in items:
                per_query.setdefault(it.query_pos, []).append(it)
            calls = list(per_query.values())
            items = [it for call in calls for it in call]
        judgments = [j for call in calls
                     for j in strategy.judge(self.backend, [(prepared[it.query_pos].query, it.passage) for it in call])]
        if len(judgments) != len(items):
            from .errors import BackendError

            raise BackendError(f"strategy {strategy.name!r} returned {len(judgments)} judgments for {len(items)} pairs")
        best: dict[tuple[int, int], tuple[Judgment, int]] = {}
        for it, j in zip(items, judgments):
            key = (it.query_pos, it.doc_pos)
            if j.truncated:  # the runtime cut the passage to its budget
                prepared[it.query_pos].truncated[it.doc_pos] = True
            if key not in best or j.score > best[key][0].score:
                best[key] = (j, it.window)
            accounting.setdefault(it.query_pos, RerankStats()).merge(
                RerankStats(pairs=1, generations=int(strategy.generates), generated_tokens=j.generated_tokens,
                            missing_marker=int(j.missing_marker), hit_token_budget=int(j.hit_budget))
            )
        return best

    def order(self, prepared: list[Prepared], strategy: OrderingStrategy, subsets: list[Sequence[int]],
              accounting: dict[int, RerankStats], k: int | None = None) -> list[list[RankedDocument]]:
        """Each query's documents ``subsets[qi]`` in the order an ordering strategy found (score from the rank,
        :func:`~interank_sdk.strategies.ordering.rank_score`; ``raw_score`` the 1-based rank); its LLM calls,
        repairs and fallbacks counted into ``accounting[qi]``."""
        context = self.max_length if self.max_length is not None else strategy.default_context
        live = [qi for qi, subset in enumerate(subsets) if len(subset)]
        requests = [(prepared[qi].query, [prepared[qi].docs[di] for di in subsets[qi]]) for qi in live]
        together = getattr(self.backend, "mixes_queries", True)
        outcomes = strategy.order(self.backend, requests, context, together=together, k=k)
        out: list[list[RankedDocument]] = [[] for _ in prepared]
        for qi, outcome in zip(live, outcomes):
            prep, subset = prepared[qi], list(subsets[qi])
            for pos, cut in enumerate(outcome.truncated):
                prep.truncated[subset[pos]] = prep.truncated[subset[pos]] or cut
            n = len(subset)
            out[qi] = [ranked_document(prep, subset[pos], (Judgment(score=rank_score(r, n), raw_score=float(r)), 0),
                                       strategy.name) for r, pos in enumerate(outcome.order, start=1)]
            accounting.setdefault(qi, RerankStats()).merge(RerankStats(
                pairs=n, llm_calls=outcome.calls, order_repairs=outcome.repairs, order_fallbacks=outcome.fallbacks,
                generated_tokens=outcome.generated_tokens, hit_token_budget=outcome.hit_budget))
        return out

    def rank(
        self, prepared: list[Prepared], strategy: Strategy, subsets: list[Sequence[int]] | None = None,
        accounting: dict[int, RerankStats] | None = None, fuse: bool = True, k: int | None = None,
    ) -> list[list[RankedDocument]]:
        """Judge and order each query's documents (all of them, or ``subsets``), best first (fused, by default).

        ``k``: the call's ``top_k``, which bounds the work of ordering strategies that find the best ``k``.
        """
        subsets = subsets if subsets is not None else [range(len(p.docs)) for p in prepared]
        accounting = accounting if accounting is not None else {}
        if isinstance(strategy, OrderingStrategy):
            ordered = self.order(prepared, strategy, subsets, accounting, k)
        else:
            best = self.judge(prepared, strategy, subsets, accounting)
            ordered = [[ranked_document(prep, di, best[(qi, di)], strategy.name) for di in subset]
                       for qi, (prep, subset) in enumerate(zip(prepared, subsets))]
        out: list[list[RankedDocument]] = []
        for ranked in ordered:
            fused = fuse and self.fusion_weight > 0
            if fused and self.calibration is not None:  # fusion mixes the calibrated probabilities
                apply_calibration(self.calibration, ranked)
            if fuse:
                self.fuse(ranked)
            ranked.sort(key=lambda r: -r.score)  # stable: ties keep input order
            if not fused and self.calibration is not None:  # after ordering: the ranking never changes
                apply_calibration(self.calibration, ranked)
            out.append(ranked)
        return out

    def fuse(self, ranked: list[RankedDocument]) -> None:
        """Min-max normalised interpolation with the first-stage score, in place."""
        if self.fusion_weight <= 0 or not ranked:
            return
        first = [r.document.score for r in ranked]
        if all(s is None for s in first):
            logger.debug("fusion_weight=%s but no document carries a first-stage score", self.fusion_weight)
            return
        if any(s is None for s in first):
            missing = [r.index for r in ranked if r.document.score is None]
            raise InvalidInputError(
                f"fusion needs a first-stage score on every document; documents {missing[:10]} have none"
            )
        stage1 = [float(s) for s in first]  # type: ignore[arg-type]
        for r, score in zip(ranked, interpolate([r.score for r in ranked], stage1, self.fusion_weight)):
            r.score = score


def ranked_document(prep: Prepared, di: int, judged: tuple[Judgment, int], strategy: str) -> RankedDocument:
    """A :class:`RankedDocument` from a document's best judgment."""
    judgment, window = judged
    return RankedDocument(
        index=di,
        score=judgment.score,
        model_score=judgment.score,
        raw_score=judgment.raw_score,
        document=prep.docs[di],
        strategy=strategy,
        label=judgment.label,
        label_probs=judgment.label_probs or None,
        explanation=judgment.explanation,
        truncated=prep.truncated[di],
        query_truncated=prep.query_truncated,
        num_windows=prep.num_windows[di],
        best_window=window,
    )


def finish(prepared: list[Prepared], ranked: list[list[RankedDocument]], accounting: dict[int, RerankStats],
           passes: int, top_k: int | None, min_score: float | None = None) -> list[RerankResult]:
    """One :class:`RerankResult` per query: the documents at or above ``min_score``, cut to ``top_k``, with its
    stats."""
    cut = sum(prep.query_truncated for prep in prepared)
    if cut:  # one line a call, not one a query (an evaluation of long questions would log hundreds)
        logger.info("%d of %d queries were cut to their first tokens (query_max_tokens) to leave the documents their "
                    "share of the token budget; their results say query_truncated", cut, len(prepared))
    results: list[RerankResult] = []
    for qi, (prep, docs) in enumerate(zip(prepared, ranked)):
        stats = accounting.get(qi, RerankStats())
        stats.forward_passes = passes if qi == 0 else 0
        stats.truncated_documents = sum(prep.truncated)
        stats.truncated_queries = int(prep.query_truncated)
        stats.windowed_documents = sum(n > 1 for n in prep.num_windows)
        results.append(RerankResult(docs, stats).above(min_score, top_k))
    return results


def interpolate(model: Sequence[float], first: Sequence[float], weight: float) -> list[float]:
    """``(1 - weight) * m + weight * f`` per document, ``m`` and ``f`` the model's and the first stage's scores
    min-max normalised over the query's documents (a query whose scores are all equal reads 0.5): fusion of two
    rankers' scores on different scales, the same in a :class:`~interank_sdk.Reranker` (``fusion_weight``, with
    ``Document.score``) and a :class:`~interank_sdk.Cascade` (with its first stage's scores).

    >>> interpolate([2.0, 4.0, 3.0], [10.0, 0.0, 5.0], 0.25)
    [0.25, 0.75, 0.5]
    """
    return [(1.0 - weight) * m + weight * f for m, f in zip(_minmax(model), _minmax(first))]


def _minmax(values: Sequence[float]) -> list[float]:
    lo, hi = min(values), max(values)
    if hi - lo <= 0:
        return [0.5] * len(values)
    return [(v - lo) / (hi - lo) for v in values]


def check_explain(explain: Any) -> None:
    if isinstance(explain, bool):
        return
    if not isinstance(explain, int) or explain < 1:
        raise InvalidInputError(f"explain must be True, False or a positive int (cascade depth), got {explain!r}")


def check_top_k(top_k: Any) -> None:
    check_int("top_k", top_k, allow_none=True)


def check_batch(queries: Any, documents_per_query: Any) -> None:
    if isinstance(queries, str) or not isinstance(queries, Sequence):
        raise InvalidInputError("queries must be a list of strings")
    if isinstance(documents_per_query, str) or not isinstance(documents_per_query, Sequence):
        raise InvalidInputError("documents_per_query must be a list of document lists")
    if len(queries) != len(documents_per_query):
        raise InvalidInputError(f"got {len(queries)} queries but {len(documents_per_query)} document lists")


__all__ = ["Item", "MIN_PASSAGE_TOKENS", "Pipeline", "Prepared", "check_batch", "check_explain", "check_top_k",
           "finish", "interpolate", "prepare", "ranked_document"]
