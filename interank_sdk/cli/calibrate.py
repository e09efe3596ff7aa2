"""``interank calibrate``: fit a model's map from raw score to P(relevant) on judgments and save it with the model."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..calibration import METHODS
from .model_args import make_reranker, model_args


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``calibrate`` to the ``interank`` subcommands."""
    p = subparsers.add_parser(
        "calibrate", help="calibrate a model's scores on judgments (a threshold then means P(relevant))",
        description="Score the judged candidates of a first-stage run, fit a monotone map from the model's raw "
                    "score to P(relevant), and write it into the model folder's interank.json (or --out).")
    model_args(p)
    p.add_argument("--data", required=True, help="TREC folder: queries.jsonl, corpus.jsonl, qrels.tsv, runs")
    p.add_argument("--run", default=None, help="first-stage run (default: DATA/run.bm25.top100.trec)")
    p.add_argument("--method", choices=METHODS, default="platt")
    p.add_argument("--relevance-level", type=int, default=2,
                   help="the least grade counted as relevant (default 2, TREC DL's binary convention)")
    p.add_argument("--depth", type=int, default=100, help="candidates per query taken from the run")
    p.add_argument("--max-queries", type=int, default=None, help="only the first N judged queries")
    p.add_argument("--heldout-fraction", type=float, default=0.2, help="share of queries held out to measure ECE")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None,
                   help="also write the calibration here as JSON (for a hub or served model: load it with "
                        "--calibration PATH)")
    p.add_argument("--no-save", action="store_true", help="do not write the model folder's interank.json")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Calibrate, report the held-out error, save; the exit status."""
    reranker = make_reranker(args, show_progress=not args.json)
    fitted = reranker.calibrate(
        args.data, args.run, method=args.method, relevance_level=args.relevance_level, depth=args.depth,
        max_queries=args.max_queries, heldout_fraction=args.heldout_fraction, seed=args.seed,
        save=False if args.no_save else None, progress=not args.json)
    stages = list(fitted) if isinstance(fitted, tuple) else [fitted]
    if args.out:
        for i, cal in enumerate(stages):
            path = args.out if len(stages) == 1 else args.out.replace(".json", f".stage{i + 1}.json")
            cal.save(path)
    payload = {"model": reranker.model_name, "saved_to_model": not args.no_save and _saved(reranker),
               "out": args.out, "calibrations": [cal.to_dict() for cal in stages]}
    if args.json:
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return 0
    for i, cal in enumerate(stages):
        prefix = f"stage {i + 1}: " if len(stages) > 1 else ""
        held = cal.heldout
        sys.stdout.write(f"{prefix}{cal.method} on {cal.fitted_on.get('pairs')} judged pairs "
                         f"({cal.fitted_on.get('positives')} relevant, grade >= {cal.relevance_level}) of "
                         f"{cal.fitted_on.get('queries')} queries\n")
        if held:
            sys.stdout.write(f"{prefix}held-out ({held['queries']} queries, {held['pairs']} pairs): ECE "
                             f"{held.get('ece_before', float('nan')):.3f} -> {held['ece']:.3f}, Brier "
                             f"{held.get('brier_before', float('nan')):.3f} -> {held['brier']:.3f}"
                             + (f" (a constant: {held['brier_constant']:.3f})" if "brier_constant" in held else "")
                             + "\n")
    where = "the model folder's interank.json" if payload["saved_to_model"] else None
    targets = [t for t in (where, args.out) if t]
    sys.stdout.write(f"saved to {' and '.join(targets)}\n" if targets else
                     "not saved (a hub or served model: pass --out PATH, then --calibration PATH)\n")
    return 0


def _saved(reranker: Any) -> bool:
    stages = [reranker.first, reranker.second] if hasattr(reranker, "first") else [reranker]
    return all(getattr(s, "card_folder", None) is not None for s in stages)


__all__ = ["add_parser", "run"]
