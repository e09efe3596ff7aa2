"""Synthetic queries for a bare corpus (InPars / Promptagator style), written and filtered by the teacher.

1. ``n`` passages are sampled from the corpus (seeded);
2. the teacher writes one search query per passage from a few-shot chat
   (:func:`interank_trainer.data.querygen.passage_querygen_prompt`, greedy, first line);
   queries that are too short, too long or copy a few-shot example are rejected
   and counted;
3. the teacher scores each (query, source passage) with its own strategy (for
   ``qlm``, the likelihood of the query given the passage: InPars' filter), and
   only the best ``keep_fraction`` of the queries are kept.

Every generated query and its score are appended to a cache file as they are
made, so an interrupted run resumes without generating a query twice.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interank_sdk.errors import InvalidInputError

from .formats import append_lines, iter_jsonl, read_progress
from .querygen import FEWSHOT_EXAMPLES, copies_example, parse_queries, passage_querygen_prompt

logger = logging.getLogger(__name__)

#: generated queries longer than this are rejected (``too_long``): search queries are short
MAX_QUERY_WORDS = 20


@dataclass
class SyntheticQuery:
    """A query the teacher wrote for ``source`` (a corpus passage id) and its score of that passage."""

    pool_id: str
    query: str
    source: str
    score: float


@dataclass
class SyntheticReport:
    """Counts of the query generation: sampled passages, queries written, rejected (by reason) and kept."""

    sampled: int = 0
    generated: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    kept: int = 0
    complete: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"sampled": self.sampled, "generated": self.generated, "rejected": dict(self.rejected),
                "kept": self.kept, "complete": self.complete}


def load_fewshot(path: str | Path | None) -> tuple[tuple[str, str], ...]:
    """Few-shot examples from a JSONL of ``{"passage", "query"}`` (``None``: the built-in ones)."""
    if path is None:
        return FEWSHOT_EXAMPLES
    path = Path(path).expanduser()
    if not path.is_file():
        raise InvalidInputError(f"few-shot file not found: {path}")
    examples = []
    for lineno, row in iter_jsonl(path):
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) and row[k].strip()
                                                for k in ("passage", "query")):
            raise InvalidInputError(f"{path}:{lineno}: expected non-empty 'passage' and 'query' strings")
        examples.append((row["passage"].strip(), row["query"].strip()))
    if not examples:
        raise InvalidInputError(f"{path}: no few-shot examples")
    return tuple(examples)


def synthetic_queries(
    teacher: Any,
    corpus: Mapping[str, str],
    *,
    n: int,
    keep_fraction: float,
    cache: Path,
    seed: int = 0,
    max_new_tokens: int = 32,
    examples: Sequence[tuple[str, str]] = FEWSHOT_EXAMPLES,
    batch_size: int = 8,
    show_progress: bool = True,
    deadline: float | None = None,
) -> tuple[list[SyntheticQuery], SyntheticReport]:
    """Write, score and filter one query for each of ``n`` sampled passages (resumable through ``cache``).

    Args:
        teacher: an :class:`interank_sdk.Reranker` whose backend can generate.
        corpus: doc id -> passage text as scored.
        n: passages to sample.
        keep_fraction: share of the valid queries kept, by the teacher's score of their source passage.
        cache: JSONL file of generated queries (appended; read back on resume).
        seed: sampling seed.
        max_new_tokens: token budget of one query.
        examples: few-shot examples ``(passage, query)``.
        batch_size: passages per generation call.
        show_progress: progress bar.
        deadline: a ``time.perf_counter()`` value: no new batch is written after it;
            the queries written so far are cached, none is returned and
            ``report.complete`` is ``False`` (a rerun goes on writing).

    Returns:
        the kept queries (in sample order) and the counts.
    """
    from tqdm.auto import tqdm

    ids = sorted(corpus)
    sample = random.Random(seed).sample(ids, min(n, len(ids)))
    done = read_progress(cache, "source")
    todo = [d for d in sample if d not in done]
    report = SyntheticReport(sampled=len(sample))
    with cache.open("a", encoding="utf-8") as handle, \
            tqdm(total=len(sample), initial=len(sample) - len(todo), desc="write queries", unit="passage",
                 disable=not show_progress) as bar:
        for start in range(0, len(todo), batch_size):
            if deadline is not None and time.perf_counter() > deadline:
                report.complete = False
                break
            chunk = todo[start:start + batch_size]
            prompts = [passage_querygen_prompt(corpus[d], tuple(examples)) for d in chunk]
            generations = teacher.backend.generate(prompts, max_new_tokens=max_new_tokens, stop=("\n",))
            entries: list[dict[str, Any]] = []
            for doc_id, generation in zip(chunk, generations):
                parsed = parse_queries(generation.text.split("\n")[0], 1, max_words=MAX_QUERY_WORDS)
                reason = None if parsed.queries else (sorted(parsed.reasons)[0] if parsed.reasons else "empty")
                if parsed.queries and copies_example(parsed.queries[0], tuple(examples)):
                    parsed.queries, reason = [], "copied_example"
                entries.append({"source": doc_id, "query": parsed.queries[0] if parsed.queries else None,
                                "rejected": reason, "score": None})
            valid = [e for e in entries if e["query"]]
            if valid:
                scores = teacher.score_batch([e["query"] for e in valid], [[corpus[e["source"]]] for e in valid])
                for entry, (score,) in zip(valid, scores):
                    if math.isfinite(score):
                        entry["score"] = float(score)
                    else:
                        entry["query"], entry["rejected"] = None, "teacher_non_finite"
            append_lines(handle, [json.dumps(e, ensure_ascii=False) + "\n" for e in entries])
            for entry in entries:
                done[entry["source"]] = entry
            bar.update(len(chunk))
    if not report.complete:
        report.generated = sum(1 for e in done.values() if e["query"])
        logger.warning("synthetic queries: the time budget ended after %d of %d passages; rerun to go on",
                       len(done), len(sample))
        return [], report
    entries = [done[d] for d in sample]
    report.generated = sum(1 for e in entries if e["query"])
    for entry in entries:
        if entry["rejected"]:
            report.rejected[entry["rejected"]] = report.rejected.get(entry["rejected"], 0) + 1
    valid = [e for e in entries if e["query"]]
    keep = math.ceil(keep_fraction * len(valid))
    best = {e["source"] for e in sorted(valid, key=lambda e: (-e["score"], e["source"]))[:keep]}
    report.rejected["filtered_by_teacher_score"] = len(valid) - len(best)
    kept = [SyntheticQuery(f"syn:{e['source']}", e["query"], e["source"], e["score"])
            for e in entries if e["source"] in best]
    report.kept = len(kept)
    logger.info("synthetic queries: %d passages, %d queries written, %d kept (rejected %s)",
                report.sampled, report.generated, report.kept, report.rejected)
    return kept, report


__all__ = ["SyntheticQuery", "SyntheticReport", "load_fewshot", "synthetic_queries"]
