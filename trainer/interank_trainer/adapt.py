"""Adapt a reranker to a user's own documents and queries, and show on held-out queries whether it helped.

:func:`adapt` (``interank-train adapt``), in one budgeted, resumable run:

1. reads the collection and the real queries (:mod:`~interank_trainer.adapt_data`;
   bad rows raise naming file and line, or are counted with ``skip_invalid``)
   and splits the real queries into adapt / held-out, seeded, by query,
   stratified by domain; synthetic queries are only ever training data;
2. teaches (:func:`~interank_trainer.teach`, resumable): the teacher scores
   pools of the adapt queries' first-stage candidates and, with a corpus, of
   queries it writes for corpus passages, within ``teach_share`` of the budget;
3. trains the student *from the base* (:func:`~interank_trainer.train_student`:
   its one-logit head kept, a two-logit head converted, a body given a fresh
   head) on the teacher's scores mixed with the co-teacher's (the base, by
   default) and the known answers, annealed to the end of the budget;
4. evaluates BM25 (the first stage), the base, the student, a bi-encoder and
   the teacher (on a subset) on the held-out queries, same candidates for all,
   overall and per domain, and the base and the student on a general-domain
   set when given;
5. writes ``out/student`` (through a temporary folder renamed into place: a
   half-written model folder never exists under that name),
   ``adapt_report.json``, ``adapt_report.md`` and ``adapt_report.png``. The
   student is recommended only when it beats the base on the held-out
   queries by ``min_gain``; otherwise the report says so and the CLI exits 1.

Work in progress lives in ``out/work``: an interrupted run (Ctrl-C, kill -9)
resumes with the same command; teaching and finished evaluations are not
redone, and an interrupted training starts again from the base.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from interank_sdk.errors import InvalidInputError

from . import __version__
from .adapt_base import Base, prepare_base
from .adapt_config import AdaptConfig
from .adapt_data import AdaptInputs, RealQuery, load_inputs, split_queries, write_training_set
from .adapt_eval import (
    EvalSet, biencoder_scorer, cached_scores, first_stage_scores, metrics_of, reranker_scorer, teacher_scorer,
)
from .adapt_report import REPORT_JSON, write_json_atomic, write_report
from .config import build_config, config_dict

logger = logging.getLogger(__name__)

RUN_NAME = "run.first-stage.trec"
STATE_FILE = "state.json"
#: a general-domain drop of the student below the base larger than this is a warning in the report
FORGETTING_WARNING = 0.02


@dataclass
class AdaptReport:
    """What :func:`adapt` did and measured (``adapt_report.json`` holds the same and more).

    Attributes:
        out: the run folder.
        student: the adapted model's folder (``out/student``).
        recommended: the student beat the base on the held-out queries by ``min_gain``.
        gain: held-out nDCG@10 of the student minus the base's (``None``: not measured).
        verdict: one line saying which model to use and why.
        report: the whole report (the JSON's content).
    """

    out: Path
    student: Path
    recommended: bool
    gain: float | None
    verdict: str
    report: dict[str, Any] = field(default_factory=dict)


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


# ------------------------------------------------------------------- state
def _digest(path: Any) -> str | None:
    if path is None:
        return None
    p = Path(path).expanduser()
    files = sorted(p.iterdir()) if p.is_dir() else [p]
    h = hashlib.sha256()
    for f in files:
        if f.is_file() and f.suffix in (".jsonl", ".tsv", ".json", ".trec", ".txt"):
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _settings(config: AdaptConfig) -> dict[str, Any]:
    """What must not change between a run and its resumption (budgets may)."""
    return {
        "inputs": {k: _digest(getattr(config, k)) for k in ("corpus", "qa", "judgments", "eval_judgments")},
        "base": str(config.base), "teacher": str(getattr(config.teacher, "model_name", config.teacher)),
        "teacher_strategy": config.teacher_strategy, "teacher_quantization": config.teacher_quantization,
        "first_stage": config.first_stage, "heldout_fraction": config.heldout_fraction, "seed": config.seed,
        "synthetic_queries": config.synthetic, "keep_fraction": config.keep_fraction,
        "sampling": config_dict(config.sampling), "max_passage_words": config.max_passage_words,
        "skip_invalid": config.skip_invalid,
    }


def _check_state(work: Path, settings: dict[str, Any]) -> None:
    path = work / STATE_FILE
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(k for k in settings if saved.get("settings", {}).get(k) != settings[k])
        if changed:
            raise InvalidInputError(f"{work.parent} holds a run with other settings ({', '.join(changed)}); rerun with "
                                    "the same settings to resume, or use a new --out folder")
    else:
        write_json_atomic(path, {"format": "interank-trainer/adapt-v1", "settings": settings})


def publish_folder(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` through a temporary sibling renamed into place (never half-written)."""
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    if target.exists():
        target.replace(old)
    tmp.replace(target)
    shutil.rmtree(old, ignore_errors=True)


def _clean_stale(out: Path) -> None:
    for stale in list(out.glob(".student.tmp-*")) + list(out.glob(".student.old-*")):
        shutil.rmtree(stale, ignore_errors=True)


# -------------------------------------------------------------------- main
def adapt(config: AdaptConfig | None = None, /, **kwargs: Any) -> AdaptReport:
    """Adapt ``base`` to a user's collection and queries; measure it on held-out queries (see the module docstring).

    Args:
        config: an :class:`~interank_trainer.adapt_config.AdaptConfig`, or its fields as keyword arguments.

    Returns:
        an :class:`AdaptReport` (``recommended`` says whether to ship the student).

    Raises:
        InvalidInputError: bad input files or rows (naming file and line), a base
            that is not a cross-encoder, a budget too small for one training step,
            or ``out`` holding a run with other settings.

    Example:
        >>> from interank_trainer import adapt
        >>> report = adapt(qa="qa_pairs.jsonl", base="my-cross-encoder", teacher="Qwen/Qwen2.5-0.5B-Instruct",
        ...                teacher_quantization="int8", out="adapted", budget_minutes=60)  # doctest: +SKIP
        >>> report.recommended, report.gain  # doctest: +SKIP
        (True, 0.081)
    """
    config = build_config(AdaptConfig, config, kwargs)
    start = time.perf_counter()
    deadline = start + 60 * config.budget_minutes
    out = Path(config.out).expanduser()
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    _clean_stale(out)
    inputs = load_inputs(corpus=config.corpus, qa=config.qa, judgments=config.judgments,
                         eval_judgments=config.eval_judgments, skip_invalid=config.skip_invalid)
    base = prepare_base(config.base, work)
    _check_state(work, _settings(config))
    adapt_q, held_q = split_queries(inputs.queries, config.heldout_fraction, config.seed) \
        if len(inputs.queries) >= 2 else (list(inputs.queries), [])
    eval_q = held_q + inputs.eval_queries
    write_json_atomic(work / "split.json", {"adapt": [q.qid for q in adapt_q], "heldout": [q.qid for q in held_q],
                                            "eval_only": [q.qid for q in inputs.eval_queries]})
    logger.info("adapt: %d documents, %d real queries (%d adapt, %d held out), %d eval-only queries",
                len(inputs.documents), len(inputs.queries), len(adapt_q), len(held_q), len(inputs.eval_queries))
    passages = {d: inputs.passage(d) for d in inputs.documents}
    first = FirstStage(config.first_stage, passages, config.device)
    minutes: dict[str, float] = {"teach": 0.0, "train": 0.0, "eval": 0.0}

    t0 = time.perf_counter()
    teacher = _build_teacher(config)
    co_teacher = _co_teacher(config, base)
    folders, teaching = _teach(config, inputs, adapt_q, first, teacher, work,
                               start + (deadline - start) * config.teach_share, co_teacher)
    minutes["teach"] = (time.perf_counter() - t0) / 60
    if not folders:
        raise InvalidInputError("nothing to train on: no adapt query and no synthetic query was scored by the teacher "
                                f"(teaching: {teaching}); give more budget_minutes or real queries")

    t0 = time.perf_counter()
    trained, training = _train(config, base, folders, work, deadline, co_teacher)
    minutes["train"] = (time.perf_counter() - t0) / 60

    t0 = time.perf_counter()
    report = _evaluate(config, inputs, base, trained, teacher, first, eval_q, held_q, passages, work)
    minutes["eval"] = (time.perf_counter() - t0) / 60
    report.update({
        "trainer_version": __version__, "out": str(out), "student": str(out / "student"),
        "base": {"model": base.spec, "kind": base.kind, "fresh_head": base.fresh_head},
        "teacher": {"model": str(getattr(config.teacher, "model_name", config.teacher)),
                    "strategy": config.teacher_strategy, "quantization": config.teacher_quantization},
        "co_teacher": training.get("co_teacher"), "first_stage": config.first_stage,
        "budget_minutes": config.budget_minutes, "minutes": {k: round(v, 2) for k, v in minutes.items()},
        "data": {"documents": len(inputs.documents), "real_queries": len(inputs.queries), "adapt_queries": len(adapt_q),
                 "heldout_queries": len(held_q), "eval_only_queries": len(inputs.eval_queries),
                 "sources": inputs.sources, "invalid_rows": inputs.problems},
        "teaching": teaching, "training": training,
        "config": config_dict(config),
    })
    _mark_card(trained, report)
    publish_folder(trained, out / "student")
    write_report(out, report)
    logger.info("adapt: %s (report: %s)", report["verdict"], out / REPORT_JSON)
    return AdaptReport(out=out, student=out / "student", recommended=report["recommended"], gain=report["gain"],
                       verdict=report["verdict"], report=report)


def _build_teacher(config: AdaptConfig) -> Any:
    from interank_sdk import Reranker

    if isinstance(config.teacher, Reranker):
        return config.teacher
    options = {"strategy": config.teacher_strategy, "quantization": config.teacher_quantization,
               "batch_size": config.teacher_batch_size, "max_length": config.teacher_max_length,
               "device": config.device, "show_progress": False, **config.teacher_kwargs}
    return Reranker(str(config.teacher), **{k: v for k, v in options.items() if v is not None})


def _teach(config: AdaptConfig, inputs: AdaptInputs, adapt_q: list[RealQuery], first: FirstStage, teacher: Any,
           work: Path, until: float, co_teacher: str | None) -> tuple[list[Path], dict[str, Any]]:
    """Teacher scores of the adapt queries' pools and of synthetic corpus queries, within ``until``; then the
    adapt queries the teacher did not reach are scored by the co-teacher (``fill``), so every real query trains."""
    from .teach import NoPoolError, read_scores

    common = dict(teacher=teacher, teacher_strategy=config.teacher_strategy,
                  teacher_quantization=config.teacher_quantization, sampling=config.sampling,
                  max_passage_words=config.max_passage_words, show_progress=config.show_progress)
    per_pool = 1 + config.sampling.top_k + config.sampling.deep_k
    synthetic = config.synthetic if config.corpus is not None else 0
    plans = []
    if adapt_q:
        plans.append(("queries", len(adapt_q) * per_pool))
    if synthetic:
        plans.append(("corpus", synthetic * (2 + config.keep_fraction * per_pool)))
    total = sum(p for _, p in plans) or 1
    folders, teaching = [], {}
    # the co-teacher fill after the LLM teacher gets the last tenth of the budget's teaching time
    reserve = 0.1 * 60 * config.budget_minutes if adapt_q and co_teacher is not None else 0.0
    for name, planned in plans:
        remaining = until - reserve - time.perf_counter()
        share = remaining * planned / total if name == plans[0][0] and len(plans) > 1 else remaining
        if share <= 0:
            teaching[name] = {"skipped": "the teaching budget was spent"}
            continue
        out = work / f"scores-{name}"
        try:
            report = _teach_one(name, config, inputs, adapt_q, first, work, out, common, synthetic, share)
        except NoPoolError as exc:
            logger.warning("adapt: the %s source gave no pool to train on: %s", name, exc)
            teaching[name] = {"no_pool": str(exc)}
            continue
        teaching[name] = report.as_dict()
        if report.pools_done:
            folders.append(out)
    if adapt_q and co_teacher is not None:
        scored = {r["pool_id"] for r in read_scores(work / "scores-queries")} \
            if (work / "scores-queries" / "scores.jsonl").is_file() else set()
        rest = [q for q in adapt_q if q.qid not in scored]
        if rest:
            minutes = max(until - time.perf_counter(), 0.05 * 60 * config.budget_minutes) / 60
            key = hashlib.sha256("\n".join(q.qid for q in rest).encode()).hexdigest()[:10]
            out = work / f"scores-fill-{key}"
            fill = dict(common, teacher=co_teacher, teacher_strategy="auto", teacher_quantization=None,
                        teacher_batch_size=64)
            try:
                report = _teach_one("queries", config, inputs, rest, first, work, out, fill, 0, minutes * 60,
                                    set_name=f"train-set-fill-{key}")
                teaching["fill"] = {"teacher": co_teacher, "queries": len(rest), **report.as_dict()}
                if report.pools_done:
                    folders.append(out)
            except NoPoolError as exc:
                teaching["fill"] = {"no_pool": str(exc)}
    return folders, teaching


def _teach_one(name: str, config: AdaptConfig, inputs: AdaptInputs, adapt_q: list[RealQuery], first: FirstStage,
               work: Path, out: Path, common: dict[str, Any], synthetic: int, share: float,
               set_name: str = "train-set") -> Any:
    from .teach import teach

    if name == "queries":
        run = first.run({q.qid: q.text for q in adapt_q}, config.sampling.depth)
        data = write_training_set(work / set_name, inputs, adapt_q, run, RUN_NAME)
        report = teach(out=out, judgments=data, run=RUN_NAME, min_positive_grade=1, **common,
                       max_minutes=share / 60)
    else:
        collection = work / "collection.jsonl"
        if not collection.is_file():
            tmp = collection.with_name(collection.name + ".tmp")
            tmp.write_text("".join(json.dumps({"_id": d, "title": doc.get("title") or "", "text": doc["text"]},
                                              ensure_ascii=False) + "\n"
                                   for d, doc in inputs.documents.items() if doc["origin"] == "corpus"),
                           encoding="utf-8")
            tmp.replace(collection)
        report = teach(out=out, corpus=collection, synthetic_queries=synthetic,
                       keep_fraction=config.keep_fraction, **common, max_minutes=share / 60)
    return report


def _co_teacher(config: AdaptConfig, base: Base) -> str | None:
    """The co-teacher model: the base when it ranks on its own (``"base"``), none, or the model named."""
    if config.co_teacher == "none":
        return None
    if config.co_teacher == "base":
        if base.reranker is None:
            logger.info("adapt: the base %s does not rank on its own (a bare encoder): no co-teacher", base.spec)
            return None
        return base.model
    return config.co_teacher


def _train(config: AdaptConfig, base: Base, folders: list[Path], work: Path, deadline: float,
           co_teacher: str | None) -> tuple[Path, dict[str, Any]]:
    """Train the student from the base into ``work/student`` (a finished training is not redone)."""
    from .student import train_student

    done = work / "student"
    record = work / "training.json"
    if (done / "config.json").is_file() and record.is_file():
        logger.info("adapt: the student was trained by an earlier run (%s)", done)
        return done, json.loads(record.read_text(encoding="utf-8"))
    minutes = (deadline - time.perf_counter()) / 60
    if minutes <= 0.05:
        raise InvalidInputError(f"the budget ({config.budget_minutes} min) was spent before training could start; "
                                "give more budget_minutes (teaching used its share)")
    lr = config.learning_rate or (1e-4 if base.fresh_head else 3e-5)
    partial = work / "student.partial"
    shutil.rmtree(partial, ignore_errors=True)
    report = train_student(
        scores=folders, student=base.model, out=partial, loss=config.loss, label_weight=config.label_weight,
        teacher_transform="log_zscore" if config.teacher_strategy == "qlm" else "zscore",
        co_teacher=co_teacher, co_teacher_weight=config.co_teacher_weight, max_grade=1, unjudged_grade=0.0,
        eval_fraction=0.1, eval_steps=100, early_stopping_patience=0, keep="last", learning_rate=lr,
        epochs=config.epochs, batch_size=config.batch_size, docs_per_query=config.docs_per_query,
        max_length=config.max_length, device=config.device, threads=config.threads, seed=config.seed,
        max_minutes=minutes, show_progress=config.show_progress)
    if report.steps == 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise InvalidInputError(f"the budget left {minutes:.2f} min for training: too little for one training step; "
                                "give more budget_minutes")
    training = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(report).items() if k != "out"}
    training.update({"from": base.kind, "learning_rate": lr, "co_teacher": co_teacher, "minutes_given": round(minutes, 2)})
    shutil.rmtree(done, ignore_errors=True)
    partial.replace(done)
    write_json_atomic(record, training)
    return done, training


