"""Candidate pools: one query, the passages a teacher will score for it, and what is known about them.

Three sources, one sampling scheme (:class:`~interank_trainer.data.config.SamplingConfig`):

* :func:`judgment_pools`: a TREC/BEIR folder and a first-stage run; the judged
  grades ride along (the human labels the student can mix with the teacher);
* :func:`qa_pools`: question/answer pairs; the question is the query, its
  answer the positive, ``bm25s`` over the *other* answers the first stage;
* :func:`corpus_pools`: synthetic queries written for corpus passages
  (:mod:`interank_trainer.data.synthetic`); the source passage is the positive,
  ``bm25s`` over the corpus the first stage.

Every pool goes through :func:`finalize_pool`, which removes and counts empty
passages and repeated passage ids, and drops (and counts) pools left with
fewer than two passages or, with ``require_positive``, without a known
positive. Nothing malformed reaches the teacher or the student silently.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interank_sdk.errors import InvalidInputError
from interank_sdk.eval import load_qa_pairs
from interank_sdk.prompts import format_passage

from .bm25 import BM25Index
from .config import SamplingConfig
from .passages import clean_text

logger = logging.getLogger(__name__)


@dataclass
class PoolDoc:
    """One candidate passage of a pool.

    Attributes:
        doc_id: the passage id (corpus id, ``qa:<pair id>``).
        text: the passage exactly as it is scored (title line, then text, cut to
            the word budget; :func:`interank_sdk.prompts.format_passage`).
        origin: how it got into the pool: ``"rank:<n>"`` (first-stage rank),
            ``"judged"`` (added from the judgments), ``"answer"`` (the QA pair's own
            answer), ``"source"`` (the passage a synthetic query was written for).
        grade: the human judgment, when there is one.
        positive: known to be relevant (judged at or above the positive grade, the
            pair's answer, a synthetic query's source passage).
    """

    doc_id: str
    text: str
    origin: str
    grade: int | None = None
    positive: bool = False


@dataclass
class Pool:
    """A query and its candidates (input of :func:`interank_trainer.teach`)."""

    pool_id: str
    query: str
    source: str
    docs: list[PoolDoc]

    def as_row(self) -> dict[str, Any]:
        """The pool as a JSON row, without scores (``teach`` adds ``teacher_scores``)."""
        return {
            "pool_id": self.pool_id, "source": self.source, "query": self.query,
            "doc_ids": [d.doc_id for d in self.docs], "docs": [d.text for d in self.docs],
            "origins": [d.origin for d in self.docs], "grades": [d.grade for d in self.docs],
            "positives": [d.positive for d in self.docs],
        }


@dataclass
class PoolProblems:
    """Counts of what was left out while building pools, by reason."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, reason: str, n: int = 1) -> None:
        if n:
            self.counts[reason] = self.counts.get(reason, 0) + n


def sample_ranking(ranking: Sequence[Any], sampling: SamplingConfig, key: str) -> list[tuple[Any, int]]:
    """The candidates a pool takes from a first-stage ranking: ``(item, rank)``, rank 1-based.

    The top ``top_k`` ranks, then ``deep_k`` ranks drawn from ``top_k + 1 ..
    depth``: those ranks are cut into ``deep_k`` bands of (nearly) equal size
    and one rank is drawn from each band, with a generator seeded by
    ``(sampling.seed, key)``, so each pool is the same on every run and deep
    candidates cover every depth.

    Example:
        >>> ids = [f"d{i}" for i in range(1, 101)]
        >>> picked = sample_ranking(ids, SamplingConfig(depth=100, top_k=3, deep_k=2), "q1")
        >>> [r for _, r in picked[:3]], all(4 <= r <= 51 for _, r in picked[3:4]), 52 <= picked[4][1] <= 100
        ([1, 2, 3], True, True)
    """
    head = list(ranking[: sampling.depth])
    picked = [(doc, rank) for rank, doc in enumerate(head[: sampling.top_k], start=1)]
    rest = len(head) - sampling.top_k
    bands = min(sampling.deep_k, max(rest, 0))
    if bands:
        rng = random.Random(f"{sampling.seed}|{key}")
        for b in range(bands):
            lo = sampling.top_k + (b * rest) // bands
            hi = sampling.top_k + ((b + 1) * rest) // bands
            index = rng.randrange(lo, hi)
            picked.append((head[index], index + 1))
    return picked


