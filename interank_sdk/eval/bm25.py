"""BM25 over an in-memory collection with ``bm25s``: the first stage of QA retrieval sets and of the trainer's pools.

Example:
    >>> from interank_sdk.eval.bm25 import BM25Index
    >>> index = BM25Index(["plants need light", "paris is in france", "cats eat fish"])
    >>> index.search("where is paris", 2)
    [1]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .._deps import require
from .data import Run


def _stemmer():
    try:  # optional: PyStemmer improves BM25 recall a little
        import Stemmer

        return Stemmer.Stemmer("english")
    except ImportError:
        return None


class BM25Index:
    """A ``bm25s`` index over ``passages``; :meth:`search` ranks them for a query.

    Raises:
        ImportError: ``bm25s`` is not installed (``pip install "interank-sdk[eval]"``).
    """

    def __init__(self, passages: Sequence[str]) -> None:
        self._bm25s = require("bm25s", extra="eval")
        self.passages = list(passages)
        self._stemmer = _stemmer()
        tokens = self._bm25s.tokenize(self.passages, stopwords="en", stemmer=self._stemmer, show_progress=False)
        self.index = self._bm25s.BM25()
        self.index.index(tokens, show_progress=False)

    def search(self, query: str, k: int, exclude: set[int] = frozenset()) -> list[int]:  # type: ignore[assignment]
        """Positions of the best ``k`` passages (score > 0) for ``query``, best first, ``exclude`` left out."""
        return [i for i, _ in self.search_scored(query, k, exclude)]

    def search_scored(self, query: str, k: int, exclude: set[int] = frozenset()  # type: ignore[assignment]
                      ) -> list[tuple[int, float]]:
        """``(position, BM25 score)`` of the best ``k`` passages (score > 0), best first, ``exclude`` left out."""
        if k <= 0 or len(self.passages) <= len(exclude):
            return []
        import numpy as np

        tokens = self._bm25s.tokenize([query], stopwords="en", stemmer=self._stemmer, show_progress=False)
        mask = np.ones(len(self.passages), dtype=np.float32)
        for i in exclude:
            mask[i] = 0.0
        depth = min(len(self.passages), k + len(exclude))
        ids, scores = self.index.retrieve(tokens, k=depth, show_progress=False, weight_mask=mask)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if s > 0 and int(i) not in exclude][:k]


def bm25_run(queries: Mapping[str, str], corpus: Mapping[str, str], depth: int = 100) -> Run:
    """A BM25 run of ``queries`` over ``corpus`` (doc id -> text): ``{qid: [(docid, score), ...]}``, best first.

    Only passages BM25 matches (score > 0) are listed, at most ``depth`` per query.

    Example:
        >>> bm25_run({"q": "capital of france"}, {"a": "paris is the capital of france", "b": "cats"})
        {'q': [('a', ...)]}
    """
    ids = list(corpus)
    index = BM25Index([corpus[d] for d in ids])
    return {qid: [(ids[i], score) for i, score in index.search_scored(text, depth)] for qid, text in queries.items()}


__all__ = ["BM25Index", "bm25_run"]