def _eval_set(queries: list[RealQuery], first: FirstStage, depth: int, passages: dict[str, str]) -> EvalSet:
    run = first.run({q.qid: q.text for q in queries}, depth)
    kept = [q for q in queries if run.get(q.qid)]
    return EvalSet({q.qid: q.text for q in kept}, {q.qid: [d for d, _ in run[q.qid]] for q in kept},
                   {q.qid: [s for _, s in run[q.qid]] for q in kept}, {q.qid: dict(q.relevant) for q in kept},
                   {q.qid: q.domain for q in kept if q.domain}, passages)


def _evaluate(config: AdaptConfig, inputs: AdaptInputs, base: Base, student: Path, teacher: Any, first: FirstStage,
              eval_q: list[RealQuery], held_q: list[RealQuery], passages: dict[str, str], work: Path
              ) -> dict[str, Any]:
    cache = work / "eval"
    device = "cpu" if config.device == "auto" else config.device
    warnings: list[str] = []
    report: dict[str, Any] = {"heldout": {}, "warnings": warnings}
    gain = None
    if eval_q:
        data = _eval_set(eval_q, first, config.eval_depth, passages)
        origin = "held-out real queries" if held_q else "eval_judgments"
        if held_q and inputs.eval_queries:
            origin = "held-out real queries + eval_judgments"
        systems: dict[str, dict[str, Any]] = {}
        scored: dict[str, dict[str, list[float]]] = {}
        scored[f"first stage ({config.first_stage})"] = first_stage_scores(data)
        scorers = []
        if base.reranker == "classifier":
            scorers.append(("base", reranker_scorer(base.model, device=device)))
        elif base.reranker == "embedding":
            scorers.append(("base (bi-encoder)", biencoder_scorer(base.spec, device)))
        scorers.append(("student", reranker_scorer(str(student), device=device)))
        biencoder = config.biencoder or (base.spec if base.reranker == "embedding" else None)
        if biencoder and not (base.reranker == "embedding" and biencoder == base.spec):
            scorers.append(("bi-encoder", biencoder_scorer(biencoder, device)))
        speeds = {}
        for name, scorer in scorers:
            scored[name], speeds[name] = cached_scores(cache, name.split(" ")[0], data, scorer)
        for name, scores in scored.items():
            systems[name] = {**metrics_of(data, scores), **({"pairs_per_second": round(speeds[name], 1)}
                                                              if name in speeds else {})}
        base_name = next((n for n in systems if n.startswith("base")), None)
        reference = base_name or f"first stage ({config.first_stage})"
        gain = round(systems["student"]["nDCG@10"] - systems[reference]["nDCG@10"], 4)
        report["heldout"] = {"queries": len(data.queries), "origin": origin, "depth": config.eval_depth,
                             "pairs": data.pairs, "systems": systems, "gain_over": reference}
        if base_name is None:
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
        report["general"] = _general(config, base, student, device, cache)
        g = report["general"]["systems"]
        if "base" in g and g["base"]["nDCG@10"] - g["student"]["nDCG@10"] > FORGETTING_WARNING:
            warnings.append(f"general domain: the student scores {g['student']['nDCG@10']:.3f} nDCG@10 against the "
                            f"base's {g['base']['nDCG@10']:.3f} (a drop of more than {FORGETTING_WARNING})")
    recommended = gain is not None and gain > 0 and gain >= config.min_gain
    report["gain"], report["recommended"] = gain, recommended
    report["use"] = "student" if recommended else "base"
    if gain is None:
        report["verdict"] = "not measured: no held-out queries (the student is written, not recommended)"
    elif recommended:
        report["verdict"] = f"use the student: +{gain:.3f} nDCG@10 over the {report['heldout']['gain_over']} on held-out"
    else:
        report["verdict"] = (f"keep the base: the student's held-out gain {gain:+.3f} nDCG@10 does not reach "
                             f"min_gain {config.min_gain}")
    return report


