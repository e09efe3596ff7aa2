"""vLLM's pooling runner in this process: sequence classifiers through ``LLM.score``, encoders through ``LLM.embed``.

Cross-encoders and one-label LLM classifiers (DeAR, RankLLaMA, converted
Qwen3-Reranker checkpoints) run on vLLM's scoring API; the logits come back
without vLLM's activation (``PoolingParams(use_activation=False)``) so the
classifier strategy applies the model's declared activation exactly as the
transformers backend does, and both backends give the same scores.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import BackendError, InvalidInputError, UnsupportedError
from .base import Encoder, PairClassifier, PairLogits
from .pairs import PairBudget, PairEncoder, resolve_max_length
from .vllm import VLLMEngine

logger = logging.getLogger(__name__)


def qwen3_reranker_settings(instruction: str | None = None) -> dict[str, object]:
    """``Reranker`` options that run a Qwen3-Reranker checkpoint on vLLM's scoring API through vLLM's overrides.

    vLLM turns the causal LM into a one-label classifier whose logit is
    ``logit("yes") - logit("no")`` (``Qwen3ForSequenceClassification``,
    ``classifier_from_token``, ``is_original_qwen3_reranker``); the pair is
    split into the query part and the document part of the prompt that
    :class:`~interank_sdk.strategies.presets.Qwen3RerankerStrategy` writes. The
    score, sigmoid of that logit, is the preset's P(yes) (the default
    ``backend="vllm"`` route reads the same two log-probabilities with
    ``logprob_token_ids``; both are tested equal).

    Example:
        >>> from interank_sdk import Reranker
        >>> from interank_sdk.backends.vllm_pooling import qwen3_reranker_settings
        >>> reranker = Reranker("Qwen/Qwen3-Reranker-0.6B", backend="vllm",
        ...                     **qwen3_reranker_settings())  # doctest: +SKIP
    """
    from ..strategies.presets import Qwen3RerankerStrategy as preset

    instruction = instruction or preset.default_instruction
    return {
        "strategy": "classifier",
        "strategy_options": {"pair_format": {
            "query": preset.PREFIX + f"<Instruct>: {instruction}\n<Query>: {{query}}\n",
            "document": "<Document>: {passage}" + preset.SUFFIX,
        }},
        "hf_overrides": {"architectures": ["Qwen3ForSequenceClassification"],
                         "classifier_from_token": ["no", "yes"], "is_original_qwen3_reranker": True},
    }


class VLLMScoreBackend(PairBudget, VLLMEngine, PairClassifier):
    """A one-label sequence classifier on vLLM's scoring API (``LLM.score``).

    Takes every option of :class:`~interank_sdk.backends.vllm.VLLMEngine`, and:

    Args:
        max_length: tokens of one encoded pair (default: the engine's ``max_model_len``).

    Example:
        >>> from interank_sdk import Reranker
        >>> reranker = Reranker("BAAI/bge-reranker-v2-m3", backend="vllm")  # doctest: +SKIP
    """

    runner = "pooling"
    #: vLLM tokenizes the pairs in the engine and refuses one past ``max_model_len`` rather than cut it: the
    #: pipeline fits documents before they are sent
    fits_pairs = False

    def __init__(self, model: Any, *, max_length: int | None = None, **options: Any) -> None:
        super().__init__(model, **options)
        config = self.llm.llm_engine.model_config
        num_labels = getattr(config.hf_config, "num_labels", 1)
        if num_labels != 1:
            raise UnsupportedError(f"vLLM's scoring API runs one-label classifiers; this one has {num_labels} labels "
                                   "(use the transformers backend)")
        self.max_length = resolve_max_length(max_length, int(config.max_model_len))
        self.pairs = PairEncoder(self.tokenizer, self.max_length, token_types=False)

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> PairLogits:
        if not pairs:
            return PairLogits(np.zeros((0, 1), dtype=np.float64))
        from vllm.pooling_params import PoolingParams

        self.forward_passes += 1
        try:
            outputs = self.llm.score(
                [a for a, _ in pairs], [b for _, b in pairs], use_tqdm=self.show_progress,
                pooling_params=PoolingParams(use_activation=False), lora_request=self.lora_request,
                tokenization_kwargs={"truncation": "only_second", "max_length": self.max_length},
            )
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"vLLM failed: {exc}") from exc
        logits = np.asarray([[float(o.outputs.score)] for o in outputs], dtype=np.float64)
        lengths = [len(o.prompt_token_ids) for o in outputs]  # what vLLM encoded; only full pairs are counted
        return PairLogits(logits, self.pairs.cut(pairs, lengths))


class VLLMEmbedBackend(VLLMEngine, Encoder):
    """An embedding encoder on vLLM (``LLM.embed``; vLLM applies the model's own pooling and normalisation)."""

    runner = "pooling"

    def __init__(self, model: Any, *, pooling: str | None = None, normalize: bool | None = None,
                 max_length: int | None = None, **options: Any) -> None:
        super().__init__(model, **options)
        del pooling, normalize  # vLLM reads them from the sentence-transformers files itself
        limit = int(self.llm.llm_engine.model_config.max_model_len)
        self.max_length = min(max_length, limit) if max_length else limit

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            raise InvalidInputError("nothing to embed")
        self.forward_passes += 1
        try:
            outputs = self.llm.embed(list(texts), use_tqdm=self.show_progress, lora_request=self.lora_request,
                                     tokenization_kwargs={"truncation": True, "max_length": self.max_length})
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"vLLM failed: {exc}") from exc
        return np.asarray([o.outputs.embedding for o in outputs], dtype=np.float64)


__all__ = ["VLLMEmbedBackend", "VLLMScoreBackend", "qwen3_reranker_settings"]
