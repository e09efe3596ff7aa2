"""Training in an adaptation run: the adapted student, and each ablation's student, from the base.

One function, :func:`train_from_base`, trains a student of a given kind from the
base on some of the run's teaching folders, into ``folder/student`` (through
``folder/student.partial``, renamed into place when training finished, with its
record in ``folder/training.json``). A finished training is read back, never redone.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from interank_sdk.errors import InvalidInputError

from .adapt_base import Base
from .adapt_report import write_json_atomic
from .config import AdaptConfig

logger = logging.getLogger(__name__)

TRAINING_FILE = "training.json"

#: the teaching folders of a run's work folder, one per source of pools: the LLM teacher on the real (QA or
#: judged) adapt queries' pools, the LLM teacher on the synthetic corpus queries' pools, and (a prefix, one
#: folder per set of queries) the co-teacher on the real queries the LLM teacher did not reach. Training reads
#: any of them alike; the ablation picks them by source.
SCORES_FOLDERS = {"queries": "scores-queries", "corpus": "scores-corpus"}
FILL_PREFIX = "scores-fill-"


def teaching_source(folder: Path) -> str:
    """The source a teaching folder holds: ``"queries"``, ``"corpus"`` or ``"fill"`` (see ``SCORES_FOLDERS``)."""
    if folder.name.startswith(FILL_PREFIX):
        return "fill"
    for source, name in SCORES_FOLDERS.items():
        if folder.name == name:
            return source
    raise ValueError(f"{folder} is not a teaching folder of an adapt run")


def trained(folder: Path) -> bool:
    """Whether a training into ``folder`` finished (its ``student`` folder and its record are there)."""
    return (folder / "student" / "config.json").is_file() and (folder / TRAINING_FILE).is_file()


def train_from_base(config: AdaptConfig, base: Base, kind: str, scores: list[Path], co_teacher: str | None,
                    folder: Path, minutes: float) -> tuple[Path, dict[str, Any]]:
    """Train a ``kind`` student (``"cross-encoder"`` or ``"bi-encoder"``) from ``base`` on the teacher ``scores``
    folders, mixed with ``co_teacher`` (``None``: the teacher's scores alone), within ``minutes``.

    Returns:
        the trained student's folder (``folder/student``) and its training record.

    Raises:
        InvalidInputError: ``minutes`` too few for one training step.
    """
    from .trainer import train_student

    done = folder / "student"
    record = folder / TRAINING_FILE
    if trained(folder):
        logger.info("adapt: the student in %s was trained by an earlier run", done)
        return done, json.loads(record.read_text(encoding="utf-8"))
    if minutes <= 0.05:
        raise InvalidInputError(f"the budget ({config.budget_minutes} min) was spent before training could start; "
                                "give more budget_minutes (teaching used its share)")
    started = time.perf_counter()
    biencoder = kind == "bi-encoder"
    lr = config.learning_rate or (2e-5 if biencoder else 1e-4 if base.fresh_head(kind) else 3e-5)
    batch = config.batch_size or (32 if biencoder else 2)
    partial = folder / "student.partial"
    shutil.rmtree(partial, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    report = train_student(
        scores=scores, student=base.model, out=partial, loss="mnrl" if biencoder else config.loss,
        label_weight=config.label_weight,
        teacher_transform="log_zscore" if config.teacher_strategy == "qlm" else "zscore",
        co_teacher=co_teacher, co_teacher_weight=config.co_teacher_weight, max_grade=1, unjudged_grade=0.0,
        eval_fraction=0.1, early_stopping_patience=0, keep="last", docs_per_query=config.docs_per_query,
        args={"learning_rate": lr, "num_train_epochs": config.epochs, "per_device_train_batch_size": batch,
              "eval_steps": 100, "seed": config.seed},
        max_length=config.max_length, device=config.device, threads=config.threads,
        max_minutes=minutes, show_progress=config.show_progress)
    if report.steps == 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise InvalidInputError(f"the budget left {minutes:.2f} min for training: too little for one training step; "
                                "give more budget_minutes")
    training = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(report).items() if k != "out"}
    training.update({"from": base.kind, "student_kind": kind, "learning_rate": lr, "batch_size": batch,
                     "co_teacher": co_teacher, "minutes_given": round(minutes, 2),
                     "minutes": round((time.perf_counter() - started) / 60, 2)})
    shutil.rmtree(done, ignore_errors=True)
    partial.replace(done)
    write_json_atomic(record, training)
    return done, training


__all__ = ["TRAINING_FILE", "train_from_base", "trained"]
