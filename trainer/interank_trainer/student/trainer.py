"""Train a cross-encoder student on teacher scores with sentence-transformers' ``CrossEncoderTrainer``.

The student is a sequence-classification model with one logit: a BERT-like
encoder (e.g. all-MiniLM-L6-v2, loaded as
``AutoModelForSequenceClassification(num_labels=1)``: the body kept, a fresh
head), or a causal LM with a one-label head on its last token (DeAR). It is
trained with a distillation loss (:mod:`interank_trainer.student.losses`, or
sentence-transformers' own) on targets from the teacher's scores, optionally
mixed with human grades (:mod:`interank_trainer.student.student_data`), evaluated on
held-out queries (nDCG@10 against the labels, and against the teacher) and
stopped early when that stops improving; the best evaluation's weights are kept.

The output folder is what ``CrossEncoder.save_pretrained`` writes (one label,
the sigmoid activation recorded as sentence-transformers records it, in
``config_sentence_transformers.json`` and in ``config.json``'s
``sentence_transformers`` entry read by older versions), plus ``interank.json``
(:class:`interank_sdk.card.ModelCard`, strategy ``classifier``) with the
teacher, the data, the loss and the versions. ``CrossEncoder(out)`` loads it;
``Reranker(out)`` loads it with the classifier strategy.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interank_sdk.card import ModelCard
from interank_sdk.errors import InvalidInputError

from .. import __version__
from .._deps import need
from ..config import build_config, config_dict
from ..data.formats import read_manifest
from .config import (
    BIENCODER_LOSSES,
    BIENCODER_TRAINING_DEFAULTS,
    STUDENT_TRAINING_DEFAULTS,
    StudentConfig,
)
from .losses import build_loss
from .schedule import TrainingBudget, budget_trainer
from .student_data import prepare_student_data

logger = logging.getLogger(__name__)

#: the activation sentence-transformers applies to a one-label CrossEncoder's logit (``predict``)
ACTIVATION = "torch.nn.modules.activation.Sigmoid"


@dataclass
class StudentReport:
    """What :func:`train_student` did.

    Attributes:
        out: the student folder.
        kind: ``"encoder"`` or ``"causal"``.
        loss: the loss trained with.
        pools_read, train_pools, heldout_pools, train_examples, train_pairs: data sizes.
        skipped: rows or passages left out of the data, by reason.
        steps: optimiser steps run.
        stopped_early: early stopping ended the training.
        stopped_by_time: ``max_minutes`` ended the training.
        kept: which weights were written: ``"best (step N)"`` (the held-out's best) or ``"last (step N)"``.
        heldout_before, heldout_after: held-out metrics before training and of the kept weights.
        train_loss: the trainer's mean training loss.
        last_learning_rate: the learning rate of the last step (near 0 once the schedule has annealed).
        seconds: wall time.
    """

    out: Path
    kind: str
    loss: str
    pools_read: int = 0
    train_pools: int = 0
    heldout_pools: int = 0
    train_examples: int = 0
    train_pairs: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    steps: int = 0
    stopped_early: bool = False
    stopped_by_time: bool = False
    kept: str = ""
    heldout_before: dict[str, float] = field(default_factory=dict)
    heldout_after: dict[str, float] = field(default_factory=dict)
    train_loss: float | None = None
    last_learning_rate: float | None = None
    seconds: float = 0.0


def is_causal(model: str) -> bool:
    """Whether ``model``'s ``config.json`` names a causal-LM architecture (``...ForCausalLM``)."""
    transformers = need("transformers")
    config = transformers.AutoConfig.from_pretrained(model)
    return any(str(a).endswith("ForCausalLM") for a in (getattr(config, "architectures", None) or []))


def load_student(config: StudentConfig) -> tuple[Any, str]:
    """A fresh one-label ``CrossEncoder`` on ``config.student``'s body: ``(model, kind)``.

    The base model is loaded as ``AutoModelForSequenceClassification(num_labels=1)``
    (the head is new; its initialisation is seeded), saved with its tokenizer to
    a temporary folder and opened from there as a ``CrossEncoder`` (a
    sentence-transformers bi-encoder folder, like all-MiniLM-L6-v2's, would
    otherwise be read as its embedding modules). A causal LM gets a pad token
    (its EOS) when it has none (the classification head reads the last non-pad
    token), and loses its chat template: its pairs are the tokenizer's pair
    template of the ``pair_format`` texts, not chat messages.
    """
    torch = need("torch")
    transformers = need("transformers")
    st = need("sentence_transformers", "sentence-transformers")
    kind = "causal" if is_causal(config.student) else "encoder"
    torch.manual_seed(config.seed)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(config.student, num_labels=1)
    tokenizer = transformers.AutoTokenizer.from_pretrained(config.student)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    if kind == "causal":
        # without a chat template sentence-transformers tokenizes a pair as the tokenizer's pair template
        # (DeAR's "query: ..." / "document: ..." input), as Reranker does; with one it would render the
        # pair as chat messages, an input no other loader reproduces
        tokenizer.chat_template = None
    device = None if config.device == "auto" else config.device
    with tempfile.TemporaryDirectory(prefix="interank-student-") as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        cross_encoder = st.CrossEncoder(tmp, num_labels=1, max_length=config.max_length, device=device)
    logger.info("student %s (%s, %.1fM parameters) on %s", config.student, kind,
                sum(p.numel() for p in cross_encoder.parameters()) / 1e6, cross_encoder.device)
    return cross_encoder, kind


def pair_renderer(kind: str, pair_format: dict[str, str]):
    """How a (query, passage) pair is written for the student: as is (encoders) or with ``pair_format`` (causal)."""
    if kind != "causal":
        return lambda query, passage: (query, passage)
    return lambda query, passage: (pair_format["query"].replace("{query}", query),
                                   pair_format["document"].replace("{passage}", passage))


def cross_encoder_scores(model: Any, pairs: list[tuple[str, str]], batch_size: int) -> Any:
    """A ``CrossEncoder``'s raw logits of ``pairs`` (no activation: the ranking is the same)."""
    import torch

    return model.predict(pairs, batch_size=batch_size, activation_fn=torch.nn.Identity(), show_progress_bar=False)


def _heldout_metrics(model: Any, pools: list[dict[str, Any]], render: Any, batch_size: int, max_grade: int,
                     score: Any = cross_encoder_scores) -> dict[str, float]:
    """nDCG@10 of the student on held-out pools: against the labels (grades; positives as the top
    grade) and against the teacher (its min-max scaled targets as gains). ``score(model, pairs, batch_size)``
    reads the student (a cross-encoder's logits by default, a bi-encoder's cosines)."""
    if not pools:
        return {}
    import numpy as np
    from sklearn.metrics import ndcg_score

    pairs = [render(row["query"], d) for row in pools for d in row["docs"]]
    flat = score(model, pairs, batch_size)
    labels, teacher, start = [], [], 0
    for row in pools:
        n = len(row["docs"])
        scores = np.asarray(flat[start:start + n], dtype=np.float64)[None, :]
        start += n
        gains = [g if g is not None else (float(max_grade) if p else 0.0) for g, p in zip(row["grades"], row["positives"])]
        if any(gains):
            labels.append(ndcg_score(np.asarray([gains], dtype=np.float64), scores, k=10))
        teacher.append(ndcg_score(np.asarray([row["targets"]["gain"]], dtype=np.float64), scores, k=10))
    out = {"teacher_ndcg@10": float(np.mean(teacher))}
    if labels:
        out["ndcg@10"] = float(np.mean(labels))
    return out


def _evaluator(pools: list[dict[str, Any]], render: Any, batch_size: int, max_grade: int, score: Any):
    """A sentence-transformers evaluator over the held-out pools (primary metric: label nDCG@10 when there
    are labels, else the teacher's)."""
    from sentence_transformers.base.evaluation import BaseEvaluator

    class HeldoutEvaluator(BaseEvaluator):
        def __init__(self) -> None:
            super().__init__()
            self.name = "heldout"
            self.greater_is_better = True
            has_labels = any(any(g for g in r["grades"] if g) or any(r["positives"]) for r in pools)
            self.primary_metric = "ndcg@10" if has_labels else "teacher_ndcg@10"

        def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1):
            metrics = _heldout_metrics(model, pools, render, batch_size, max_grade, score)
            logger.info("held-out (epoch %s, step %s): %s", epoch, steps,
                        ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
            return self.prefix_name_to_metrics(metrics, self.name)

    return HeldoutEvaluator()


def train_student(config: StudentConfig | None = None, /, **kwargs: Any) -> StudentReport:
    """Distil teacher scores into a cross-encoder student; write a folder ``CrossEncoder`` and ``Reranker`` load.

    With ``loss="mnrl"`` the student is a sentence-transformers bi-encoder continued as one
    (:func:`~interank_trainer.student.biencoder.train_biencoder`; a ``SentenceTransformer`` folder).

    Args:
        config: a :class:`~interank_trainer.student.config.StudentConfig`, or its fields as keyword arguments.

    Returns:
        a :class:`StudentReport`.

    Raises:
        InvalidInputError: no usable teacher scores, bad settings.

    Example:
        >>> from interank_trainer import train_student
        >>> report = train_student(scores="dl21-scores", student="sentence-transformers/all-MiniLM-L6-v2",
        ...                        out="student", loss="ranknet-kd")  # doctest: +SKIP
        >>> report.heldout_after  # doctest: +SKIP
        {'teacher_ndcg@10': 0.91, 'ndcg@10': 0.62}
    """
    config = build_config(StudentConfig, config, kwargs)
    if config.loss in BIENCODER_LOSSES:
        from .biencoder import train_biencoder

        return train_biencoder(config)
    start = time.perf_counter()
    budget = TrainingBudget(config.max_minutes) if config.max_minutes else None
    st = need("sentence_transformers", "sentence-transformers")
    with training_threads(config):
        model, kind = load_student(config)
        loss = build_loss(config.loss, model, kd_alpha=config.kd_alpha, temperature=config.temperature,
                          adr_alpha=config.adr_alpha)
        report = fit(config, model, kind, loss, st.cross_encoder.CrossEncoderTrainer, cross_encoder_scores,
                     budget, start)
        save_student(model, report.out, config, kind, report)
    logger.info("student %s: %d steps, %s loss, held-out %s -> %s, %.0f s", report.out, report.steps, config.loss,
                report.heldout_before, report.heldout_after, report.seconds)
    return report


@contextmanager
def training_threads(config: StudentConfig) -> Iterator[None]:
    """torch's threads set to ``config.threads`` while a student trains (an integer; ``"auto"`` goes to the
    co-teacher's ``Reranker`` and training keeps torch's default), restored after."""
    torch = need("torch")
    previous = torch.get_num_threads()
    if isinstance(config.threads, int):
        torch.set_num_threads(config.threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fit(config: StudentConfig, model: Any, kind: str, loss: Any, trainer_class: type, score: Any,
        budget: TrainingBudget | None, start: float) -> StudentReport:
    """Train ``model`` (a cross-encoder or a bi-encoder: ``trainer_class`` is sentence-transformers' trainer of
    its kind) on ``config``'s teacher scores with ``loss`` (the examples in its format,
    :func:`~interank_trainer.student.student_data.build_examples`); the held-out read through ``score``.
    Returns the report; the caller writes the model."""
    need("datasets")
    from datasets import Dataset
    from transformers import EarlyStoppingCallback

    render = pair_renderer(kind, config.pair_format)
    data = prepare_student_data(config, render)
    out = Path(config.out).expanduser()
    report = StudentReport(out=out, kind=kind, loss=config.loss, pools_read=data.pools_read,
                           train_pools=data.train_pools, heldout_pools=len(data.heldout),
                           train_examples=len(data.train), train_pairs=data.train_pairs, skipped=data.skipped)
    batch = max(1, 8 * config.batch_size)
    report.heldout_before = _heldout_metrics(model, data.heldout, render, batch, config.max_grade, score)
    evaluate = bool(data.heldout)
    evaluator = _evaluator(data.heldout, render, batch, config.max_grade, score) if evaluate else None
    keep_best = config.keep == "best"
    checkpoints = Path(tempfile.mkdtemp(prefix="interank-student-ckpt-"))
    args = training_arguments(config, model, checkpoints, evaluator, kind)
    callbacks = [EarlyStoppingCallback(config.early_stopping_patience)] \
        if evaluate and config.early_stopping_patience else []
    if budget is not None:
        callbacks.append(budget.callback())
        if config.anneal_to_budget:
            trainer_class = budget_trainer(trainer_class, budget, config.setting("warmup_ratio") or 0.0)
    trainer = trainer_class(model=model, args=args, train_dataset=Dataset.from_list(data.train), loss=loss,
                            evaluator=evaluator, callbacks=callbacks)
    try:
        result = trainer.train()
    finally:
        shutil.rmtree(checkpoints, ignore_errors=True)
    report.steps = int(trainer.state.global_step)
    report.train_loss = float(result.training_loss) if result.training_loss is not None else None
    report.last_learning_rate = float(trainer.lr_scheduler.get_last_lr()[0]) if trainer.lr_scheduler else None
    planned = trainer.state.max_steps
    report.stopped_early = evaluate and report.steps < planned and not (budget and budget.hit)
    report.stopped_by_time = bool(budget and budget.hit)
    report.kept = f"best (step {trainer.state.best_global_step})" \
        if keep_best and evaluate and trainer.state.best_global_step else f"last (step {report.steps})"
    report.heldout_after = _heldout_metrics(model, data.heldout, render, batch, config.max_grade, score)
    report.seconds = time.perf_counter() - start
    return report


def training_arguments(config: StudentConfig, model: Any, output_dir: Path, evaluator: Any | None,
                       kind: str = "encoder") -> Any:
    """sentence-transformers' training arguments the student trains with (``CrossEncoderTrainingArguments``, or
    ``SentenceTransformerTrainingArguments`` for a ``"bi-encoder"`` student): ``config.args`` (a dict over
    :data:`~interank_trainer.student.config.STUDENT_TRAINING_DEFAULTS`, or an instance as given), plus what
    the trainer owns: checkpoints in ``output_dir``, evaluation and saving as ``keep`` and the held-out ask."""
    import dataclasses

    if kind == "bi-encoder":
        from sentence_transformers.sentence_transformer import (
            SentenceTransformerTrainingArguments as TrainingArguments,
        )
    else:
        from sentence_transformers.cross_encoder import (
            CrossEncoderTrainingArguments as TrainingArguments,
        )

    keep_best = config.keep == "best"
    steps = config.setting("eval_steps")
    # checkpoints are only written for load_best_model_at_end; with keep="last" the held-out is only reported
    strategy = "steps" if steps else "epoch"
    owned: dict[str, Any] = {"output_dir": str(output_dir), "report_to": "none", "save_total_limit": 1,
                             "disable_tqdm": not config.show_progress, "use_cpu": str(model.device).startswith("cpu"),
                             "eval_strategy": "no", "save_strategy": "no", "load_best_model_at_end": False}
    if evaluator is not None:
        owned.update(eval_strategy=strategy, save_strategy=strategy if keep_best else "no",
                     load_best_model_at_end=keep_best, greater_is_better=True,
                     metric_for_best_model=f"eval_heldout_{evaluator.primary_metric}")
        if steps:
            owned.update(eval_steps=steps, save_steps=steps)
    if not isinstance(config.args, dict):
        if not isinstance(config.args, TrainingArguments):
            raise InvalidInputError(f"args: a {kind} student trains with {TrainingArguments.__name__}, "
                                    f"got {type(config.args).__name__}")
        return dataclasses.replace(config.args, **owned)
    values = {**STUDENT_TRAINING_DEFAULTS, **(BIENCODER_TRAINING_DEFAULTS if kind == "bi-encoder" else {}),
              **config.args}
    values.setdefault("data_seed", values["seed"])
    if values.get("bf16") is None:
        values["bf16"] = _native_bf16(model)
    if not values.get("eval_steps"):
        values.pop("eval_steps")
    known = {f.name for f in dataclasses.fields(TrainingArguments) if f.init}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InvalidInputError(f"args: {unknown} are not {TrainingArguments.__name__} fields")
    values.update(_warmup(values.pop("warmup_ratio")))
    try:
        return TrainingArguments(**{**values, **owned})
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"args: sentence-transformers refused the training arguments: {exc}") from exc


def _native_bf16(model: Any) -> bool:
    """bf16 autocast where the device runs bf16 natively (AMX / AVX512-BF16 CPUs, recent GPUs)."""
    import torch

    from interank_sdk.training import resolve_dtype

    device = str(model.device)
    return resolve_dtype("auto", "cuda" if device.startswith("cuda") else "cpu") == torch.bfloat16


def _warmup(ratio: float | None) -> dict[str, float]:
    """The warmup share as the training arguments take it (transformers 5: a float ``warmup_steps``)."""
    import transformers

    if ratio is None:
        return {}
    major = int(transformers.__version__.split(".")[0])
    return {"warmup_steps": ratio} if major >= 5 else {"warmup_ratio": ratio}


def card_training(config: StudentConfig, kind: str, report: StudentReport) -> dict[str, Any]:
    """The student card's ``training`` entry: its kind and loss, where each score folder came from (its
    manifest), the settings, the report and the versions."""
    import sentence_transformers
    import torch
    import transformers

    folders = config.scores if isinstance(config.scores, (list, tuple)) else [config.scores]
    data = []
    for folder in folders:
        manifest = read_manifest(Path(folder).expanduser())
        data.append({"scores": str(folder), "source": manifest.get("source"), "teacher": manifest.get("teacher"),
                     "pairs": manifest.get("pairs"), "sampling": manifest.get("settings", {}).get("sampling")})
    return {"kind": kind, "loss": config.loss, "data": data, "config": config_dict(config),
            "report": {k: v for k, v in vars(report).items() if k != "out"},
            "versions": {"interank_trainer": __version__, "sentence_transformers": sentence_transformers.__version__,
                         "transformers": transformers.__version__, "torch": torch.__version__}}


def save_student(model: Any, out: Path, config: StudentConfig, kind: str, report: StudentReport) -> Path:
    """Write ``CrossEncoder.save_pretrained``'s folder, the activation in ``config.json`` and ``interank.json``."""
    import sentence_transformers

    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    config_path = out / "config.json"
    hf_config = json.loads(config_path.read_text(encoding="utf-8"))
    hf_config["sentence_transformers"] = {"activation_fn": ACTIVATION, "version": sentence_transformers.__version__}
    config_path.write_text(json.dumps(hf_config, indent=2) + "\n", encoding="utf-8")
    ModelCard(
        strategy="classifier",
        strategy_options={"pair_format": dict(config.pair_format)} if kind == "causal" else {},
        base_model=str(config.student),
        stage="student",
        trainer_version=__version__,
        training=card_training(config, kind, report),
    ).write(out)
    logger.info("wrote student %s (strategy classifier, %s)", out, kind)
    return out


__all__ = ["StudentReport", "ACTIVATION", "train_student", "fit", "load_student", "save_student", "pair_renderer",
           "is_causal", "cross_encoder_scores", "training_arguments", "card_training", "training_threads"]
