"""Throughput of the Reranker against the naive way, side by side in one run.

The naive way is what many reference implementations do: one ``model(**inputs)``
per (query, passage) pair, full-vocabulary logits at every position, then the
label probabilities read from the last position. Ours: length-sorted batches
with left padding, the shared prompt prefix computed once per batch, logits of
the last position only, at the same precision as the naive loop (``ours``), and
the same with the CPU int8 path (``ours-int8``: int8 weights and per-token int8
activations, ``Reranker(..., quantization="int8")``).

All score the same prompts (the ``yesno`` strategy's v1 template, pinned so the
recorded results stay comparable: its query comes first, so a batch of one
query's candidates shares the query as prefix; rendered by the
same backend) over the BM25 candidates of TREC DL19 queries, so the scores must
agree; the JSON records the largest difference from the naive loop's scores
and the rank correlation per query as a check that the comparison is fair (for
``ours-int8`` they measure what int8 costs in fidelity). Each (method,
candidates) cell runs in its own process so its peak memory (max RSS) is its
own; the cells of one candidate count run one after the other, so a change in
the machine's load hits all methods alike.

Usage::

    python bench/throughput.py                      # demo model, 20 and 100 candidates
    python bench/throughput.py --model PATH --queries 3 --candidates 20 100 --methods ours

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


#: the naive per-pair loop, ours at the same precision, ours with the CPU int8 path
METHODS = ("naive", "ours", "ours-int8")
PROMPT_VERSION = "v1"  # the prompt the recorded results (bench/results/throughput.json) were measured with


def worker(args: argparse.Namespace) -> dict:
    """Measure one (method, candidates) cell in this process."""
    import numpy as np
    import torch

    from interank_sdk import Reranker

    workload = load_workload(Path(args.data), args.queries, args.cell_candidates)
    quantization = "int8" if args.method == "ours-int8" else None
    reranker = Reranker(args.model, strategy="yesno", prompt_version=PROMPT_VERSION, batch_size=args.batch_size,
                        quantization=quantization, local_files_only=True,
                        keep_freed_memory=True)  # the allocator setting its recorded results were measured with
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
    rss_ready = current_rss_mib()
    scoring_peak_known = reset_peak_rss()  # from here on VmHWM is the scoring peak
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
        # the FLOPs the naive loop spends on these prompts (2 x parameters x prompt tokens) per second: for the
        # naive loop its real rate; for ours, which skips work (shared prefix, logits of one position), higher
        "naive_equivalent_tflops_per_s": 2 * params * tokens / sum(latencies) / 1e12,
        # loading included (the reset above also resets ru_maxrss, so the loading peak is kept aside)
        "peak_rss_mib": max(rss_loaded, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "load_peak_rss_mib": rss_loaded,
        "rss_ready_mib": rss_ready,  # resident after loading and one warm-up call
        "scoring_peak_rss_mib": peak_rss_mib() if scoring_peak_known else None,
        "scores": scores,
        "dtype": str(backend.dtype).replace("torch.", ""),
        "quantization": quantization,
        "threads": torch.get_num_threads(),
        "numpy": np.__version__,
    }


def current_rss_mib() -> float:
    """Resident memory now (MiB)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak_rss() -> bool:
    """Reset this process's peak resident size (Linux ``clear_refs``); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    """Peak resident memory since the last reset (VmHWM, MiB)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def matmul_peak_tflops(dtype_name: str, seconds: float = 1.0, trials: int = 5) -> float:
    """Measured matmul throughput of this machine (fp32, bf16 or int8), the roofline for the FLOP fraction."""
    import torch

    if dtype_name == "int8":
        a = torch.randint(-127, 127, (2048, 2048), dtype=torch.int8)
        b = torch.randint(-127, 127, (2048, 2048), dtype=torch.int8)
        mm = torch._int_mm
    else:
        dtype = getattr(torch, dtype_name)
        a = torch.randn(2048, 2048, dtype=dtype)
        b = torch.randn(2048, 2048, dtype=dtype)
        mm = torch.matmul
    mm(a, b)
    best = 0.0
    for _ in range(trials):  # the best of several short trials: a busy neighbour only ever slows a trial down
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            mm(a, b)
            n += 1
        best = max(best, 2 * 2048**3 * n / (time.perf_counter() - start) / 1e12)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--queries", type=int, default=3, help="queries per cell")
    parser.add_argument("--candidates", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--cell-candidates", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--output", default=str(REPO / "bench" / "results" / "throughput.json"))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS),
                        help="what to measure (naive is always measured: it is the baseline)")
    parser.add_argument("--method", choices=list(METHODS), help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        sys.stdout.write(json.dumps(worker(args)) + "\n")
        return 0

    methods = ["naive"] + [m for m in args.methods if m != "naive"]
    cells = []
    for n in args.candidates:
        for method in methods:
            cmd = [sys.executable, __file__, "--worker", "--method", method, "--model", args.model, "--data", args.data,
                   "--queries", str(args.queries), "--cell-candidates", str(n), "--batch-size", str(args.batch_size)]
            print(f"measuring {method} with {n} candidates x {args.queries} queries ...", flush=True)
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr[-3000:])
                return proc.returncode
            cells.append(json.loads(proc.stdout.strip().splitlines()[-1]))

    peaks = {d: matmul_peak_tflops(d) for d in sorted({c["dtype"] for c in cells} | {"int8"} - {"None"})}
    summary = []
    for n in args.candidates:
        naive = next(c for c in cells if c["candidates"] == n and c["method"] == "naive")
        row: dict = {
            "candidates": n,
            "naive_pairs_per_second": naive["pairs_per_second"],
            "naive_latency_per_query_s": naive["latency_per_query_s"]["mean"],
            "naive_peak_rss_mib": naive["peak_rss_mib"],
            "naive_scoring_peak_rss_mib": naive["scoring_peak_rss_mib"],
            "naive_rss_ready_mib": naive["rss_ready_mib"],
            "naive_fraction_of_matmul_peak": naive["naive_equivalent_tflops_per_s"] / peaks[naive["dtype"]],
        }
        for method in methods[1:]:
            ours = next(c for c in cells if c["candidates"] == n and c["method"] == method)
            key = method.replace("-", "_")
            peak = peaks["int8" if ours["quantization"] == "int8" else ours["dtype"]]
            row.update({
                f"{key}_speedup": ours["pairs_per_second"] / naive["pairs_per_second"],
                f"{key}_pairs_per_second": ours["pairs_per_second"],
                f"{key}_latency_per_query_s": ours["latency_per_query_s"]["mean"],
                f"{key}_peak_rss_mib": ours["peak_rss_mib"],
                f"{key}_scoring_peak_rss_mib": ours["scoring_peak_rss_mib"],
                f"{key}_rss_ready_mib": ours["rss_ready_mib"],
                f"{key}_naive_equivalent_fraction_of_matmul_peak": ours["naive_equivalent_tflops_per_s"] / peak,
                f"{key}_max_score_difference": max(abs(a - b) for qa, qb in zip(naive["scores"], ours["scores"])
                                                   for a, b in zip(qa, qb)),
                f"{key}_mean_score_difference": statistics.mean(abs(a - b) for qa, qb in zip(naive["scores"],
                                                                                           ours["scores"])
                                                                for a, b in zip(qa, qb)),
                f"{key}_min_spearman": min(spearman(qa, qb) for qa, qb in zip(naive["scores"], ours["scores"])),
            })
        summary.append(row)
    for c in cells:
        c.pop("scores")
    result = {
        "benchmark": "throughput",
        "model": args.model,
        "strategy": "yesno",
        "prompt_version": PROMPT_VERSION,
        "methods": methods,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "matmul_peak_tflops": peaks},
        "notes": {
            "fraction_of_matmul_peak": "FLOPs the naive loop spends on the same prompts (2 x parameters x prompt "
                                       "tokens) per second over the measured peak of the dtype (int8: torch._int_mm); "
                                       "above 1 for ours, which skips work the naive loop does",
            "score_difference": "against the naive loop's scores; ours-int8 shows what int8 costs in fidelity",
            "memory": "peak_rss_mib includes loading the model; scoring_peak_rss_mib is the peak while scoring "
                      "(reset after loading and a warm-up call); rss_ready_mib is resident after loading",
        },
        "summary": summary,
        "cells": cells,
    }
    out = Path(args.output)
    from results_io import write_json  # bench/ is this script's folder

    write_json(out, result)
    plot(summary, methods, out.with_suffix(".png"))
    for s in summary:
        line = f"{s['candidates']:>4} candidates: naive {s['naive_pairs_per_second']:.2f} pairs/s"
        for method in methods[1:]:
            k = method.replace("-", "_")
            line += (f" | {method} {s[k + '_pairs_per_second']:.2f} pairs/s, {s[k + '_speedup']:.2f}x, "
                     f"latency/query {s[k + '_latency_per_query_s']:.2f} s vs {s['naive_latency_per_query_s']:.2f} s, "
                     f"peak RSS {s[k + '_peak_rss_mib']:.0f} vs {s['naive_peak_rss_mib']:.0f} MiB "
                     f"(scoring {s[k + '_scoring_peak_rss_mib'] or float('nan'):.0f} vs "
                     f"{s['naive_scoring_peak_rss_mib'] or float('nan'):.0f}), "
                     f"max |score diff| {s[k + '_max_score_difference']:.3f}, min Spearman {s[k + '_min_spearman']:.3f}")
        print(line)
    print(f"wrote {out}")
    return 0


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman rank correlation of two score lists (how far the orderings agree)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b)[0])


def plot(summary: list[dict], methods: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [str(s["candidates"]) for s in summary]
    width = 0.8 / len(methods)
    names = {"naive": "naive per-pair loop", "ours": "interank Reranker", "ours-int8": "interank Reranker, int8"}
    fig, ax = plt.subplots(figsize=(7, 4))
    for j, method in enumerate(methods):
        key = method.replace("-", "_")
        xs = [i - 0.4 + width * (j + 0.5) for i in range(len(summary))]
        ys = [s[f"{key}_pairs_per_second"] for s in summary]
        ax.bar(xs, ys, width, label=names.get(method, method))
        if method != "naive":
            for x, y, s in zip(xs, ys, summary):
                ax.annotate(f"{s[key + '_speedup']:.1f}x", (x, y), ha="center", va="bottom")
    ax.set_xticks(list(range(len(summary))), labels)
    ax.set_xlabel("candidates per query")
    ax.set_ylabel("pairs / second")
    ax.set_title("yes/no scoring throughput (same prompts, same model)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
