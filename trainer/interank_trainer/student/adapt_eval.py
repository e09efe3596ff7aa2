"""Evaluation of an adaptation run: every system reranks the same first-stage candidates of the same held-out queries.

Systems: the first stage itself (BM25 by default), the base, the student, a
bi-encoder (cosine of a sentence-transformers encoder) and the teacher. The
teacher is ~100x slower than a cross-encoder on a CPU, so it reranks only the
top ``teacher_eval_depth`` of the first ``teacher_eval_queries`` queries; the
report compares every system on that subset too (same queries, same depth).

Scores are cached per system in ``work/eval/<name>.json``, so a rerun after an
interruption does not score a system twice. :class:`FirstStage` (BM25 or a
bi-encoder over the collection) gives the candidates, of the evaluated queries
and of the training pools alike; :func:`evaluate_systems` writes the report's
evaluation part and its verdict.
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
from interank_sdk.eval import evaluate_run, paired_bootstrap, per_query

from ..data.adapt_inputs import AdaptInputs, RealQuery
from .adapt_base import Base
from .config import AdaptConfig

logger = logging.getLogger(__name__)

MEASURES = ("nDCG@10", "RR@10")
#: a general-domain drop of the student below the base larger than this is a warning in the report
FORGETTING_WARNING = 0.02


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


def ranked(data: EvalSet, scores: Mapping[str, Sequence[float]]) -> dict[str, list[tuple[str, float]]]:
    """``data``'s candidates ordered by ``scores`` (qid -> one score per candidate), as a run."""
    return {q: sorted(zip(data.candidates[q], scores[q]), key=lambda x: -x[1]) for q in data.candidates}


