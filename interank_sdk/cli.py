"""Command line interface: ``interank rerank``, ``interank eval``.

Run ``interank --help`` (or ``python -m interank_sdk --help``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from .errors import InteRankError, InvalidInputError

logger = logging.getLogger("interank_sdk.cli")


def _model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "-m", required=True,
                        help="hub id, model folder, .gguf file, LoRA adapter folder, or a served model's name")
    parser.add_argument(
        "--strategy", "-s", default="auto",
        help="what is read from the model: auto (from its files), qlm, yesno, graded, reasoning, classifier, "
        "embedding, qwen3-reranker, bge-reranker-gemma, remote (default: auto)",
    )
    parser.add_argument("--strategy-option", action="append", default=[], metavar="KEY=VALUE", type=_key_value,
                        help="a strategy option, e.g. instruction='Given a question, find the answer' "
                        "(VALUE is parsed as JSON when it is JSON); repeatable")
    parser.add_argument("--prompt-version", default=None, help="prompt template version (default: latest)")
    parser.add_argument("--backend", default="auto", help="auto/hf, vllm, openai or rerank-api")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--quantization", choices=["4bit", "8bit", "int8"], default=None,
                        help="4bit/8bit: bitsandbytes (CUDA); int8: the CPU int8 path")
    parser.add_argument("--max-length", type=int, default=None,
                        help="tokens per input (default: 512 for LLMs, the model's own limit for classifiers)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="sequences per forward pass (default: 16 for LLMs, 64 for classifiers and encoders)")
    parser.add_argument("--long-documents", choices=["truncate", "window"], default="truncate")
    parser.add_argument("--local-files-only", action="store_true", help="never contact the model hub")
    parser.add_argument("--base-url", default=None, help="server URL for --backend openai or rerank-api")
    parser.add_argument("--api", default=None, choices=["cohere", "cohere-v2", "tei", "score"],
                        help="--backend rerank-api: the service's API (default cohere)")
    parser.add_argument("--max-new-tokens", type=int, default=160, help="token budget of one explanation")
    parser.add_argument("--cascade-model", default=None,
                        help="a second, stronger reranker that rescores the best --cascade-depth of --model "
                        "(a Cascade: e.g. --model a cross-encoder, --cascade-model an LLM)")
    parser.add_argument("--cascade-strategy", default="auto", help="strategy of --cascade-model (default: auto)")
    parser.add_argument("--cascade-depth", type=int, default=20, help="documents the second stage rescores")


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed: Any = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.strip(), parsed


def explain_arg(value: str) -> bool | int:
    """``--explain`` value: ``all`` (explain every document) or K (explain the best K, a cascade)."""
    if value.lower() in ("all", "true"):
        return True
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'all' or a positive integer, got {value!r}") from None
    if k < 1:
        raise argparse.ArgumentTypeError(f"expected 'all' or a positive integer, got {value!r}")
    return k


def _make_reranker(args: argparse.Namespace, *, show_progress: bool = False, keep_freed_memory: bool = True):
    """The reranker the command line describes: a :class:`Reranker`, or a :class:`Cascade` with ``--cascade-model``.

    ``keep_freed_memory`` (the CPU allocator setting and ``threads="auto"``, both process-wide) is on: every
    ``interank`` command owns its process.
    """
    from .cascade import Cascade
    from .reranker import Reranker

    kwargs: dict[str, Any] = {}
    if args.base_url:
        kwargs["base_url"] = args.base_url
    if getattr(args, "api", None):
        kwargs["api"] = args.api
    local = args.backend in ("auto", "hf", "transformers")
    if local:
        kwargs.update(show_progress=show_progress)
        if keep_freed_memory:  # the command owns its process: tune the allocator and the CPU threads
            kwargs.update(keep_freed_memory=True, threads="auto")
    common = {"device": args.device, "dtype": args.dtype, "quantization": args.quantization,
              "batch_size": args.batch_size, "local_files_only": args.local_files_only}
    first = Reranker(
        args.model,
        backend=args.backend,
        strategy=args.strategy,
        strategy_options=dict(getattr(args, "strategy_option", None) or []),
        prompt_version=args.prompt_version,
        max_length=args.max_length,
        long_documents=args.long_documents,
        max_new_tokens=args.max_new_tokens,
        **common,
        **kwargs,
    )
    if not getattr(args, "cascade_model", None):
        return first
    second_kwargs = {"keep_freed_memory": True, "threads": "auto"} if keep_freed_memory and local else {}
    second = Reranker(args.cascade_model, strategy=args.cascade_strategy, max_new_tokens=args.max_new_tokens,
                      long_documents=args.long_documents, **common, **second_kwargs)
    return Cascade(first, second, depth=args.cascade_depth)


def _strategy_name(reranker: Any) -> str:
    """``"classifier"``, or ``"classifier -> qlm"`` for a cascade."""
    if hasattr(reranker, "first"):
        return f"{_strategy_name(reranker.first)} -> {_strategy_name(reranker.second)}"
    return str(reranker.strategy.name)


def read_documents(path: str | Path) -> list[Any]:
    """Documents from a ``.jsonl`` file (objects with ``text``) or a ``.txt`` file (one per line)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"documents file not found: {path}")
    docs: list[Any] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            if path.suffix == ".jsonl":
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InvalidInputError(f"{path}:{lineno}: invalid JSON ({exc})") from exc
                if not isinstance(row, dict) or "text" not in row:
                    raise InvalidInputError(f"{path}:{lineno}: expected an object with a 'text' field")
                known = {k: row[k] for k in ("text", "title", "id", "score") if k in row}
                extra = {k: v for k, v in row.items() if k not in known and k != "metadata"}
                known["metadata"] = {**(row.get("metadata") or {}), **extra}
                docs.append(known)
            else:
                docs.append(line.rstrip("\n"))
    return docs


