"""Stage 2, distill: supervised fine-tuning of a LoRA student on the teacher's judgments.

TRL's ``SFTTrainer`` on prompt/completion data with the loss on the completion
only (the prompt and the padding never count; InteRank's released code trained
on both, which we do not copy). The prompt is the SDK prompt template of the
chosen strategy rendered by the student's chat template (exactly what
``Reranker`` feeds it); the completion is what that strategy reads:

* ``reasoning``: the teacher's explanation, then ``Relevance Label:`` + label + `` ##``;
* ``graded``: the label token (``0``/``1``/``2``);
* ``yesno``: ``yes`` or ``no``.

QLoRA (4-bit NF4 base) on CUDA with InteRank's defaults (r=64, alpha=16,
dropout 0.1 on q/k/v/o/gate, lr 2e-4, constant schedule, 1 epoch); plain LoRA
on CPU. The adapter folder holds the adapter, the tokenizer and
``interank.json`` (:class:`~interank_sdk.card.ModelCard`: strategy, prompt version, and
how it was trained under ``training``), so ``Reranker(out)`` loads it.
"""

from __future__ import annotations

import logging
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interank_sdk.card import ModelCard
from interank_sdk.errors import InvalidInputError
from interank_sdk.prompts import get_template
from interank_sdk.training import GRADED_LABELS, REASONING_MARKER, YESNO_LABELS, quiet_peft

from .._deps import need
from ..config import build_config, config_dict
from ..data.formats import label_completion, read_manifest, read_rows, reasoning_completion
from .config import DistillConfig
from .models import load_student, lora_config, save_adapter, training_precision, trl_prompt_text
from .targets import label_forms

logger = logging.getLogger(__name__)


@dataclass
class DistillReport:
    """What :func:`distill` did.

    Attributes:
        out: the adapter folder.
        strategy, prompt_version: what the adapter was trained for (in ``interank.json``).
        rows: training rows used.
        dropped: rows not used, by reason (``too_long``, ``no_explanation``).
        steps: optimisation steps run.
        train_loss: mean training loss (completion tokens only).
        label_forms: how each label is written right after the prompt/marker.
        quantization: ``"4bit"`` (QLoRA) or ``None`` (plain LoRA).
        seconds: wall time.
    """

    out: Path
    strategy: str
    prompt_version: str
    rows: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    steps: int = 0
    train_loss: float | None = None
    label_forms: dict[str, str] = field(default_factory=dict)
    quantization: str | None = None
    seconds: float = 0.0


def choose_strategy(strategy: str, rows: list[dict[str, Any]]) -> str:
    """``auto`` -> ``reasoning`` when every row has an explanation, else ``graded``."""
    with_expl = sum(bool((r.get("explanation") or "").strip()) for r in rows)
    if strategy == "auto":
        strategy = "reasoning" if with_expl == len(rows) else "graded"
        logger.info("strategy auto -> %s (%d of %d rows have an explanation)", strategy, with_expl, len(rows))
    return strategy


