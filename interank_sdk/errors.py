"""Typed exceptions raised by the InteRank SDK.

Every error the SDK raises on purpose derives from :class:`InteRankError`, so
callers can catch the whole family with one ``except`` clause, or a specific
subclass where they want to react differently (e.g. retry on
:class:`BackendError`, fix the request on :class:`InvalidInputError`).
"""

from __future__ import annotations

from typing import Any


class InteRankError(Exception):
    """Base class of every error raised by ``interank_sdk``."""


class InvalidInputError(InteRankError, ValueError):
    """The query, the documents or an argument is not valid.

    Also a :class:`ValueError`, so generic input-validation handlers catch it.
    """


class ModelLoadError(InteRankError, OSError):
    """A model (hub id, folder, ``.gguf`` file or LoRA adapter) could not be loaded."""


class ConversionError(ModelLoadError):
    """A model could not be converted to a runtime's own format (OpenVINO IR): that architecture does not
    convert, or the runtime does not run that model kind. ``Reranker(..., backend="openvino")`` then falls
    back to the transformers runtime with a warning naming the reason."""


class MissingDependencyError(InteRankError, ImportError):
    """An optional dependency is not installed; the message names the pip command."""


class LabelTokenError(InteRankError):
    """The model's vocabulary lacks the label tokens a strategy needs."""


class UnsupportedError(InteRankError, NotImplementedError):
    """The requested option is not available on this platform or backend."""


class BackendError(InteRankError, RuntimeError):
    """A backend failed to compute scores (e.g. a remote server kept failing)."""


def check_int(name: str, value: Any, *, minimum: int = 1, allow_none: bool = False) -> Any:
    """``value`` when it is an int (not a bool) ``>= minimum`` (or ``None`` where ``allow_none``); otherwise an
    :class:`InvalidInputError` that names the argument and what it got.

    >>> check_int("top_k", 3), check_int("top_k", None, allow_none=True)
    (3, None)
    >>> check_int("window", 1, minimum=2)
    Traceback (most recent call last):
    ...
    interank_sdk.errors.InvalidInputError: window must be an int >= 2, got 1
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise InvalidInputError(f"{name} must be {kind}{' or None' if allow_none else ''}, got {value!r}")
    return value


def check_fraction(name: str, value: Any) -> float:
    """``value`` as a float when it is a number (not a bool) in ``[0, 1]``; otherwise an :class:`InvalidInputError`
    that names the argument and what it got (NaN included).

    >>> check_fraction("fusion_weight", 0.25)
    0.25
    >>> check_fraction("fusion_weight", 2)
    Traceback (most recent call last):
    ...
    interank_sdk.errors.InvalidInputError: fusion_weight must be in [0, 1], got 2
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"{name} must be in [0, 1], got {value!r}")
    return float(value)


__all__ = [
    "check_fraction",
    "check_int",
    "InteRankError",
    "InvalidInputError",
    "ModelLoadError",
    "ConversionError",
    "MissingDependencyError",
    "LabelTokenError",
    "UnsupportedError",
    "BackendError",
]