def finalize_pool(pool: Pool, *, require_positive: bool, problems: PoolProblems) -> Pool | None:
    """Clean a pool (empty passages and repeated ids removed and counted); ``None`` when it cannot be used.

    A pool is dropped, and counted under its reason, when its query is empty
    (``empty_query``), fewer than two passages remain (``too_few_passages``) or,
    with ``require_positive``, none of them is a known positive (``no_positive``).
    """
    if not pool.query.strip():
        problems.add("empty_query")
        return None
    seen: set[str] = set()
    docs: list[PoolDoc] = []
    for doc in pool.docs:
        if not doc.text.strip():
            problems.add("empty_passage")
            continue
        if doc.doc_id in seen:
            problems.add("duplicate_passage_id")
            continue
        seen.add(doc.doc_id)
        docs.append(doc)
    if len(docs) < 2:
        problems.add("too_few_passages")
        return None
    if require_positive and not any(d.positive for d in docs):
        problems.add("no_positive")
        return None
    pool.docs = docs
    return pool


def judgment_pools(
    folder: str | Path,
    run: str | Path,
    sampling: SamplingConfig,
    *,
    min_positive_grade: int = 1,
    require_positive: bool = True,
    max_words: int = 200,
    max_queries: int | None = None,
    problems: PoolProblems,
) -> list[Pool]:
    """Pools of the judged queries of a TREC/BEIR folder, drawn from a first-stage run.

    Passages of the run missing from ``corpus.jsonl`` are counted
    (``missing_passage``) and left out; queries without judgments are counted
    (``unjudged_query``) and left out.

    Raises:
        InvalidInputError: a missing folder or file, malformed lines (from the SDK's loaders).
    """
    from interank_sdk.eval.data import load_corpus, load_qrels, load_queries, load_run

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InvalidInputError(f"judgment folder not found: {folder} (needs queries.jsonl, corpus.jsonl, qrels.tsv)")
    run_path = Path(run).expanduser()
    if not run_path.is_absolute() and not run_path.exists():
        run_path = folder / run_path
    ranking = load_run(run_path, depth=sampling.depth)
    qrels = load_qrels(folder / "qrels.tsv")
    queries = load_queries(folder / "queries.jsonl")
    wanted = {d for docs in ranking.values() for d, _ in docs}
    if sampling.include_judged:
        wanted |= {d for judged in qrels.values() for d in judged}
    corpus = load_corpus(folder / "corpus.jsonl", ids=wanted)
    pools: list[Pool] = []
    for qid, docs in ranking.items():
        if qid not in qrels:
            problems.add("unjudged_query")
            continue
        if qid not in queries:
            problems.add("missing_query")
            continue
        judged = qrels[qid]
        picked = sample_ranking([d for d, _ in docs], sampling, qid)
        entries = [(docid, f"rank:{rank}") for docid, rank in picked]
        if sampling.include_judged:
            present = {d for d, _ in entries}
            entries += [(d, "judged") for d in sorted(judged) if d not in present]
        pool_docs = []
        for docid, origin in entries:
            passage = corpus.get(docid)
            if passage is None:
                problems.add("missing_passage")
                continue
            grade = judged.get(docid)
            pool_docs.append(PoolDoc(docid, _passage(passage["text"], passage.get("title"), max_words), origin,
                                     grade, grade is not None and grade >= min_positive_grade))
        pool = finalize_pool(Pool(qid, queries[qid], "judgments", pool_docs), require_positive=require_positive,
                             problems=problems)
        if pool is not None:
            pools.append(pool)
        if max_queries is not None and len(pools) >= max_queries:
            break
    return pools


