"""Stage 3, refine with RL: GRPO (TRL) or InteRank's reward-weighted SFT.

Both start from a distilled ``reasoning`` adapter (its LoRA weights keep
training; the base model stays frozen) and sample full outputs (explanation
and label) for the training prompts, rewarded by :mod:`interank_trainer.generative.rewards`:
label agreement with the teacher, a well-formed output, a grounded and concise
explanation.

* ``grpo``: TRL's ``GRPOTrainer`` with the three reward functions (weights
  ``reward_weights``), ``num_generations`` samples per prompt, optional KL
  (``beta``) to the distilled policy;
* ``rwsft``: InteRank's released variant, implemented here with the model and
  peft directly: sample ``k`` outputs per prompt, reward each (weighted mean of
  the three rewards, in [0, 1]), keep those with ``r >= min_reward`` and take a
  gradient step on ``sum(r^3 * NLL(output)) / kept``; the NLL is the mean over
  the output's tokens (EOS included), the prompt never counts.
"""

from __future__ import annotations

import logging
import math
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interank_sdk.card import ModelCard
from interank_sdk.errors import InvalidInputError
from interank_sdk.prompts import get_template
from interank_sdk.training import quiet_peft

from .._deps import need
from ..config import build_config, config_dict
from ..data.formats import read_rows
from .config import RLConfig
from .models import adapter_base, autocast_context, load_student, save_adapter, training_precision, trl_prompt_text
from .rewards import combined_reward, format_reward, label_reward, make_grounding_reward

logger = logging.getLogger(__name__)


@dataclass
class RLReport:
    """What :func:`rl` did.

    Attributes:
        out: the refined adapter folder.
        method: ``"grpo"`` or ``"rwsft"``.
        steps: optimisation steps.
        prompts: training prompts available.
        mean_reward: mean combined reward of the sampled outputs, per step.
        kept: rwsft: outputs kept per step.
        loss: training loss per step (rwsft) or the mean (GRPO).
        seconds: wall time.
    """

    out: Path
    method: str
    steps: int = 0
    prompts: int = 0
    mean_reward: list[float] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    seconds: float = 0.0


def rl(config: RLConfig | None = None, /, **kwargs: Any) -> RLReport:
    """Refine a distilled reasoning adapter with GRPO or reward-weighted SFT.

    Args:
        config: an :class:`RLConfig`, or its fields as keyword arguments.

    Raises:
        InvalidInputError: the adapter was not trained for the ``reasoning``
            strategy (RL rewards explanations), or bad data.

    Example:
        >>> from interank_trainer import rl
        >>> rl(data="data/", adapter="adapter/", out="adapter-rl/", method="rwsft", max_steps=50)  # doctest: +SKIP
    """
    config = build_config(RLConfig, config, kwargs)
    torch = need("torch")
    peft = need("peft")
    start = time.perf_counter()
    adapter = Path(config.adapter).expanduser()
    card = ModelCard.read(adapter) or ModelCard()
    base = adapter_base(adapter)
    strategy = card.strategy or "reasoning"
    if strategy != "reasoning":
        raise InvalidInputError(
            f"{adapter} was trained for the {strategy!r} strategy; RL rewards explanations and needs a "
            "'reasoning' adapter (distill with strategy='reasoning')"
        )
    template = get_template("reasoning", card.prompt_version)
    rows = read_rows(config.data)
    rng = random.Random(config.seed)
    if config.shuffle:
        rng.shuffle(rows)
    if config.max_rows is not None:
        rows = rows[: config.max_rows]
    backend = load_student(base, device=config.device, dtype=config.dtype, quantization=config.quantization)
    torch.manual_seed(config.seed)
    with quiet_peft():
        model = peft.PeftModel.from_pretrained(backend.model, str(adapter), is_trainable=True)
    examples = []
    for r in rows:
        prompt = template.render(r["query"], r["passage"])
        examples.append({"prompt": trl_prompt_text(backend, prompt), "rendered": backend.render(prompt),
                         "label": int(r["label"]), "passage": r["passage"], "query": r["query"]})
    steps = config.max_steps if config.max_steps > 0 else math.ceil(len(examples) / config.batch_size)
    logger.info("rl %s: %d prompts, %d steps of %d prompts x %d samples, from %s", config.method, len(examples), steps,
                config.batch_size, config.num_generations, adapter)
    report = RLReport(out=Path(config.out).expanduser(), method=config.method, prompts=len(examples))
    if config.method == "grpo":
        model = _grpo(model, backend, examples, steps, config, report)
    else:
        _rwsft(model, backend, examples, steps, config, report)
    # how the parent was trained is kept (an older adapter wrote it at the top level: ``extra``), except what
    # described its own optimisation (its config and loss)
    inherited = {k: v for k, v in {**card.extra, **card.training}.items() if k not in ("config", "train_loss")}
    new_card = ModelCard(
        strategy="reasoning",
        prompt_version=template.version,
        strategy_options=dict(card.strategy_options),
        base_model=card.base_model,
        stage=f"rl-{config.method}",
        training={**inherited, "parent_adapter": str(adapter),
                  "rl": {"steps": report.steps, "mean_reward": report.mean_reward, "kept": report.kept,
                         "loss": report.loss, "config": config_dict(config)}},
    )
    save_adapter(model, backend.tokenizer, report.out, new_card)
    report.seconds = time.perf_counter() - start
    return report


