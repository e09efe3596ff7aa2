"""Command line interface: ``interank rerank``, ``interank eval``, ``interank calibrate``, ``interank serve``.

Run ``interank --help`` (or ``python -m interank_sdk --help``). One module per
command (:mod:`.rerank`, :mod:`.eval`, :mod:`.calibrate`, :mod:`.serve`), each with ``add_parser``
and ``run``; the model options they share are in :mod:`.model_args`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ..errors import InteRankError
from . import calibrate as calibrate_command
from . import eval as eval_command
from . import rerank as rerank_command
from . import serve as serve_command


def build_parser() -> argparse.ArgumentParser:
    """The ``interank`` argument parser, with every subcommand."""
    parser = argparse.ArgumentParser(prog="interank", description="Rerank documents with a small language model.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (rerank_command, eval_command, calibrate_command, serve_command):
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``interank`` with ``argv`` (default: the process's arguments); the exit status (2 on a usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except InteRankError as exc:
        sys.stderr.write(f"interank: error: {exc}\n")
        return 2


__all__ = ["build_parser", "main"]
