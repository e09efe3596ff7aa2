"""``interank rerank``: rerank the documents of a file for one query, as a table or JSON."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from ..errors import InvalidInputError
from ..types import RankedDocument
from .model_args import make_reranker, model_args, strategy_name


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``rerank`` to the ``interank`` subcommands."""
    p = subparsers.add_parser("rerank", help="rerank documents from a file for one query")
    model_args(p)
    p.add_argument("--query", "-q", required=True)
    p.add_argument("--docs", "-d", required=True, help=".jsonl with 'text' fields, or .txt with one document per line")
    p.add_argument("--top-k", "-k", type=int, default=None)
    p.add_argument("--min-score", type=float, default=None,
                   help="drop documents scored below it (before --top-k); with a calibrated model a probability "
                        "of relevance. Says so when no document reaches it")
    p.add_argument(
        "--explain", type=explain_arg, default=None, metavar="K|all",
        help="explain the best K documents (fast score first, then reasoning on the top K) or all of them",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)
    return p


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


def run(args: argparse.Namespace) -> int:
    """Rerank ``--docs`` for ``--query`` and print the result; the exit status."""
    docs = read_documents(args.docs)
    reranker = make_reranker(args, show_progress=not args.json)
    start = time.perf_counter()
    kwargs: dict[str, Any] = {"top_k": args.top_k, "min_score": args.min_score}
    if getattr(args, "explain", None) is not None:
        kwargs["explain"] = args.explain
    results = reranker.rerank(args.query, docs, **kwargs)
    elapsed = time.perf_counter() - start
    if args.json:
        payload = {
            "model": reranker.model_name,
            "strategy": strategy_name(reranker),
            "query": args.query,
            "seconds": elapsed,
            "stats": vars(results.stats),
            "results": result_rows(results),
            **({"min_score": args.min_score, "nothing_relevant": results.nothing_relevant}
               if args.min_score is not None else {}),
        }
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(f"query: {args.query}\nmodel: {reranker.model_name} (strategy {strategy_name(reranker)})\n\n")
        print_table(results)
        if results.nothing_relevant:
            sys.stdout.write(f"no document reached --min-score {args.min_score}: nothing here is relevant\n")
        sys.stdout.write(f"\n{len(docs)} documents reranked in {elapsed:.2f} s\n")
    return 0


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


def result_rows(results: Iterable[RankedDocument]) -> list[dict[str, Any]]:
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
                "calibrated": r.calibrated,
                "num_windows": r.num_windows,
                "title": r.document.title,
                "text": r.document.text,
                "metadata": r.document.metadata,
            }
        )
    return rows


def print_table(results: Iterable[RankedDocument], out: TextIO | None = None, width: int = 70) -> None:
    """A readable table of a rerank result, explanations under their rows."""
    out = out if out is not None else sys.stdout
    out.write(f"{'rank':>4}  {'index':>5}  {'score':>7}  {'label':>5}  text\n")
    for rank, r in enumerate(results, 1):
        flag = " [truncated]" if r.truncated else (f" [{r.num_windows} windows]" if r.num_windows > 1 else "")
        out.write(f"{rank:>4}  {r.index:>5}  {r.score:7.4f}  {(r.label or '-'):>5}  {_shorten(r.document.text, width)}{flag}\n")
        if r.explanation:
            out.write(f"{'':>27}why: {_shorten(r.explanation, width + 20)}\n")
