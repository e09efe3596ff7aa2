"""What every config of the trainer shares: building one from keyword arguments, its JSON form, the validators.

The configs themselves live next to what they configure:
:mod:`interank_trainer.data.config` (:class:`~interank_trainer.SamplingConfig`,
:class:`~interank_trainer.JudgmentsConfig`), :mod:`interank_trainer.generative.config`
(synthesize, distill, rl, rank) and :mod:`interank_trainer.student.config` (teach,
student, adapt). Every public function takes one of these, or the same fields as keyword
arguments: ``distill(DistillConfig(data="d", student="m", out="a"))`` and
``distill(data="d", student="m", out="a")`` are the same call. The CLI builds
them from its flags.
"""

from __future__ import annotations

from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

from interank_sdk.errors import InvalidInputError

#: a path given as a string or a ``Path``
PathLike = str | Path

C = TypeVar("C")


def build_config(cls: type[C], config: C | None, kwargs: dict[str, Any]) -> C:
    """A config from an object or keyword arguments (not both), validated."""
    if config is not None:
        if kwargs:
            raise InvalidInputError(f"pass either a {cls.__name__} or keyword arguments, not both")
        if not isinstance(config, cls):
            raise InvalidInputError(f"expected a {cls.__name__}, got {type(config).__name__}")
        result = config
    else:
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(kwargs) - known)
        if unknown:
            moved = getattr(cls, "MOVED_FIELDS", {})
            hints = "; ".join(f"{name}: {moved[name]}" for name in unknown if name in moved)
            raise InvalidInputError(f"unknown {cls.__name__} field(s): {unknown}; known: {sorted(known)}"
                                    + (f" ({hints})" if hints else ""))
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]  # type: ignore[arg-type]
        missing = [name for name in required if name not in kwargs]
        if missing:
            raise InvalidInputError(f"{cls.__name__} needs {missing}")
        result = cls(**kwargs)
    result.validate()  # type: ignore[attr-defined]
    return result


def config_dict(config: Any) -> dict[str, Any]:
    """A JSON-friendly dict of a config (paths as strings, models by name)."""
    out: dict[str, Any] = {}
    for f in fields(config):
        key, value = f.name, getattr(config, f.name)  # not asdict(): it deep-copies a Reranker teacher
        if isinstance(value, Path):
            value = str(value)
        elif is_dataclass(value) and not isinstance(value, type):
            value = config_dict(value)
        elif hasattr(value, "to_dict") and hasattr(value, "output_dir"):  # transformers' TrainingArguments
            value = {k: v for k, v in value.to_dict().items() if k not in ("output_dir", "logging_dir")}
        elif isinstance(value, (list, tuple)):
            value = [str(v) if isinstance(v, Path) else v for v in value]
        elif not isinstance(value, (str, int, float, bool, dict, type(None))):
            value = getattr(value, "model_name", type(value).__name__)
        out[key] = value
    return out


def check_minutes(config: Any) -> None:
    """``config.max_minutes`` is ``None`` or a positive number."""
    if config.max_minutes is not None and (isinstance(config.max_minutes, bool) or config.max_minutes <= 0):
        raise InvalidInputError(f"max_minutes must be > 0 or None, got {config.max_minutes!r}")


def check_quantization(config: Any) -> None:
    """``config.quantization`` is ``"auto"``, ``"4bit"`` or none."""
    if config.quantization not in ("auto", "4bit", None, "none"):
        raise InvalidInputError(f"quantization must be 'auto', '4bit' or None, got {config.quantization!r}")


def check_threads(config: Any) -> None:
    """``config.threads`` is ``None``, ``"auto"`` (the SDK's ``Reranker(threads="auto")`` policy) or an integer >= 1."""
    threads = config.threads
    if threads is not None and threads != "auto" and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise InvalidInputError(f"threads must be >= 1, 'auto' or None, got {threads!r}")


def check_positive(config: Any, *names: str) -> None:
    """Each named field of ``config`` is an integer >= 1 (not a bool)."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")


def check_non_negative(config: Any, *names: str) -> None:
    """Each named field of ``config`` is an integer >= 0 (not a bool)."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInputError(f"{name} must be a non-negative integer, got {value!r}")


__all__ = [
    "PathLike", "build_config", "config_dict", "check_minutes", "check_quantization", "check_threads",
    "check_positive", "check_non_negative",
]
