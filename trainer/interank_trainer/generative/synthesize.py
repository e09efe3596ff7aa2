"""Stage 1, synthesize: a teacher writes queries for QA pairs and judges candidate passages.

For each QA pair (``{"question", "answer"}``):

1. the teacher writes up to ``num_queries`` search queries (InteRank's
   query-generation prompt, :mod:`interank_trainer.data.querygen`); the question
   itself can be a query too (``include_question``);
2. each query gets candidate passages: the pair's own answer, BM25 hard
   negatives from the other pairs' answers (``bm25s``), random other answers,
   and optionally BM25 picks from a user corpus;
3. the teacher (:class:`~interank_trainer.teacher.TeacherSpec`, ``reasoning`` strategy)
   judges every (query, passage) with an explanation and a 0/1/2
   label through the SDK's own :class:`interank_sdk.Reranker`
   (``rerank_batch(..., explain=True)``, the ``reasoning`` strategy: label read
   as a distribution after ``Relevance Label:``); any backend that can generate
   works (transformers, vLLM, an OpenAI-compatible server);
4. judgments that are malformed (the teacher did not write the label marker
   itself, an empty explanation, a cut passage, a label below
   ``min_label_confidence``) are counted by reason and never written as
   training data.

Rows are appended to ``data.jsonl`` and flushed after each QA pair, then the
pair is recorded in ``progress.jsonl``; a rerun with the same settings skips
the pairs already done (rows of a pair interrupted half-way are discarded and
redone), so nothing is duplicated. Everything is deterministic for a seed
(greedy generation, seeded random negatives).
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interank_sdk.errors import InvalidInputError
from interank_sdk.eval import QAPair, load_qa_pairs

from .. import __version__
from ..config import build_config, config_dict
from ..data.bm25 import BM25Index
from ..data.formats import (
    DATA_FILE, FORMAT, MANIFEST_FILE, PROGRESS_FILE, append_lines, file_digest, label_histogram, make_row, prune_rows,
    read_manifest, read_progress, write_json,
)
from ..data.passages import clean_text, load_passages
from ..data.querygen import parse_queries, querygen_prompt
from ..teacher import TeacherSpec
from .config import SynthesizeConfig

logger = logging.getLogger(__name__)

#: settings that change the content of the dataset: a rerun must match them
_CONTENT_SETTINGS = (
    "num_queries", "include_question", "hard_negatives", "random_negatives", "corpus_negatives", "seed",
    "max_passage_words", "max_query_words", "max_generated_query_words", "query_max_new_tokens", "missing_marker",
    "min_label_confidence", "teacher_max_new_tokens", "teacher_prompt_version",
)


@dataclass
class SynthesisReport:
    """What :func:`synthesize` did (also written to ``manifest.json``).

    Attributes:
        out: the dataset folder.
        pairs_total: QA pairs to process (after ``max_pairs``).
        pairs_done: pairs finished, this run and earlier ones.
        pairs_resumed: pairs skipped because an earlier run finished them.
        rows: training rows in ``data.jsonl``.
        judgments: teacher judgments made (kept + dropped).
        dropped: judgments not used as training data, by reason
            (``missing_marker``, ``empty_explanation``, ``truncated``, ``low_confidence``).
        missing_marker: judgments whose explanation lacked the teacher's own marker.
        hit_token_budget: explanations cut by the token budget.
        queries_generated: queries the teacher wrote and that were kept.
        queries_rejected: generated lines rejected by reason.
        pairs_without_generated_queries: pairs where the teacher wrote no usable query.
        invalid_qa: QA rows skipped as invalid (``skip_invalid``), by reason.
        labels: label histogram of the kept rows.
        seconds: wall time of this run.
    """

    out: Path
    pairs_total: int = 0
    pairs_done: int = 0
    pairs_resumed: int = 0
    rows: int = 0
    judgments: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    missing_marker: int = 0
    hit_token_budget: int = 0
    queries_generated: int = 0
    queries_rejected: dict[str, int] = field(default_factory=dict)
    pairs_without_generated_queries: int = 0
    invalid_qa: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "pairs_total": self.pairs_total, "pairs_done": self.pairs_done, "pairs_resumed": self.pairs_resumed,
            "rows": self.rows, "judgments": self.judgments, "dropped": dict(self.dropped),
            "dropped_total": self.dropped_total, "missing_marker": self.missing_marker,
            "hit_token_budget": self.hit_token_budget, "queries_generated": self.queries_generated,
            "queries_rejected": dict(self.queries_rejected),
            "pairs_without_generated_queries": self.pairs_without_generated_queries,
            "invalid_qa": dict(self.invalid_qa), "labels": dict(self.labels), "seconds": round(self.seconds, 2),
        }


# ----------------------------------------------------------------- progress
def _settings(config: SynthesizeConfig, teacher_name: str) -> dict[str, Any]:
    settings = {k: getattr(config, k) for k in _CONTENT_SETTINGS}
    settings["teacher"] = teacher_name
    settings["qa_sha256"] = file_digest(Path(config.qa).expanduser())
    settings["corpus_sha256"] = file_digest(Path(config.corpus).expanduser()) if config.corpus else None
    return settings


# --------------------------------------------------------------------- main
def synthesize(config: SynthesizeConfig | None = None, /, **kwargs: Any) -> SynthesisReport:
    """Build a judged training set from QA pairs with a teacher model (resumable).

    Args:
        config: a :class:`SynthesizeConfig`, or its fields as keyword arguments.

    Returns:
        a :class:`SynthesisReport` (also written to ``OUT/manifest.json``).

    Raises:
        InvalidInputError: bad QA rows (see :func:`load_qa_pairs`), or ``out``
            holds a dataset made with other settings.

    Example:
        >>> from interank_trainer import synthesize
        >>> report = synthesize(qa="qa.jsonl", teacher="Qwen/Qwen2.5-7B-Instruct", out="data/")  # doctest: +SKIP
        >>> report.rows, report.dropped  # doctest: +SKIP
        (1520, {'missing_marker': 31})
    """
    config = build_config(SynthesizeConfig, config, kwargs)
    start = time.perf_counter()
    pairs, invalid = load_qa_pairs(config.qa, skip_invalid=config.skip_invalid)
    if config.max_pairs is not None:
        pairs = pairs[: config.max_pairs]
    out = Path(config.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    teacher = TeacherSpec.of(config, strategy="reasoning").build()
    settings = _settings(config, str(teacher.model_name))
    manifest = read_manifest(out)
    if manifest:
        if manifest.get("format") != FORMAT or manifest.get("source") != "synthesize":
            raise InvalidInputError(f"{out} holds another kind of dataset ({manifest.get('source')}); use a new --out")
        old = manifest.get("settings", {})
        changed = sorted(k for k in settings if old.get(k) != settings[k])
        if changed:
            raise InvalidInputError(
                f"{out} was synthesized with other settings ({', '.join(changed)}); "
                "resume with the same settings or write to a new --out folder"
            )
    data_path, progress_path = out / DATA_FILE, out / PROGRESS_FILE
    done = read_progress(progress_path, "pair_id")
    removed = prune_rows(data_path, set(done), "pair_id")
    if removed:
        logger.info("discarded %d rows of a QA pair interrupted before it finished", removed)
    report = SynthesisReport(out=out, pairs_total=len(pairs), invalid_qa=invalid)
    todo = [p for p in pairs if p.id not in done]
    report.pairs_resumed = len(pairs) - len(todo)
    if report.pairs_resumed:
        logger.info("resuming %s: %d of %d QA pairs already done", out, report.pairs_resumed, len(pairs))

    base_manifest = {
        "format": FORMAT, "source": "synthesize", "trainer_version": __version__,
        "teacher": str(teacher.model_name), "teacher_backend": teacher.backend.describe(),
        "settings": settings, "config": config_dict(config),
        "fields": {"prompt": "chat messages of the SDK prompt template of `strategy`",
                   "completion": "the target: explanation, then 'Relevance Label: <label> ##' (reasoning)",
                   "label": "teacher label 0/1/2 (argmax of label_probs)",
                   "label_probs": "teacher P(0), P(1), P(2) read after 'Relevance Label:'"},
    }
    write_json(out / MANIFEST_FILE, {**base_manifest, "status": "running", **_totals(done, report).as_dict()})

    answers = [clean_text(p.answer, config.max_passage_words) for p in pairs]
    pool = BM25Index(answers)
    corpus_pool = None
    if config.corpus and config.corpus_negatives > 0:
        corpus_pool = BM25Index([clean_text(t, config.max_passage_words) for t in load_passages(config.corpus)])
    position = {p.id: i for i, p in enumerate(pairs)}

    from tqdm.auto import tqdm

    interrupted = True
    try:
        with data_path.open("a", encoding="utf-8") as data_f, progress_path.open("a", encoding="utf-8") as prog_f, \
                tqdm(total=len(pairs), initial=report.pairs_resumed, desc="synthesize", unit="pair",
                     disable=not config.show_progress) as bar:
            for pair in todo:
                rows, entry = _process_pair(pair, position[pair.id], pairs, answers, pool, corpus_pool, teacher, config)
                append_lines(data_f, [json.dumps(r, ensure_ascii=False) + "\n" for r in rows])
                append_lines(prog_f, [json.dumps(entry) + "\n"])
                done[pair.id] = entry
                bar.update(1)
                bar.set_postfix(rows=sum(e["rows"] for e in done.values()),
                                dropped=sum(sum(e["dropped"].values()) for e in done.values()))
        interrupted = False
    finally:
        report = _totals(done, report)
        report.seconds = time.perf_counter() - start
        status = "interrupted" if interrupted else "complete"
        write_json(out / MANIFEST_FILE, {**base_manifest, "status": status, **report.as_dict()})
        if interrupted:
            logger.warning("synthesize interrupted after %d of %d pairs; rerun the same command to resume",
                           report.pairs_done, report.pairs_total)
    if report.dropped_total:
        logger.warning(
            "%d of %d teacher judgments were malformed and not used as training data: %s",
            report.dropped_total, report.judgments, report.dropped,
        )
    logger.info("synthesize: %d rows from %d QA pairs in %s (labels %s)", report.rows, report.pairs_done, out,
                report.labels)
    return report


def _totals(done: dict[str, dict[str, Any]], report: SynthesisReport) -> SynthesisReport:
    """Recompute the counts from the progress entries (so they cover earlier runs too)."""
    report.pairs_done = len(done)
    report.rows = sum(e["rows"] for e in done.values())
    report.judgments = sum(e["judgments"] for e in done.values())
    report.missing_marker = sum(e["missing_marker"] for e in done.values())
    report.hit_token_budget = sum(e["hit_token_budget"] for e in done.values())
    report.queries_generated = sum(e["queries_generated"] for e in done.values())
    report.pairs_without_generated_queries = sum(e["queries_generated"] == 0 for e in done.values())
    report.dropped = _sum_dicts(e["dropped"] for e in done.values())
    report.queries_rejected = _sum_dicts(e["queries_rejected"] for e in done.values())
    report.labels = _sum_dicts([label_histogram([])] + [e["labels"] for e in done.values()])
    return report


def _sum_dicts(dicts) -> dict[str, int]:
    total: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            total[k] = total.get(k, 0) + v
    return total


def _process_pair(
    pair: QAPair,
    pos: int,
    pairs: list[QAPair],
    answers: list[str],
    pool: BM25Index,
    corpus_pool: BM25Index | None,
    teacher: Any,
    config: SynthesizeConfig,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Queries, candidates and judgments of one QA pair: its rows and its progress entry."""
    question = clean_text(pair.question, config.max_query_words)
    generation = teacher.backend.generate(
        [querygen_prompt(question, answers[pos], config.num_queries)],
        max_new_tokens=config.query_max_new_tokens,
    )[0]
    parsed = parse_queries(generation.text, config.num_queries, max_words=config.max_generated_query_words,
                           exclude=question)
    queries: list[tuple[str, str]] = [("question", question)] if config.include_question else []
    queries += [("generated", q) for q in parsed.queries]
    if not queries:  # the teacher wrote nothing usable: fall back on the question
        queries = [("question", question)]

    rng = random.Random(f"{config.seed}|{pair.id}")
    own = {i for i, text in enumerate(answers) if text == answers[pos]}  # the answer and exact duplicates of it
    documents: list[list[dict[str, Any]]] = []
    for _, query in queries:
        docs = [{"text": answers[pos], "metadata": {"candidate": "positive", "source_pair": pair.id}}]
        chosen = set(own)
        for i in pool.search(query, config.hard_negatives, chosen):
            chosen.add(i)
            docs.append({"text": answers[i], "metadata": {"candidate": "bm25", "source_pair": pairs[i].id}})
        others = [i for i in range(len(answers)) if i not in chosen]
        for i in rng.sample(others, min(config.random_negatives, len(others))):
            docs.append({"text": answers[i], "metadata": {"candidate": "random", "source_pair": pairs[i].id}})
        if corpus_pool is not None:
            for i in corpus_pool.search(query, config.corpus_negatives, set()):
                docs.append({"text": corpus_pool.passages[i], "metadata": {"candidate": "corpus", "source_pair": None}})
        documents.append(docs)

    # one document per entry: the batch still shares forward passes, and each result's stats
    # (missing_marker, hit_token_budget) then account for exactly one judgment
    flat = [(qi, di) for qi, docs in enumerate(documents) for di in range(len(docs))]
    results = teacher.rerank_batch(
        [queries[qi][1] for qi, _ in flat], [[documents[qi][di]] for qi, di in flat], explain=True
    )
    rows: list[dict[str, Any]] = []
    dropped: dict[str, int] = {}
    missing_marker = hit_budget = 0
    for (qi, di), result in zip(flat, results):
        (ranked,) = result
        kind, query = queries[qi]
        missed = result.stats.missing_marker > 0
        missing_marker += int(missed)
        hit_budget += result.stats.hit_token_budget
        reason = _malformed(ranked, missed, result.stats.hit_token_budget > 0, config)
        if reason:
            dropped[reason] = dropped.get(reason, 0) + 1
            continue
        probs = ranked.label_probs or {}
        meta = documents[qi][di]["metadata"]
        rows.append(make_row(
            row_id=f"{pair.id}:{qi}:{di}",
            pair_id=pair.id,
            source="synthesize",
            query=query,
            passage=documents[qi][di]["text"],
            candidate=meta["candidate"],
            label=int(ranked.label),
            label_probs=[probs.get(k, 0.0) for k in ("0", "1", "2")],
            explanation=ranked.explanation,
            teacher_wrote_marker=not missed,
            prompt_version=teacher.strategy.version if teacher.strategy.name == "reasoning"
            else config.teacher_prompt_version,
            extra={"query_kind": kind, "domain": pair.domain, "source_pair": meta["source_pair"]},
        ))
    entry = {
        "pair_id": pair.id, "rows": len(rows), "judgments": len(flat), "dropped": dropped,
        "missing_marker": missing_marker, "hit_token_budget": hit_budget,
        "queries_generated": len(parsed.queries), "queries_rejected": parsed.reasons,
        "labels": label_histogram(r["label"] for r in rows),
    }
    return rows, entry


def _malformed(ranked: Any, missing_marker: bool, hit_budget: bool, config: SynthesizeConfig) -> str | None:
    """Why a teacher judgment cannot be training data, or ``None``."""
    if ranked.label not in ("0", "1", "2") or not ranked.label_probs:
        return "no_label"
    if missing_marker and config.missing_marker == "drop":
        return "missing_marker"
    if missing_marker and hit_budget and config.missing_marker == "keep_complete":
        return "missing_marker_cut_by_budget"
    if not (ranked.explanation or "").strip():
        return "empty_explanation"
    if ranked.truncated:
        return "truncated"
    if max(ranked.label_probs.values()) < config.min_label_confidence:
        return "low_confidence"
    return None


__all__ = ["SynthesisReport", "synthesize"]
