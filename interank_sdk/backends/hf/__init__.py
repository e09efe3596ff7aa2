"""transformers in process: one runtime per model kind, sharing loading and batching.

* :class:`HFBackend` -- causal LMs (label tokens, query likelihood, generation);
* :class:`HFClassifierBackend` -- sequence classifiers (cross-encoders, LLM classifiers);
* :class:`HFEmbeddingBackend` -- embedding encoders (bi-encoders).

Where a model comes from (hub id, folder, ``.gguf``, LoRA adapter) lives in
:mod:`interank_sdk.sources`; how ``device``/``dtype`` are read, in :mod:`.device`.
"""

from .causal import HFBackend
from .classifier import HFClassifierBackend
from .device import cpu_supports_bf16, resolve_device, resolve_dtype
from .embedding import HFEmbeddingBackend
from .runtime import HFRuntime

__all__ = [
    "HFBackend", "HFClassifierBackend", "HFEmbeddingBackend", "HFRuntime",
    "cpu_supports_bf16", "resolve_device", "resolve_dtype",
]