def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def result_rows(results) -> list[dict[str, Any]]:
    """JSON-ready rows for a rerank result."""
    rows = []
    for rank, r in enumerate(results, 1):
        rows.append(
            {
                "rank": rank,
                "index": r.index,
                "id": r.document.id,
                "score": r.score,
                "raw_score": r.raw_score,
                "stage": r.stage,
                "label": r.label,
                "strategy": r.strategy,
                "explanation": r.explanation,
                "truncated": r.truncated,
                "num_windows": r.num_windows,
                "title": r.document.title,
                "text": r.document.text,
                "metadata": r.document.metadata,
            }
        )
    return rows


def print_table(results, out=None, width: int = 70) -> None:
    """A readable table of a rerank result, explanations under their rows."""
    out = out if out is not None else sys.stdout
    out.write(f"{'rank':>4}  {'index':>5}  {'score':>7}  {'label':>5}  text\n")
    for rank, r in enumerate(results, 1):
        flag = " [truncated]" if r.truncated else (f" [{r.num_windows} windows]" if r.num_windows > 1 else "")
        out.write(f"{rank:>4}  {r.index:>5}  {r.score:7.4f}  {(r.label or '-'):>5}  {_shorten(r.document.text, width)}{flag}\n")
        if r.explanation:
            out.write(f"{'':>27}why: {_shorten(r.explanation, width + 20)}\n")