# ------------------------------------------------------------------- GRPO
def _grpo(model: Any, backend: Any, examples: list[dict[str, Any]], steps: int, config: RLConfig,
          report: RLReport) -> Any:
    need("trl")
    datasets = need("datasets")
    from trl import GRPOConfig, GRPOTrainer

    on_cuda = str(backend.device).startswith("cuda")
    gradient_checkpointing = on_cuda if config.gradient_checkpointing is None else config.gradient_checkpointing
    grounding = make_grounding_reward(config.length_budget)
    with tempfile.TemporaryDirectory(prefix="interank-grpo-") as workdir:
        args = GRPOConfig(
            output_dir=workdir,
            learning_rate=config.learning_rate,
            lr_scheduler_type="constant",
            max_steps=steps,
            per_device_train_batch_size=config.batch_size * config.num_generations,
            num_generations=config.num_generations,
            max_completion_length=config.max_new_tokens,
            temperature=config.temperature,
            top_p=config.top_p,
            beta=config.beta,
            reward_weights=list(config.reward_weights),
            logging_steps=config.logging_steps,
            save_strategy="no",
            report_to="none",
            seed=config.seed,
            activation_checkpointing=gradient_checkpointing,
            use_cpu=not on_cuda,
            disable_dropout=True,
            disable_tqdm=not config.show_progress,
            **training_precision(backend),
        )
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=[label_reward, format_reward, grounding],
            args=args,
            train_dataset=datasets.Dataset.from_list([{k: v for k, v in e.items() if k != "rendered"}
                                                      for e in examples]),
            processing_class=backend.tokenizer,
        )
        with quiet_peft():
            result = trainer.train()
    report.steps = result.global_step
    report.loss = [float(result.training_loss)]
    report.mean_reward = [float(h["reward"]) for h in trainer.state.log_history if "reward" in h]
    return trainer.model


