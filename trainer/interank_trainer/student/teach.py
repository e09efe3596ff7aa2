"""Teacher scores over candidate pools: the data a cross-encoder student is distilled from (resumable).

:func:`teach` builds the pools of one source (:mod:`interank_trainer.data.pools`:
judgments + a run, QA pairs, or a bare corpus with synthetic queries), cuts
the fixed, ordered list of pools into chunks of ``pools_per_call`` and scores
each chunk with one ``Reranker.score_batch`` call of the teacher (any
strategy, any backend: qlm / graded / reasoning LLMs, a classifier, ...).

The output folder holds:

* ``scores.jsonl``: one row per pool, ``{"pool_id", "source", "query",
  "doc_ids", "docs", "origins", "grades", "positives", "teacher_scores"}``,
  readable with ``datasets.load_dataset("json", data_files=".../scores.jsonl")``;
* ``progress.jsonl``: the chunks done (with the pools that failed in them);
* ``failures.jsonl``: every pool the teacher could not score, with the error;
* ``manifest.json``: settings, teacher, counts by reason, pairs per second;
* ``synthetic_queries.jsonl`` (corpus source): every query the teacher wrote.

A chunk's rows are appended and made durable before the chunk is recorded as
done; a rerun with the same settings skips the done chunks and drops the rows
of a chunk that was interrupted half-way, so nothing is redone or duplicated.
The pools, their order and the chunks depend only on the settings, so the
scores do not depend on interruptions or on the runner: ``ray=...``
(:mod:`interank_trainer.student.teach_ray`) sends the same chunks to Ray actors and
writes the same rows.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interank_sdk.errors import InvalidInputError

from .. import __version__
from ..config import build_config, config_dict
from ..data.formats import (
    FORMAT, MANIFEST_FILE, PROGRESS_FILE, append_lines, file_digest, iter_jsonl, prune_rows, read_manifest,
    read_progress, write_json,
)
from ..data.pools import Pool, PoolProblems, corpus_pools, judgment_pools, load_corpus_passages, qa_pools
from ..teacher import TeacherSpec
from .config import TeachConfig

logger = logging.getLogger(__name__)

SCORES_FILE = "scores.jsonl"
FAILURES_FILE = "failures.jsonl"
SYNTHETIC_FILE = "synthetic_queries.jsonl"
#: settings that change what is written: a resumed run must match them
_CONTENT_SETTINGS = (
    "teacher_strategy", "teacher_backend", "teacher_dtype", "teacher_quantization", "teacher_max_length", "run",
    "min_positive_grade", "require_positive", "max_queries", "max_passage_words", "synthetic_queries",
    "keep_fraction", "query_max_new_tokens", "pools_per_call",
)


class NoPoolError(InvalidInputError):
    """The source gave no pool the teacher could score (every candidate left out; counts in the message)."""


@dataclass
class TeachReport:
    """What :func:`teach` did (also in ``manifest.json``).

    Attributes:
        out: the output folder.
        source: ``"judgments"``, ``"qa"`` or ``"corpus"``.
        pools_total: pools built (after dropping bad ones).
        pools_done: pools with teacher scores in ``scores.jsonl`` (this run and earlier ones).
        pools_resumed: pools an earlier run had scored.
        pairs: (query, passage) pairs in ``scores.jsonl``.
        pairs_this_run: pairs the teacher scored in this run.
        dropped: what was left out, by reason: pool building (``no_positive``,
            ``empty_passage``, ``duplicate_passage_id``, ``missing_passage``...) and
            teacher failures (``teacher_error``, ``teacher_non_finite``).
        synthetic: query-generation counts (corpus source).
        teacher: the teacher's description.
        seconds: wall time of this run.
        scoring_seconds: time spent in teacher calls.
        pairs_per_second: ``pairs_this_run / scoring_seconds``.
        pairs_per_second_all: pairs over the scoring time of every run that wrote
            into ``out`` (the teacher's rate, also when this run had nothing left to do).
        stopped: the ``max_minutes`` budget ended this run before every pool was scored.
    """

    out: Path
    source: str
    pools_total: int = 0
    pools_done: int = 0
    pools_resumed: int = 0
    pairs: int = 0
    pairs_this_run: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    synthetic: dict[str, Any] = field(default_factory=dict)
    teacher: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    scoring_seconds: float = 0.0
    pairs_per_second_all: float = 0.0
    stopped: bool = False

    @property
    def pairs_per_second(self) -> float:
        return self.pairs_this_run / self.scoring_seconds if self.scoring_seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "pools_total": self.pools_total, "pools_done": self.pools_done,
            "pools_resumed": self.pools_resumed, "pairs": self.pairs, "pairs_this_run": self.pairs_this_run,
            "dropped": dict(self.dropped), "synthetic": dict(self.synthetic), "teacher": dict(self.teacher),
            "seconds": round(self.seconds, 2), "scoring_seconds": round(self.scoring_seconds, 2),
            "pairs_per_second": round(self.pairs_per_second, 3),
            "pairs_per_second_all": round(self.pairs_per_second_all, 3), "stopped": self.stopped,
        }


# ----------------------------------------------------------------- teacher
def teacher_of(config: TeachConfig) -> TeacherSpec:
    """The teacher of ``config``; ``threads="auto"`` goes to its ``Reranker`` (the SDK's policy picks the threads
    before each call, fewer while other processes keep cores busy)."""
    return TeacherSpec.of(config, **({"threads": "auto"} if config.threads == "auto" else {}))


# ------------------------------------------------------------------ scoring
def score_chunk(teacher: Any, rows: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Teacher scores for a chunk of pool rows: ``(scored rows, failures)``.

    The chunk is one ``score_batch`` call. If it raises, each pool is retried
    alone, and a pool that still fails is a failure (``teacher_error``, with the
    error text); a pool with a NaN or infinite score is a failure too
    (``teacher_non_finite``). Failures are returned, never written as rows.
    """
    try:
        scores = teacher.score_batch([r["query"] for r in rows], [[{"text": t} for t in r["docs"]] for r in rows])
    except Exception as exc:  # noqa: BLE001 - a teacher may fail in many ways; each pool is retried alone below
        if len(rows) == 1:
            return [], [{"pool_id": rows[0]["pool_id"], "reason": "teacher_error", "error": f"{type(exc).__name__}: {exc}"}]
        logger.warning("teacher failed on a chunk of %d pools (%s); retrying them one by one", len(rows), exc)
        scored: list[dict[str, Any]] = []
        failed: list[dict[str, str]] = []
        for row in rows:
            ok, bad = score_chunk(teacher, [row])
            scored += ok
            failed += bad
        return scored, failed
    scored, failed = [], []
    for row, values in zip(rows, scores):
        values = [float(v) for v in values]
        if len(values) != len(row["docs"]) or not all(math.isfinite(v) for v in values):
            failed.append({"pool_id": row["pool_id"], "reason": "teacher_non_finite",
                           "error": f"scores {values[:8]}{'...' if len(values) > 8 else ''}"})
            continue
        scored.append({**row, "teacher_scores": values})
    return scored, failed


def _local_runner(teacher: Any, chunks: Sequence[tuple[int, list[dict[str, Any]]]]
                  ) -> Iterator[tuple[int, list[dict[str, Any]], list[dict[str, str]]]]:
    for index, rows in chunks:
        scored, failed = score_chunk(teacher, rows)
        yield index, scored, failed


# --------------------------------------------------------------------- pools
def build_pools(config: TeachConfig, teacher: Any, out: Path, deadline: float | None = None
                ) -> tuple[list[Pool], PoolProblems, dict[str, Any]]:
    """The pools of ``config``'s source, in their fixed order, with the counts of what was left out.

    With a corpus source and a ``deadline`` (``time.perf_counter()``) that ends the
    query writing, no pool is returned (``synthetic["complete"]`` is ``False``): the
    pools depend on every written query, so they are built once all are written.
    """
    problems = PoolProblems()
    synthetic: dict[str, Any] = {}
    if config.source == "judgments":
        pools = judgment_pools(config.judgments, config.run, config.sampling,  # type: ignore[arg-type]
                               min_positive_grade=config.min_positive_grade, require_positive=config.require_positive,
                               max_words=config.max_passage_words, max_queries=config.max_queries, problems=problems)
    elif config.source == "qa":
        pools = qa_pools(config.qa, config.sampling, max_words=config.max_passage_words,  # type: ignore[arg-type]
                         max_queries=config.max_queries, problems=problems)
    else:
        from ..data.bm25 import BM25Index
        from ..data.synthetic import load_fewshot, synthetic_queries

        corpus = load_corpus_passages(config.corpus, config.max_passage_words)  # type: ignore[arg-type]
        empty = [d for d, text in corpus.items() if not text.strip()]
        problems.add("empty_passage", len(empty))
        corpus = {d: text for d, text in corpus.items() if text.strip()}
        if teacher is None:
            raise InvalidInputError("the corpus source needs a local teacher to write queries")
        kept, report = synthetic_queries(
            teacher, corpus, n=config.synthetic_queries, keep_fraction=config.keep_fraction, cache=out / SYNTHETIC_FILE,
            seed=config.sampling.seed, max_new_tokens=config.query_max_new_tokens,
            examples=load_fewshot(config.fewshot), batch_size=config.teacher_batch_size,
            show_progress=config.show_progress, deadline=deadline)
        synthetic = report.as_dict()
        if not report.complete:
            return [], problems, synthetic
        if config.max_queries is not None:
            kept = kept[: config.max_queries]
        ids = sorted(corpus)
        index = BM25Index([corpus[d] for d in ids])
        pools = corpus_pools([(q.pool_id, q.query, q.source) for q in kept], corpus, index, ids, config.sampling,
                             problems=problems)
    if not pools:
        raise NoPoolError(f"no usable pool from the {config.source} source (left out: {problems.counts})")
    return pools, problems, synthetic


def _settings(config: TeachConfig) -> dict[str, Any]:
    settings = {k: getattr(config, k) for k in _CONTENT_SETTINGS}
    settings["run"] = str(config.run) if config.source == "judgments" else None
    settings["teacher"] = teacher_of(config).name
    settings["source"] = config.source
    settings["sampling"] = config_dict(config.sampling)
    path = Path(getattr(config, config.source)).expanduser()
    source_file = path / "qrels.tsv" if config.source == "judgments" else path
    for what, file in (("--" + config.source, source_file), ("--fewshot", config.fewshot)):
        if file is not None and not Path(file).expanduser().is_file():
            raise InvalidInputError(f"{what}: file not found: {file}")
    settings["input_sha256"] = file_digest(source_file)
    settings["fewshot_sha256"] = file_digest(config.fewshot) if config.fewshot else None
    return settings


# --------------------------------------------------------------------- main
def teach(config: TeachConfig | None = None, /, **kwargs: Any) -> TeachReport:
    """Score candidate pools with a teacher ``Reranker`` and store them for student training (resumable).

    Args:
        config: a :class:`~interank_trainer.student.config.TeachConfig`, or its fields as keyword arguments.

    Returns:
        a :class:`TeachReport` (also written to ``OUT/manifest.json``).

    Raises:
        InvalidInputError: bad input files, no usable pool, or ``out`` holds
            scores made with other settings.

    Example:
        >>> from interank_trainer import teach
        >>> report = teach(out="dl21-scores", teacher="Qwen/Qwen2.5-0.5B-Instruct", teacher_strategy="qlm",
        ...                judgments="../shared/data/trec-dl21-passage")  # doctest: +SKIP
        >>> report.pairs, report.pairs_per_second  # doctest: +SKIP
        (2120, 5.4)
    """
    config = build_config(TeachConfig, config, kwargs)
    start = time.perf_counter()
    out = Path(config.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    settings = _settings(config)
    manifest = read_manifest(out)
    if manifest:
        if manifest.get("format") != FORMAT or manifest.get("kind") != "teacher-scores":
            raise InvalidInputError(f"{out} holds another kind of dataset; use a new --out")
        changed = sorted(k for k in settings if manifest.get("settings", {}).get(k) != settings[k])
        if changed:
            raise InvalidInputError(f"{out} was scored with other settings ({', '.join(changed)}); resume with the "
                                    "same settings or write to a new --out folder")
    spec = teacher_of(config)
    if config.ray is not None:
        spec.kwargs()  # a Ray run rebuilds the teacher from its name: fail before any work
    threads = _set_threads(config.threads)
    deadline = start + 60 * config.max_minutes if config.max_minutes is not None else None
    try:
        local_teacher = spec.build() if config.ray is None or config.source == "corpus" else None
        pools, problems, synthetic = build_pools(config, local_teacher, out, deadline)
        report = TeachReport(out=out, source=config.source, pools_total=len(pools), synthetic=synthetic)
        report.teacher = (local_teacher.backend.describe() if local_teacher is not None
                          else {"model": spec.name, "runner": f"ray ({config.ray})"})
        report.teacher["strategy"] = config.teacher_strategy
        if synthetic and not synthetic.get("complete", True):
            report.stopped = True
            report.seconds = time.perf_counter() - start
            logger.warning("teach stopped by max_minutes while writing queries; rerun the same command to resume")
            return report
        _run(config, pools, problems, report, local_teacher, settings, start, deadline)
    finally:
        _set_threads(threads)
    return report


def _run(config: TeachConfig, pools: list[Pool], problems: PoolProblems, report: TeachReport, teacher: Any,
         settings: dict[str, Any], start: float, deadline: float | None = None) -> None:
    out = report.out
    scores_path, progress_path, failures_path = out / SCORES_FILE, out / PROGRESS_FILE, out / FAILURES_FILE
    progress = read_progress(progress_path, "chunk")
    done_pools = {p for entry in progress.values() for p in entry["pools"]}
    removed = prune_rows(scores_path, done_pools, "pool_id")
    if removed:
        logger.info("discarded %d rows of a chunk interrupted before it was recorded", removed)
    size = config.pools_per_call
    chunks = [(i // size, [p.as_row() for p in pools[i:i + size] if p.pool_id not in done_pools])
              for i in range(0, len(pools), size)]
    todo = [(i, rows) for i, rows in chunks if rows and str(i) not in progress]
    report.pools_resumed = sum(1 for p in pools if p.pool_id in done_pools)
    if report.pools_resumed:
        logger.info("resuming %s: %d of %d pools already scored", out, report.pools_resumed, len(pools))
    base = {"format": FORMAT, "kind": "teacher-scores", "trainer_version": __version__, "settings": settings,
            "config": config_dict(config),
            "fields": {"teacher_scores": "the teacher's score of each passage, in the order of docs",
                       "grades": "human judgments (null: not judged)",
                       "positives": "known relevant (judged >= min_positive_grade, QA answer, synthetic source)"}}

    def totals(status: str) -> None:
        failures = read_progress(failures_path, "pool_id")
        dropped = dict(problems.counts)
        for failure in failures.values():
            dropped[failure["reason"]] = dropped.get(failure["reason"], 0) + 1
        report.dropped = dropped
        entries = read_progress(progress_path, "chunk").values()
        report.pools_done = sum(len(e["pools"]) for e in entries)
        report.pairs = sum(e["pairs"] for e in entries)
        seconds = sum(e.get("seconds", 0.0) for e in entries)
        report.pairs_per_second_all = report.pairs / seconds if seconds > 0 else 0.0
        report.seconds = time.perf_counter() - start
        write_json(out / MANIFEST_FILE, {**base, "status": status, **report.as_dict()})

    totals("running")
    from tqdm.auto import tqdm

    if config.ray is not None:
        from .teach_ray import ray_runner

        runner = ray_runner(teacher_of(config).kwargs(), todo, config)
    else:
        runner = _local_runner(teacher, todo)
    status = "interrupted"
    try:
        with scores_path.open("a", encoding="utf-8") as scores_f, progress_path.open("a", encoding="utf-8") as prog_f, \
                failures_path.open("a", encoding="utf-8") as fail_f, \
                tqdm(total=sum(len(r["docs"]) for _, rows in todo for r in rows), desc="teach", unit="pair",
                     disable=not config.show_progress) as bar:
            chunk_pairs = {i: sum(len(r["docs"]) for r in rows) for i, rows in todo}
            t0 = last = time.perf_counter()
            for index, scored, failed in runner:
                now = time.perf_counter()
                append_lines(scores_f, [json.dumps(r, ensure_ascii=False) + "\n" for r in scored])
                append_lines(fail_f, [json.dumps(f, ensure_ascii=False) + "\n" for f in failed])
                pairs = sum(len(r["docs"]) for r in scored)
                append_lines(prog_f, [json.dumps({"chunk": str(index), "pools": [r["pool_id"] for r in scored],
                                                  "failed": [f["pool_id"] for f in failed], "pairs": pairs,
                                                  "seconds": round(now - last, 4)}) + "\n"])
                last = now
                report.pairs_this_run += pairs
                report.scoring_seconds = now - t0
                bar.update(chunk_pairs[index])
                bar.set_postfix(pairs_per_s=f"{report.pairs_per_second:.2f}")
                if deadline is not None and now > deadline:
                    report.stopped = True
                    break
        status = "stopped" if report.stopped else "complete"
    finally:
        totals(status)
        if status != "complete":
            logger.warning("teach %s after %d of %d pools; rerun the same command to resume",
                           "stopped by max_minutes" if report.stopped else "interrupted", report.pools_done,
                           report.pools_total)
    if report.dropped:
        logger.warning("left out of %s (never trained on): %s", out, report.dropped)
    logger.info("teach: %d pairs in %.1f s of teacher calls (%.2f pairs/s); %d pools, %d pairs in %s",
                report.pairs_this_run, report.scoring_seconds, report.pairs_per_second, report.pools_done,
                report.pairs, out)


def _set_threads(threads: int | str | None) -> int | None:
    """Set torch's intra-op threads; returns the previous count (``None`` when nothing changed: ``None``, or
    ``"auto"``, which the teacher ``Reranker`` applies itself)."""
    if threads is None or threads == "auto":
        return None
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    return previous


def read_scores(folder: str | Path) -> list[dict[str, Any]]:
    """The rows of a :func:`teach` output folder (``scores.jsonl``)."""
    path = Path(folder).expanduser()
    file = path / SCORES_FILE if path.is_dir() else path
    if not file.is_file():
        raise InvalidInputError(f"teacher scores not found: {file} (expected a folder written by `interank-train teach`)")
    return [row for _, row in iter_jsonl(file)]


__all__ = ["SCORES_FILE", "FAILURES_FILE", "NoPoolError", "TeachReport", "teach", "score_chunk", "build_pools",
           "teacher_of", "read_scores"]
