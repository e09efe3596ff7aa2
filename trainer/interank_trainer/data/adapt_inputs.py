"""The inputs of :func:`interank_trainer.adapt`: a user's collection, their real queries, the held-out split.

* the collection: ``--corpus`` documents (JSONL ``{"_id", "text"}``, optional
  ``title``), each QA pair's answer (``qa:<pair id>``, or the corpus document
  with the same text when the corpus already holds it) and a judgments
  folder's ``corpus.jsonl``;
* the real queries: QA questions (their answer is the one relevant document)
  and judged queries (``qrels.tsv`` grades); ``eval_judgments`` queries are
  evaluation-only and never split;
* the split: seeded, by query, stratified by ``domain`` where rows have one;
  only the adapt part is ever written where teaching can read it.

Bad rows raise :class:`~interank_sdk.errors.InvalidInputError` naming the file
and line; with ``skip_invalid`` they are left out and counted by reason
(:attr:`AdaptInputs.problems`), never dropped silently.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interank_sdk.errors import InvalidInputError
from interank_sdk.eval import load_qa_pairs, load_qrels, load_queries
from interank_sdk.eval.qa import answer_id
from interank_sdk.prompts import format_passage

logger = logging.getLogger(__name__)


@dataclass
class RealQuery:
    """A user's query with its judgments: ``relevant`` maps doc ids to grades (``> 0`` relevant)."""

    qid: str
    text: str
    relevant: dict[str, int]
    origin: str
    domain: str | None = None


@dataclass
class AdaptInputs:
    """The collection, the queries and what was left out.

    Attributes:
        documents: doc id -> ``{"title", "text"}``, the whole collection.
        queries: the real queries (QA questions and judged queries) to split.
        eval_queries: evaluation-only queries (``eval_judgments``), never trained on.
        problems: rows left out, by reason (only with ``skip_invalid``).
        sources: counts of documents and queries by where they came from.
    """

    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    queries: list[RealQuery] = field(default_factory=list)
    eval_queries: list[RealQuery] = field(default_factory=list)
    problems: dict[str, int] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)

    def problem(self, reason: str, message: str, skip_invalid: bool) -> None:
        """Count ``reason`` or raise ``message`` (which names the file and line)."""
        if not skip_invalid:
            raise InvalidInputError(f"{message}; pass skip_invalid=True (--skip-invalid) to count and skip such rows")
        self.problems[reason] = self.problems.get(reason, 0) + 1
        logger.warning("skipped: %s", message)

    def passage(self, doc_id: str) -> str:
        """A document as it is scored: its title line, then its text."""
        doc = self.documents[doc_id]
        return format_passage(doc["text"], doc.get("title"))


def _normalised(text: str) -> str:
    return " ".join(text.split())


