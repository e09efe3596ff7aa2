"""Evaluation of an adaptation run: every system reranks the same first-stage candidates of the same held-out queries.

Systems: the first stage itself (BM25 by default), the base, the student, a
bi-encoder (cosine of a sentence-transformers encoder) and the teacher. The
teacher is ~100x slower than a cross-encoder on a CPU, so it reranks only the
top ``teacher_eval_depth`` of the first ``teacher_eval_queries`` queries; the
report compares every system on that subset too (same queries, same depth).

Scores are cached per system in ``work/eval/<name>.json``, so a rerun after an
interruption does not score a system twice.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interank_sdk.errors import InvalidInputError
from interank_sdk.eval import evaluate_run, per_query

logger = logging.getLogger(__name__)

MEASURES = ("nDCG@10", "RR@10")


@dataclass
class EvalSet:
    """Held-out queries with their first-stage candidates.

    Attributes:
        queries: qid -> text.
        candidates: qid -> doc ids, first stage best first.
        first_scores: qid -> the first stage's scores (same order).
        qrels: qid -> {doc id: grade}.
        domains: qid -> domain (where queries have one).
        passages: doc id -> text as scored.
    """

    queries: dict[str, str]
    candidates: dict[str, list[str]]
    first_scores: dict[str, list[float]]
    qrels: dict[str, dict[str, int]]
    domains: dict[str, str] = field(default_factory=dict)
    passages: dict[str, str] = field(default_factory=dict)

    @property
    def pairs(self) -> int:
        return sum(len(c) for c in self.candidates.values())

    def subset(self, n: int, depth: int) -> "EvalSet":
        """The first ``n`` queries, the top ``depth`` candidates of each."""
        qids = list(self.queries)[:n]
        return EvalSet({q: self.queries[q] for q in qids}, {q: self.candidates[q][:depth] for q in qids},
                       {q: self.first_scores[q][:depth] for q in qids}, {q: self.qrels[q] for q in qids},
                       {q: self.domains[q] for q in qids if q in self.domains}, self.passages)


def metrics_of(data: EvalSet, scores: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """nDCG@10 and MRR@10 overall and per domain of ``scores`` (qid -> one score per candidate)."""
    run = {q: sorted(zip(data.candidates[q], scores[q]), key=lambda x: -x[1]) for q in data.candidates}
    qrels = {q: data.qrels[q] for q in run}
    overall = evaluate_run(run, qrels, measures=MEASURES)
    result: dict[str, Any] = {k: round(v, 4) for k, v in overall.items()}
    if data.domains:
        by_domain: dict[str, dict[str, list[float]]] = {}
        for qid, values in per_query(run, qrels, measures=MEASURES).items():
            for name, value in values.items():
                by_domain.setdefault(data.domains.get(qid, "-"), {}).setdefault(name, []).append(value)
        result["by_domain"] = {d: {k: round(sum(v) / len(v), 4) for k, v in m.items()}
                               for d, m in sorted(by_domain.items())}
    return result


def first_stage_scores(data: EvalSet) -> dict[str, list[float]]:
    """The first stage's own order as scores (rank-based, so ties keep its order)."""
    return {q: [float(len(c) - i) for i in range(len(c))] for q, c in data.candidates.items()}


def cached_scores(cache: Path, name: str, data: EvalSet, score: Callable[[EvalSet], dict[str, list[float]]]
                  ) -> tuple[dict[str, list[float]], float]:
    """``score(data)`` (qid -> scores) and its pairs per second, read from ``cache/name.json`` when done before."""
    path = cache / f"{name}.json"
    key = {q: data.candidates[q] for q in data.candidates}
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved.get("candidates") == key:
            logger.info("eval %s: scores read from %s", name, path)
            return saved["scores"], saved["pairs_per_second"]
    start = time.perf_counter()
    scores = score(data)
    seconds = time.perf_counter() - start
    for qid, values in scores.items():
        if len(values) != len(data.candidates[qid]) or not all(math.isfinite(v) for v in values):
            raise InvalidInputError(f"eval {name}: query {qid!r} got {len(values)} scores for "
                                    f"{len(data.candidates[qid])} candidates or a non-finite score")
    pps = data.pairs / seconds if seconds > 0 else 0.0
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"candidates": key, "scores": scores, "pairs_per_second": pps, "seconds": seconds}),
                   encoding="utf-8")
    tmp.replace(path)
    logger.info("eval %s: %d pairs in %.1f s (%.1f pairs/s)", name, data.pairs, seconds, pps)
    return scores, pps


def reranker_scorer(model: str, **options: Any) -> Callable[[EvalSet], dict[str, list[float]]]:
    """Scores of a model ``Reranker`` loads (its raw scores: the ranking is the same as the calibrated ones)."""

    def score(data: EvalSet) -> dict[str, list[float]]:
        from interank_sdk import Reranker

        reranker = Reranker(model, **options)
        qids = list(data.candidates)
        pairs = [(data.queries[q], data.passages[d]) for q in qids for d in data.candidates[q]]
        flat = [float(s) for s in reranker.predict(pairs, raw=True)] if pairs else []
        out, i = {}, 0
        for q in qids:
            out[q] = flat[i:i + len(data.candidates[q])]
            i += len(data.candidates[q])
        return out

    return score


def teacher_scorer(teacher: Any) -> Callable[[EvalSet], dict[str, list[float]]]:
    """Scores of the teacher ``Reranker`` (any strategy), one ``score_batch`` call per query."""

    def score(data: EvalSet) -> dict[str, list[float]]:
        from tqdm.auto import tqdm

        out = {}
        for q in tqdm(list(data.candidates), desc="eval teacher", unit="query"):
            out[q] = [float(s) for s in teacher.score_batch([data.queries[q]],
                                                            [[{"text": data.passages[d]} for d in data.candidates[q]]])[0]]
        return out

    return score


def biencoder_scorer(model: str, device: str = "cpu") -> Callable[[EvalSet], dict[str, list[float]]]:
    """Cosine similarity of a sentence-transformers encoder; each distinct text is encoded once."""

    def score(data: EvalSet) -> dict[str, list[float]]:
        from sentence_transformers import SentenceTransformer

        encoder = SentenceTransformer(model, device=device)
        docs = sorted({d for c in data.candidates.values() for d in c})
        qids = list(data.candidates)
        q_emb = encoder.encode([data.queries[q] for q in qids], batch_size=32, normalize_embeddings=True)
        d_emb = encoder.encode([data.passages[d] for d in docs], batch_size=32, normalize_embeddings=True)
        position = {d: i for i, d in enumerate(docs)}
        return {q: [float((q_emb[k] * d_emb[position[d]]).sum()) for d in data.candidates[q]]
                for k, q in enumerate(qids)}

    return score


__all__ = ["EvalSet", "metrics_of", "first_stage_scores", "cached_scores", "reranker_scorer", "teacher_scorer",
           "biencoder_scorer"]
