"""Calibrate a reranker on judgments: score the judged candidates of a first-stage run, fit, save.

:func:`judged_pairs` collects (raw score, judgment) for every judged document
among each query's top ``depth`` candidates (unjudged candidates are left out:
their relevance is unknown); :func:`calibrate_reranker` fits a
:class:`~interank_sdk.calibration.Calibration` on them, puts it to use and
writes it into the model folder's ``interank.json``. ``Reranker.calibrate``,
``Cascade.calibrate`` and ``interank calibrate`` are this.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..calibration import (
    METHODS,
    Calibration,
    calibration_input,
    fit_calibration,
    heldout_summary,
)
from ..card import ModelCard
from ..errors import InteRankError, InvalidInputError, check_int
from .data import TrecDataset, load_run

logger = logging.getLogger(__name__)


@dataclass
class JudgedPairs:
    """The judged (query, document) pairs a reranker scored, aligned lists.

    Attributes:
        qids, docids: which pair.
        raw: the reranker's raw score of each (``raw_score``).
        scores: its uncalibrated score in ``[0, 1]``.
        grades: the judgment of each.
        failed: queries the reranker raised on (left out, logged).
    """

    qids: list[str] = field(default_factory=list)
    docids: list[str] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    grades: list[int] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def relevant(self, level: int) -> list[bool]:
        return [g >= level for g in self.grades]


def resolve_data(data: str | Path | TrecDataset, run: Any) -> tuple[TrecDataset, Mapping[str, Sequence[tuple[str, float]]],
                                                                    str]:
    """The dataset, the run and a description of both, from what a caller passes."""
    dataset = data if isinstance(data, TrecDataset) else TrecDataset.load(data)
    if run is None or isinstance(run, (str, Path)):
        name = run or "run.bm25.top100.trec"
        path = Path(name)
        if not path.is_file() and dataset.path is not None and (dataset.path / str(name)).is_file():
            path = dataset.path / str(name)
        return dataset, load_run(path), f"{dataset.path}:{path.name}"
    if not isinstance(run, Mapping):
        raise InvalidInputError(f"run must be a path or a {{qid: [(docid, score), ...]}} mapping, got {type(run).__name__}")
    return dataset, run, f"{dataset.path}:<run>"


def judged_pairs(
    reranker: Any,
    dataset: TrecDataset,
    run: Mapping[str, Sequence[tuple[str, float]]],
    *,
    depth: int = 100,
    max_queries: int | None = None,
    batch_queries: int = 1,
    progress: bool = True,
) -> JudgedPairs:
    """Score the judged documents among each judged query's top ``depth`` and collect raw scores and grades.

    The whole top ``depth`` is reranked (as a request would), and only judged documents are kept. A query the
    reranker raises on is recorded in ``failed`` and left out; every other query's work is kept.
    """
    check_int("depth", depth)
    qids = [q for q in run if q in dataset.qrels and q in dataset.queries]
    if max_queries is not None:
        qids = qids[:max_queries]
    if not qids:
        raise InvalidInputError("no query of the run has judgments in the dataset")
    out = JudgedPairs()
    from tqdm.auto import tqdm

    for start in tqdm(range(0, len(qids), batch_queries), desc="calibration pairs", unit="batch",
                      disable=not progress):
        batch = qids[start:start + batch_queries]
        docids = [[d for d, _ in run[q][:depth] if d in dataset.corpus] for q in batch]
        docs = [[{"text": dataset.corpus[d]["text"], "title": dataset.corpus[d].get("title") or None, "id": d}
                 for d in ids] for ids in docids]
        try:
            results = reranker.rerank_batch([dataset.queries[q] for q in batch], docs)
        except InteRankError as exc:  # one bad query never loses the others' work
            if len(batch) > 1:
                logger.info("a batch failed (%s); scoring its queries one at a time", exc)
                results = []
                for q, d in zip(batch, docs):
                    try:
                        results.append(reranker.rerank_batch([dataset.queries[q]], [d])[0])
                    except InteRankError as one:
                        out.failed[q] = str(one)
                        results.append(None)
            else:
                out.failed[batch[0]] = str(exc)
                results = [None]
        for q, ids, result in zip(batch, docids, results):
            if result is None:
                logger.warning("query %s left out of the calibration: %s", q, out.failed.get(q))
                continue
            judged = dataset.qrels[q]
            for r in result:
                d = ids[r.index]
                if d not in judged:
                    continue
                out.qids.append(q)
                out.docids.append(d)
                out.raw.append(calibration_input(r))
                out.scores.append(float(r.model_score if r.model_score is not None else r.score))
                out.grades.append(int(judged[d]))
    return out


def calibrate_reranker(
    reranker: Any,
    data: str | Path | TrecDataset,
    run: Any = None,
    *,
    method: str = "platt",
    relevance_level: int = 2,
    depth: int = 100,
    max_queries: int | None = None,
    heldout_fraction: float = 0.2,
    seed: int = 0,
    batch_queries: int = 1,
    save: bool | None = None,
    progress: bool = True,
) -> Calibration:
    """Fit ``reranker``'s calibration on ``data``'s judgments over ``run``'s candidates, use it, and save it.

    See :meth:`interank_sdk.Reranker.calibrate`. The reranker's current calibration is set aside while its raw
    scores are collected and is kept when fitting fails.

    Raises:
        InvalidInputError: bad options, no judged query, too few judged pairs, only one class, non-finite scores,
            ``save=True`` for a model without a local folder.
    """
    if method not in METHODS:
        raise InvalidInputError(f"method must be one of {METHODS}, got {method!r}")
    if isinstance(relevance_level, bool) or not isinstance(relevance_level, int):
        raise InvalidInputError(f"relevance_level must be an int, got {relevance_level!r}")
    folder = getattr(reranker, "card_folder", None)
    if save is True and folder is None:
        raise InvalidInputError("save=True needs a model loaded from a local folder; this one is a hub or served "
                                "model: keep the returned calibration with calibration.save(path)")
    dataset, first_stage, source = resolve_data(data, run)
    previous = reranker.calibration
    reranker.set_calibration(None)
    try:
        pairs = judged_pairs(reranker, dataset, first_stage, depth=depth, max_queries=max_queries,
                             batch_queries=batch_queries, progress=progress)
    finally:
        reranker.set_calibration(previous)
    calibration = fit_calibration(
        pairs.raw, pairs.relevant(relevance_level), method=method, groups=pairs.qids,
        heldout_fraction=heldout_fraction, seed=seed, scores=pairs.scores, strategy=reranker.strategy.name,
        relevance_level=relevance_level,
        source={"data": source, "depth": depth, "failed_queries": sorted(pairs.failed)},
    )
    reranker.set_calibration(calibration)
    if folder is not None and save is not False:
        card = ModelCard.read(folder) or ModelCard()
        card.calibration = calibration.to_dict()
        path = card.write(folder)
        logger.info("calibration (%s) written to %s", method, path)
    logger.info("calibrated %s on %d judged pairs of %d queries%s", reranker.model_name, len(pairs.raw),
                len(set(pairs.qids)), heldout_summary(calibration.heldout) or " (too few queries to hold any out)")
    return calibration


__all__ = ["JudgedPairs", "calibrate_reranker", "judged_pairs", "resolve_data"]
