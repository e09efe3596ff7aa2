"""Backends: the runtime that computes what a strategy reads.

:data:`REGISTRY` maps (backend name, model kind) to the class that runs that
kind on that runtime; modules are imported lazily so that a missing optional
dependency only matters for the backend that needs it. A new runtime for a
model kind is one new class plus a line here.
"""

from __future__ import annotations

import importlib
import inspect

from ..errors import InvalidInputError, UnsupportedError
from .base import MODEL_KINDS, RUNTIMES, Backend, CausalLM, Encoder, Generation, PairClassifier, PairLogits, RemoteRanker

#: (backend name, model kind) -> "module:Class" (relative to this package)
REGISTRY: dict[tuple[str, str], str] = {
    ("hf", "causal-lm"): "hf.causal:HFBackend",
    ("hf", "sequence-classification"): "hf.classifier:HFClassifierBackend",
    ("hf", "embedding"): "hf.embedding:HFEmbeddingBackend",
    ("vllm", "causal-lm"): "vllm:VLLMBackend",
    ("vllm", "sequence-classification"): "vllm_pooling:VLLMScoreBackend",
    ("vllm", "embedding"): "vllm_pooling:VLLMEmbedBackend",
    ("openai", "causal-lm"): "openai:OpenAIBackend",
    ("openvino", "sequence-classification"): "openvino:OVClassifierBackend",
    ("rerank-api", "remote-rerank"): "rerank_api:RerankAPIBackend",
}
#: accepted spellings of backend names
ALIASES = {"auto": "hf", "transformers": "hf", "hf": "hf", "vllm": "vllm", "openai": "openai", "openvino": "openvino",
           "rerank-api": "rerank-api", "rerank_api": "rerank-api", "cohere": "rerank-api"}
BACKENDS = ("hf", "vllm", "openvino", "openai", "rerank-api")
#: backends that load the model's own files here (the others reach a server that does)
LOCAL_BACKENDS = ("hf", "vllm", "openvino")


def backend_name(name: str) -> str:
    """The canonical backend name (``"auto"`` is ``"hf"``)."""
    try:
        return ALIASES[name]
    except (KeyError, TypeError):
        raise InvalidInputError(f"unknown backend {name!r}; choose one of {('auto',) + BACKENDS}") from None


def backend_class(name: str, kind: str) -> type[Backend]:
    """The class that runs ``kind`` models on backend ``name``.

    Raises:
        UnsupportedError: that runtime does not run that model kind.
    """
    name = backend_name(name)
    if kind not in MODEL_KINDS:
        raise InvalidInputError(f"unknown model kind {kind!r}; one of {MODEL_KINDS}")
    target = REGISTRY.get((name, kind))
    if target is None:
        runs = sorted(k for b, k in REGISTRY if b == name)
        raise UnsupportedError(f"the {name!r} backend does not run {kind} models (it runs: {', '.join(runs)})")
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def accepted_options(cls: type) -> set[str]:
    """Keyword options a backend class takes (following ``**options`` up its base classes)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters
        names |= {n for n, p in params.items() if n not in ("self", "model") and p.kind in
                  (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)}
        if not any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values()):
            break
    return names


__all__ = ["ALIASES", "BACKENDS", "Backend", "CausalLM", "Encoder", "Generation", "LOCAL_BACKENDS", "MODEL_KINDS",
           "PairClassifier", "PairLogits", "REGISTRY", "RUNTIMES", "RemoteRanker",
           "accepted_options", "backend_class", "backend_name"]