def cmd_rerank(args: argparse.Namespace) -> int:
    docs = read_documents(args.docs)
    reranker = _make_reranker(args, show_progress=not args.json)
    start = time.perf_counter()
    kwargs: dict[str, Any] = {"top_k": args.top_k}
    if getattr(args, "explain", None) is not None:
        kwargs["explain"] = args.explain
    results = reranker.rerank(args.query, docs, **kwargs)
    elapsed = time.perf_counter() - start
    if args.json:
        payload = {
            "model": reranker.model_name,
            "strategy": _strategy_name(reranker),
            "query": args.query,
            "seconds": elapsed,
            "stats": vars(results.stats),
            "results": result_rows(results),
        }
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(f"query: {args.query}\nmodel: {reranker.model_name} (strategy {_strategy_name(reranker)})\n\n")
        print_table(results)
        sys.stdout.write(f"\n{len(docs)} documents reranked in {elapsed:.2f} s\n")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .eval import evaluate_reranker, evaluate_run, load_qrels, load_run

    data = Path(args.data)
    if data.is_file():  # a QA JSONL file: answer retrieval over its answers, BM25 first stage
        return _eval_qa(args, data)
    reranker = _make_reranker(args)
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
        tag="interank-" + _strategy_name(reranker).replace(" -> ", "+"),
    )
    elapsed = time.perf_counter() - start
    first_stage = load_run(run_file, args.depth)
    qrels = load_qrels(data / "qrels.tsv")
    baseline = evaluate_run({qid: first_stage[qid] for qid in reranked}, qrels)
    payload = {
        "model": reranker.model_name,
        "strategy": _strategy_name(reranker),
        "data": str(data),
        "run": str(run_file),
        "depth": args.depth,
        "queries": len(reranked),
        "seconds": round(elapsed, 2),
        "metrics": metrics,
        "first_stage_metrics": baseline,
    }
    _print_eval(args, payload)
    return 0


def _eval_qa(args: argparse.Namespace, data: Path) -> int:
    """``interank eval --data qa.jsonl``: the QA pairs as answer retrieval, BM25's top ``--depth`` reranked."""
    from .eval import bm25_run, evaluate_run, per_query, qa_retrieval_set, rerank_run, write_run

    if args.run:
        raise InvalidInputError("--run applies to TREC folders; a QA file's first stage is BM25 over its answers")
    dataset = qa_retrieval_set(data)
    first_stage = bm25_run(dataset.queries, {d: p["text"] for d, p in dataset.corpus.items()}, depth=args.depth)
    reranker = _make_reranker(args)
    start = time.perf_counter()
    reranked = rerank_run(reranker, dataset, first_stage, depth=args.depth, max_queries=args.max_queries,
                          progress=not args.json)
    elapsed = time.perf_counter() - start
    if args.output:
        write_run(reranked, args.output, tag="interank-" + _strategy_name(reranker).replace(" -> ", "+"))
    qrels = {qid: dataset.qrels[qid] for qid in reranked}
    metrics = evaluate_run(reranked, qrels)
    baseline = evaluate_run({qid: first_stage[qid] for qid in reranked}, qrels)
    payload: dict[str, Any] = {
        "model": reranker.model_name, "strategy": _strategy_name(reranker), "data": str(data),
        "run": f"bm25 top {args.depth} over the answers", "depth": args.depth, "queries": len(reranked),
        "seconds": round(elapsed, 2), "metrics": metrics, "first_stage_metrics": baseline,
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interank", description="Rerank documents with a small language model.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("rerank", help="rerank documents from a file for one query")
    _model_args(p)
    p.add_argument("--query", "-q", required=True)
    p.add_argument("--docs", "-d", required=True, help=".jsonl with 'text' fields, or .txt with one document per line")
    p.add_argument("--top-k", "-k", type=int, default=None)
    p.add_argument(
        "--explain", type=explain_arg, default=None, metavar="K|all",
        help="explain the best K documents (fast score first, then reasoning on the top K) or all of them",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_rerank)

    p = sub.add_parser("eval", help="rerank a TREC run and report nDCG@10, MRR@10, Recall@100")
    _model_args(p)
    p.add_argument("--data", required=True,
                   help="dataset folder (queries.jsonl, corpus.jsonl, qrels.tsv, runs), or a QA JSONL file "
                        "({question, answer[, id, domain]}: answer retrieval, BM25 over the answers)")
    p.add_argument("--run", default=None, help="TREC run to rerank (default: DATA/run.bm25.top100.trec)")
    p.add_argument("--depth", type=int, default=100, help="rerank the top DEPTH of each query")
    p.add_argument("--max-queries", type=int, default=None, help="evaluate only the first N judged queries")
    p.add_argument("--output", "-o", default=None, help="write the reranked run here (TREC format)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_eval)

    from .serve.cli import add_serve_parser  # fastapi/uvicorn are imported only when serve runs

    add_serve_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except InteRankError as exc:
        sys.stderr.write(f"interank: error: {exc}\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
