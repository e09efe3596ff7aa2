"""Typed exceptions raised by the InteRank SDK.

Every error the SDK raises on purpose derives from :class:`InteRankError`, so
callers can catch the whole family with one ``except`` clause, or a specific
subclass where they want to react differently (e.g. retry on
:class:`BackendError`, fix the request on :class:`InvalidInputError`).
"""

from __future__ import annotations


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


__all__ = [
    "InteRankError",
    "InvalidInputError",
    "ModelLoadError",
    "ConversionError",
    "MissingDependencyError",
    "LabelTokenError",
    "UnsupportedError",
    "BackendError",
]