# ------------------------------------------------------------------ rwsft
def _rwsft(model: Any, backend: Any, examples: list[dict[str, Any]], steps: int, config: RLConfig,
           report: RLReport) -> None:
    torch = need("torch")
    from tqdm.auto import tqdm

    tok = backend.tokenizer
    device = backend.device
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate)
    eos_ids = _eos_ids(backend)
    pad_id = tok.pad_token_id
    k = config.num_generations
    order = list(range(len(examples)))
    for step in tqdm(range(steps), desc="rwsft", unit="step", disable=not config.show_progress):
        start = (step * config.batch_size) % len(order)
        batch = [examples[order[(start + i) % len(order)]] for i in range(config.batch_size)]
        prompt_ids = backend.encode([e["rendered"] for e in batch])
        # 1. sample k outputs per prompt
        model.eval()
        with autocast_context(backend):
            samples = _sample(model, backend, prompt_ids, k, config, pad_id, eos_ids)
        texts = [tok.decode(ids, skip_special_tokens=True) for _, ids in samples]
        rewards = combined_reward(
            texts,
            [batch[i // k]["label"] for i in range(len(samples))],
            [batch[i // k]["passage"] for i in range(len(samples))],
            [batch[i // k]["query"] for i in range(len(samples))],
            weights=config.reward_weights, length_budget=config.length_budget,
        )
        report.mean_reward.append(float(sum(rewards) / len(rewards)))
        kept = [(prompt_ids[i // k], ids, r) for i, ((_, ids), r) in enumerate(zip(samples, rewards))
                if r >= config.min_reward and ids]
        report.kept.append(len(kept))
        if not kept:
            report.loss.append(0.0)
            logger.info("rwsft step %d: no sample reached min_reward=%.2f; no update", step + 1, config.min_reward)
            continue
        # 2. loss = mean over kept of r^3 * NLL(output | prompt)
        model.train()
        width = max(len(p) + len(c) for p, c, _ in kept)
        input_ids = torch.full((len(kept), width), pad_id, dtype=torch.long)
        labels = torch.full((len(kept), width), -100, dtype=torch.long)
        mask = torch.zeros((len(kept), width), dtype=torch.long)
        for b, (p, c, _) in enumerate(kept):
            seq = list(p) + list(c)
            input_ids[b, : len(seq)] = torch.tensor(seq)
            mask[b, : len(seq)] = 1
            labels[b, len(p): len(seq)] = torch.tensor(c)
        input_ids, labels, mask = input_ids.to(device), labels.to(device), mask.to(device)
        with autocast_context(backend):
            logits = model(input_ids=input_ids, attention_mask=mask).logits
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        targets = labels[:, 1:]
        valid = targets != -100
        token_nll = -logp.gather(-1, targets.clamp(min=0)[..., None])[..., 0] * valid
        nll = token_nll.sum(-1) / valid.sum(-1).clamp(min=1)
        weights = torch.tensor([r**3 for _, _, r in kept], device=nll.device)
        loss = (weights * nll).sum() / len(kept)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        report.loss.append(float(loss.detach()))
        if (step + 1) % config.logging_steps == 0:
            logger.info("rwsft step %d/%d: mean reward %.3f, kept %d/%d, loss %.4f", step + 1, steps,
                        report.mean_reward[-1], len(kept), len(samples), report.loss[-1])
    report.steps = steps
    model.eval()


def _eos_ids(backend: Any) -> set[int]:
    tok = backend.tokenizer
    ids = {tok.eos_token_id} if tok.eos_token_id is not None else set()
    gen = getattr(backend.model, "generation_config", None)
    extra = getattr(gen, "eos_token_id", None)
    if extra is not None:
        ids |= set(extra if isinstance(extra, list) else [extra])
    return ids


def _sample(model: Any, backend: Any, prompt_ids: list[list[int]], k: int, config: RLConfig, pad_id: int,
            eos_ids: set[int]) -> list[tuple[int, list[int]]]:
    """``k`` sampled continuations per prompt: ``[(prompt index, output ids incl. EOS when it ended)]``."""
    torch = need("torch")
    input_ids, mask, _ = backend.batch_tensors(prompt_ids)  # left padding for generation
    width = input_ids.shape[1]
    with torch.no_grad():
        out = model.generate(
            input_ids=input_ids, attention_mask=mask, do_sample=True,
            temperature=config.temperature, top_p=config.top_p, max_new_tokens=config.max_new_tokens,
            num_return_sequences=k, pad_token_id=pad_id, eos_token_id=sorted(eos_ids) or None,
        )
    samples = []
    for row, seq in enumerate(out[:, width:].tolist()):
        ids: list[int] = []
        for t in seq:
            ids.append(t)
            if t in eos_ids:
                break
        samples.append((row // k, ids))
    return samples


__all__ = ["RLReport", "rl"]
