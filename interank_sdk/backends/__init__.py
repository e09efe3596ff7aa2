"""Backends: how tokens are computed (transformers in process, vLLM, OpenAI-compatible servers)."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInputError
from .base import Backend, Generation

BACKENDS = ("hf", "vllm", "openai")


def create_backend(name: str, model: Any, **kwargs: Any) -> Backend:
    """Instantiate a backend by name; ``"auto"`` means ``"hf"`` (transformers in process).

    Backend modules are imported lazily so that a missing optional dependency
    only matters for the backend that needs it.
    """
    if isinstance(model, Backend):
        return model
    if name in ("auto", "hf", "transformers"):
        from .hf import HFBackend

        return HFBackend(model, **kwargs)
    if name == "vllm":
        from .vllm import VLLMBackend

        return VLLMBackend(model, **kwargs)
    if name == "openai":
        from .openai import OpenAIBackend

        return OpenAIBackend(model, **kwargs)
    raise InvalidInputError(f"unknown backend {name!r}; choose one of {('auto',) + BACKENDS}")


__all__ = ["Backend", "Generation", "create_backend", "BACKENDS"]
