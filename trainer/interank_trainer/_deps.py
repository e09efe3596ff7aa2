"""Import the trainer's dependencies with an error that names the pip command."""

from __future__ import annotations

import importlib
from types import ModuleType

from interank_sdk.errors import MissingDependencyError


def need(module: str, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        dist = package or module.split(".")[0]
        raise MissingDependencyError(
            f"{dist!r} is required by interank-trainer but could not be imported ({exc}). "
            f"Install it with: pip install interank-trainer (or: pip install {dist})"
        ) from exc
