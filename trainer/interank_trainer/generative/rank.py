"""Ranking-loss fine-tuning: teach a ``yesno``/``graded`` scorer to *order* one query's passages.

``distill`` trains the label token pointwise (cross-entropy on ``yes``/``no`` or
``0``/``1``/``2``). With judgments of a few dozen queries that learns slowly:
the passages judged for one query are all on its topic, and the loss is first
spent on the label prior. Measured with the demo model (Qwen2.5-Coder-0.5B) on
2,400 DL21 judgments: the pointwise loss stayed at the prior's entropy for 80
steps (640 rows), at two learning rates. A ranking loss compares passages of
the same query directly, which is what reranking needs (DeAR, RankLLaMA and
Rank-DistiLLM train this way).

Each step takes one query's *group* of judged passages (``group_size``, labels
mixed) and scores every passage exactly as the SDK strategy will read it:

* ``yesno``: ``s = log P(yes) - log P(no)`` at the answer position (label
  variants summed, the tokens ``Reranker`` reads; its score is ``sigmoid(s)``);
* ``graded``: ``s = E[label]`` under the softmax over the label tokens
  (``Reranker``'s score is ``s / 2``), times ``graded_scale`` in the pair loss.

Loss = RankNet over every pair of the group with different labels, weighted by
the label gap (``log(1 + exp(-(s_i - s_j)))`` for ``label_i > label_j``), plus
``pointwise_weight`` x the pointwise cross-entropy of the label, which keeps
the probabilities thresholdable (a pair loss alone only fixes differences).
Only the logits of the answer position are computed. The result is a LoRA
adapter folder with ``interank.json`` like ``distill``'s: ``Reranker(out)``
loads it with its strategy.

On a CPU, ``train_layers`` makes this affordable: LoRA goes on the top layers
only, the frozen layers below run once per row
(:class:`~interank_trainer.generative.layercache.LayerCache`), and each step runs the top
layers alone. ``random_negatives`` adds passages of other queries as label-0
rows, next to the judged passages that are all on their query's topic.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interank_sdk.card import ModelCard
from interank_sdk.errors import InvalidInputError
from interank_sdk.prompts import get_template
from interank_sdk.training import (
    GRADED_LABELS, YESNO_LABELS, expected_label, label_logprobs_from_logits, log_odds, quiet_peft,
)

from .._deps import need
from ..config import build_config, config_dict
from ..data.formats import read_manifest, read_rows
from .config import RankConfig
from .layercache import LayerCache, num_layers
from .models import autocast_context, load_student, lora_config, save_adapter

logger = logging.getLogger(__name__)


@dataclass
class RankReport:
    """What :func:`rank` did.

    Attributes:
        out: the adapter folder.
        strategy: ``yesno`` or ``graded`` (in ``interank.json``).
        rows: judged passages used; queries: queries with a usable group.
        dropped: rows not used, by reason (``too_long``, ``one_label_query``).
        steps: optimisation steps (one group each).
        pairs: ordered pairs the pair loss saw.
        loss: mean loss per logging window.
        spread: mean standard deviation of the scores within a group, per logging
            window (log-odds for ``yesno``). A spread that shrinks towards 0 while the
            loss settles at ``ln 2`` plus the pointwise prior means the scorer
            collapsed to one score for every passage instead of learning to order
            them (a warning is logged).
        seconds: wall time.
    """

    out: Path
    strategy: str
    rows: int = 0
    queries: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    steps: int = 0
    pairs: int = 0
    loss: list[float] = field(default_factory=list)
    spread: list[float] = field(default_factory=list)
    seconds: float = 0.0


def _query_key(row: dict[str, Any]) -> str:
    return str(row.get("qid") or row.get("pair_id") or row["query"])


def sample_group(rows: list[dict[str, Any]], size: int, rng: random.Random) -> list[dict[str, Any]]:
    """Up to ``size`` rows of one query, drawn round-robin over its labels so that every label present appears."""
    by_label: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_label[int(r["label"])].append(r)
    pools = [rng.sample(v, len(v)) for _, v in sorted(by_label.items(), reverse=True)]
    group: list[dict[str, Any]] = []
    while len(group) < size and any(pools):
        for pool in pools:
            if pool and len(group) < size:
                group.append(pool.pop())
    return group


def random_negatives(rows: list[dict[str, Any]], per_query: int, rng: random.Random) -> list[dict[str, Any]]:
    """``per_query`` passages of other queries for each query, as label-0 rows (``"negative": "random"``)."""
    by_query: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_query[_query_key(r)].append(r)
    passages = sorted({r["passage"] for r in rows})
    out: list[dict[str, Any]] = []
    for key in sorted(by_query):
        own = {r["passage"] for r in by_query[key]}
        pool = [p for p in passages if p not in own]
        first = by_query[key][0]
        for passage in rng.sample(pool, min(per_query, len(pool))):
            out.append({"query": first["query"], "passage": passage, "label": 0, "qid": key, "negative": "random"})
    return out


def pair_loss(scores: Any, labels: Any) -> tuple[Any, int]:
    """RankNet over the pairs with different labels, weighted by the label gap; ``(loss, pairs)``."""
    torch = need("torch")
    diff = scores[:, None] - scores[None, :]  # s_i - s_j
    gap = (labels[:, None] - labels[None, :]).clamp(min=0).to(scores.dtype)  # > 0 where label_i > label_j
    pairs = int((gap > 0).sum())
    if pairs == 0:
        return scores.sum() * 0.0, 0
    loss = (torch.nn.functional.softplus(-diff) * gap).sum() / gap.sum()
    return loss, pairs


def rank(config: RankConfig | None = None, /, **kwargs: Any) -> RankReport:
    """Fine-tune a LoRA scorer with a ranking loss over groups of one query's judged passages.

    Args:
        config: a :class:`RankConfig`, or its fields as keyword arguments.

    Returns:
        a :class:`RankReport`; ``Reranker(config.out)`` scores with the trained strategy.

    Raises:
        InvalidInputError: bad data (file and line named), or no query with two different labels.

    Example:
        >>> from interank_trainer import prepare_judgments, rank
        >>> prepare_judgments(data="../shared/data/trec-dl21-passage", out="dl21")  # doctest: +SKIP
        >>> rank(data="dl21", student="Qwen/Qwen2.5-0.5B-Instruct", out="adapter", max_steps=300)  # doctest: +SKIP
    """
    config = build_config(RankConfig, config, kwargs)
    torch = need("torch")
    peft = need("peft")
    from tqdm.auto import tqdm

    start = time.perf_counter()
    rows = read_rows(config.data)
    rng = random.Random(config.seed)
    if config.random_negatives:
        rows = rows + random_negatives(rows, config.random_negatives, rng)
    template = get_template(config.strategy, config.prompt_version)
    backend = load_student(config.student, device=config.device, dtype=config.dtype, quantization=config.quantization)
    report = RankReport(out=Path(config.out).expanduser(), strategy=config.strategy)

    # prompts exactly as Reranker renders them; rows that do not fit are dropped, never cut
    encoded = backend.encode([backend.render(template.render(r["query"], r["passage"])) for r in rows])
    by_query: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r, ids in zip(rows, encoded):
        if len(ids) > config.max_length:
            report.dropped["too_long"] = report.dropped.get("too_long", 0) + 1
            continue
        by_query[_query_key(r)].append({"ids": ids, "label": int(r["label"])})
    groups = {q: rs for q, rs in by_query.items() if len({r["label"] for r in rs}) > 1}
    one_label = sum(len(rs) for q, rs in by_query.items() if q not in groups)
    if one_label:
        report.dropped["one_label_query"] = one_label
    if not groups:
        raise InvalidInputError(f"no query has passages with two different labels to rank ({report.dropped})")
    kept = [r for rs in groups.values() for r in rs]
    for i, r in enumerate(kept):
        r["index"] = i
    report.rows = len(kept)
    report.queries = len(groups)

    labels, values = YESNO_LABELS if config.strategy == "yesno" else GRADED_LABELS  # as the strategy reads them
    label_ids = [backend.label_token_ids(label) for label in labels]
    torch.manual_seed(config.seed)
    layers = num_layers(backend.model)
    first = layers - config.train_layers if config.train_layers and config.train_layers < layers else 0
    with quiet_peft():
        model = peft.get_peft_model(backend.model, lora_config(
            backend.model, r=config.lora_r, alpha=config.lora_alpha, dropout=config.lora_dropout,
            target_modules=config.target_modules, layers=list(range(first, layers)) if first else None))
    cache: LayerCache | None = None
    if first:
        # the layers below `first` are frozen: their output per row is computed once, each step runs the rest
        cache = LayerCache(model, first, backend)
        cache.fill([r["ids"] for r in kept], show_progress=config.show_progress)
        diff = cache.check([r["ids"] for r in kept], list(range(min(4, len(kept)))))
        logger.info("rank: LoRA on layers %d-%d of %d; layers below cached (check: max log-prob diff %.2g)",
                    first, layers - 1, layers, diff)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    steps = config.max_steps if config.max_steps > 0 else math.ceil(
        config.epochs * report.rows / config.group_size)
    logger.info("rank (%s): %d passages of %d queries, %d steps of %d passages, lr %g", config.strategy, report.rows,
                report.queries, steps, config.group_size, config.learning_rate)
    queries = list(groups)
    window: list[float] = []
    spreads: list[float] = []
    model.train()
    for step in tqdm(range(steps), desc="rank", unit="step", disable=not config.show_progress):
        if step % len(queries) == 0:
            rng.shuffle(queries)
        group = sample_group(groups[queries[step % len(queries)]], config.group_size, rng)
        target = torch.tensor([g["label"] for g in group], device=backend.device)
        with autocast_context(backend):
            if cache is not None:
                out = cache.forward([g["index"] for g in group], logits_to_keep=1)
            else:
                input_ids, mask, positions = backend.batch_tensors([g["ids"] for g in group])
                out = model(input_ids=input_ids, attention_mask=mask, position_ids=positions, logits_to_keep=1)
        # the SDK's own readout: label variants summed, then the yes/no log-odds or the graded expectation
        label_logp = label_logprobs_from_logits(out.logits[:, -1, :].float(), label_ids)
        if config.strategy == "yesno":
            scores = log_odds(label_logp)
            pointwise = torch.nn.functional.binary_cross_entropy_with_logits(
                scores, (target >= config.yes_threshold).float())
        else:  # E[label] (0..2): the strategy's score times the top value
            scores = expected_label(label_logp, values) * max(values) * config.graded_scale
            pointwise = torch.nn.functional.cross_entropy(label_logp, target)
        ranking, pairs = pair_loss(scores, target)
        loss = ranking + config.pointwise_weight * pointwise
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        report.pairs += pairs
        window.append(float(loss.detach()))
        spreads.append(float(scores.detach().std()))
        if (step + 1) % config.logging_steps == 0 or step + 1 == steps:
            report.loss.append(sum(window) / len(window))
            report.spread.append(sum(spreads) / len(spreads))
            logger.info("rank step %d/%d: loss %.4f, score spread %.4f (%d pairs in the last group)", step + 1, steps,
                        report.loss[-1], report.spread[-1], pairs)
            window, spreads = [], []
    report.steps = steps
    if len(report.spread) > 1 and report.spread[-1] < 0.2 * report.spread[0]:
        logger.warning(
            "rank: the score spread within a group fell from %.4f to %.4f: the scorer is collapsing to one score "
            "for every passage (too few steps or too high a learning rate for this data); check it before use",
            report.spread[0], report.spread[-1])
    model.eval()
    card = ModelCard(
        strategy=config.strategy,
        prompt_version=template.version,
        base_model=str(config.student),
        stage="rank",
        training={
            "yes_threshold": config.yes_threshold if config.strategy == "yesno" else None,
            "quantization": backend.quantization,
            "rows": report.rows,
            "queries": report.queries,
            "loss": report.loss,
            "spread": report.spread,
            "config": config_dict(config),
            "data": [read_manifest(p).get("source") for p in ([config.data] if isinstance(config.data, (str, Path))
                                                              else config.data)],
        },
    )
    save_adapter(model, backend.tokenizer, report.out, card)
    report.seconds = time.perf_counter() - start
    logger.info("rank: %d steps, %d pairs, %.0f s -> %s", report.steps, report.pairs, report.seconds, report.out)
    return report


__all__ = ["RankReport", "rank", "sample_group", "pair_loss", "random_negatives"]
