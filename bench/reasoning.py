"""Cost and quality of explanations: ``graded`` alone, the ``explain=3`` cascade, ``explain=True``.

For BM25's top 20 of TREC DL19 queries, with the same loaded model, in one run:
latency per query, tokens generated per document, marker/budget accounting and
nDCG@10 (ir-measures) of each mode, next to BM25's. Writes one JSON file.

Usage::

    python bench/reasoning.py                       # demo model, 8 queries
    python bench/reasoning.py --queries 43 --max-new-tokens 160 --fast-strategy qlm
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from interank_sdk import Reranker
from interank_sdk.eval import TrecDataset, evaluate_run, load_run

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("INTERANK_CACHE", Path.home() / ".cache" / "interank"))
DATA = Path(os.environ.get("INTERANK_DATA", REPO.parent / "shared" / "data")) / "trec-dl19-passage"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(CACHE / "models" / "qwen2.5-coder-0.5b-instruct"))
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--queries", type=int, default=8)
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--fast-strategy", default="graded", help="strategy of the first stage of the cascade")
    parser.add_argument("--explain-k", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--output", default=str(REPO / "bench" / "results" / "reasoning.json"))
    args = parser.parse_args()

    data = Path(args.data)
    run = load_run(data / "run.bm25.top100.trec", args.candidates)
    ds = TrecDataset.load(data, corpus_ids={d for docs in run.values() for d, _ in docs})
    qids = [q for q in run if q in ds.qrels][: args.queries]
    qrels = {q: ds.qrels[q] for q in qids}
    reranker = Reranker(args.model, strategy=args.fast_strategy, max_new_tokens=args.max_new_tokens,
                        batch_size=args.batch_size, local_files_only=True)

    modes = {args.fast_strategy: False, f"explain={args.explain_k}": args.explain_k, "explain=True": True}
    rows = {"bm25": {"nDCG@10": evaluate_run({q: run[q] for q in qids}, qrels, ["nDCG@10"])["nDCG@10"]}}
    for name, explain in modes.items():
        latencies, tokens, generations, missing, budget = [], 0, 0, 0, 0
        reranked = {}
        examples = []
        for q in qids:
            docs = [{"text": ds.corpus[d]["text"], "id": d} for d, _ in run[q]]
            start = time.perf_counter()
            ranked = reranker.rerank(ds.queries[q], docs, explain=explain)
            latencies.append(time.perf_counter() - start)
            st = ranked.stats
            tokens += st.generated_tokens
            generations += st.generations
            missing += st.missing_marker
            budget += st.hit_token_budget
            # order as returned (the cascade reorders only its head)
            reranked[q] = [(r.document.id, float(len(ranked) - i)) for i, r in enumerate(ranked)]
            if explain and len(examples) < 3:
                top = ranked[0]
                examples.append({"query": ds.queries[q], "doc": top.document.text[:300], "label": top.label,
                                 "score": top.score, "explanation": top.explanation})
        rows[name] = {
            "nDCG@10": evaluate_run(reranked, qrels, ["nDCG@10"])["nDCG@10"],
            "latency_per_query_s": {"mean": statistics.mean(latencies), "max": max(latencies)},
            "generations": generations,
            "generated_tokens_per_explained_document": tokens / generations if generations else 0.0,
            "generated_tokens_per_document": tokens / (len(qids) * args.candidates),
            "missing_marker": missing,
            "hit_token_budget": budget,
            "examples": examples,
        }
        print(f"{name:>14}: nDCG@10 {rows[name]['nDCG@10']:.4f}, "
              f"{rows[name]['latency_per_query_s']['mean']:.1f} s/query, "
              f"{rows[name]['generated_tokens_per_document']:.1f} tokens/document, "
              f"missing marker {missing}/{generations}, budget hit {budget}", flush=True)
    result = {
        "benchmark": "reasoning",
        "model": args.model,
        "backend": reranker.backend.describe(),
        "data": str(data),
        "queries": len(qids),
        "candidates": args.candidates,
        "max_new_tokens": args.max_new_tokens,
        "fast_strategy": args.fast_strategy,
        "results": rows,
    }
    out = Path(args.output)
    from results_io import write_json  # bench/ is this script's folder

    write_json(out, result)
    print(f"BM25 nDCG@10 {rows['bm25']['nDCG@10']:.4f}; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
