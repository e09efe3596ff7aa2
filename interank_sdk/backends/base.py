"""The runtime interfaces: what computes the numbers a strategy reads, one small interface per model kind.

:class:`Backend` is what every runtime does (count and window tokens, report
its limits, describe itself, close). Each model kind adds only its own
questions:

* :class:`CausalLM` (``kind = "causal-lm"``): :meth:`~CausalLM.label_logprobs`
  (log-probabilities of label tokens at the next position),
  :meth:`~CausalLM.token_logits` (raw logits of given tokens at the next
  position), :meth:`~CausalLM.continuation_logprobs` (teacher-forced
  log-probabilities of a continuation), :meth:`~CausalLM.generate`;
* :class:`PairClassifier` (``"sequence-classification"``):
  :meth:`~PairClassifier.score_pairs` (the classifier's logits for (first,
  second) text pairs, fitted to the token budget in the same tokenizer call
  that encodes them, with which pairs were cut);
* :class:`Encoder` (``"embedding"``): :meth:`~Encoder.embed`;
* :class:`RemoteRanker` (``"remote-rerank"``): :meth:`~RemoteRanker.rerank_scores`.

A strategy declares the interface it reads (:attr:`Strategy.runtime
<interank_sdk.strategies.base.Strategy.runtime>`), and a runtime class
subclasses the interface of the kind it runs. Backends never decide what a
score means: strategies do. A question a runtime of the right kind cannot
answer (a server that returns no logits) raises
:class:`~interank_sdk.errors.UnsupportedError`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import UnsupportedError
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


@dataclass
class PairLogits:
    """A pair classifier's answer for a batch of (first, second) pairs.

    Attributes:
        logits: ``(N, num_labels)`` logits, one row per pair, in input order.
        truncated: per pair, whether the runtime cut the second text to fit
            its token budget (the first text is never cut).
    """

    logits: np.ndarray
    truncated: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.truncated:
            self.truncated = [False] * len(self.logits)


class Backend(ABC):
    """What every runtime does, whatever model kind it runs."""

    #: short backend name (``"hf"``, ``"vllm"``, ``"openai"``, ``"rerank-api"``)
    name: str = "base"
    #: the model kind this runtime runs (set by the kind's interface below)
    kind: str = ""
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
    #: whether the runtime fits each input to :attr:`max_input_tokens` in the tokenizer call that encodes it and
    #: says what it cut (a pair classifier): the pipeline then leaves documents whole, tokenizing them only to
    #: window them
    fits_pairs: bool = False

    def __init__(self) -> None:
        self.forward_passes = 0

    def _unsupported(self, what: str) -> UnsupportedError:
        return UnsupportedError(f"the {self.name!r} backend running a {self.kind} model cannot {what}")

    @abstractmethod
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Number of tokens of each text (no special tokens added)."""

    @abstractmethod
    def split_windows(self, text: str, max_tokens: int, overlap: int) -> list[str]:
        """Split ``text`` into token windows of at most ``max_tokens`` overlapping by ``overlap``.

        A text that fits comes back as ``[text]``. Every token of the text is in
        at least one window.
        """

    #: the most tokens one input may have (``None``: no limit known)
    @property
    def max_input_tokens(self) -> int | None:
        return None

    def describe(self) -> dict[str, object]:
        """Settings worth logging or reporting (device, dtype, ...)."""
        return {"backend": self.name, "kind": self.kind, "model": self.model_name}

    def close(self) -> None:
        """Release what the backend holds (engines, connections); a no-op by default."""


class CausalLM(Backend):
    """A causal language model: prompts in, next-token distributions and generations out."""

    kind = "causal-lm"

    @abstractmethod
    def render(self, prompt: Prompt) -> str:
        """Render a prompt into the exact text the model continues (chat template applied)."""

    #: whether :meth:`label_logprobs` reads every label's own log-probability (``False``: a server's top-k, where
    #: labels outside it get a floor and can tie)
    @property
    def exact_label_logprobs(self) -> bool:
        return True

    @property
    def context_tokens(self) -> int | None:
        """The most tokens the model attends to (prompt and answer), when the runtime knows it; ``None``: unknown.

        Not a budget of its own: prompts that show many documents (listwise) are capped by it.
        """
        return None

    def prompt_length(self, prompt: Prompt) -> int:
        """Tokens of ``prompt`` as the model reads it (used to budget the passage)."""
        return self.count_tokens([self.render(prompt)])[0]

    @abstractmethod
    def token_id(self, text: str) -> int:
        """The id of ``text`` when it is exactly one token of the vocabulary."""

    @abstractmethod
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

    def token_logits(self, prompts: Sequence[Prompt], token_ids: Sequence[int]) -> np.ndarray:
        """Raw logits (before softmax) of ``token_ids`` at the position after each prompt: ``(N, K)``.

        Runtimes that cannot return raw logits (an OpenAI-compatible server returns top log-probabilities only)
        raise :class:`~interank_sdk.errors.UnsupportedError`.
        """
        raise self._unsupported("return raw next-token logits")

    @abstractmethod
    def continuation_logprobs(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[np.ndarray]:
        """Per-token log-probabilities of ``continuations[i]`` after ``prompts[i]``, teacher-forced."""

    @abstractmethod
    def generate(self, prompts: Sequence[Prompt], *, max_new_tokens: int, stop: Sequence[str] = ()) -> list[Generation]:
        """Greedy generation, batched."""


class PairClassifier(Backend):
    """A sequence classifier over (first, second) text pairs: a cross-encoder, an LLM with a classifier head."""

    kind = "sequence-classification"
    fits_pairs = True

    @abstractmethod
    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> PairLogits:
        """The classifier's logits for each ``(first, second)`` pair, each pair fitted to the runtime's token
        budget (only the second text is cut) in the call that encodes it; :attr:`PairLogits.truncated` says
        which were cut.

        Raises:
            InvalidInputError: a first text that leaves the second no room within the budget.
        """

    def classify(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """The logits of :meth:`score_pairs` alone: ``(N, num_labels)``."""
        return self.score_pairs(pairs).logits

    @abstractmethod
    def pair_overhead(self, first: str) -> int:
        """Tokens a pair costs besides its second text: ``first``'s tokens plus the special tokens."""


class Encoder(Backend):
    """An embedding encoder: one vector per text."""

    kind = "embedding"

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One embedding per text, ``(N, D)``, as the model's pooling defines it."""


class RemoteRanker(Backend):
    """A rerank service reached over the network, which scores (query, documents) requests itself."""

    kind = "remote-rerank"
    fits_inputs_itself = True

    @abstractmethod
    def rerank_scores(self, requests: Sequence[tuple[str, Sequence[str]]]) -> list[np.ndarray]:
        """The service's relevance score of each document, per ``(query, documents)`` request, in input order."""


#: the interface of each model kind, by kind name
RUNTIMES: dict[str, type[Backend]] = {cls.kind: cls for cls in (CausalLM, PairClassifier, Encoder, RemoteRanker)}
#: model kinds a strategy can need and a backend can run
MODEL_KINDS = tuple(RUNTIMES)

__all__ = ["Backend", "CausalLM", "Encoder", "Generation", "MODEL_KINDS", "PairClassifier", "PairLogits",
           "RUNTIMES", "RemoteRanker"]
