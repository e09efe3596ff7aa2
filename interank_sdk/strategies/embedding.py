"""Bi-encoders: the score is the cosine similarity of the query's and the passage's embeddings.

A cheap scorer for hybrid pipelines whose first stage is lexical (BM25): the
query and each passage are embedded separately (each distinct query and each
distinct passage once per call), so it costs one encoder pass per passage.
Score = (cosine + 1) / 2, in ``[0, 1]``; the cosine itself is :attr:`~interank_sdk.types.RankedDocument.raw_score`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..backends.base import Encoder
from .base import Judgment, Strategy


class EmbeddingStrategy(Strategy[Encoder]):
    """Score = (cosine(embed(query), embed(passage)) + 1) / 2."""

    name = "embedding"
    has_template = False

    def reserved_tokens(self, backend: Encoder, query: str) -> int:
        return 2  # the passage is encoded alone: [CLS] ... [SEP]

    def judge(self, backend: Encoder, pairs: Sequence[tuple[str, str]]) -> list[Judgment]:
        if not pairs:
            return []
        # each distinct text is embedded once: a query per call, and a passage shared by several pairs
        # (the same candidates of many queries: an evaluation, a teacher's pools)
        queries = list(dict.fromkeys(q for q, _ in pairs))
        passages = list(dict.fromkeys(p for _, p in pairs))
        q_vec = _unit(backend.embed(queries))
        p_vec = _unit(backend.embed(passages))
        row = {q: i for i, q in enumerate(queries)}
        col = {p: i for i, p in enumerate(passages)}
        cos = np.einsum("ij,ij->i", q_vec[[row[q] for q, _ in pairs]], p_vec[[col[p] for _, p in pairs]])
        cos = np.clip(cos, -1.0, 1.0)
        return [Judgment(score=float((c + 1.0) / 2.0), raw_score=float(c)) for c in cos]


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


__all__ = ["EmbeddingStrategy"]
