"""Ranking metrics through ir-measures (trec_eval conventions), never by hand.

Measures are named as ir-measures parses them (``"nDCG@10"``, ``"RR@10"``,
``"R@100"``, ``"AP"``, ``"P(rel=2)@10"``, ...) or given as ir-measures measure
objects. Conventions are trec_eval's:

- graded judgments are used as given for nDCG (linear gain);
- binary measures (RR, R, P, AP, ...) count a grade >= 1 as relevant, ir-measures'
  default ``rel=1``, unless the measure names another level;
- queries without judgments are ignored, and so are judged queries absent from
  the run (a warning says how many);
- by default documents are ranked by descending score, ties broken by
  descending docid, exactly like trec_eval (``rank_by="score"``). Pass
  ``rank_by="order"`` to evaluate the list order as given instead (useful when
  a reranker's tied scores were already broken by input order).

Results use friendly names: ``"nDCG@10"``, ``"MRR@10"``, ``"Recall@100"``,
``"P@10"``, ``"MAP"``...
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union

from ..errors import InvalidInputError

logger = logging.getLogger(__name__)

MeasureLike = Union[str, Any]

#: The default measures: the DL19 reranking headline metric plus MRR@10 and Recall@100.
DEFAULT_MEASURES: tuple[str, ...] = ("nDCG@10", "RR@10", "R@100")

_FRIENDLY = {"RR": "MRR", "R": "Recall", "AP": "MAP"}


def _ir_measures():
    from .._deps import require

    return require("ir_measures", "eval", package="ir-measures")


def _parse_measures(measures: Iterable[MeasureLike]) -> list[Any]:
    if isinstance(measures, str):
        measures = (measures,)
    irm = _ir_measures()
    parsed = []
    for measure in measures:
        if isinstance(measure, str):
            try:
                parsed.append(irm.parse_measure(measure))
            except Exception as exc:  # ir-measures raises NameError/ValueError/SyntaxError
                raise InvalidInputError(f"unknown measure {measure!r} ({exc})") from exc
        else:
            parsed.append(measure)
    if not parsed:
        raise InvalidInputError("at least one measure is required")
    return parsed


def friendly_name(measure: MeasureLike) -> str:
    """Display name of a measure: ``RR@10`` -> ``"MRR@10"``, ``R@100`` -> ``"Recall@100"``.

    Parameters other than the cutoff, and a relevance level other than the
    default 1, stay visible: ``R(rel=2)@100`` -> ``"Recall(rel=2)@100"``.
    """
    (parsed,) = _parse_measures([measure])
    params = dict(parsed.params)
    cutoff = params.pop("cutoff", None)
    if params.get("rel") == 1:
        params.pop("rel")
    name = _FRIENDLY.get(parsed.NAME, parsed.NAME)
    if params:
        name += "(" + ",".join(f"{k}={v}" for k, v in sorted(params.items())) + ")"
    if cutoff is not None:
        name += f"@{cutoff}"
    return name


def _rows(run: Mapping[str, Sequence[tuple[str, float]]], qrels: Mapping[str, Mapping[str, int]], rank_by: str):
    irm = _ir_measures()
    if rank_by not in ("score", "order"):
        raise InvalidInputError(f"rank_by must be 'score' or 'order', got {rank_by!r}")
    in_run = set(map(str, run))
    qrel_rows = [
        irm.Qrel(str(qid), str(docid), int(grade))
        for qid, judged in qrels.items()
        if str(qid) in in_run
        for docid, grade in judged.items()
    ]
    run_rows = []
    for qid, docs in run.items():
        seen: set[str] = set()
        n = len(docs)
        for position, (docid, score) in enumerate(docs):
            docid = str(docid)
            if docid in seen:
                raise InvalidInputError(f"document {docid!r} appears twice in the run for query {qid!r}")
            seen.add(docid)
            if rank_by == "order":
                value = float(n - position)
            else:
                value = float(score)
                if math.isnan(value):
                    raise InvalidInputError(f"NaN score for document {docid!r} of query {qid!r}")
            run_rows.append(irm.ScoredDoc(str(qid), docid, value))
    evaluated = in_run & set(map(str, qrels))
    if not evaluated:
        raise InvalidInputError("the run and the qrels have no query in common: nothing to evaluate")
    missing = set(map(str, qrels)) - in_run
    if missing:
        logger.warning(
            "%d judged queries are not in the run and are ignored (trec_eval default), e.g. %s",
            len(missing), sorted(missing)[:3],
        )
    return qrel_rows, run_rows


def evaluate_run(
    run: Mapping[str, Sequence[tuple[str, float]]],
    qrels: Mapping[str, Mapping[str, int]],
    measures: Iterable[MeasureLike] = DEFAULT_MEASURES,
    *,
    rank_by: str = "score",
) -> dict[str, float]:
    """Mean of each measure over the judged queries of ``run``.

    Args:
        run: ``{qid: [(docid, score), ...]}``.
        qrels: ``{qid: {docid: grade}}``.
        measures: ir-measures names or objects; default nDCG@10, RR@10, R@100.
        rank_by: ``"score"`` (trec_eval: descending score, ties by descending
            docid) or ``"order"`` (the list order as given).

    Returns:
        ``{friendly name: mean}`` in the order of ``measures``, e.g.
        ``{"nDCG@10": 0.5058, "MRR@10": 0.8233, "Recall@100": 0.4531}``.
    """
    parsed = _parse_measures(measures)
    qrel_rows, run_rows = _rows(run, qrels, rank_by)
    agg = _ir_measures().calc_aggregate(parsed, qrel_rows, run_rows)
    return {friendly_name(m): float(agg[m]) for m in parsed}


def per_query(
    run: Mapping[str, Sequence[tuple[str, float]]],
    qrels: Mapping[str, Mapping[str, int]],
    measures: Iterable[MeasureLike] = DEFAULT_MEASURES,
    *,
    rank_by: str = "score",
) -> dict[str, dict[str, float]]:
    """Each measure for each judged query of ``run``: ``{qid: {friendly name: value}}``.

    Same arguments and conventions as :func:`evaluate_run`; the mean over
    queries of these values is what :func:`evaluate_run` returns.
    """
    parsed = _parse_measures(measures)
    qrel_rows, run_rows = _rows(run, qrels, rank_by)
    names = {m: friendly_name(m) for m in parsed}
    result: dict[str, dict[str, float]] = {}
    for metric in _ir_measures().iter_calc(parsed, qrel_rows, run_rows):
        result.setdefault(metric.query_id, {})[names[metric.measure]] = float(metric.value)
    order = {qid: i for i, qid in enumerate(run)}
    return {qid: {names[m]: values[names[m]] for m in parsed}
            for qid, values in sorted(result.items(), key=lambda kv: order.get(kv[0], len(order)))}


def paired_bootstrap(a: Mapping[str, float], b: Mapping[str, float], *, rounds: int = 10000, seed: int = 0
                     ) -> dict[str, Any]:
    """System ``b`` against system ``a`` on the same queries (``{qid: value}`` each, e.g. from :func:`per_query`):
    the mean difference ``b - a``, its 95 % interval from resampling queries (paired bootstrap, seeded) and
    how many queries each wins.

    Raises:
        InvalidInputError: the two systems were not measured on the same queries, or on none.

    Example:
        >>> out = paired_bootstrap({"q1": 0.5, "q2": 0.7}, {"q1": 0.6, "q2": 0.7}, rounds=200)
        >>> out["mean_difference"], out["b_wins"], out["ties"]
        (0.05, 1, 1)
    """
    import numpy as np

    if not a or set(a) != set(b):
        raise InvalidInputError(f"a paired bootstrap needs both systems on the same queries ({len(a)} vs {len(b)}, "
                                f"{len(set(a) ^ set(b))} not shared)")
    diff = np.array([b[q] - a[q] for q in a], dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(rounds, len(diff)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"queries": len(diff), "mean_difference": round(float(diff.mean()), 4),
            "bootstrap_95": [round(float(low), 4), round(float(high), 4)],
            "b_wins": int((diff > 0).sum()), "a_wins": int((diff < 0).sum()), "ties": int((diff == 0).sum())}


__all__ = ["DEFAULT_MEASURES", "evaluate_run", "friendly_name", "paired_bootstrap", "per_query"]
