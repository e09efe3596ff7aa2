"""Adapt a reranker to a user's own documents and queries, and show on held-out queries whether it helped.

:func:`adapt` (``interank-train adapt``), in one budgeted, resumable run:

1. reads the collection and the real queries (:mod:`~interank_trainer.data.adapt_inputs`;
   bad rows raise naming file and line, or are counted with ``skip_invalid``)
   and splits the real queries into adapt / held-out, seeded, by query,
   stratified by domain; synthetic queries are only ever training data;
2. teaches (:func:`~interank_trainer.teach`, resumable): the teacher scores
   pools of the adapt queries' first-stage candidates and, with a corpus, of
   queries it writes for corpus passages (taught first, with at least half the
   teaching time), within ``teach_share`` of the budget;
3. trains the student *from the base* (:func:`~interank_trainer.train_student`:
   its one-logit head kept, a two-logit head converted, a bi-encoder continued
   as a bi-encoder, a bare body given a fresh head) on the teacher's scores
   mixed with the co-teacher's (the base, by default) and the known answers,
   annealed to the end of the budget;
4. evaluates BM25 (the first stage), the base, the student, a bi-encoder and
   the teacher (on a subset) on the held-out queries, same candidates for all,
   overall and per domain, and the base and the student on a general-domain
   set when given;
5. with ``ablation``, trains and scores the variants asked (QA only, corpus only,
   teacher alone, fresh head, and the whole recipe) for ``ablation_minutes`` each
   (:mod:`~interank_trainer.student.adapt_ablation`);
6. writes ``out/student`` (through a temporary folder renamed into place: a
   half-written model folder never exists under that name),
   ``adapt_report.json``, ``adapt_report.md`` and ``adapt_report.png``. The
   student is recommended only when it beats the base on the held-out
   queries by ``min_gain``; otherwise the report says so and the CLI exits 1.

Work in progress lives in ``out/work``: an interrupted run (Ctrl-C, kill -9)
resumes with the same command; teaching and finished evaluations are not
redone, and an interrupted training starts again from the base. Once the
student is trained, a rerun reads what it was taught (and how long teaching
and training took) from ``out/work`` instead of teaching on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interank_sdk.errors import InvalidInputError

from .. import __version__
from ..config import build_config, config_dict
from ..data.adapt_inputs import AdaptInputs, RealQuery, load_inputs, split_queries, write_training_set
from ..teacher import TeacherSpec
from .adapt_ablation import run_ablation
from .adapt_base import Base, prepare_base
from .adapt_eval import FirstStage, eval_set, evaluate_systems
from .adapt_report import REPORT_JSON, write_json_atomic, write_report
from .adapt_train import FILL_PREFIX, SCORES_FOLDERS, train_from_base, trained
from .config import AdaptConfig

logger = logging.getLogger(__name__)

RUN_NAME = "run.first-stage.trec"
STATE_FILE = "state.json"
TEACHING_FILE = "teaching.json"


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
        "base": str(config.base), "student_kind": config.student_kind, "teacher": TeacherSpec(config.teacher).name,
        "teacher_strategy": config.teacher_strategy, "teacher_quantization": config.teacher_quantization,
        "first_stage": config.first_stage, "heldout_fraction": config.heldout_fraction, "seed": config.seed,
        "synthetic_queries": config.synthetic, "keep_fraction": config.keep_fraction,
        "query_max_new_tokens": config.query_max_new_tokens,
        "sampling": config_dict(config.sampling), "max_passage_words": config.max_passage_words,
        "skip_invalid": config.skip_invalid,
    }


def _check_state(work: Path, settings: dict[str, Any]) -> None:
    path = work / STATE_FILE
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8")).get("settings", {})
        saved.setdefault("student_kind", "cross-encoder")  # runs from before student_kind trained cross-encoders
        saved.setdefault("query_max_new_tokens", 32)  # and wrote queries of at most 32 tokens
        changed = sorted(k for k in settings if saved.get(k) != settings[k])
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
        config: an :class:`~interank_trainer.AdaptConfig`, or its fields as keyword arguments.

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
    kind = base.student_kind(config.student_kind)
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
    if trained(work) and (work / TEACHING_FILE).is_file():
        # the student was trained by an earlier run: what it was taught is recorded; teaching on would score
        # pools the student never saw (a budget-cut teaching resumes only while training has not happened)
        saved = json.loads((work / TEACHING_FILE).read_text(encoding="utf-8"))
        folders, teaching = [Path(f) for f in saved["folders"]], saved["teaching"]
        minutes["teach"] = float(saved.get("minutes") or 0.0)
        logger.info("adapt: the student was trained by an earlier run; its teaching is read from %s", work / TEACHING_FILE)
    else:
        folders, teaching = _teach(config, inputs, adapt_q, first, teacher, work,
                                   start + (deadline - start) * config.teach_share, co_teacher)
        minutes["teach"] = (time.perf_counter() - t0) / 60
        write_json_atomic(work / TEACHING_FILE, {"folders": [str(f) for f in folders], "teaching": teaching,
                                                 "minutes": round(minutes["teach"], 2)})
    if not folders:
        raise InvalidInputError("nothing to train on: no adapt query and no synthetic query was scored by the teacher "
                                f"(teaching: {teaching}); give more budget_minutes or real queries")

    t0 = time.perf_counter()
    student, training = train_from_base(config, base, kind, folders, co_teacher, work,
                                        (deadline - time.perf_counter()) / 60)
    minutes["train"] = training.get("minutes", (time.perf_counter() - t0) / 60)

    t0 = time.perf_counter()
    data = eval_set(eval_q, first, config.eval_depth, passages) if eval_q else None  # the student's and the ablation's
    report = evaluate_systems(config, inputs, base, student, teacher, data, held_q, work, kind)
    minutes["eval"] = (time.perf_counter() - t0) / 60
    if config.ablation:
        t0 = time.perf_counter()
        report["ablation"] = run_ablation(config, base, kind, folders, co_teacher, work, data)
        minutes["ablation"] = (time.perf_counter() - t0) / 60
    report.update({
        "trainer_version": __version__, "out": str(out), "student": str(out / "student"),
        "base": {"model": base.spec, "kind": base.kind, "fresh_head": base.fresh_head(kind)},
        "student_kind": kind,
        "teacher": {"model": TeacherSpec(config.teacher).name,
                    "strategy": config.teacher_strategy, "quantization": config.teacher_quantization},
        "co_teacher": training.get("co_teacher"), "first_stage": config.first_stage,
        "budget_minutes": config.budget_minutes, "minutes": {k: round(v, 2) for k, v in minutes.items()},
        "data": {"documents": len(inputs.documents), "real_queries": len(inputs.queries), "adapt_queries": len(adapt_q),
                 "heldout_queries": len(held_q), "eval_only_queries": len(inputs.eval_queries),
                 "sources": inputs.sources, "invalid_rows": inputs.problems},
        "teaching": teaching, "training": training,
        "config": config_dict(config),
    })
    _mark_card(student, report)
    publish_folder(student, out / "student")
    write_report(out, report)
    logger.info("adapt: %s (report: %s)", report["verdict"], out / REPORT_JSON)
    return AdaptReport(out=out, student=out / "student", recommended=report["recommended"], gain=report["gain"],
                       verdict=report["verdict"], report=report)


def _build_teacher(config: AdaptConfig) -> Any:
    """The teacher ``Reranker`` on ``config.device`` (``threads="auto"`` goes to it too)."""
    threads = {"threads": "auto"} if config.threads == "auto" else {}
    options = {k: v for k, v in config.teacher_kwargs.items() if v is not None}
    return TeacherSpec(config.teacher, strategy=config.teacher_strategy, device=config.device,
                       quantization=config.teacher_quantization, batch_size=config.teacher_batch_size,
                       max_length=config.teacher_max_length,
                       options={"show_progress": False, **threads, **options}).build()


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
    # the corpus goes first, with its share of the pairs planned but at least half the time: none of its pools
    # exists before all its queries are written (a cut writing teaches nothing), while the real queries are taught
    # pool by pool and those the teacher does not reach are scored by the co-teacher
    plans = []
    if synthetic:
        plans.append(("corpus", synthetic * (2 + config.keep_fraction * per_pool)))
    if adapt_q:
        plans.append(("queries", len(adapt_q) * per_pool))
    total = sum(p for _, p in plans) or 1
    folders, teaching = [], {}
    # the co-teacher fill after the LLM teacher gets the last tenth of the budget's teaching time
    reserve = 0.1 * 60 * config.budget_minutes if adapt_q and co_teacher is not None else 0.0
    for name, planned in plans:
        remaining = until - reserve - time.perf_counter()
        share = remaining * max(planned / total, 0.5) if name == plans[0][0] and len(plans) > 1 else remaining
        if share <= 0:
            teaching[name] = {"skipped": "the teaching budget was spent"}
            continue
        out = work / SCORES_FOLDERS[name]
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
        queries = work / SCORES_FOLDERS["queries"]
        scored = {r["pool_id"] for r in read_scores(queries)} if (queries / "scores.jsonl").is_file() else set()
        rest = [q for q in adapt_q if q.qid not in scored]
        if rest:
            minutes = max(until - time.perf_counter(), 0.05 * 60 * config.budget_minutes) / 60
            key = hashlib.sha256("\n".join(q.qid for q in rest).encode()).hexdigest()[:10]
            out = work / f"{FILL_PREFIX}{key}"
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
        report = teach(out=out, corpus=collection, synthetic_queries=synthetic, keep_fraction=config.keep_fraction,
                       query_max_new_tokens=config.query_max_new_tokens, **common, max_minutes=share / 60)
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


__all__ = ["AdaptReport", "adapt", "publish_folder"]
