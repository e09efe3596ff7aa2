"""``interank eval``: rerank a first-stage run (a TREC folder, or a QA file with BM25) and report the measures."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from .model_args import make_reranker, model_args, strategy_name


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``eval`` to the ``interank`` subcommands."""
    p = subparsers.add_parser("eval", help="rerank a TREC run and report nDCG@10, MRR@10, Recall@100")
    model_args(p)
    p.add_argument("--data", required=True,
                   help="dataset folder (queries.jsonl, corpus.jsonl, qrels.tsv, runs), or a QA JSONL file "
                        "({question, answer[, id, domain]}: answer retrieval, BM25 over the answers)")
    p.add_argument("--run", default=None, help="TREC run to rerank (default: DATA/run.bm25.top100.trec)")
    p.add_argument("--depth", type=int, default=100, help="rerank the top DEPTH of each query")
    p.add_argument("--max-queries", type=int, default=None, help="evaluate only the first N judged queries")
    p.add_argument("--output", "-o", default=None, help="write the reranked run here (TREC format)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Rerank ``--data``'s first stage to ``--depth`` and print the measures before and after; the exit status."""
    from ..eval import evaluate_reranker, evaluate_run, load_qrels, load_run

    data = Path(args.data)
    if data.is_file():  # a QA JSONL file: answer retrieval over its answers, BM25 first stage
        return _eval_qa(args, data)
    reranker = make_reranker(args)
    run_file = Path(args.run) if args.run else data / "run.bm25.top100.trec"
    if not run_file.is_file() and (data / args.run).is_file():
        run_file = data / args.run
    start = time.perf_counter()
    metrics, reranked = evaluate_reranker(
        reranker,
        data,
        run_file,
        depth=args.depth,
        max_queries=args.max_queries,
        progress=not args.json,
        output_run=args.output,
        tag="interank-" + strategy_name(reranker).replace(" -> ", "+"),
    )
    elapsed = time.perf_counter() - start
    first_stage = load_run(run_file, args.depth)
    qrels = load_qrels(data / "qrels.tsv")
    baseline = evaluate_run({qid: first_stage[qid] for qid in reranked}, qrels)
    payload = {
        "model": reranker.model_name,
        "strategy": strategy_name(reranker),
        "data": str(data),
        "run": str(run_file),
        "depth": args.depth,
        "queries": len(reranked),
        "seconds": round(elapsed, 2),
        "metrics": metrics,
        "first_stage_metrics": baseline,
        "failed_queries": dict(getattr(reranked, "failures", {})),
    }
    _print_eval(args, payload)
    return 0


def _eval_qa(args: argparse.Namespace, data: Path) -> int:
    """``interank eval --data qa.jsonl``: the QA pairs as answer retrieval, BM25's top ``--depth`` reranked."""
    from ..eval import bm25_run, evaluate_run, per_query, qa_retrieval_set, rerank_run, write_run

    if args.run:
        raise InvalidInputError("--run applies to TREC folders; a QA file's first stage is BM25 over its answers")
    dataset = qa_retrieval_set(data)
    first_stage = bm25_run(dataset.queries, {d: p["text"] for d, p in dataset.corpus.items()}, depth=args.depth)
    reranker = make_reranker(args)
    start = time.perf_counter()
    reranked = rerank_run(reranker, dataset, first_stage, depth=args.depth, max_queries=args.max_queries,
                          progress=not args.json)
    elapsed = time.perf_counter() - start
    if args.output:
        write_run(reranked, args.output, tag="interank-" + strategy_name(reranker).replace(" -> ", "+"))
    qrels = {qid: dataset.qrels[qid] for qid in reranked}
    metrics = evaluate_run(reranked, qrels)
    baseline = evaluate_run({qid: first_stage[qid] for qid in reranked}, qrels)
    payload: dict[str, Any] = {
        "model": reranker.model_name, "strategy": strategy_name(reranker), "data": str(data),
        "run": f"bm25 top {args.depth} over the answers", "depth": args.depth, "queries": len(reranked),
        "seconds": round(elapsed, 2), "metrics": metrics, "first_stage_metrics": baseline,
        "failed_queries": dict(reranked.failures),
    }
    if dataset.domains:
        rows = per_query(reranked, qrels)
        by_domain: dict[str, dict[str, list[float]]] = {}
        for qid, values in rows.items():
            for name, value in values.items():
                by_domain.setdefault(dataset.domains.get(qid, "-"), {}).setdefault(name, []).append(value)
        payload["metrics_by_domain"] = {d: {k: sum(v) / len(v) for k, v in m.items()} for d, m in by_domain.items()}
    _print_eval(args, payload)
    return 0


def _print_eval(args: argparse.Namespace, payload: dict[str, Any]) -> None:
    metrics, baseline = payload["metrics"], payload["first_stage_metrics"]
    if args.json:
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    sys.stdout.write(f"{'measure':<12} {'first stage':>12} {'reranked':>10}\n")
    for name, value in metrics.items():
        sys.stdout.write(f"{name:<12} {baseline.get(name, float('nan')):>12.4f} {value:>10.4f}\n")
    for domain, values in payload.get("metrics_by_domain", {}).items():
        sys.stdout.write(f"  {domain:<24} " + "  ".join(f"{k} {v:.4f}" for k, v in values.items()) + "\n")
    sys.stdout.write(f"\n{payload['queries']} queries, depth {payload['depth']}, {payload['seconds']:.1f} s")
    sys.stdout.write(f"; run written to {args.output}\n" if args.output else "\n")
    failed = payload.get("failed_queries") or {}
    if failed:  # measured with their first-stage order: said at the end, where it is seen
        sys.stdout.write(f"{len(failed)} of {payload['queries']} queries failed and count with their first-stage "
                         "order:\n" + "".join(f"  {qid}: {message}\n" for qid, message in failed.items()))
