"""BM25 over a list of passages: the first stage of every synthetic pool (the SDK's own index, re-exported)."""

from __future__ import annotations

from interank_sdk.eval.bm25 import BM25Index, bm25_run

__all__ = ["BM25Index", "bm25_run"]
