"""Import optional dependencies with an error that says how to install them."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError


def require(module: str, extra: str, *, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the pip command.

    Args:
        module: dotted module name to import (``"bitsandbytes"``).
        extra: the ``interank-sdk`` extra that installs it (``"quantization"``).
        package: the distribution name when it differs from the module name.

    Raises:
        MissingDependencyError: the module is not installed. The original
            ``ImportError`` is chained, so nothing is lost.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        dist = package or module.split(".")[0]
        raise MissingDependencyError(
            f"{dist!r} is required for this feature but could not be imported ({exc}). "
            f"Install it with: pip install 'interank-sdk[{extra}]'"
        ) from exc
