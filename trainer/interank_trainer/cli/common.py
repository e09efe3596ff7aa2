"""What every ``interank-train`` subcommand shares: flags read from a config dataclass, and the JSON result.

Each subcommand is tied to one config dataclass (:data:`interank_trainer.cli.COMMANDS`):
its flags write their values under the config's field names (``dest``), defaults
are read from the dataclass, and a field without a flag is in that command's
documented skip list. ``tests/test_cli_flags.py`` checks both, so the command
line cannot drift from the configs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from typing import Any

#: where the result JSON goes (``main`` points it at the real stdout before stdout is redirected to stderr)
RESULT_STREAM = sys.stdout


def print_result(payload: dict[str, Any]) -> None:
    """The command's result as JSON on stdout (logs, progress and trainer prints go to stderr)."""
    RESULT_STREAM.write(json.dumps(payload, indent=2, default=str) + "\n")
    RESULT_STREAM.flush()


@dataclass(frozen=True)
class Command:
    """A subcommand: the config its flags fill, and the fields that have no flag of their own (with why).

    Attributes:
        config: the config dataclass.
        skip: field -> why it has no flag (set from other flags, or not a command-line value).
        build: ``args -> config``: the config the command runs with.
    """

    config: type
    skip: dict[str, str]
    build: Callable[[argparse.Namespace], Any]


#: why ``show_progress`` has no flag in any subcommand
QUIET = "off with the global -q/--quiet"


def defaults(cls: type) -> dict[str, Any]:
    """The default of every field of a config dataclass (``default_factory`` called), by name."""
    out: dict[str, Any] = {}
    for f in fields(cls):
        if f.default is not MISSING:
            out[f.name] = f.default
        elif f.default_factory is not MISSING:  # type: ignore[misc]
            out[f.name] = f.default_factory()  # type: ignore[misc]
    return out


def parse_threads(text: str) -> int | str:
    """``--threads``: a positive count, or ``auto`` (the SDK's ``Reranker(threads="auto")`` policy)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of threads or 'auto', got {text!r}") from None


def parse_json_object(text: str) -> dict[str, Any]:
    """A flag whose value is a JSON object (``--pair-format '{"query": "q: {query}", ...}'``)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r} ({exc.msg})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def attribute_help(cls: type) -> dict[str, str]:
    """The ``Attributes:`` entries of a config dataclass's docstring, by field name (the flags' help)."""
    helps: dict[str, str] = {}
    current: list[str] = []
    doc = (cls.__doc__ or "").split("Attributes:", 1)[-1]
    for line in doc.splitlines():
        stripped = line.strip()
        head = stripped.split(":", 1)[0]
        if stripped and ":" in stripped and all(part.strip().isidentifier() for part in head.split(",")) \
                and line.startswith(" " * 8) and not line.startswith(" " * 12):
            current = [h.strip() for h in head.split(",")]
            for name in current:
                helps[name] = stripped.split(":", 1)[1].strip()
        elif stripped and current:
            for name in current:
                helps[name] += " " + stripped
    return {k: v.replace("%", "%%") for k, v in helps.items()}


def add_config_args(p: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] | dict[str, str] = (),
                    types: dict[str, Callable[[str], Any]] | None = None) -> None:
    """One ``--field-name`` flag per field of the config dataclass ``cls`` (its type, default and documented help),
    so the command line cannot drift from the config; ``types`` overrides the value parser of some fields."""
    helps = attribute_help(cls)
    for f in fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        required = f.default is MISSING and f.default_factory is MISSING  # type: ignore[misc]
        default = None if required else f.default
        kind = str(f.type)
        text = helps.get(f.name, "")
        if kind == "bool":
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default, help=text)
            continue
        convert: Any = str
        if types and f.name in types:
            convert = types[f.name]
        elif kind.startswith("int"):
            convert = int
        elif kind.startswith("float"):
            convert = float
        elif "float" in kind and "None" in kind:
            convert = float
        elif "int" in kind and "None" in kind:
            convert = int
        p.add_argument(flag, dest=f.name, type=convert, default=default, required=required,
                       help=text + ("" if required else f" (default: {default})"))


def config_from_args(cls: type, args: argparse.Namespace, skip: tuple[str, ...] | dict[str, str] = ()
                     ) -> dict[str, Any]:
    """The config fields read back from the flags (each flag's ``dest`` is its field's name)."""
    return {f.name: getattr(args, f.name) for f in fields(cls) if f.name not in skip}


def teacher_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``teacher_kwargs`` from ``--base-url`` (a server teacher)."""
    return {"base_url": args.base_url} if args.base_url else {}


def no_quantization(value: str | None) -> str | None:
    """``--quantization none`` is ``None``."""
    return None if value == "none" else value


__all__ = [
    "Command", "QUIET", "RESULT_STREAM", "add_config_args", "attribute_help", "config_from_args", "defaults",
    "no_quantization", "parse_json_object", "parse_threads", "print_result", "teacher_kwargs",
]