def build_examples(
    rows: list[dict[str, Any]], backend: Any, strategy: str, *, prompt_version: str | None = None,
    yes_threshold: int = 2, max_length: int | None = None,
) -> tuple[list[dict[str, Any]], dict[str, str], dict[str, int]]:
    """Prompt/completion training examples for ``strategy`` rendered for the student.

    Returns:
        ``(examples, label_forms, dropped)``: examples are ``{"prompt", "completion", "label", "query", "passage"}``
        (texts TRL tokenizes into exactly the SDK's tokens); rows longer than
        ``max_length`` tokens (prompt + completion) and reasoning rows without an
        explanation are dropped and counted.
    """
    template = get_template(strategy, prompt_version)
    tok = backend.tokenizer
    if strategy == "reasoning":
        forms = label_forms(tok, "The document answers the question.\n" + REASONING_MARKER, list(GRADED_LABELS[0]),
                            prefer_space=True)
    else:
        sample = backend.render(template.render("question", "document"))
        labels = list((GRADED_LABELS if strategy == "graded" else YESNO_LABELS)[0])
        forms = label_forms(tok, sample, labels, prefer_space=False)
    examples: list[dict[str, Any]] = []
    dropped: dict[str, int] = {}
    for row in rows:
        prompt = template.render(row["query"], row["passage"])
        if strategy == "reasoning":
            if not (row.get("explanation") or "").strip():
                dropped["no_explanation"] = dropped.get("no_explanation", 0) + 1
                continue
            completion = reasoning_completion(row["explanation"], row["label"], forms[str(row["label"])],
                                              assistant_prefix=prompt.assistant_prefix)
        else:
            completion = label_completion(strategy, row["label"], yes_threshold, forms)
        examples.append({"prompt": trl_prompt_text(backend, prompt), "completion": completion,
                         "label": row["label"], "query": row["query"], "passage": row["passage"],
                         "_rendered": backend.render(prompt)})
    if max_length is not None and examples:
        lengths = backend.count_tokens([e["_rendered"] + e["completion"] for e in examples])
        kept = [e for e, n in zip(examples, lengths) if n + 2 <= max_length]  # + BOS/EOS
        if len(kept) < len(examples):
            dropped["too_long"] = len(examples) - len(kept)
            logger.warning("%d rows are longer than max_length=%d tokens and are not used (never cut: a cut row "
                           "loses its target)", len(examples) - len(kept), max_length)
        examples = kept
    for e in examples:
        del e["_rendered"]
    return examples, forms, dropped


