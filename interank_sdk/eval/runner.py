"""Rerank a first-stage run with any reranker and evaluate the result.

The reranker is duck-typed: anything with
``rerank_batch(queries: list[str], documents_per_query: list[list[dict]])``
that returns, per query, the results best first, each with ``.index`` (the
position in that query's input list) and ``.score``. :class:`interank_sdk.Reranker`
is one; nothing here imports it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from ..errors import InteRankError, InvalidInputError, check_int
from .data import PathLike, Run, TrecDataset, default_data_dir, load_run, write_run
from .metrics import DEFAULT_MEASURES, MeasureLike, evaluate_run

logger = logging.getLogger(__name__)


class RerankedRun(dict):
    """A reranked run, ``{qid: [(docid, score), ...]}`` best first, that also says which queries failed.

    Attributes:
        failures: ``{qid: "ErrorType: message"}`` for each query the reranker raised on (alone): such a query
            keeps its first-stage order in the run, so the other queries' work and the metrics go on.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failures: dict[str, str] = {}


class SupportsRerankBatch(Protocol):
    """What :func:`rerank_run` needs from a reranker."""

    def rerank_batch(self, queries: list[str], documents_per_query: list[list[dict]]) -> Sequence[Sequence[Any]]:
        ...


def _check_depth(depth: int | None) -> None:
    check_int("depth", depth, allow_none=True)


def _documents(dataset: TrecDataset, qid: str, docids: Sequence[str]) -> list[dict]:
    docs = []
    for docid in docids:
        passage = dataset.corpus.get(docid)
        if passage is None:
            raise InvalidInputError(
                f"document {docid!r} (query {qid!r}) is not in the corpus"
                + (f" of {dataset.path}" if dataset.path else "")
            )
        docs.append({"text": passage["text"], "title": passage.get("title") or None, "id": docid})
    return docs


def _merge(qid: str, docids: Sequence[str], results: Sequence[Any], tail: Sequence[str]) -> list[tuple[str, float]]:
    """Reranked head in the reranker's order, then the tail with strictly lower scores."""
    results = list(results)
    indices = []
    for result in results:
        try:
            index, score = int(result.index), float(result.score)
        except (AttributeError, TypeError, ValueError) as exc:
            raise InteRankError(
                f"reranker returned an object without a numeric .index/.score for query {qid!r}: {result!r}"
            ) from exc
        if math.isnan(score):
            raise InteRankError(f"reranker returned a NaN score for query {qid!r}")
        indices.append((index, score))
    if sorted(i for i, _ in indices) != list(range(len(docids))):
        raise InteRankError(
            f"reranker returned indices {sorted(i for i, _ in indices)[:10]}... for query {qid!r}; "
            f"expected each of 0..{len(docids) - 1} exactly once"
        )
    ranked = [(docids[i], s) for i, s in indices]
    floor = min((s for _, s in ranked), default=0.0)
    ranked.extend((docid, floor - float(k + 1)) for k, docid in enumerate(tail))
    return ranked


def rerank_run(
    reranker: SupportsRerankBatch,
    dataset: TrecDataset,
    run: Mapping[str, Sequence[tuple[str, float]]],
    *,
    depth: int | None = 100,
    batch_queries: int = 1,
    progress: bool = True,
    max_queries: int | None = None,
    on_error: str = "record",
) -> RerankedRun:
    """Rerank the top ``depth`` documents of each judged query of ``run``.

    For every query of ``run`` that has judgments in ``dataset.qrels`` (in run
    order), the first ``depth`` documents become dicts
    ``{"text", "title" (None when empty), "id"}`` and are passed to
    ``reranker.rerank_batch``, ``batch_queries`` queries per call. The
    reranked documents come first, in the reranker's order with its scores;
    documents ranked beyond ``depth`` follow in their original order with
    scores strictly below the lowest reranked score, so every query keeps its
    run length. Unjudged queries are left out (they cannot be evaluated).

    A query the reranker raises on does not end the run: a failing call of
    several queries is retried one query at a time, and a query that fails
    alone keeps its first-stage order, is logged and is recorded in the
    result's :attr:`RerankedRun.failures` (``on_error="raise"`` raises instead).

    Args:
        reranker: any object with ``rerank_batch`` (see module docstring).
        dataset: queries, corpus and qrels.
        run: first-stage run, ``{qid: [(docid, score), ...]}`` best first.
        depth: how many top documents to rerank per query; ``None``: all.
        batch_queries: queries per ``rerank_batch`` call.
        progress: show a tqdm progress bar over queries.
        max_queries: rerank only the first this many judged queries (quick
            checks); ``None``: all.
        on_error: ``"record"`` (default: the query keeps its first-stage order and
            is listed in ``failures``) or ``"raise"``.

    Returns:
        The reranked run, ``{qid: [(docid, score), ...]}`` best first, a
        :class:`RerankedRun` (its ``failures`` name the queries that failed).

    Raises:
        InvalidInputError: bad arguments, a query without text, or a document
            missing from the corpus.
        InteRankError: the reranker broke its contract (missing, repeated or
            out-of-range indices, NaN scores).
    """
    _check_depth(depth)
    check_int("batch_queries", batch_queries)
    check_int("max_queries", max_queries, allow_none=True)
    if on_error not in ("record", "raise"):
        raise InvalidInputError(f"on_error must be 'record' or 'raise', got {on_error!r}")
    if not callable(getattr(reranker, "rerank_batch", None)):
        raise InvalidInputError(f"{type(reranker).__name__} has no rerank_batch(queries, documents_per_query) method")

    qids = [str(q) for q in run if str(q) in dataset.qrels]
    skipped = len(run) - len(qids)
    if skipped:
        logger.info("skipping %d unjudged queries of %d in the run", skipped, len(run))
    if max_queries is not None:
        qids = qids[:max_queries]
    missing_text = [q for q in qids if q not in dataset.queries]
    if missing_text:
        raise InvalidInputError(f"{len(missing_text)} judged queries have no text in the dataset, e.g. {missing_text[:3]}")

    from tqdm.auto import tqdm

    reranked = RerankedRun()
    with tqdm(total=len(qids), desc="rerank", unit="query", disable=not progress) as bar:
        for start in range(0, len(qids), batch_queries):
            batch = qids[start:start + batch_queries]
            heads = []
            for qid in batch:
                docids = [str(docid) for docid, _ in run[qid]]
                heads.append(docids if depth is None else docids[:depth])
            documents = [_documents(dataset, qid, head) for qid, head in zip(batch, heads)]
            results = _rerank_or_record(reranker, batch, [dataset.queries[qid] for qid in batch], documents,
                                        on_error, reranked.failures)
            for qid, head, per_query_results in zip(batch, heads, results):
                tail = [str(docid) for docid, _ in run[qid]][len(head):]
                if per_query_results is None:  # failed alone: the first-stage order, as the run had it
                    reranked[qid] = [(str(docid), float(score)) for docid, score in run[qid]]
                else:
                    reranked[qid] = _merge(qid, head, per_query_results, tail)
            bar.update(len(batch))
    if reranked.failures:
        logger.warning("%d of %d queries failed and keep their first-stage order: %s", len(reranked.failures),
                       len(qids), "; ".join(f"{q}: {m}" for q, m in list(reranked.failures.items())[:5]))
    return reranked


