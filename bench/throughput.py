"""Throughput of the Reranker against the naive way, side by side in one run.

The naive way is what many reference implementations do: one ``model(**inputs)``
per (query, passage) pair, full-vocabulary logits at every position, then the
label probabilities read from the last position. Ours: length-sorted batches
with left padding, logits of the last position only.

Both score the same prompts (the ``yesno`` strategy's template, rendered by the
same backend) over the BM25 candidates of TREC DL19 queries, so the scores must
agree; the JSON records the largest difference as a check that the comparison
is fair. Each (method, candidates) cell runs in its own process so its peak
memory (max RSS) is its own.

Usage::

    python bench/throughput.py                      # demo model, 20 and 100 candidates
    python bench/throughput.py --model PATH --queries 3 --candidates 20 100

Writes ``bench/results/throughput.json`` and ``throughput.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = Path(os.environ.get("INTERANK_CACHE", Path.home() / ".cache" / "interank")) / "models" / "qwen2.5-coder-0.5b-instruct"
DEFAULT_DATA = Path(os.environ.get("INTERANK_DATA", REPO.parent / "shared" / "data")) / "trec-dl19-passage"


def load_workload(data: Path, queries: int, candidates: int) -> list[tuple[str, list[str]]]:
    from interank_sdk.eval import TrecDataset, load_run

    run = load_run(data / "run.bm25.top100.trec", candidates)
    ds = TrecDataset.load(data, corpus_ids={d for docs in run.values() for d, _ in docs})
    qids = [q for q in run if q in ds.qrels][:queries]
    return [(ds.queries[q], [ds.corpus[d]["text"] for d, _ in run[q]]) for q in qids]


def worker(args: argparse.Namespace) -> dict:
    """Measure one (method, candidates) cell in this process."""
    import numpy as np
    import torch

    from interank_sdk import Reranker

    workload = load_workload(Path(args.data), args.queries, args.cell_candidates)
    reranker = Reranker(args.model, strategy="yesno", batch_size=args.batch_size, local_files_only=True)
    backend, strategy = reranker.backend, reranker.strategy
    model = backend.model
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    if args.method == "naive":
        # the same label tokens as ours (case and leading-space variants, summed)
        ids = {label: backend.label_token_ids(label) for label in ("yes", "no")}

        def score(query: str, docs: list[str]) -> list[float]:
            out = []
            for doc in docs:
                text = backend.render(strategy.prompt(query, doc))
                input_ids = torch.tensor([backend.encode([text])[0]], device=model.device)  # same tokens as ours
                with torch.inference_mode():
                    logits = model(input_ids=input_ids).logits  # full vocabulary at every position
                probs = logits[0, -1].float().softmax(-1)
                yes, no = probs[ids["yes"]].sum().item(), probs[ids["no"]].sum().item()
                out.append(yes / (yes + no))
            return out
    else:

        def score(query: str, docs: list[str]) -> list[float]:
            ranked = reranker.rerank(query, docs)
            out = [0.0] * len(docs)
            for r in ranked:
                out[r.index] = r.score
            return out

    score(workload[0][0], workload[0][1][:2])  # warm-up
    latencies, scores, tokens = [], [], 0
    for query, docs in workload:
        tokens += sum(backend.count_tokens([backend.render(strategy.prompt(query, d)) for d in docs]))
        start = time.perf_counter()
        scores.append(score(query, docs))
        latencies.append(time.perf_counter() - start)
    pairs = sum(len(d) for _, d in workload)
    params = sum(p.numel() for p in model.parameters())
    return {
        "method": args.method,
        "candidates": args.cell_candidates,
        "queries": len(workload),
        "pairs": pairs,
        "seconds": sum(latencies),
        "pairs_per_second": pairs / sum(latencies),
        "latency_per_query_s": {"mean": statistics.mean(latencies), "max": max(latencies)},
        "prompt_tokens": tokens,
        "model_tflops_per_s": 2 * params * tokens / sum(latencies) / 1e12,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_load_mib": rss_loaded,
        "scores": scores,
        "dtype": str(backend.dtype).replace("torch.", ""),
        "threads": torch.get_num_threads(),
        "numpy": np.__version__,
    }


def matmul_peak_tflops(dtype_name: str, seconds: float = 3.0) -> float:
    """Measured bf16 (or fp32) matmul throughput of this machine, the roofline for the FLOP fraction."""
    import torch

    dtype = getattr(torch, dtype_name)
    a = torch.randn(2048, 2048, dtype=dtype)
    b = torch.randn(2048, 2048, dtype=dtype)
    a @ b
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        n += 1
    return 2 * 2048**3 * n / (time.perf_counter() - start) / 1e12


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--queries", type=int, default=3, help="queries per cell")
    parser.add_argument("--candidates", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--cell-candidates", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--output", default=str(REPO / "bench" / "results" / "throughput.json"))
    parser.add_argument("--method", choices=["ours", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        sys.stdout.write(json.dumps(worker(args)) + "\n")
        return 0

    cells = []
    for n in args.candidates:
        for method in ("naive", "ours"):
            cmd = [sys.executable, __file__, "--worker", "--method", method, "--model", args.model, "--data", args.data,
                   "--queries", str(args.queries), "--cell-candidates", str(n), "--batch-size", str(args.batch_size)]
            print(f"measuring {method} with {n} candidates x {args.queries} queries ...", flush=True)
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr[-3000:])
                return proc.returncode
            cells.append(json.loads(proc.stdout.strip().splitlines()[-1]))

    peak = matmul_peak_tflops(cells[0]["dtype"])
    summary = []
    for n in args.candidates:
        naive = next(c for c in cells if c["candidates"] == n and c["method"] == "naive")
        ours = next(c for c in cells if c["candidates"] == n and c["method"] == "ours")
        diff = max(abs(a - b) for qa, qb in zip(naive["scores"], ours["scores"]) for a, b in zip(qa, qb))
        summary.append({
            "candidates": n,
            "speedup": ours["pairs_per_second"] / naive["pairs_per_second"],
            "ours_pairs_per_second": ours["pairs_per_second"],
            "naive_pairs_per_second": naive["pairs_per_second"],
            "ours_latency_per_query_s": ours["latency_per_query_s"]["mean"],
            "naive_latency_per_query_s": naive["latency_per_query_s"]["mean"],
            "ours_peak_rss_mib": ours["peak_rss_mib"],
            "naive_peak_rss_mib": naive["peak_rss_mib"],
            "ours_fraction_of_matmul_peak": ours["model_tflops_per_s"] / peak,
            "naive_fraction_of_matmul_peak": naive["model_tflops_per_s"] / peak,
            "max_score_difference": diff,
        })
    for c in cells:
        c.pop("scores")
    result = {
        "benchmark": "throughput",
        "model": args.model,
        "strategy": "yesno",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "matmul_peak_tflops": peak},
        "summary": summary,
        "cells": cells,
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    plot(summary, out.with_suffix(".png"))
    for s in summary:
        print(f"{s['candidates']:>4} candidates: ours {s['ours_pairs_per_second']:.1f} pairs/s, "
              f"naive {s['naive_pairs_per_second']:.1f} pairs/s, speedup {s['speedup']:.2f}x, "
              f"latency/query {s['ours_latency_per_query_s']:.2f} s vs {s['naive_latency_per_query_s']:.2f} s, "
              f"peak RSS {s['ours_peak_rss_mib']:.0f} vs {s['naive_peak_rss_mib']:.0f} MiB, "
              f"max |score diff| {s['max_score_difference']:.2e}")
    print(f"wrote {out}")
    return 0


def plot(summary: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [str(s["candidates"]) for s in summary]
    x = range(len(summary))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar([i - 0.2 for i in x], [s["naive_pairs_per_second"] for s in summary], 0.4, label="naive per-pair loop")
    ax.bar([i + 0.2 for i in x], [s["ours_pairs_per_second"] for s in summary], 0.4, label="interank Reranker")
    for i, s in enumerate(summary):
        ax.annotate(f"{s['speedup']:.1f}x", (i + 0.2, s["ours_pairs_per_second"]), ha="center", va="bottom")
    ax.set_xticks(list(x), labels)
    ax.set_xlabel("candidates per query")
    ax.set_ylabel("pairs / second")
    ax.set_title("yes/no scoring throughput (same prompts, same model)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
