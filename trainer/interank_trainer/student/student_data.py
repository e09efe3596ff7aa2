"""From teacher scores to a student's training data: validation, targets, held-out split, loss formats.

Targets, one per passage of a pool, in one place (:func:`pool_targets`):

* the teacher's scores are made comparable across queries: ``zscore`` (per
  query: minus the mean, over the standard deviation), ``log_zscore`` (the same
  on the log of the score: for query likelihoods and probabilities, whose
  differences live on a log scale) or ``raw``;
* a co-teacher (``co_teacher``: a cheap second model, e.g. a bi-encoder) scores
  the same pools once (:func:`co_teacher_scores`); with weight ``c`` the teacher
  target becomes the z-score of ``(1 - c) x teacher + c x z-scored co-teacher``;
* human grades are mixed in with ``label_weight`` (``w``): where a passage has
  a label (its judged grade; a QA answer or a synthetic query's source passage
  counts as the top grade; an unjudged passage as ``unjudged_grade`` unless
  that is ``None``), the target is ``(1 - w) x teacher + w x z-scored grade``;
  passages without a label keep the teacher's target. ``w = 0``: the teacher
  alone; ``w = 1``: the labels alone;
* each loss gets the form it expects (:data:`interank_trainer.student.losses.LOSS_TARGETS`):
  ``logit`` (the target above: RankNet + KD, ADR-MSE, PLD, RankNet, ListNet,
  MarginMSE's margins), ``gain`` (per query min-max scaled to ``[0, max_grade]``:
  LambdaLoss's gains) or ``prob`` (pointwise BCE: ``(1 - w) sigmoid(teacher) +
  w grade / max_grade``).

Pools are split by query (``eval_fraction`` of the pools, seeded) so no
held-out query is trained on. Rows that cannot be trained on are counted by
reason and left out (:func:`read_pools`).
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interank_sdk.errors import InvalidInputError
from interank_sdk.training import sigmoid

from ..teacher import TeacherSpec
from .config import StudentConfig
from .losses import LOSS_TARGETS
from .teach import read_scores

logger = logging.getLogger(__name__)


@dataclass
class StudentData:
    """Training examples (rows for ``datasets.Dataset.from_list``) and held-out pools.

    Attributes:
        train: examples in the loss's format (listwise: ``query``, ``docs``,
            ``labels``; ``bce``: ``query``, ``doc``, ``label``; ``margin-mse``:
            ``query``, ``positive``, ``negative``, ``label``).
        heldout: held-out pool rows (with ``targets``), for evaluation.
        pools_read: pool rows read from the score folders.
        skipped: rows or passages left out, by reason.
        train_pools, train_pairs: pools and (query, passage) pairs trained on.
    """

    train: list[dict[str, Any]]
    heldout: list[dict[str, Any]]
    pools_read: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    train_pools: int = 0
    train_pairs: int = 0


def read_pools(folders: Sequence[str | Path], *, max_pools: int | None = None
               ) -> tuple[list[dict[str, Any]], int, dict[str, int]]:
    """Rows of :func:`interank_trainer.teach` output folders, checked: ``(usable rows, rows read, left out)``.

    Left out and counted: a row missing a field (``malformed_row``), with
    scores that do not match its passages or are not finite
    (``bad_teacher_scores``), a repeated pool id (``duplicate_pool_id``),
    empty passages (``empty_passage``, the passage alone), and rows left with
    fewer than two passages (``too_few_passages``).
    """
    rows: list[dict[str, Any]] = []
    skipped: dict[str, int] = {}
    seen: set[str] = set()
    read = 0

    def skip(reason: str, n: int = 1) -> None:
        if n:
            skipped[reason] = skipped.get(reason, 0) + n

    for folder in folders:
        for row in read_scores(folder):
            read += 1
            if not isinstance(row, dict) or not all(k in row for k in ("pool_id", "query", "docs", "teacher_scores")) \
                    or not isinstance(row["query"], str) or not row["query"].strip() or not isinstance(row["docs"], list):
                skip("malformed_row")
                continue
            scores = row["teacher_scores"]
            if not isinstance(scores, list) or len(scores) != len(row["docs"]) or not all(
                    isinstance(s, (int, float)) and math.isfinite(s) for s in scores):
                skip("bad_teacher_scores")
                continue
            key = str(row["pool_id"])
            if key in seen:
                skip("duplicate_pool_id")
                continue
            seen.add(key)
            n = len(row["docs"])
            grades = row.get("grades") or [None] * n
            positives = row.get("positives") or [False] * n
            keep = [i for i, d in enumerate(row["docs"]) if isinstance(d, str) and d.strip()]
            skip("empty_passage", n - len(keep))
            if len(keep) < 2:
                skip("too_few_passages")
                continue
            rows.append({"pool_id": key, "query": row["query"], "docs": [row["docs"][i] for i in keep],
                         "teacher_scores": [float(scores[i]) for i in keep], "grades": [grades[i] for i in keep],
                         "positives": [bool(positives[i]) for i in keep], "source": row.get("source")})
            if max_pools is not None and len(rows) >= max_pools:
                return rows, read, skipped
    if not rows:
        raise InvalidInputError(f"no usable teacher scores in {', '.join(map(str, folders))} (left out: {skipped})")
    return rows, read, skipped


def _zscore(values: Sequence[float]) -> list[float]:
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return [(v - mean) / std if std > 1e-9 else 0.0 for v in values]


def pool_targets(row: dict[str, Any], config: StudentConfig) -> dict[str, list[float]]:
    """The targets of one pool's passages: ``{"logit", "gain", "prob"}`` (see the module docstring).

    Example:
        >>> from interank_trainer import StudentConfig
        >>> cfg = StudentConfig(scores="s", student="m", out="o", label_weight=0.5)
        >>> row = {"teacher_scores": [3.0, 1.0, 2.0], "grades": [0, 3, None], "positives": [False, True, False]}
        >>> [round(x, 3) for x in pool_targets(row, cfg)["logit"]]
        [0.259, 0.095, -0.354]
    """
    scores = row["teacher_scores"]
    if config.teacher_transform == "log_zscore":
        teacher = _zscore([math.log(max(s, 1e-30)) for s in scores])
    elif config.teacher_transform == "zscore":
        teacher = _zscore(scores)
    else:
        teacher = [float(s) for s in scores]
    if config.co_teacher is not None:
        if "co_teacher_scores" not in row:
            raise InvalidInputError(f"pool {row.get('pool_id')!r} has no co-teacher scores (co_teacher_scores first)")
        c = config.co_teacher_weight
        teacher = _zscore([(1 - c) * t + c * s for t, s in zip(teacher, _zscore(row["co_teacher_scores"]))])
    w = config.label_weight
    grades: list[float | None] = []
    for grade, positive in zip(row["grades"], row["positives"]):
        if grade is not None:
            grades.append(float(grade))
        elif positive:
            grades.append(float(config.max_grade))
        else:
            grades.append(None if config.unjudged_grade is None else float(config.unjudged_grade))
    known = [i for i, g in enumerate(grades) if g is not None]
    z_grades = dict(zip(known, _zscore([grades[i] for i in known]))) if known else {}
    logit = [(1 - w) * t + w * z_grades[i] if w and i in z_grades else t for i, t in enumerate(teacher)]
    prob = [(1 - w) * sigmoid(t) + w * min(grades[i] / config.max_grade, 1.0)  # type: ignore[operator]
            if w and i in z_grades else sigmoid(t) for i, t in enumerate(teacher)]
    lo, hi = min(logit), max(logit)
    gain = [config.max_grade * (x - lo) / (hi - lo) if hi > lo else 0.0 for x in logit]
    return {"logit": logit, "gain": gain, "prob": prob}




def split_pools(rows: list[dict[str, Any]], fraction: float, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(train, heldout)``: ``round(fraction x pools)`` pools (at least one when ``fraction > 0``) held out, seeded."""
    if fraction <= 0:
        return list(rows), []
    n = max(1, round(fraction * len(rows)))
    if n >= len(rows):
        raise InvalidInputError(f"eval_fraction {fraction} leaves no pool to train on ({len(rows)} pools)")
    held = set(random.Random(f"split|{seed}").sample(sorted(r["pool_id"] for r in rows), n))
    return [r for r in rows if r["pool_id"] not in held], [r for r in rows if r["pool_id"] in held]


