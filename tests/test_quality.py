"""Quality: the demo model with its best zero-shot strategy beats BM25 on TREC DL19.

The demo model (Qwen2.5-Coder-0.5B-Instruct) reranks BM25's top 20 for 5 DL19
queries with query likelihood (``qlm``); nDCG@10 must be above BM25's on the
same queries and depth. The full measurement (43 queries, top 100) is
``interank eval`` and is reported in the README.
"""

from __future__ import annotations

import pytest

from interank_sdk import Reranker
from interank_sdk.eval import evaluate_reranker, evaluate_run, load_qrels, load_run

pytestmark = pytest.mark.slow

QUERIES = 5
DEPTH = 20


def test_qlm_beats_bm25_on_dl19(demo_model_dir, dl19_dir):
    reranker = Reranker(str(demo_model_dir), strategy="qlm", local_files_only=True)
    metrics, reranked = evaluate_reranker(reranker, dl19_dir, depth=DEPTH, max_queries=QUERIES, progress=False)
    assert len(reranked) == QUERIES
    bm25 = load_run(dl19_dir / "run.bm25.top100.trec", DEPTH)
    baseline = evaluate_run({q: bm25[q] for q in reranked}, load_qrels(dl19_dir / "qrels.tsv"))
    assert metrics["nDCG@10"] > baseline["nDCG@10"], (metrics, baseline)
