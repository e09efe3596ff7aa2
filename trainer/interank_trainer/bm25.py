"""BM25 over a list of passages with ``bm25s``: the first stage of every synthetic pool."""

from __future__ import annotations

from collections.abc import Sequence

from ._deps import need


def _stemmer():
    try:  # optional: PyStemmer improves BM25 recall a little
        import Stemmer

        return Stemmer.Stemmer("english")
    except ImportError:
        return None


class BM25Index:
    """A ``bm25s`` index over ``passages``; :meth:`search` ranks them for a query.

    Example:
        >>> index = BM25Index(["plants need light", "paris is in france", "cats eat fish"])
        >>> index.search("where is paris", 2)
        [1]
    """

    def __init__(self, passages: Sequence[str]) -> None:
        self._bm25s = need("bm25s")
        self.passages = list(passages)
        self._stemmer = _stemmer()
        tokens = self._bm25s.tokenize(self.passages, stopwords="en", stemmer=self._stemmer, show_progress=False)
        self.index = self._bm25s.BM25()
        self.index.index(tokens, show_progress=False)

    def search(self, query: str, k: int, exclude: set[int] = frozenset()) -> list[int]:  # type: ignore[assignment]
        """Positions of the best ``k`` passages (score > 0) for ``query``, best first, ``exclude`` left out."""
        if k <= 0 or len(self.passages) <= len(exclude):
            return []
        import numpy as np

        tokens = self._bm25s.tokenize([query], stopwords="en", stemmer=self._stemmer, show_progress=False)
        mask = np.ones(len(self.passages), dtype=np.float32)
        for i in exclude:
            mask[i] = 0.0
        depth = min(len(self.passages), k + len(exclude))
        ids, scores = self.index.retrieve(tokens, k=depth, show_progress=False, weight_mask=mask)
        return [int(i) for i, s in zip(ids[0], scores[0]) if s > 0 and int(i) not in exclude][:k]


__all__ = ["BM25Index"]
