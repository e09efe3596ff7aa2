"""Dataset loaders for TREC-style reranking benchmarks.

A dataset folder (for example ``../shared/data/trec-dl19-passage``) holds:

- ``queries.jsonl``: one ``{"_id", "text"}`` object per line;
- ``corpus.jsonl``: one ``{"_id", "title", "text"}`` object per line;
- ``qrels.tsv``: relevance judgments, whitespace separated, either three
  columns ``qid docid grade`` (BEIR style, an optional
  ``query-id corpus-id score`` header line is skipped) or the four columns of
  standard TREC qrels ``qid iteration docid grade``;
- runs in TREC format: ``qid Q0 docid rank score tag``.

Runs are represented in memory as ``dict[qid, list[(docid, score)]]`` with the
documents of each query in rank order (best first).

Every malformed input raises :class:`~interank_sdk.errors.InvalidInputError`
whose message names the file and line.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from ..errors import InvalidInputError, check_int

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
Run = dict[str, list[tuple[str, float]]]
Qrels = dict[str, dict[str, int]]

#: Environment variable that points at the folder holding the datasets
#: (``$INTERANK_DATA/trec-dl19-passage``, ...), or at one dataset folder itself.
DATA_ENV_VAR = "INTERANK_DATA"

_QRELS_HEADERS = {("query-id", "corpus-id", "score"), ("qid", "docid", "grade"), ("qid", "docid", "rel")}


def default_data_dir(name: str = "trec-dl19-passage") -> Path:
    """Return the folder of dataset ``name``.

    Looks in ``$INTERANK_DATA/<name>`` when the ``INTERANK_DATA`` environment
    variable is set (or uses ``$INTERANK_DATA`` itself when it already is the
    ``name`` folder), else in ``<repo>/../shared/data/<name>`` where ``<repo>``
    is the folder that contains the ``interank_sdk`` package. The folder is not
    required to exist; :meth:`TrecDataset.load` reports a missing one.
    """
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        base = Path(env).expanduser()
        if base.name == name and not (base / name).exists():
            return base
        return base / name
    repo = Path(__file__).resolve().parent.parent.parent
    return repo.parent / "shared" / "data" / name


def _check_file(path: Path, what: str) -> Path:
    if not path.exists():
        raise InvalidInputError(f"{what} file not found: {path}")
    if not path.is_file():
        raise InvalidInputError(f"{what} path is not a file: {path}")
    return path


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, stripped_line)`` for non-blank lines of a UTF-8 text file."""
    try:
        with path.open("r", encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, start=1):
                stripped = line.strip()
                if stripped:
                    yield lineno, stripped
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path}: not valid UTF-8 text ({exc})") from exc


