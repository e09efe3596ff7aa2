"""Question/answer pairs as a retrieval set: every answer is a document, a question's own answer its relevant one.

A QA file is JSONL, one ``{"question", "answer"}`` object per line with an
optional ``id`` and ``domain`` (the shape of in-house QA pairs, and of
``../shared/data/stackexchange-qa/qa_pairs.jsonl``). :func:`qa_retrieval_set`
turns it into a :class:`~interank_sdk.eval.data.TrecDataset` (collection = all
answers, qrels = each question's accepted answer with grade 1, ``domains`` =
each question's domain) and :func:`interank_sdk.eval.bm25.bm25_run` gives it
a first stage, so ``interank eval --data qa_pairs.jsonl`` reranks BM25's
top-100 of the answers.

Example:
    >>> from interank_sdk.eval.qa import qa_retrieval_set
    >>> data = qa_retrieval_set("../shared/data/stackexchange-qa/qa_pairs.jsonl")  # doctest: +SKIP
    >>> len(data.queries), len(data.corpus), data.domains["biology/0"]  # doctest: +SKIP
    (749, 749, 'biology')
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidInputError
from .data import PathLike, TrecDataset

logger = logging.getLogger(__name__)

#: the prefix of an answer's document id in a QA retrieval set (``"qa:<pair id>"``)
ANSWER_PREFIX = "qa:"


@dataclass
class QAPair:
    """One question/answer pair of a QA file (``line``: where it was read, 1-based; 0 when built in memory)."""

    id: str
    question: str
    answer: str
    domain: str | None = None
    line: int = 0


def load_qa_pairs(path: PathLike, *, skip_invalid: bool = False, unique_answers: bool = False
                  ) -> tuple[list[QAPair], dict[str, int]]:
    """Read a QA JSONL file: ``{"question", "answer"}`` per line, optional ``id`` and ``domain``.

    Args:
        path: the JSONL file.
        skip_invalid: count and skip invalid rows instead of raising.
        unique_answers: an answer whose text (whitespace-normalised) repeats an
            earlier pair's answer is invalid (``duplicate_answer``): in a retrieval
            set two identical documents would make one of them a false negative.

    Returns:
        the pairs and the count of skipped invalid rows by reason (always empty
        unless ``skip_invalid``).

    Ids must be unique in the file, or unique within each ``domain`` (files that
    number the pairs of each site from 0, like BRIGHT's StackExchange pairs): then
    every pair's id becomes ``"<domain>/<id>"``.

    Raises:
        InvalidInputError: missing file, invalid JSON, a missing or empty
            ``question``/``answer`` or a duplicated answer (unless
            ``skip_invalid``), duplicate ids, no pairs. The message names the
            file and line.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise InvalidInputError(f"QA file not found: {path}")
    pairs: list[QAPair] = []
    invalid: dict[str, int] = {}
    seen: dict[str, int] = {}
    answers: dict[str, int] = {}
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            problem = None
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                problem = ("not_an_object", "expected a JSON object")
            else:
                for key in ("question", "answer"):
                    if key not in row:
                        problem = (f"missing_{key}", f"missing field {key!r}")
                        break
                    if not isinstance(row[key], str) or not row[key].strip():
                        problem = (f"empty_{key}", f"{key!r} must be a non-empty string")
                        break
            if problem is None and unique_answers:
                normalised = " ".join(row["answer"].split())
                if normalised in answers:
                    problem = ("duplicate_answer", f"the answer repeats the answer on line {answers[normalised]}")
                else:
                    answers[normalised] = lineno
            if problem:
                if not skip_invalid:
                    raise InvalidInputError(
                        f"{path}:{lineno}: {problem[1]} (fields: question, answer; optional id, domain); "
                        "pass skip_invalid=True (--skip-invalid) to skip such rows"
                    )
                invalid[problem[0]] = invalid.get(problem[0], 0) + 1
                continue
            pair_id = str(row.get("id", lineno))
            key = f"{row.get('domain')}/{pair_id}"
            if key in seen:
                raise InvalidInputError(f"{path}:{lineno}: duplicate id {pair_id!r} (first on line {seen[key]})")
            seen[key] = lineno
            domain = row.get("domain")
            pairs.append(QAPair(pair_id, row["question"].strip(), row["answer"].strip(),
                                None if domain is None else str(domain), lineno))
    if len({p.id for p in pairs}) < len(pairs):  # unique per domain only: qualify every id by its domain
        pairs = [QAPair(f"{p.domain}/{p.id}", p.question, p.answer, p.domain, p.line) for p in pairs]
    if invalid:
        logger.warning("%s: skipped %d invalid rows: %s", path, sum(invalid.values()), invalid)
    if not pairs:
        raise InvalidInputError(f"{path}: no QA pairs")
    return pairs, invalid


def answer_id(pair: QAPair) -> str:
    """The document id of ``pair``'s answer in a QA retrieval set (no whitespace, as TREC files need)."""
    return ANSWER_PREFIX + "_".join(pair.id.split())


def qa_retrieval_set(path: PathLike, *, skip_invalid: bool = False) -> TrecDataset:
    """A QA file as answer retrieval: collection = every answer, each question's own answer relevant (grade 1).

    Query ids are the pairs' ids (``"<domain>/<id>"`` where ids repeat across
    domains), document ids ``"qa:<pair id>"``; ``domains`` maps each query to its
    ``domain`` (absent when the row has none). Duplicated answers are invalid
    (see :func:`load_qa_pairs`).
    """
    pairs, _ = load_qa_pairs(path, skip_invalid=skip_invalid, unique_answers=True)
    queries = {"_".join(p.id.split()): p.question for p in pairs}
    corpus = {answer_id(p): {"title": None, "text": p.answer} for p in pairs}
    qrels = {"_".join(p.id.split()): {answer_id(p): 1} for p in pairs}
    domains = {"_".join(p.id.split()): p.domain for p in pairs if p.domain is not None}
    return TrecDataset(queries=queries, corpus=corpus, qrels=qrels, path=None, domains=domains)


__all__ = ["ANSWER_PREFIX", "QAPair", "answer_id", "load_qa_pairs", "qa_retrieval_set"]