def read_documents(path: str | Path, inputs: AdaptInputs, *, skip_invalid: bool, origin: str) -> int:
    """Add a JSONL corpus to ``inputs.documents``; returns the documents added.

    Raises:
        InvalidInputError: a missing or empty file, invalid JSON, a row without
            ``_id`` or without text, a repeated id (unless ``skip_invalid``).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise InvalidInputError(f"corpus file not found: {path}")
    added = 0
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from exc
            if not isinstance(row, dict) or "_id" not in row:
                inputs.problem("document_without_id", f"{path}:{lineno}: expected an object with '_id' and 'text'",
                               skip_invalid)
                continue
            doc_id = "_".join(str(row["_id"]).split())
            text, title = row.get("text"), row.get("title")
            if not isinstance(text, str) or not text.strip():
                inputs.problem("document_without_text", f"{path}:{lineno}: document {doc_id!r} has no text",
                               skip_invalid)
                continue
            if doc_id in inputs.documents:
                inputs.problem("duplicate_document_id", f"{path}:{lineno}: duplicate document id {doc_id!r}",
                               skip_invalid)
                continue
            inputs.documents[doc_id] = {"title": title if isinstance(title, str) and title.strip() else None,
                                        "text": text.strip(), "origin": origin}
            added += 1
    if not added:
        raise InvalidInputError(f"{path}: the corpus is empty (no document with text)")
    return added


def read_qa(path: str | Path, inputs: AdaptInputs, *, skip_invalid: bool) -> None:
    """Add QA pairs: each question is a query, its answer its one relevant document (joined to the collection)."""
    pairs, invalid = load_qa_pairs(path, skip_invalid=skip_invalid, unique_answers=True)
    for reason, n in invalid.items():
        inputs.problems[f"qa_{reason}"] = inputs.problems.get(f"qa_{reason}", 0) + n
    by_text = {_normalised(d["text"]): doc_id for doc_id, d in inputs.documents.items()}
    reused = 0
    for pair in pairs:
        doc_id = by_text.get(_normalised(pair.answer))
        if doc_id is None:
            doc_id = answer_id(pair)
            if doc_id in inputs.documents:
                inputs.problem("duplicate_document_id",
                               f"{path}:{pair.line}: the answer's id {doc_id!r} is already a corpus document id",
                               skip_invalid)
                continue
            inputs.documents[doc_id] = {"title": None, "text": pair.answer, "origin": "qa"}
        else:
            reused += 1
        inputs.queries.append(RealQuery("_".join(pair.id.split()), pair.question, {doc_id: 1}, "qa", pair.domain))
    inputs.sources["qa_pairs"] = len(pairs)
    inputs.sources["qa_answers_found_in_corpus"] = reused


def read_judgments(folder: str | Path, inputs: AdaptInputs, *, skip_invalid: bool, eval_only: bool,
                   min_grade: int = 1) -> None:
    """Add a TREC/BEIR folder's queries and grades (its ``corpus.jsonl``, when present, joins the collection).

    A judged document missing from the collection is counted
    (``judged_document_not_in_collection``); a query none of whose relevant
    documents (grade >= ``min_grade``) is in the collection cannot be learned
    from or evaluated: an error, or counted (``query_without_relevant_document``).
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InvalidInputError(f"judgments folder not found: {folder} (expected queries.jsonl and qrels.tsv)")
    if (folder / "corpus.jsonl").is_file():
        before = len(inputs.documents)
        known = {d: dict(v) for d, v in inputs.documents.items()}
        scratch = AdaptInputs(documents={})
        read_documents(folder / "corpus.jsonl", scratch, skip_invalid=skip_invalid, origin="judgments")
        for reason, n in scratch.problems.items():
            inputs.problems[reason] = inputs.problems.get(reason, 0) + n
        for doc_id, doc in scratch.documents.items():
            if doc_id in known:
                if _normalised(known[doc_id]["text"]) != _normalised(doc["text"]):
                    inputs.problem("duplicate_document_id", f"{folder / 'corpus.jsonl'}: document {doc_id!r} differs "
                                   "from the corpus document with the same id", skip_invalid)
                continue
            inputs.documents[doc_id] = doc
        inputs.sources[f"{'eval_' if eval_only else ''}judgments_documents"] = len(inputs.documents) - before
    queries = load_queries(folder / "queries.jsonl")
    qrels = load_qrels(folder / "qrels.tsv")
    target = inputs.eval_queries if eval_only else inputs.queries
    added = 0
    for qid, judged in qrels.items():
        if qid not in queries:
            inputs.problem("judged_query_without_text", f"{folder / 'qrels.tsv'}: query {qid!r} has no text in "
                           "queries.jsonl", skip_invalid)
            continue
        present = {d: g for d, g in judged.items() if d in inputs.documents}
        missing = len(judged) - len(present)
        if missing:
            inputs.problems["judged_document_not_in_collection"] = \
                inputs.problems.get("judged_document_not_in_collection", 0) + missing
        if not any(g >= min_grade for g in present.values()):
            inputs.problem("query_without_relevant_document",
                           f"{folder / 'qrels.tsv'}: query {qid!r} has no relevant document (grade >= {min_grade}) "
                           "in the collection", skip_invalid)
            continue
        target.append(RealQuery(qid, queries[qid], present, "judgments", None))
        added += 1
    inputs.sources[f"{'eval_' if eval_only else ''}judged_queries"] = added