def _rerank_or_record(reranker: SupportsRerankBatch, qids: list[str], queries: list[str],
                      documents: list[list[dict]], on_error: str, failures: dict[str, str]) -> list[Any]:
    """Each query's results (``None`` for a query that failed alone): one call, else one call per query."""
    try:
        results = list(reranker.rerank_batch(queries, documents))
    except Exception as exc:  # any failure of the reranker: isolate the query (bugs included), never lose the run
        if on_error == "raise":
            raise
        if len(qids) == 1:
            failures[qids[0]] = f"{type(exc).__name__}: {exc}"
            logger.warning("query %s failed: %s", qids[0], failures[qids[0]], exc_info=True)
            return [None]
        return [r for i in range(len(qids)) for r in _rerank_or_record(
            reranker, qids[i:i + 1], queries[i:i + 1], documents[i:i + 1], on_error, failures)]
    if len(results) != len(qids):
        raise InteRankError(f"reranker.rerank_batch returned {len(results)} result lists for {len(qids)} queries")
    return results


def evaluate_reranker(
    reranker: SupportsRerankBatch,
    data_dir: PathLike | None = None,
    run_file: PathLike = "run.bm25.top100.trec",
    depth: int | None = 100,
    *,
    measures: Sequence[MeasureLike] = DEFAULT_MEASURES,
    batch_queries: int = 1,
    progress: bool = True,
    max_queries: int | None = None,
    output_run: PathLike | None = None,
    tag: str = "interank",
    rank_by: str = "score",
) -> tuple[dict[str, float], Run]:
    """Load a benchmark, rerank its first-stage run and evaluate the result.

    Args:
        reranker: any object with ``rerank_batch`` (see :func:`rerank_run`).
        data_dir: dataset folder; ``None`` uses :func:`default_data_dir`
            (``$INTERANK_DATA`` or ``../shared/data/trec-dl19-passage``).
        run_file: the first-stage run, relative to ``data_dir`` unless it is
            an existing path or absolute.
        depth: documents reranked per query; the rest keep their order below.
        measures: ir-measures names (default nDCG@10, RR@10, R@100).
        batch_queries, progress, max_queries: passed to :func:`rerank_run`.
        output_run: when given, the reranked run is written there (TREC format).
        tag: run tag used in ``output_run``.
        rank_by: ``"score"`` (trec_eval, the default) or ``"order"``; see
            :func:`interank_sdk.eval.evaluate_run`.

    Returns:
        ``(metrics, reranked_run)``: friendly-named means over the reranked
        queries (``{"nDCG@10": ..., "MRR@10": ..., "Recall@100": ...}``) and
        the reranked run (a :class:`RerankedRun`: a query the reranker failed on
        counts with its first-stage order and is named in ``failures``).
    """
    _check_depth(depth)
    folder = default_data_dir() if data_dir is None else Path(data_dir)
    run_path = Path(run_file)
    if not run_path.is_absolute() and not run_path.exists():
        run_path = folder / run_path
    run = load_run(run_path)
    dataset = TrecDataset.load(folder, corpus_ids={d for docs in run.values() for d, _ in docs[:depth]})
    reranked = rerank_run(
        reranker, dataset, run, depth=depth, batch_queries=batch_queries, progress=progress, max_queries=max_queries
    )
    if not reranked:
        raise InvalidInputError(f"no query of {run_path} has judgments in {folder}: nothing to evaluate")
    tied = sum(1 for docs in reranked.values() if len({s for _, s in docs}) < len(docs))
    if tied and rank_by == "score":
        logger.warning(
            "%d queries have tied scores; metrics follow trec_eval (ties broken by docid), "
            "pass rank_by='order' to keep the reranker's order", tied,
        )
    if output_run is not None:
        write_run(reranked, output_run, tag=tag)
    qrels = {qid: dataset.qrels[qid] for qid in reranked}
    metrics = evaluate_run(reranked, qrels, measures, rank_by=rank_by)
    logger.info("%s on %s (%d queries, depth %s): %s", type(reranker).__name__, run_path, len(reranked), depth,
                ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    return metrics, reranked


__all__ = ["RerankedRun", "SupportsRerankBatch", "evaluate_reranker", "rerank_run"]