def _lists(indices: list[int], first: list[list[int]], size: int, rng: random.Random) -> list[list[int]]:
    """Cut a pool's passage indices into lists of at most ``size``, dealing the groups of ``first`` (in
    order: each shuffled) round-robin before the rest, so each list gets its share of them."""
    if len(indices) <= size:
        return [indices]
    dealt: list[int] = []
    for group in first:
        group = [i for i in group if i not in dealt]
        rng.shuffle(group)
        dealt += group
    rest = [i for i in indices if i not in set(dealt)]
    rng.shuffle(rest)
    count = math.ceil(len(indices) / size)
    lists: list[list[int]] = [[] for _ in range(count)]
    for k, i in enumerate(dealt + rest):
        lists[k % count].append(i)
    return [sorted(lst) for lst in lists]


def triplets(rows: list[dict[str, Any]], targets: list[list[float]], seed: int) -> tuple[list[dict[str, str]], int]:
    """``(anchor, positive, negative)`` examples of the pools ``rows`` with their ``targets`` (see
    :mod:`interank_trainer.student.biencoder`) and the pairs they use. A pool whose lower half holds no passage but positives gives none."""
    rng = random.Random(f"triplets|{seed}")
    examples: list[dict[str, str]] = []
    pairs = 0
    for row, target in zip(rows, targets):
        positives = [i for i, p in enumerate(row["positives"]) if p] or [max(range(len(target)),
                                                                           key=target.__getitem__)]
        order = sorted(range(len(target)), key=lambda i: -target[i])
        lower = [i for i in order[len(order) // 2:] if i not in positives]
        if not lower:
            continue
        for i in positives:
            examples.append({"anchor": row["query"], "positive": row["docs"][i], "negative": row["docs"][rng.choice(lower)]})
            pairs += 2
    rng.shuffle(examples)
    return examples, pairs


def build_examples(rows: list[dict[str, Any]], config: StudentConfig, render: Any) -> tuple[list[dict[str, Any]], int]:
    """Training examples of ``rows`` in the format of ``config.loss``; returns ``(examples, pairs)``.

    ``render(query, passage) -> (query text, passage text)`` writes the pair as the
    student reads it (the identity for encoders; ``pair_format`` for causal LMs).
    """
    if config.loss == "mnrl":  # a bi-encoder's (anchor, positive, negative) triplets
        return triplets(rows, [pool_targets(r, config)["logit"] for r in rows], config.seed)
    form = LOSS_TARGETS[config.loss]
    rng = random.Random(f"examples|{config.seed}")
    examples: list[dict[str, Any]] = []
    pairs = 0
    for row in rows:
        targets = pool_targets(row, config)[form]
        texts = [render(row["query"], d) for d in row["docs"]]
        query = texts[0][0]
        if config.loss == "bce":
            examples += [{"query": query, "doc": t[1], "label": y} for t, y in zip(texts, targets)]
            pairs += len(texts)
        elif config.loss == "margin-mse":
            best = max(range(len(targets)), key=targets.__getitem__)
            for i in range(len(targets)):
                if i != best:
                    examples.append({"query": query, "positive": texts[best][1], "negative": texts[i][1],
                                     "label": targets[best] - targets[i]})
            pairs += len(texts)
        else:
            order = sorted(range(len(targets)), key=lambda i: -targets[i])
            positives = [i for i, p in enumerate(row["positives"]) if p]
            top = order[: math.ceil(len(order) / config.docs_per_query)]  # the target's best, one per list
            for chosen in _lists(list(range(len(texts))), [positives, top], config.docs_per_query, rng):
                if len(chosen) < 2:
                    continue
                examples.append({"query": query, "docs": [texts[i][1] for i in chosen],
                                 "labels": [targets[i] for i in chosen]})
                pairs += len(chosen)
    rng.shuffle(examples)
    return examples, pairs


def co_teacher_scores(rows: list[dict[str, Any]], config: StudentConfig) -> float:
    """Score every pool of ``rows`` with ``config.co_teacher`` (its raw scores, in ``row["co_teacher_scores"]``).

    Returns the co-teacher's pairs per second. Non-finite scores raise: a
    co-teacher that cannot be read is never mixed in.
    """
    import time

    threads = {"threads": "auto"} if config.threads == "auto" else {}
    reranker = TeacherSpec(config.co_teacher, strategy=config.co_teacher_strategy, device=config.device,
                           options={"show_progress": config.show_progress, **threads}).build()
    pairs = [(row["query"], d) for row in rows for d in row["docs"]]
    start = time.perf_counter()
    scores = [float(s) for s in reranker.predict(pairs, raw=True)]
    seconds = time.perf_counter() - start
    if not all(math.isfinite(s) for s in scores):
        raise InvalidInputError(f"the co-teacher {config.co_teacher} returned non-finite scores")
    i = 0
    for row in rows:
        row["co_teacher_scores"] = scores[i:i + len(row["docs"])]
        i += len(row["docs"])
    logger.info("co-teacher %s scored %d pairs at %.0f pairs/s", config.co_teacher, len(pairs),
                len(pairs) / max(seconds, 1e-9))
    return len(pairs) / max(seconds, 1e-9)


def prepare_student_data(config: StudentConfig, render: Any) -> StudentData:
    """Read, check, split and convert the teacher scores of ``config.scores`` (and the co-teacher's, if any)."""
    folders = config.scores if isinstance(config.scores, (list, tuple)) else [config.scores]
    rows, read, skipped = read_pools(list(folders), max_pools=config.max_pools)
    if config.co_teacher is not None:
        co_teacher_scores(rows, config)
    train_rows, heldout = split_pools(rows, config.eval_fraction, config.seed)
    for row in heldout:
        row["targets"] = pool_targets(row, config)
    train, pairs = build_examples(train_rows, config, render)
    if not train:
        raise InvalidInputError("no training example could be built from the teacher scores")
    if skipped:
        logger.warning("left out of the student's data (never trained on): %s", skipped)
    return StudentData(train=train, heldout=heldout, pools_read=read, skipped=skipped, train_pools=len(train_rows),
                       train_pairs=pairs)


__all__ = ["StudentData", "read_pools", "pool_targets", "co_teacher_scores", "split_pools", "triplets", "build_examples", "prepare_student_data"]
