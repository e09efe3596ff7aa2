"""``interank-train``: the command line of the trainer (mirrors the Python API).

Subcommands::

    interank-train synthesize --qa QA.jsonl --teacher MODEL --out DIR
    interank-train prepare --judgments TREC_FOLDER --out DIR        (alias: from-judgments)
    interank-train distill --data DIR [DIR ...] --student MODEL --out ADAPTER
    interank-train rl --data DIR --adapter ADAPTER --out ADAPTER2 [--method grpo|rwsft]
    interank-train rank --data DIR [DIR ...] --student MODEL --out ADAPTER
    interank-train teach (--judgments TREC_FOLDER | --qa QA.jsonl | --corpus CORPUS.jsonl) --teacher MODEL --out DIR
                         [--ray [ADDRESS]]
    interank-train student --scores DIR [DIR ...] --student MODEL --out DIR [--loss ranknet-kd|adr-mse|pld|...]
    interank-train adapt --base MODEL --teacher MODEL (--qa QA.jsonl | --corpus DOCS.jsonl | --judgments DIR) --out DIR
                         [--budget-minutes 60] [--min-gain 0.05]   (exit 1 when the student is not recommended)

The result (a report) is printed as JSON on stdout; logs, progress bars and
the trainers' own prints go to stderr. Errors in the input exit with status 2
and a one-line message.

Each subcommand fills one config dataclass (:data:`COMMANDS`): the recipe's
subcommands are in :mod:`~interank_trainer.cli.generative` and
:mod:`~interank_trainer.cli.student`, the flag helpers in
:mod:`~interank_trainer.cli.common`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys

from interank_sdk.errors import InteRankError

from .. import __version__
from . import common, generative, student
from .common import Command, add_config_args, config_from_args

#: every subcommand: the config it fills, the fields without a flag (and why), and how the config is built
COMMANDS: dict[str, Command] = {**generative.COMMANDS, **student.COMMANDS}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="interank-train",
        description="Train InteRank rerankers: synthesize judged data, distill a LoRA student, refine with RL, "
                    "distil a teacher into a fast cross-encoder (teach, student).",
    )
    parser.add_argument("--version", action="version", version=f"interank-trainer {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings only, no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)
    generative.add_parsers(sub)
    student.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``interank-train``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    common.RESULT_STREAM = sys.stdout
    try:
        with contextlib.redirect_stdout(sys.stderr):  # TRL/transformers print training logs on stdout
            return args.func(args)
    except InteRankError as exc:
        sys.stderr.write(f"interank-train: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interank-train: interrupted (synthesize and teach resume when rerun with the same arguments)\n")
        return 130


__all__ = ["COMMANDS", "Command", "add_config_args", "build_parser", "config_from_args", "main"]
