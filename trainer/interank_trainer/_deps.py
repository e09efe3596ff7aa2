"""Import the trainer's dependencies with an error that names the pip command: the one place that does.

The SDK's own ``require`` names ``interank-sdk[extra]``; the trainer's modules ask
:func:`need` instead, so a missing package always points at ``interank-trainer``
(or at the trainer extra that installs it) with the same message. No other
module of the trainer catches ``ImportError`` itself.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from interank_sdk.errors import MissingDependencyError


def need(module: str, package: str | None = None, *, extra: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` saying how to install it.

    Args:
        module: dotted module name to import (``"trl"``).
        package: the distribution name when it differs from the module name (``"sentence-transformers"``).
        extra: the ``interank-trainer`` extra that installs it (``"ray"``, ``"plot"``), for optional packages.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        dist = package or module.split(".")[0]
        hint = f"pip install 'interank-trainer[{extra}]'" if extra else \
            f"pip install interank-trainer (or: pip install {dist})"
        raise MissingDependencyError(
            f"{dist!r} is required by interank-trainer but could not be imported ({exc}). Install it with: {hint}"
        ) from exc