def _general(config: AdaptConfig, base: Base, student: Path, device: str, cache: Path) -> dict[str, Any]:
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
    if base.reranker == "classifier":
        scores, _ = cached_scores(cache, "general-base", ev, reranker_scorer(base.model, device=device))
        systems["base"] = metrics_of(ev, scores)
    elif base.reranker == "embedding":
        scores, _ = cached_scores(cache, "general-base", ev, biencoder_scorer(base.spec, device))
        systems["base"] = metrics_of(ev, scores)
    scores, _ = cached_scores(cache, "general-student", ev, reranker_scorer(str(student), device=device))
    systems["student"] = metrics_of(ev, scores)
    return {"data": folder.name, "queries": len(qids), "depth": config.eval_depth, "systems": systems}


def _mark_card(folder: Path, report: dict[str, Any]) -> None:
    """Record the adaptation's verdict in the student's ``interank.json`` (through ``ModelCard``)."""
    from interank_sdk.card import ModelCard

    card = ModelCard.read(folder)
    if card is None:
        return
    training = dict(card.training or {})
    training["adapt"] = {"recommended": report["recommended"], "gain": report["gain"], "verdict": report["verdict"],
                         "base": report["base"]["model"], "heldout_queries": report["heldout"].get("queries", 0)}
    card.training = training
    card.write(folder)


__all__ = ["AdaptReport", "adapt", "FirstStage", "publish_folder"]
