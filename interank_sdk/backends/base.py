"""The backend interface: how tokens are computed.

A backend owns a model and its tokenizer. It renders :class:`Prompt` objects
into model input, and answers three questions, each for a batch of prompts:

* :meth:`Backend.label_logprobs` - the log-probability of each label at the
  next position (the score strategies read labels here);
* :meth:`Backend.continuation_logprobs` - the log-probability of each token of
  a given continuation (query likelihood);
* :meth:`Backend.generate` - greedy text generation (explanations).

Backends never decide what a score means: strategies do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..prompts import Prompt


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
    """Abstract base class of the model backends."""

    #: short backend name (``"hf"``, ``"vllm"``, ``"openai"``)
    name: str = "base"
    #: model identifier as given by the caller
    model_name: str = ""

    def __init__(self) -> None:
        self.forward_passes = 0

    # --- text / tokens -------------------------------------------------------
    @abstractmethod
    def render(self, prompt: Prompt) -> str:
        """Render a prompt into the exact text the model continues."""

    @abstractmethod
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Number of tokens of each text (no special tokens added)."""

    @abstractmethod
    def split_windows(self, text: str, max_tokens: int, overlap: int) -> list[str]:
        """Split ``text`` into token windows of at most ``max_tokens`` overlapping by ``overlap``.

        A text that fits comes back as ``[text]``. Every token of the text is in
        at least one window.
        """

    # --- scores --------------------------------------------------------------
    @abstractmethod
    def label_logprobs(self, prompts: Sequence[Prompt], labels: Sequence[str]) -> np.ndarray:
        """Log-probabilities of ``labels`` at the position after each prompt.

        Each label's probability is the sum over its surface variants (leading
        space, capitalisation) that are single tokens of the vocabulary.

        Returns:
            array of shape ``(len(prompts), len(labels))`` of log-probabilities
            under the model's full next-token distribution.

        Raises:
            LabelTokenError: a label has no single-token variant in the vocabulary.
        """

    @abstractmethod
    def continuation_logprobs(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[np.ndarray]:
        """Per-token log-probabilities of ``continuations[i]`` after ``prompts[i]``, teacher-forced."""

    def generate(
        self,
        prompts: Sequence[Prompt],
        *,
        max_new_tokens: int,
        stop: Sequence[str] = (),
    ) -> list[Generation]:
        """Greedy generation, batched. Backends that cannot generate raise ``UnsupportedError``."""
        from ..errors import UnsupportedError

        raise UnsupportedError(f"the {self.name!r} backend cannot generate text")

    def describe(self) -> dict[str, object]:
        """Settings worth logging or reporting (device, dtype, ...)."""
        return {"backend": self.name, "model": self.model_name}
