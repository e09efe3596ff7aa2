"""Training data from relevance judgments (TREC/BEIR qrels + corpus + queries).

In-house judgments are real training data: every judged (query, passage)
whose texts are known becomes a row, its grade mapped to an InteRank label
(default TREC 0-3: 0 -> 0, 1 -> 1, 2 and 3 -> 2). The files are read with the
SDK's own loaders (:mod:`interank_sdk.eval.data`). The output folder has the
same format as :func:`interank_trainer.synthesize` output, so
:func:`interank_trainer.distill` trains on either. Rows carry no explanation,
so a student trained on them uses the ``graded`` or ``yesno`` strategy.
"""

from __future__ import annotations

import json
import logging
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interank_sdk.errors import InvalidInputError
from interank_sdk.eval.data import load_corpus, load_qrels, load_queries
from interank_sdk.prompts import format_passage

from .. import __version__
from ..config import build_config, config_dict
from .config import JudgmentsConfig
from .formats import DATA_FILE, FORMAT, MANIFEST_FILE, label_histogram, make_row, write_json

logger = logging.getLogger(__name__)


@dataclass
class JudgmentsReport:
    """What :func:`prepare_judgments` did (also in ``manifest.json``).

    Attributes:
        out: the dataset folder.
        judgments: judgments read from the qrels.
        rows: rows written.
        skipped: judgments not written, by reason (``missing_passage``,
            ``missing_query``, ``empty_text``, ``not_selected``, ``sampled_out``).
        labels: label histogram of the rows.
        grades: grade histogram of the rows before mapping.
        queries: queries with at least one row.
    """

    out: Path
    judgments: int = 0
    rows: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    grades: dict[str, int] = field(default_factory=dict)
    queries: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"judgments": self.judgments, "rows": self.rows, "skipped": dict(self.skipped),
                "labels": dict(self.labels), "grades": dict(self.grades), "queries": self.queries}


def prepare_judgments(config: JudgmentsConfig | None = None, /, **kwargs: Any) -> JudgmentsReport:
    """Turn a TREC/BEIR judgment folder into a training dataset folder.

    Args:
        config: a :class:`JudgmentsConfig`, or its fields as keyword arguments.

    Raises:
        InvalidInputError: missing files, malformed lines (file and line
            named), a grade missing from ``grade_map``, or no usable judgment.

    Example:
        >>> from interank_trainer import prepare_judgments
        >>> report = prepare_judgments(data="../shared/data/trec-dl21-passage", out="dl21-train")  # doctest: +SKIP
        >>> report.rows, report.labels  # doctest: +SKIP
        (4812, {'0': 1920, '1': 1356, '2': 1536})
    """
    config = build_config(JudgmentsConfig, config, kwargs)
    folder = Path(config.data).expanduser()
    if not folder.is_dir():
        raise InvalidInputError(f"judgment folder not found: {folder} (needs queries.jsonl, corpus.jsonl, qrels.tsv)")
    qrels = load_qrels(folder / "qrels.tsv")
    queries = load_queries(folder / "queries.jsonl")
    wanted_docs = {d for judged in qrels.values() for d in judged}
    corpus = load_corpus(folder / "corpus.jsonl", ids=wanted_docs)
    report = JudgmentsReport(out=Path(config.out).expanduser())
    selected = set(map(str, config.queries)) if config.queries else None

    def skip(reason: str) -> None:
        report.skipped[reason] = report.skipped.get(reason, 0) + 1

    candidates: list[dict[str, Any]] = []
    for qid, judged in qrels.items():
        for docid, grade in judged.items():
            report.judgments += 1
            if selected is not None and qid not in selected:
                skip("not_selected")
                continue
            if grade not in config.grade_map:
                raise InvalidInputError(
                    f"qrels grade {grade} (query {qid}, doc {docid}) is not in grade_map {config.grade_map}"
                )
            if qid not in queries:
                skip("missing_query")
                continue
            if docid not in corpus:
                skip("missing_passage")
                continue
            passage = format_passage(corpus[docid]["text"], corpus[docid].get("title"))
            if not queries[qid].strip() or not passage.strip():
                skip("empty_text")
                continue
            candidates.append({"qid": qid, "docid": docid, "grade": grade, "label": config.grade_map[grade],
                               "query": queries[qid], "passage": passage})
    if not candidates:
        raise InvalidInputError(f"{folder}: no judgment has both its query and passage text ({report.skipped})")

    rng = random.Random(config.seed)
    chosen = candidates
    if config.max_per_query is not None:
        by_query: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for c in chosen:
            by_query[c["qid"]].append(c)
        chosen = [c for qid in by_query for c in _stratified(by_query[qid], config.max_per_query, rng, False)]
    if config.balance or config.max_rows is not None:
        if config.max_rows is not None:
            limit = config.max_rows
        else:  # balance alone: as many rows per label as the rarest label has
            counts = [sum(c["label"] == k for c in chosen) for k in {c["label"] for c in chosen}]
            limit = min(counts) * len(counts)
        chosen = _stratified(chosen, limit, rng, config.balance)
    report.skipped["sampled_out"] = len(candidates) - len(chosen)
    if not report.skipped["sampled_out"]:
        del report.skipped["sampled_out"]
    chosen.sort(key=lambda c: (c["qid"], c["docid"]))

    out = report.out
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (DATA_FILE + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for c in chosen:
            row = make_row(row_id=f"{c['qid']}:{c['docid']}", pair_id=c["qid"], source="judgments", query=c["query"],
                           passage=c["passage"], label=c["label"], candidate="judged",
                           extra={"qid": c["qid"], "docid": c["docid"], "grade": c["grade"]})
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(out / DATA_FILE)
    report.rows = len(chosen)
    report.labels = label_histogram(c["label"] for c in chosen)
    report.grades = {str(g): sum(c["grade"] == g for c in chosen) for g in sorted({c["grade"] for c in chosen})}
    report.queries = len({c["qid"] for c in chosen})
    write_json(out / MANIFEST_FILE, {
        "format": FORMAT, "source": "judgments", "trainer_version": __version__, "data": str(folder),
        "config": config_dict(config), "status": "complete", **report.as_dict(),
    })
    logger.info("prepared %d rows from %d judgments of %s (labels %s, skipped %s)", report.rows, report.judgments,
                folder, report.labels, report.skipped)
    return report


def _stratified(items: list[dict[str, Any]], limit: int, rng: random.Random, balance: bool) -> list[dict[str, Any]]:
    """Up to ``limit`` items, sampled per label (proportionally, or equally when ``balance``)."""
    if len(items) <= limit and not balance:
        return list(items)
    by_label: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        by_label[item["label"]].append(item)
    for group in by_label.values():
        rng.shuffle(group)
    labels = sorted(by_label)
    if balance:
        per = limit // len(labels)
        picked = [x for label in labels for x in by_label[label][:per]]
    else:
        picked = []
        for label in labels:
            share = round(limit * len(by_label[label]) / len(items))
            picked.extend(by_label[label][:share])
    return picked[:limit]


__all__ = ["JudgmentsReport", "prepare_judgments"]