def load_inputs(*, corpus: str | Path | None, qa: str | Path | None, judgments: str | Path | None,
                eval_judgments: str | Path | None, skip_invalid: bool = False, min_grade: int = 1) -> AdaptInputs:
    """Read and check every input of an adaptation run (see the module docstring)."""
    if corpus is None and qa is None and judgments is None:
        raise InvalidInputError("nothing to adapt to: pass a corpus, QA pairs or judgments")
    inputs = AdaptInputs()
    if corpus is not None:
        inputs.sources["corpus_documents"] = read_documents(corpus, inputs, skip_invalid=skip_invalid, origin="corpus")
    if qa is not None:
        read_qa(qa, inputs, skip_invalid=skip_invalid)
    if judgments is not None:
        read_judgments(judgments, inputs, skip_invalid=skip_invalid, eval_only=False, min_grade=min_grade)
    if eval_judgments is not None:
        read_judgments(eval_judgments, inputs, skip_invalid=skip_invalid, eval_only=True, min_grade=min_grade)
    ids = [q.qid for q in inputs.queries]
    if len(set(ids)) < len(ids):
        raise InvalidInputError("a query id appears in both the QA pairs and the judgments; give them distinct ids")
    overlap = set(ids) & {q.qid for q in inputs.eval_queries}
    if overlap:
        raise InvalidInputError(f"eval_judgments shares query ids with the training queries (e.g. {sorted(overlap)[:3]})")
    texts = {_normalised(q.text) for q in inputs.queries}
    leaked = [q.qid for q in inputs.eval_queries if _normalised(q.text) in texts]
    if leaked:
        raise InvalidInputError(f"{len(leaked)} eval_judgments queries repeat a training query's text "
                                f"(e.g. {leaked[:3]}): they would not be held out")
    return inputs


def split_queries(queries: Sequence[RealQuery], fraction: float, seed: int) -> tuple[list[RealQuery], list[RealQuery]]:
    """``(adapt, heldout)``: seeded, by query, ``round(fraction x n)`` of each domain held out.

    Every domain with at least two queries keeps one on each side. Queries
    without a domain form one group.

    Example:
        >>> qs = [RealQuery(str(i), "q", {"d": 1}, "qa", "a" if i < 4 else "b") for i in range(8)]
        >>> adapt, held = split_queries(qs, 0.25, seed=0)
        >>> sorted(q.domain for q in held)
        ['a', 'b']
    """
    if not 0 < fraction < 1:
        raise InvalidInputError(f"heldout_fraction must be in (0, 1), got {fraction!r}")
    groups: dict[str, list[RealQuery]] = {}
    for query in queries:
        groups.setdefault(query.domain or "", []).append(query)
    held: set[str] = set()
    for domain, members in sorted(groups.items()):
        ids = sorted(q.qid for q in members)
        n = round(fraction * len(ids))
        if len(ids) >= 2:
            n = min(max(n, 1), len(ids) - 1)
        held.update(random.Random(f"adapt-split|{seed}|{domain}").sample(ids, n))
    return [q for q in queries if q.qid not in held], [q for q in queries if q.qid in held]


def write_training_set(folder: Path, inputs: AdaptInputs, queries: Sequence[RealQuery],
                       run: Mapping[str, Sequence[tuple[str, float]]], run_name: str) -> Path:
    """Write the adapt split as a TREC/BEIR folder ``teach`` reads: the whole collection, only these queries.

    The held-out queries are never written here, so nothing that trains can read them.
    """
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomic(folder / "corpus.jsonl", "".join(
        json.dumps({"_id": d, "title": doc.get("title") or "", "text": doc["text"]}, ensure_ascii=False) + "\n"
        for d, doc in inputs.documents.items()))
    _write_atomic(folder / "queries.jsonl", "".join(
        json.dumps({"_id": q.qid, "text": q.text}, ensure_ascii=False) + "\n" for q in queries))
    _write_atomic(folder / "qrels.tsv", "".join(
        f"{q.qid}\t{d}\t{g}\n" for q in queries for d, g in q.relevant.items()))
    _write_atomic(folder / run_name, "".join(
        f"{q.qid} Q0 {d} {rank} {score!r} first-stage\n" for q in queries
        for rank, (d, score) in enumerate(run.get(q.qid, []), start=1)))
    return folder


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


__all__ = ["RealQuery", "AdaptInputs", "load_inputs", "read_documents", "read_qa", "read_judgments",
           "split_queries", "write_training_set"]