def metrics_of(data: EvalSet, scores: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """nDCG@10 and MRR@10 overall and per domain of ``scores`` (qid -> one score per candidate)."""
    run = ranked(data, scores)
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


def per_query_ndcg(data: EvalSet, scores: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """nDCG@10 of each query of ``data`` under ``scores``."""
    run = ranked(data, scores)
    return {q: v["nDCG@10"] for q, v in per_query(run, {q: data.qrels[q] for q in run}, measures=("nDCG@10",)).items()}


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


# ------------------------------------------------------------- first stage
class FirstStage:
    """The first stage over the collection: ``bm25`` or a sentence-transformers encoder (cosine)."""

    def __init__(self, spec: str, passages: dict[str, str], device: str = "cpu") -> None:
        self.spec = spec
        self.ids = list(passages)
        if spec == "bm25":
            from interank_sdk.eval import BM25Index

            self.bm25 = BM25Index([passages[d] for d in self.ids])
            self.encoder = None
        else:
            from sentence_transformers import SentenceTransformer

            self.encoder = SentenceTransformer(spec, device=None if device == "auto" else device)
            self.doc_emb = self.encoder.encode([passages[d] for d in self.ids], batch_size=32,
                                               normalize_embeddings=True, show_progress_bar=False)

    def run(self, queries: dict[str, str], depth: int) -> dict[str, list[tuple[str, float]]]:
        """``{qid: [(doc id, score), ...]}`` best first, at most ``depth`` each."""
        if self.encoder is None:
            return {q: [(self.ids[i], s) for i, s in self.bm25.search_scored(text, depth)]
                    for q, text in queries.items()}
        import numpy as np

        qids = list(queries)
        emb = self.encoder.encode([queries[q] for q in qids], batch_size=32, normalize_embeddings=True,
                                  show_progress_bar=False)
        sims = emb @ self.doc_emb.T
        out = {}
        for k, q in enumerate(qids):
            top = np.argsort(-sims[k], kind="stable")[:depth]
            out[q] = [(self.ids[i], float(sims[k][i])) for i in top]
        return out


# ---------------------------------------------------------------- the report
def eval_set(queries: list[RealQuery], first: FirstStage, depth: int, passages: dict[str, str]) -> EvalSet:
    """The first stage's candidates of ``queries`` (those it finds anything for), with their judgments."""
    run = first.run({q.qid: q.text for q in queries}, depth)
    kept = [q for q in queries if run.get(q.qid)]
    return EvalSet({q.qid: q.text for q in kept}, {q.qid: [d for d, _ in run[q.qid]] for q in kept},
                   {q.qid: [s for _, s in run[q.qid]] for q in kept}, {q.qid: dict(q.relevant) for q in kept},
                   {q.qid: q.domain for q in kept if q.domain}, passages)


def base_scorer(base: Base, device: str) -> tuple[str, Callable[[EvalSet], dict[str, list[float]]]] | None:
    """The base's row name and scorer, as the user runs it today (``None``: a bare encoder body does not rank)."""
    if base.reranker == "classifier":
        return "base", reranker_scorer(base.model, device=device)
    if base.reranker == "embedding":
        return "base (bi-encoder)", biencoder_scorer(base.spec, device)
    return None


def student_scorer(student: Path, kind: str, device: str) -> Callable[[EvalSet], dict[str, list[float]]]:
    """How the student is scored: a bi-encoder student as the bi-encoder base is (sentence-transformers' cosine,
    float32: a gain is then the weights', not a runtime's), a cross-encoder through ``Reranker``."""
    return biencoder_scorer(str(student), device) if kind == "bi-encoder" else reranker_scorer(str(student),
                                                                                            device=device)


def reference_scores(config: AdaptConfig, base: Base, data: EvalSet, cache: Path, device: str
                     ) -> tuple[str, dict[str, list[float]], float | None]:
    """The row a gain is measured over, its scores of ``data`` (cached in ``cache``) and its pairs per second:
    the base as the user runs it, or the first stage when the base is a bare body (``None`` pairs/s)."""
    row = base_scorer(base, device)
    if row is None:
        return f"first stage ({config.first_stage})", first_stage_scores(data), None
    scores, pps = cached_scores(cache, row[0].split(" ")[0], data, row[1])
    return row[0], scores, pps


def evaluate_systems(config: AdaptConfig, inputs: AdaptInputs, base: Base, student: Path, teacher: Any,
                     data: EvalSet | None, held_q: list[RealQuery], work: Path, kind: str = "cross-encoder"
                     ) -> dict[str, Any]:
    """Every system on the held-out (and eval-only) queries ``data`` (:func:`eval_set`; ``None``: there are none),
    the teacher on a subset, the general-domain set when given; the gain of the student (a ``kind`` model) over
    the base, its interval and the verdict (the report's evaluation part)."""
    cache = work / "eval"
    device = "cpu" if config.device == "auto" else config.device
    warnings: list[str] = []
    report: dict[str, Any] = {"heldout": {}, "warnings": warnings}
    gain = None
    if data is not None:
        origin = "held-out real queries" if held_q else "eval_judgments"
        if held_q and inputs.eval_queries:
            origin = "held-out real queries + eval_judgments"
        systems: dict[str, dict[str, Any]] = {}
        scored: dict[str, dict[str, list[float]]] = {}
        scored[f"first stage ({config.first_stage})"] = first_stage_scores(data)
        speeds = {}
        reference, scored_reference, reference_pps = reference_scores(config, base, data, cache, device)
        if reference_pps is not None:  # the base (the first stage is in already)
            scored[reference], speeds[reference] = scored_reference, reference_pps
        scorers = [("student", student_scorer(student, kind, device))]
        biencoder = config.biencoder or (base.spec if base.reranker == "embedding" else None)
        if biencoder and not (base.reranker == "embedding" and biencoder == base.spec):
            scorers.append(("bi-encoder", biencoder_scorer(biencoder, device)))
        for name, scorer in scorers:
            scored[name], speeds[name] = cached_scores(cache, name.split(" ")[0], data, scorer)
        for name, scores in scored.items():
            systems[name] = {**metrics_of(data, scores), **({"pairs_per_second": round(speeds[name], 1)}
                                                              if name in speeds else {})}
        gain = round(systems["student"]["nDCG@10"] - systems[reference]["nDCG@10"], 4)
        # how sure: the gain's 95 % interval from resampling the held-out queries (paired: same queries)
        interval = paired_bootstrap(per_query_ndcg(data, scored[reference]), per_query_ndcg(data, scored["student"]),
                                    seed=config.seed)
        report["heldout"] = {"queries": len(data.queries), "origin": origin, "depth": config.eval_depth,
                             "pairs": data.pairs, "systems": systems, "gain_over": reference,
                             "gain_interval": interval}
        if reference_pps is None:
            warnings.append("the base is a bare encoder (no head ranks with it): the gain is measured over the first stage")
        if config.teacher_eval_queries:
            sub = data.subset(config.teacher_eval_queries, config.teacher_eval_depth)
            t_scores, t_pps = cached_scores(cache, "teacher", sub, teacher_scorer(teacher))
            sub_systems = {"teacher": {**metrics_of(sub, t_scores), "pairs_per_second": round(t_pps, 2)}}
            for name, scores in scored.items():
                cut = {q: scores[q][: len(sub.candidates[q])] for q in sub.candidates}
                if name.startswith("first stage"):
                    cut = first_stage_scores(sub)
                sub_systems[name] = metrics_of(sub, cut)
            report["heldout"]["teacher_subset"] = {"queries": len(sub.queries), "depth": config.teacher_eval_depth,
                                                   "systems": sub_systems}
        else:
            report["heldout"]["teacher_note"] = "the teacher was not evaluated (teacher_eval_queries=0)"
    else:
        report["heldout"] = {"queries": 0, "note": "no real queries: the gain was not measured; pass eval_judgments "
                                                   "(--eval-judgments) to measure it"}
    if config.general_eval is not None:
        report["general"] = evaluate_general(config, base, student, device, cache, kind)
        g = report["general"]["systems"]
        if "base" in g and g["base"]["nDCG@10"] - g["student"]["nDCG@10"] > FORGETTING_WARNING:
            warnings.append(f"general domain: the student scores {g['student']['nDCG@10']:.3f} nDCG@10 against the "
                            f"base's {g['base']['nDCG@10']:.3f} (a drop of more than {FORGETTING_WARNING})")
    recommended = gain is not None and gain > 0 and gain >= config.min_gain
    report["gain"], report["recommended"] = gain, recommended
    report["use"] = "student" if recommended else "base"
    if gain is None:
        report["verdict"] = "not measured: no held-out queries (the student is written, not recommended)"
        return report
    low, high = report["heldout"]["gain_interval"]["bootstrap_95"]
    sure = (f"95 % interval {low:+.3f} to {high:+.3f} over {len(data.queries)} queries"
            + ("" if low > 0 or high < 0 else ": within noise"))
    if recommended:
        report["verdict"] = (f"use the student: +{gain:.3f} nDCG@10 over the {report['heldout']['gain_over']} on "
                             f"held-out ({sure})")
    else:
        report["verdict"] = (f"keep the base: the student's held-out gain {gain:+.3f} nDCG@10 ({sure}) does not "
                             f"reach min_gain {config.min_gain}")
    if recommended and low <= 0:
        warnings.append(f"the gain {gain:+.3f} nDCG@10 is within noise (95 % interval {low:+.3f} to {high:+.3f} over "
                        f"{len(data.queries)} queries); more held-out queries would tell")
    return report


def evaluate_general(config: AdaptConfig, base: Base, student: Path, device: str, cache: Path,
                     kind: str = "cross-encoder") -> dict[str, Any]:
    """BM25, the base and the student on a general-domain TREC set (what adaptation cost out of domain)."""
    from interank_sdk.eval import TrecDataset, load_run
    from interank_sdk.prompts import format_passage

    folder = Path(config.general_eval).expanduser()
    run = load_run(folder / config.general_run, depth=config.eval_depth)
    data = TrecDataset.load(folder, corpus_ids={d for docs in run.values() for d, _ in docs})
    qids = [q for q in run if q in data.qrels][: config.general_max_queries]
    passages = {d: format_passage(p["text"], p.get("title")) for d, p in data.corpus.items()}
    ev = EvalSet({q: data.queries[q] for q in qids}, {q: [d for d, _ in run[q] if d in passages] for q in qids},
                 {q: [s for d, s in run[q] if d in passages] for q in qids}, {q: data.qrels[q] for q in qids}, {},
                 passages)
    systems = {"BM25": metrics_of(ev, first_stage_scores(ev))}
    row = base_scorer(base, device)
    if row is not None:
        scores, _ = cached_scores(cache, "general-base", ev, row[1])
        systems["base"] = metrics_of(ev, scores)
    scores, _ = cached_scores(cache, "general-student", ev, student_scorer(student, kind, device))
    systems["student"] = metrics_of(ev, scores)
    return {"data": folder.name, "queries": len(qids), "depth": config.eval_depth, "systems": systems}


__all__ = ["FirstStage", "EvalSet", "eval_set", "evaluate_systems", "evaluate_general", "metrics_of",
           "per_query_ndcg", "ranked", "first_stage_scores", "cached_scores", "reranker_scorer", "teacher_scorer",
           "biencoder_scorer", "base_scorer", "student_scorer", "reference_scores"]