def qa_pools(
    qa: str | Path,
    sampling: SamplingConfig,
    *,
    max_words: int = 200,
    max_queries: int | None = None,
    problems: PoolProblems,
) -> list[Pool]:
    """Pools of question/answer pairs: the question, its answer (positive) and ``bm25s`` picks of the other answers.

    Answers that are exact duplicates of the pair's own answer are never
    negatives. Invalid QA rows are counted (``invalid_qa_<reason>``) and skipped.
    """
    pairs, invalid = load_qa_pairs(qa, skip_invalid=True)
    for reason, n in invalid.items():
        problems.add(f"invalid_qa_{reason}", n)
    answers = [clean_text(p.answer, max_words) for p in pairs]
    index = BM25Index(answers)
    pools: list[Pool] = []
    for pos, pair in enumerate(pairs):
        query = clean_text(pair.question, 128)
        own = {i for i, text in enumerate(answers) if text == answers[pos]}
        ranking, hits = _bm25_ranking(index, query, sampling, own, pair.id)
        docs = [PoolDoc(f"qa:{pair.id}", answers[pos], "answer", None, True)]
        docs += [PoolDoc(f"qa:{pairs[i].id}", answers[i], _origin(rank, hits))
                 for i, rank in sample_ranking(ranking, sampling, pair.id)]
        pool = finalize_pool(Pool(pair.id, query, "qa", docs), require_positive=True, problems=problems)
        if pool is not None:
            pools.append(pool)
        if max_queries is not None and len(pools) >= max_queries:
            break
    return pools


def corpus_pools(
    queries: Sequence[tuple[str, str, str]],
    corpus: Mapping[str, str],
    index: BM25Index,
    index_ids: Sequence[str],
    sampling: SamplingConfig,
    *,
    problems: PoolProblems,
) -> list[Pool]:
    """Pools of synthetic queries: each ``(pool_id, query, source doc id)`` gets ``bm25s`` picks from the corpus.

    Args:
        queries: the kept synthetic queries.
        corpus: doc id -> passage text (already formatted and cut).
        index: ``bm25s`` index over ``corpus`` in the order of ``index_ids``.
        index_ids: doc id of each indexed position.
        sampling: the sampling scheme.
        problems: counts of what was left out.
    """
    position = {doc_id: i for i, doc_id in enumerate(index_ids)}
    pools: list[Pool] = []
    for pool_id, query, source in queries:
        source_pos = position.get(source)
        exclude = {source_pos} if source_pos is not None else set()
        ranking, hits = _bm25_ranking(index, query, sampling, exclude, pool_id)
        docs = [PoolDoc(source, corpus[source], "source", None, True)] if source in corpus else []
        docs += [PoolDoc(index_ids[i], corpus[index_ids[i]], _origin(rank, hits))
                 for i, rank in sample_ranking(ranking, sampling, pool_id)]
        pool = finalize_pool(Pool(pool_id, query, "corpus", docs), require_positive=True, problems=problems)
        if pool is not None:
            pools.append(pool)
    return pools


def _bm25_ranking(index: BM25Index, query: str, sampling: SamplingConfig, exclude: set[int], key: str
                  ) -> tuple[list[int], int]:
    """``bm25s``'s ranking of ``query`` to ``depth``, then, when BM25 matches fewer passages, the others in a
    seeded random order (easy negatives); returns ``(positions, number of BM25 matches)``."""
    hits = index.search(query, sampling.depth, exclude)
    ranking = list(hits)
    if len(ranking) < sampling.depth:
        taken = set(ranking) | exclude
        rest = [i for i in range(len(index.passages)) if i not in taken]
        random.Random(f"{sampling.seed}|fill|{key}").shuffle(rest)
        ranking += rest[: sampling.depth - len(ranking)]
    return ranking, len(hits)


def _origin(rank: int, hits: int) -> str:
    return f"rank:{rank}" if rank <= hits else "random"


def _passage(text: str, title: str | None, max_words: int) -> str:
    """A passage as it is scored: title line, then the text, cut to ``max_words`` words."""
    return format_passage(clean_text(text, max_words), title or None)


def load_corpus_passages(path: str | Path, max_words: int) -> dict[str, str]:
    """A ``{"_id", "text"}`` (optional ``title``) JSONL corpus as doc id -> passage as scored.

    Raises:
        InvalidInputError: a missing file, malformed lines or repeated ids (from the SDK's loader).
    """
    from interank_sdk.eval.data import load_corpus

    return {docid: _passage(p["text"], p.get("title"), max_words) for docid, p in load_corpus(path).items()}


__all__ = [
    "PoolDoc", "Pool", "PoolProblems", "sample_ranking", "finalize_pool", "judgment_pools", "qa_pools",
    "corpus_pools", "load_corpus_passages",
]
