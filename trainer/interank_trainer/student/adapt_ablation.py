"""The adaptation's ablation: which part of the recipe made the student, measured on the same held-out queries.

Each variant (:data:`~interank_trainer.student.config.ADAPT_ABLATIONS`) is a
student trained from the same base on part of the same teaching, for the same
``ablation_minutes``, then scored on the run's held-out queries like the
student; its gain over the base carries the paired-bootstrap interval. The
``all`` variant is the run's recipe at those minutes: the row the others are
read against (the adapted student itself had the rest of the budget).

* ``qa-only`` / ``corpus-only``: the real queries' pools (QA pairs, judged
  queries, and the co-teacher's fill of those the teacher did not reach) or the
  synthetic corpus queries' pools; a run without both sources skips them;
* ``teacher-alone``: the LLM teacher's scores only (no co-teacher mixed into
  the targets, no pool the co-teacher alone scored); skipped without a co-teacher;
* ``fresh-head``: a cross-encoder with a new head on the base's body, for a
  bi-encoder base continued as one (a cross-encoder base's head is its own;
  a bare body has no other start).

Variants live in ``work/ablation/<name>/`` and their scores in
``work/eval/ablation-<name>.json``: a rerun does not train or score one twice,
and a rerun with other ``ablation_minutes`` trains them again.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interank_sdk.eval import paired_bootstrap

from .adapt_base import Base
from .adapt_eval import (
    EvalSet,
    cached_scores,
    metrics_of,
    per_query_ndcg,
    reference_scores,
    student_scorer,
)
from .adapt_train import TRAINING_FILE, teaching_source, train_from_base
from .config import ADAPT_ABLATIONS, AdaptConfig

logger = logging.getLogger(__name__)


@dataclass
class Variant:
    """One ablation variant: what it trains on and how (``skipped`` says why a run cannot make it)."""

    name: str
    scores: list[Path]
    co_teacher: str | None
    kind: str
    skipped: str | None = None


def plan_variants(names: tuple[str, ...], folders: list[Path], co_teacher: str | None, base: Base,
                  kind: str) -> list[Variant]:
    """The variants ``names`` of a run that taught ``folders`` (its teaching folders, one per source:
    :data:`~interank_trainer.student.adapt_train.SCORES_FOLDERS`) and trained a ``kind`` student from ``base``
    with ``co_teacher``."""
    source = {f: teaching_source(f) for f in folders}
    real = [f for f in folders if source[f] in ("queries", "fill")]
    corpus = [f for f in folders if source[f] == "corpus"]
    llm = [f for f in folders if source[f] != "fill"]
    both = "" if real and corpus else ("the run taught no synthetic corpus query" if real
                                       else "the run taught no real query")
    variants = []
    for name in names:
        if name == "all":
            variants.append(Variant(name, list(folders), co_teacher, kind))
        elif name in ("qa-only", "corpus-only"):
            variants.append(Variant(name, real if name == "qa-only" else corpus, co_teacher, kind, both or None))
        elif name == "teacher-alone":
            why = None if co_teacher is not None else "the run has no co-teacher: its student is the teacher alone's"
            why = why or (None if llm else "the LLM teacher scored no pool")
            variants.append(Variant(name, llm, None, kind, why))
        elif name == "fresh-head":
            why = None if base.fresh_head("cross-encoder") and not base.fresh_head(kind) else (
                "the student already has a fresh head" if base.fresh_head(kind)
                else "the base is a cross-encoder: its head is what the student continues")
            variants.append(Variant(name, list(folders), co_teacher, "cross-encoder", why))
    return variants


def run_ablation(config: AdaptConfig, base: Base, kind: str, folders: list[Path], co_teacher: str | None,
                 work: Path, data: EvalSet | None) -> dict[str, Any]:
    """Train the variants ``config.ablation`` and score them on the held-out queries ``data`` (the student's,
    :func:`~interank_trainer.student.adapt_eval.eval_set`; ``None``: there are none) (see the module docstring);
    the report's ``ablation`` part."""
    device = "cpu" if config.device == "auto" else config.device
    result: dict[str, Any] = {"minutes_each": config.ablation_minutes, "rows": {}, "skipped": {}}
    if data is None:
        result["note"] = "no held-out queries: the ablation was not run"
        return result
    cache = work / "eval"
    reference, ref_scores, _ = reference_scores(config, base, data, cache, device)
    result["gain_over"] = reference
    ref_ndcg, ref_value = per_query_ndcg(data, ref_scores), metrics_of(data, ref_scores)["nDCG@10"]
    for variant in plan_variants(config.ablation, folders, co_teacher, base, kind):
        if variant.skipped:
            logger.info("adapt ablation %s: skipped (%s)", variant.name, variant.skipped)
            result["skipped"][variant.name] = variant.skipped
            continue
        folder = work / "ablation" / variant.name
        cache_name = f"ablation-{variant.name}"
        _forget_other_minutes(folder, cache / f"{cache_name}.json", config.ablation_minutes)
        logger.info("adapt ablation %s: training %.1f min on %s", variant.name, config.ablation_minutes,
                    ", ".join(f.name for f in variant.scores))
        student, training = train_from_base(config, base, variant.kind, variant.scores, variant.co_teacher, folder,
                                            config.ablation_minutes)
        scores, pps = cached_scores(cache, cache_name, data, student_scorer(student, variant.kind, device))
        metrics = metrics_of(data, scores)
        interval = paired_bootstrap(ref_ndcg, per_query_ndcg(data, scores), seed=config.seed)
        result["rows"][variant.name] = {
            "what": ADAPT_ABLATIONS[variant.name], "scores": [f.name for f in variant.scores],
            "co_teacher": variant.co_teacher, "student_kind": variant.kind,
            "fresh_head": base.fresh_head(variant.kind), "loss": training.get("loss"),
            "steps": training.get("steps"), "training_minutes": training.get("minutes"),
            "learning_rate": training.get("learning_rate"), **metrics, "pairs_per_second": round(pps, 1),
            "gain": round(metrics["nDCG@10"] - ref_value, 4),
            "gain_interval": interval}
    return result


def _forget_other_minutes(folder: Path, cached: Path, minutes: float) -> None:
    """Drop a variant trained for other minutes than ``minutes`` (and its scores), so it is trained again."""
    record = folder / TRAINING_FILE
    if not record.is_file():
        return
    given = json.loads(record.read_text(encoding="utf-8")).get("minutes_given")
    if given != round(minutes, 2):
        logger.info("adapt ablation: %s was trained for %s min, not %s: training it again", folder.name, given, minutes)
        shutil.rmtree(folder, ignore_errors=True)
        cached.unlink(missing_ok=True)


__all__ = ["Variant", "plan_variants", "run_ablation"]
