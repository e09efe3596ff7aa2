"""The backend interface: the runtime that computes what a strategy reads.

A backend owns a loaded model (in process, or a server's) and answers, for a
batch of inputs, the questions of the model kind it runs:

* causal language models (``kind = "causal-lm"``):
  :meth:`Backend.label_logprobs` (log-probabilities of label tokens at the next
  position), :meth:`Backend.token_logits` (raw logits of given tokens at the
  next position), :meth:`Backend.continuation_logprobs` (teacher-forced
  log-probabilities of a continuation), :meth:`Backend.generate`;
* sequence classifiers (``"sequence-classification"``): :meth:`Backend.classify`
  (the classifier's logits for (first, second) text pairs);
* embedding encoders (``"embedding"``): :meth:`Backend.embed`;
* remote rerank services (``"remote-rerank"``): :meth:`Backend.rerank_scores`.

Backends never decide what a score means: strategies do. A question a
backend cannot answer raises :class:`~interank_sdk.errors.UnsupportedError`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import UnsupportedError
from ..prompts import Prompt

#: model kinds a strategy can need and a backend can run
MODEL_KINDS = ("causal-lm", "sequence-classification", "embedding", "remote-rerank")


@dataclass
class Generation:
    """One generated continuation.

    Attributes:
        text: the generated text, without the prompt (stop string excluded).
        num_tokens: tokens generated.
        hit_budget: generation stopped at ``max_new_tokens`` rather than at a
            stop string or end-of-sequence.
        stopped_at: the stop string that ended generation, if any.
    """

    text: str
    num_tokens: int
    hit_budget: bool
    stopped_at: str | None = None


class Backend(ABC):
    """Abstract base class of the runtimes."""

    #: short backend name (``"hf"``, ``"vllm"``, ``"openai"``, ``"rerank-api"``)
    name: str = "base"
    #: the model kind this instance runs (one of :data:`MODEL_KINDS`)
    kind: str = "causal-lm"
    #: model identifier as given by the caller
    model_name: str = ""
    #: whether one call may hold the pairs of several queries (the default; engines and servers schedule their
    #: own batches). A local runtime built with ``mix_queries=False`` is given one query's pairs per call, so a
    #: query's forward batches, and its scores to the last bit, are the same whether ``rerank`` or
    #: ``rerank_batch`` asked.
    mixes_queries: bool = True
    #: whether the model is reached through a service that fits inputs to its own limits (a remote /rerank
    #: API): the SDK then imposes no token budget of its own unless the caller gives ``max_length``
    fits_inputs_itself: bool = False

    def __init__(self) -> None:
        self.forward_passes = 0

    def _unsupported(self, what: str) -> UnsupportedError:
        return UnsupportedError(f"the {self.name!r} backend running a {self.kind} model cannot {what}")

    # --- text / tokens -------------------------------------------------------
    def render(self, prompt: Prompt) -> str:
        """Render a prompt into the exact text the model continues (prompt-based kinds)."""
        raise self._unsupported("render prompts")

    def prompt_length(self, prompt: Prompt) -> int:
        """Tokens of ``prompt`` as the model reads it (used to budget the passage)."""
        return self.count_tokens([self.render(prompt)])[0]

    @abstractmethod
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Number of tokens of each text (no special tokens added)."""

    @abstractmethod
    def split_windows(self, text: str, max_tokens: int, overlap: int) -> list[str]:
        """Split ``text`` into token windows of at most ``max_tokens`` overlapping by ``overlap``.

        A text that fits comes back as ``[text]``. Every token of the text is in
        at least one window.
        """

    # --- causal language models ----------------------------------------------
    def label_logprobs(self, prompts: Sequence[Prompt], labels: Sequence[str], *, variants: bool = True) -> np.ndarray:
        """Log-probabilities of ``labels`` at the position after each prompt.

        With ``variants`` (the default) each label's probability is the sum over
        its surface variants (leading space, capitalisation) that are single
        tokens of the vocabulary; without, the label's own token only.

        Returns:
            array of shape ``(len(prompts), len(labels))`` of log-probabilities
            under the model's full next-token distribution.

        Raises:
            LabelTokenError: a label has no single-token form in the vocabulary.
        """
        raise self._unsupported("read label probabilities")

    def token_logits(self, prompts: Sequence[Prompt], token_ids: Sequence[int]) -> np.ndarray:
        """Raw logits (before softmax) of ``token_ids`` at the position after each prompt: ``(N, K)``."""
        raise self._unsupported("return raw next-token logits")

    def continuation_logprobs(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[np.ndarray]:
        """Per-token log-probabilities of ``continuations[i]`` after ``prompts[i]``, teacher-forced."""
        raise self._unsupported("score continuations (query likelihood)")

    def generate(self, prompts: Sequence[Prompt], *, max_new_tokens: int, stop: Sequence[str] = ()) -> list[Generation]:
        """Greedy generation, batched."""
        raise self._unsupported("generate text")

    def token_id(self, text: str) -> int:
        """The id of ``text`` when it is exactly one token of the vocabulary."""
        raise self._unsupported("look up token ids")

    # --- sequence classifiers ------------------------------------------------
    def classify(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """The classifier's logits for each ``(first, second)`` text pair: ``(N, num_labels)``."""
        raise self._unsupported("classify text pairs")

    def pair_overhead(self, first: str) -> int:
        """Tokens a pair costs besides its second text: ``first``'s tokens plus the special tokens."""
        raise self._unsupported("encode text pairs")

    # --- embedding encoders --------------------------------------------------
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One embedding per text, ``(N, D)``, as the model's pooling defines it."""
        raise self._unsupported("embed texts")

    # --- remote rerank services ----------------------------------------------
    def rerank_scores(self, requests: Sequence[tuple[str, Sequence[str]]]) -> list[np.ndarray]:
        """The service's relevance score of each document, per ``(query, documents)`` request, in input order."""
        raise self._unsupported("call a rerank service")

    #: the most tokens one input may have (``None``: no limit known)
    @property
    def max_input_tokens(self) -> int | None:
        return None

    def describe(self) -> dict[str, object]:
        """Settings worth logging or reporting (device, dtype, ...)."""
        return {"backend": self.name, "kind": self.kind, "model": self.model_name}

    def close(self) -> None:
        """Release what the backend holds (engines, connections); a no-op by default."""
