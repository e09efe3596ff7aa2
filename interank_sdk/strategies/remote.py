"""A remote rerank service's own relevance score (Cohere/Jina/TEI-style ``/rerank`` endpoints)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from ..backends.base import RemoteRanker
from .base import Judgment, Strategy


class RemoteStrategy(Strategy[RemoteRanker]):
    """Score = the service's ``relevance_score`` (the service decides what it means and how it truncates).

    Pairs are grouped by query, one request per query.
    """

    name = "remote"
    has_template = False

    def reserved_tokens(self, backend: RemoteRanker, query: str) -> None:
        return None  # the service fits documents to its model itself

    def judge(self, backend: RemoteRanker, pairs: Sequence[tuple[str, str]]) -> list[Judgment]:
        groups: OrderedDict[str, list[int]] = OrderedDict()
        for i, (q, _) in enumerate(pairs):
            groups.setdefault(q, []).append(i)
        requests = [(query, [pairs[i][1] for i in idx]) for query, idx in groups.items()]
        out: list[Judgment | None] = [None] * len(pairs)
        for idx, scores in zip(groups.values(), backend.rerank_scores(requests)):
            for i, s in zip(idx, np.asarray(scores, dtype=np.float64)):
                out[i] = Judgment(score=float(s), raw_score=float(s))
        return [j for j in out if j is not None]


__all__ = ["RemoteStrategy"]
