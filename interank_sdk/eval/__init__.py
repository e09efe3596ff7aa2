"""Evaluation: TREC/BEIR-style dataset loaders, metrics via ir-measures, rerank-and-evaluate.

Example:
    >>> from interank_sdk.eval import TrecDataset, load_run, evaluate_run, default_data_dir
    >>> folder = default_data_dir("trec-dl19-passage")  # $INTERANK_DATA or ../shared/data
    >>> data = TrecDataset.load(folder)  # doctest: +SKIP
    >>> evaluate_run(load_run(folder / "run.bm25.top100.trec"), data.qrels)  # doctest: +SKIP
    {'nDCG@10': 0.5058..., 'MRR@10': 0.8233..., 'Recall@100': 0.4530...}
"""

from .data import (
    DATA_ENV_VAR,
    Qrels,
    Run,
    TrecDataset,
    default_data_dir,
    load_corpus,
    load_qrels,
    load_queries,
    load_run,
    write_run,
)
from .bm25 import BM25Index, bm25_run
from .metrics import DEFAULT_MEASURES, evaluate_run, friendly_name, paired_bootstrap, per_query
from .qa import QAPair, load_qa_pairs, qa_retrieval_set
from .runner import RerankedRun, SupportsRerankBatch, evaluate_reranker, rerank_run

__all__ = [
    "BM25Index",
    "DATA_ENV_VAR",
    "DEFAULT_MEASURES",
    "QAPair",
    "Qrels",
    "RerankedRun",
    "Run",
    "SupportsRerankBatch",
    "TrecDataset",
    "bm25_run",
    "default_data_dir",
    "evaluate_reranker",
    "evaluate_run",
    "friendly_name",
    "load_corpus",
    "load_qa_pairs",
    "load_qrels",
    "load_queries",
    "load_run",
    "paired_bootstrap",
    "per_query",
    "qa_retrieval_set",
    "rerank_run",
    "write_run",
]