def _read_jsonl(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    for lineno, line in _lines(path):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise InvalidInputError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
        missing = [key for key in required if key not in record]
        if missing:
            raise InvalidInputError(f"{path}:{lineno}: missing field(s) {', '.join(map(repr, missing))}")
        yield lineno, record


def load_queries(path: PathLike) -> dict[str, str]:
    """Load ``queries.jsonl`` (``{"_id", "text"}`` per line) as ``{qid: text}``."""
    path = _check_file(Path(path), "queries")
    queries: dict[str, str] = {}
    for lineno, record in _read_jsonl(path, ("_id", "text")):
        qid, text = str(record["_id"]), record["text"]
        if not isinstance(text, str):
            raise InvalidInputError(f"{path}:{lineno}: 'text' must be a string")
        if qid in queries:
            raise InvalidInputError(f"{path}:{lineno}: duplicate query id {qid!r}")
        queries[qid] = text
    return queries


def load_corpus(path: PathLike, ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Load ``corpus.jsonl`` as ``{docid: {"title": str | None, "text": str}}``.

    Args:
        path: the ``corpus.jsonl`` file.
        ids: when given, keep only these document ids (the file is still read
            once, but nothing else is parsed into memory beyond its line).
    """
    path = _check_file(Path(path), "corpus")
    wanted = None if ids is None else {str(i) for i in ids}
    corpus: dict[str, dict[str, Any]] = {}
    for lineno, line in _lines(path):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from exc
        if not isinstance(record, dict) or "_id" not in record or "text" not in record:
            raise InvalidInputError(f"{path}:{lineno}: expected an object with '_id' and 'text'")
        docid = str(record["_id"])
        if wanted is not None and docid not in wanted:
            continue
        text, title = record["text"], record.get("title")
        if not isinstance(text, str) or (title is not None and not isinstance(title, str)):
            raise InvalidInputError(f"{path}:{lineno}: 'text' and 'title' must be strings")
        if docid in corpus:
            raise InvalidInputError(f"{path}:{lineno}: duplicate document id {docid!r}")
        corpus[docid] = {"title": title or None, "text": text}
    if wanted is not None:
        missing = wanted.difference(corpus)
        if missing:
            logger.warning("%d of %d requested documents are not in %s (e.g. %s)",
                           len(missing), len(wanted), path, sorted(missing)[:3])
    return corpus


def load_qrels(path: PathLike) -> Qrels:
    """Load relevance judgments as ``{qid: {docid: grade}}``.

    Accepts three columns ``qid docid grade`` (an optional BEIR header line
    ``query-id corpus-id score`` is skipped) or four columns
    ``qid iteration docid grade`` (standard TREC qrels), separated by any
    whitespace. Grades must be integers. A judgment repeated for the same
    (qid, docid) keeps the last grade, as trec_eval does, with a warning.
    """
    path = _check_file(Path(path), "qrels")
    qrels: Qrels = {}
    repeated = 0
    for lineno, line in _lines(path):
        parts = line.split()
        if lineno == 1 and len(parts) == 3 and tuple(p.lower() for p in parts) in _QRELS_HEADERS:
            continue
        if len(parts) == 3:
            qid, docid, grade_text = parts
        elif len(parts) == 4:
            qid, _, docid, grade_text = parts
        else:
            raise InvalidInputError(
                f"{path}:{lineno}: expected 3 columns 'qid docid grade' or 4 columns "
                f"'qid 0 docid grade', got {len(parts)}: {line[:80]!r}"
            )
        try:
            grade = int(grade_text)
        except ValueError:
            raise InvalidInputError(f"{path}:{lineno}: relevance grade {grade_text!r} is not an integer") from None
        judged = qrels.setdefault(qid, {})
        if docid in judged:
            repeated += 1
        judged[docid] = grade
    if repeated:
        logger.warning("%s: %d repeated judgments; the last grade was kept", path, repeated)
    if not qrels:
        raise InvalidInputError(f"{path}: no judgments found")
    return qrels


def load_run(path: PathLike, depth: int | None = None) -> Run:
    """Load a TREC run file (``qid Q0 docid rank score tag``).

    Returns:
        ``{qid: [(docid, score), ...]}`` with the documents of each query in
        rank order: by the rank column, then by descending score, then by file
        order. Queries keep the order of their first appearance in the file.

    Args:
        path: the run file.
        depth: keep at most this many documents per query (``None``: all).

    Raises:
        InvalidInputError: missing file, a line without six columns, a rank
            that is not an integer, a score that is not a finite number, or a
            document listed twice for one query.
    """
    check_int("depth", depth, allow_none=True)
    path = _check_file(Path(path), "run")
    rows: dict[str, list[tuple[int, float, int, str]]] = {}
    seen: dict[str, dict[str, int]] = {}
    for lineno, line in _lines(path):
        parts = line.split()
        if len(parts) != 6:
            raise InvalidInputError(
                f"{path}:{lineno}: expected 6 columns 'qid Q0 docid rank score tag', "
                f"got {len(parts)}: {line[:80]!r}"
            )
        qid, _, docid, rank_text, score_text, _tag = parts
        try:
            rank = int(rank_text)
        except ValueError:
            raise InvalidInputError(f"{path}:{lineno}: rank {rank_text!r} is not an integer") from None
        try:
            score = float(score_text)
        except ValueError:
            raise InvalidInputError(f"{path}:{lineno}: score {score_text!r} is not a number") from None
        if math.isnan(score):
            raise InvalidInputError(f"{path}:{lineno}: score is NaN")
        first = seen.setdefault(qid, {}).get(docid)
        if first is not None:
            raise InvalidInputError(
                f"{path}:{lineno}: document {docid!r} is listed twice for query {qid!r} (first at line {first})"
            )
        seen[qid][docid] = lineno
        rows.setdefault(qid, []).append((rank, -score, lineno, docid))
    run: Run = {}
    for qid, entries in rows.items():
        entries.sort()
        if depth is not None:
            entries = entries[:depth]
        run[qid] = [(docid, -neg_score) for _, neg_score, _, docid in entries]
    if not run:
        logger.warning("%s: the run is empty", path)
    return run


def write_run(run: Mapping[str, Sequence[tuple[str, float]]], path: PathLike, tag: str = "interank") -> Path:
    """Write ``run`` in TREC format, ranks 1..n in the given (best first) order.

    Scores are written with full precision (``repr``). Parent folders are
    created. Returns the path written.

    Raises:
        InvalidInputError: ``tag`` is empty or contains whitespace, or an id
            contains whitespace (the format is whitespace separated).
    """
    if not tag or any(ch.isspace() for ch in tag):
        raise InvalidInputError(f"run tag must be a non-empty string without whitespace, got {tag!r}")
    path = Path(path)
    lines = []
    for qid, docs in run.items():
        qid = str(qid)
        if not qid or any(ch.isspace() for ch in qid):
            raise InvalidInputError(f"query id {qid!r} is empty or contains whitespace")
        for rank, (docid, score) in enumerate(docs, start=1):
            docid = str(docid)
            if not docid or any(ch.isspace() for ch in docid):
                raise InvalidInputError(f"document id {docid!r} (query {qid!r}) is empty or contains whitespace")
            lines.append(f"{qid} Q0 {docid} {rank} {float(score)!r} {tag}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    tmp.replace(path)
    return path


@dataclass
class TrecDataset:
    """Queries, passages and graded judgments of one benchmark.

    Attributes:
        queries: ``{qid: query text}``.
        corpus: ``{docid: {"title": str | None, "text": str}}``.
        qrels: ``{qid: {docid: grade}}``.
        path: the folder it was loaded from (``None`` when built in memory).
        domains: ``{qid: domain}`` where queries come in groups (a QA file's
            ``domain``; empty for TREC folders): metrics can be reported per domain.
    """

    queries: dict[str, str]
    corpus: dict[str, dict[str, Any]]
    qrels: Qrels
    path: Path | None = field(default=None, compare=False)
    domains: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def load(cls, path: PathLike | None = None, *, corpus_ids: set[str] | None = None) -> "TrecDataset":
        """Load ``queries.jsonl``, ``corpus.jsonl`` and ``qrels.tsv`` from a folder.

        Args:
            path: the dataset folder; ``None`` uses :func:`default_data_dir`.
            corpus_ids: load only these passages (saves memory when only a
                run's candidates are needed); ``None`` loads the whole corpus.
        """
        folder = default_data_dir() if path is None else Path(path)
        if not folder.is_dir():
            raise InvalidInputError(
                f"dataset folder not found: {folder} (set ${DATA_ENV_VAR} or pass the folder explicitly)"
            )
        queries = load_queries(folder / "queries.jsonl")
        corpus = load_corpus(folder / "corpus.jsonl", ids=corpus_ids)
        qrels = load_qrels(folder / "qrels.tsv")
        logger.info("loaded %s: %d queries, %d passages, %d judged queries",
                    folder, len(queries), len(corpus), len(qrels))
        return cls(queries=queries, corpus=corpus, qrels=qrels, path=folder)

    def run_path(self, name: str) -> Path:
        """Path of a run file in the dataset folder (``"bm25"`` -> ``run.bm25.top100.trec``)."""
        if self.path is None:
            raise InvalidInputError("this dataset was not loaded from a folder")
        candidate = self.path / name
        if candidate.exists():
            return candidate
        return self.path / f"run.{name}.top100.trec"


__all__ = [
    "DATA_ENV_VAR",
    "Qrels",
    "Run",
    "TrecDataset",
    "default_data_dir",
    "load_corpus",
    "load_qrels",
    "load_queries",
    "load_run",
    "write_run",
]