def _balance(examples: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    by_label: dict[int, list[dict[str, Any]]] = {}
    for e in examples:
        by_label.setdefault(e["label"], []).append(e)
    top = max(len(v) for v in by_label.values())
    out: list[dict[str, Any]] = []
    for group in by_label.values():
        out.extend(group)
        out.extend(rng.choices(group, k=top - len(group)))
    return out


@dataclass
class SFTRun:
    """A prepared SFT run: the TRL trainer and what went into it (see :func:`build_sft_trainer`)."""

    trainer: Any
    backend: Any
    strategy: str
    prompt_version: str
    examples: list[dict[str, Any]]
    label_forms: dict[str, str]
    dropped: dict[str, int]
    workdir: Any

    def close(self) -> None:
        self.workdir.cleanup()


def build_sft_trainer(config: DistillConfig) -> SFTRun:
    """Load the student and build TRL's ``SFTTrainer`` on prompt/completion data (no training yet).

    The trainer's dataset is tokenized by TRL; the completion mask makes the
    loss count only the completion tokens. Call ``run.trainer.train()``, then
    :func:`interank_trainer.generative.models.save_adapter`; :func:`distill` does both.
    """
    rows = read_rows(config.data)
    need("trl")
    datasets = need("datasets")
    from trl import SFTConfig, SFTTrainer

    strategy = choose_strategy(config.strategy, rows)
    if strategy == "reasoning" and not any((r.get("explanation") or "").strip() for r in rows):
        raise InvalidInputError(
            "strategy 'reasoning' needs explanations, and no row has one (judgment data?): "
            "use strategy 'graded' or 'yesno'"
        )
    template = get_template(strategy, config.prompt_version)
    backend = load_student(config.student, device=config.device, dtype=config.dtype, quantization=config.quantization)
    examples, forms, dropped = build_examples(
        rows, backend, strategy, prompt_version=template.version, yes_threshold=config.yes_threshold,
        max_length=config.max_length,
    )
    if not examples:
        raise InvalidInputError(f"no training example left ({dropped})")
    rng = random.Random(config.seed)
    if config.balance_labels:
        examples = _balance(examples, rng)
    if config.shuffle:
        rng.shuffle(examples)
    if config.max_rows is not None:
        examples = examples[: config.max_rows]
    hist = {str(k): sum(e["label"] == k for e in examples) for k in (0, 1, 2)}
    logger.info("distill: %d examples (labels %s), strategy %s/%s, label forms %s", len(examples), hist, strategy,
                template.version, forms)
    dataset = datasets.Dataset.from_list([{"prompt": e["prompt"], "completion": e["completion"]} for e in examples])
    on_cuda = str(backend.device).startswith("cuda")
    gradient_checkpointing = on_cuda if config.gradient_checkpointing is None else config.gradient_checkpointing
    workdir = tempfile.TemporaryDirectory(prefix="interank-sft-")
    args = SFTConfig(
        output_dir=workdir.name,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        logging_steps=config.logging_steps,
        save_strategy="no",
        report_to="none",
        seed=config.seed,
        max_length=config.max_length,
        completion_only_loss=True,
        activation_checkpointing=gradient_checkpointing,
        use_cpu=not on_cuda,
        disable_tqdm=not config.show_progress,
        **training_precision(backend),
    )
    with quiet_peft():
        trainer = SFTTrainer(
            model=backend.model,
            args=args,
            train_dataset=dataset,
            processing_class=backend.tokenizer,
            peft_config=lora_config(backend.model, r=config.lora_r, alpha=config.lora_alpha,
                                    dropout=config.lora_dropout, target_modules=config.target_modules),
        )
    return SFTRun(trainer, backend, strategy, template.version, examples, forms, dropped, workdir)


def distill(config: DistillConfig | None = None, /, **kwargs: Any) -> DistillReport:
    """Fine-tune a LoRA student on judged data with TRL's ``SFTTrainer`` (loss on the completion only).

    Args:
        config: a :class:`DistillConfig`, or its fields as keyword arguments.

    Returns:
        a :class:`DistillReport`; the adapter folder ``config.out`` loads with
        ``interank_sdk.Reranker(out)``.

    Raises:
        InvalidInputError: bad data (file and line named), ``reasoning`` asked
            for rows without explanations, or no row fits ``max_length``.

    Example:
        >>> from interank_trainer import distill
        >>> report = distill(data="data/", student="HuggingFaceTB/SmolLM2-135M-Instruct", out="adapter/")  # doctest: +SKIP
        >>> from interank_sdk import Reranker
        >>> Reranker("adapter/").rerank("what is a kinase?", ["A kinase is an enzyme.", "Paris."])  # doctest: +SKIP
    """
    config = build_config(DistillConfig, config, kwargs)
    start = time.perf_counter()
    run = build_sft_trainer(config)
    try:
        with quiet_peft():
            result = run.trainer.train()
    finally:
        run.close()
    hist = {str(k): sum(e["label"] == k for e in run.examples) for k in (0, 1, 2)}
    card = ModelCard(
        strategy=run.strategy,
        prompt_version=run.prompt_version,
        base_model=str(config.student),
        stage="distill",
        training={
            "label_forms": run.label_forms,
            "yes_threshold": config.yes_threshold if run.strategy == "yesno" else None,
            "quantization": run.backend.quantization,
            "examples": len(run.examples),
            "labels": hist,
            "train_loss": result.training_loss,
            "config": config_dict(config),
            "data": [read_manifest(p).get("source") for p in _as_list(config.data)],
        },
    )
    out = save_adapter(run.trainer.model, run.backend.tokenizer, config.out, card)
    report = DistillReport(
        out=out, strategy=run.strategy, prompt_version=run.prompt_version, rows=len(run.examples),
        dropped=run.dropped, steps=result.global_step, train_loss=result.training_loss, label_forms=run.label_forms,
        quantization=run.backend.quantization, seconds=time.perf_counter() - start,
    )
    logger.info("distill: %d steps, loss %.4f, %.0f s -> %s", report.steps, report.train_loss or float("nan"),
                report.seconds, out)
    return report


def _as_list(data: Any) -> list[Any]:
    return [data] if isinstance(data, (str, Path)) else list(data)


__all__ = ["DistillReport", "SFTRun", "distill", "build_sft_trainer", "build_examples", "choose_strategy"]
