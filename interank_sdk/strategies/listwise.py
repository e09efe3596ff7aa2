"""Listwise reranking: RankGPT / RankZephyr (a generated permutation) and FIRST (identifier logits).

Both show the model a window of passages with identifiers and slide the window
from the bottom of the list to the top (rank_llm's sliding windows: ``window``
passages, moved up by ``stride``), so the best passages bubble up to the head.

* ``listwise``: the model writes ``[2] > [1] > ...``; the answer is parsed by
  :func:`parse_permutation`, which never fails: identifiers that are invalid or
  repeated are dropped, missing ones are appended in their previous order, and
  an answer with no identifier at all leaves the window as it was (each counted
  on the query's stats and logged).
* ``listwise-first``: one forward pass per window reads the identifier tokens'
  log-probabilities at the first identifier position (after ``[``; the same
  order as their logits) and orders the window by them (Reddy et al. 2024,
  FIRST); no generation. It needs every identifier's own log-probability (not a
  server's top-k) and single-token identifiers (letters: prompt ``v1-alpha``).

Prompts are rank_llm's (:mod:`interank_sdk.prompts.lists`), fitted to the
context as rank_llm fits them: passages start at ``300 * 20 / window`` words and
are shortened until the prompt and its answer fit; a window that does not fit
even with passages of a few words is made smaller (logged, and the query's
ordering records the window used).
"""

from __future__ import annotations

import logging
import re
import weakref
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ..backends.base import CausalLM
from ..errors import BackendError, InvalidInputError, UnsupportedError, check_int
from ..prompts import Prompt
from ..prompts.lists import ListwiseTemplate, identifier
from ..types import Document
from .ordering import Ask, Ordering, OrderingStrategy, Plan, fit_passages

logger = logging.getLogger(__name__)


def parse_permutation(text: str, n: int, alpha: bool = False) -> tuple[list[int], int, bool]:
    """The order a model wrote for a window of ``n`` passages: ``(order, repairs, usable)``.

    ``order`` is a permutation of ``range(n)``: the identifiers in the order
    written (``[3] > [1]``; bare ``3 > 1`` is read too), invalid and repeated
    ones dropped, missing ones appended in their previous order. ``repairs``
    counts the identifiers dropped or appended; ``usable`` is ``False`` when the
    answer held no valid identifier (``order`` is then the input order).

    >>> parse_permutation("[2] > [3] > [1]", 3)
    ([1, 2, 0], 0, True)
    >>> parse_permutation("[2] > [2] > [9]", 3)  # a repeat and an invalid id dropped, 1 and 3 appended
    ([1, 0, 2], 4, True)
    >>> parse_permutation("I cannot rank these.", 2)
    ([0, 1], 0, False)
    >>> parse_permutation("[B] > [A]", 2, alpha=True)
    ([1, 0], 0, True)
    """
    if "</think>" in text:
        text = text.split("</think>")[-1]
    if alpha:
        found = re.findall(r"\[\s*([A-Za-z])\s*\]", text) or re.findall(r"\b([A-Z])\b", text)
        ids = [ord(c.upper()) - ord("A") for c in found]
    else:
        found = re.findall(r"\[\s*(\d+)\s*\]", text) or re.findall(r"\d+", text)
        ids = [int(c) - 1 for c in found]
    order: list[int] = []
    repairs = 0
    for i in ids:
        if 0 <= i < n and i not in order:
            order.append(i)
        else:
            repairs += 1
    if not order:
        return list(range(n)), 0, False
    missing = [i for i in range(n) if i not in order]
    return order + missing, repairs + len(missing), True


def sliding_windows(n: int, window: int, stride: int) -> list[tuple[int, int]]:
    """rank_llm's windows over ``n`` candidates, bottom first: ``(start, end)`` pairs.

    >>> sliding_windows(20, 10, 5)
    [(10, 20), (5, 15), (0, 10)]
    >>> sliding_windows(5, 20, 10)
    [(0, 5)]
    """
    window = min(window, n)
    out: list[tuple[int, int]] = []
    end, start = n, n - window
    while end > 0 and start + stride != 0:
        out.append((max(start, 0), end))
        end, start = end - stride, start - stride
    return out


class ListwiseStrategy(OrderingStrategy):
    """RankGPT / RankZephyr listwise reranking by generation (see the module docstring).

    Args:
        prompt_version: ``"v1"`` (RankZephyr, numeric identifiers; default) or
            ``"v1-alpha"`` (letters).
        window: passages per window (rank_llm's default 20).
        stride: how far a window moves up (rank_llm's default 10).
        passes: sliding passes over the list (rank_llm's ``num_passes``; 1).
    """

    name = "listwise"
    #: prompt versions of this strategy
    template_family: ClassVar[str] = "listwise"

    def __init__(self, prompt_version: str | None = None, *, window: int = 20, stride: int = 10,
                 passes: int = 1) -> None:
        super().__init__(prompt_version)
        self.window = check_int("window", window, minimum=2)
        self.stride = check_int("stride", stride)
        self.passes = check_int("passes", passes)
        assert isinstance(self.template, ListwiseTemplate)
        self.list_template: ListwiseTemplate = self.template
        #: tokens of the answer format per backend and window size (counted once: every window asks)
        self._answer_tokens: weakref.WeakKeyDictionary[CausalLM, dict[int, int]] = weakref.WeakKeyDictionary()
        if self.list_template.max_window is not None and self.window > self.list_template.max_window:
            raise InvalidInputError(f"window={window} passages exceed the {self.list_template.max_window} letters of "
                                    f"prompt {self.list_template.version!r}")

    def options(self) -> dict[str, Any]:
        return {"window": self.window, "stride": self.stride, "passes": self.passes}

    def answer_tokens(self, backend: CausalLM, num: int) -> int:
        """Tokens of a complete answer for ``num`` passages (the generation budget)."""
        known = self._answer_tokens.setdefault(backend, {})
        if num not in known:
            known[num] = backend.count_tokens([self.list_template.answer_format(num)])[0]
        return known[num]

    def window_prompt(self, backend: CausalLM, query: str, docs: Sequence[Document], context: int
                      ) -> tuple[Prompt, list[bool]] | None:
        """The prompt for one window, fitted to ``context`` (``None``: it does not fit)."""
        template = self.list_template

        def passage(doc: Document, words: int) -> tuple[str, bool]:
            return template.passage(doc.text, doc.title, words)

        budget = context - self.answer_tokens(backend, len(docs))
        return fit_passages(backend, lambda shown: self.render(query, shown), docs, passage, budget,
                            int(300 * (20 / len(docs))))

    def render(self, query: str, shown: Sequence[str]) -> Prompt:
        return self.list_template.render(query, shown)

    def fitted_window(self, backend: CausalLM, query: str, documents: Sequence[Document], context: int
                      ) -> tuple[int, tuple[Prompt, list[bool]]]:
        """The largest window up to :attr:`window` whose prompt fits ``context`` (on the first candidates), and
        that prompt (the first window to rank when all candidates fit in one).

        Raises:
            InvalidInputError: not even two passages fit.
        """
        window = min(self.window, len(documents))
        while window >= 2:
            fitted = self.window_prompt(backend, query, documents[:window], context)
            if fitted is not None:
                return window, fitted
            window = window - max(1, window // 4)
        raise InvalidInputError(f"the {self.name} prompt does not fit two passages within max_length={context} "
                                "tokens; raise max_length (the model's context) or shorten the query")

    def plan(self, backend: CausalLM, query: str, documents: Sequence[Document], context: int,
             outcome: Ordering, k: int | None = None) -> Plan:
        order = list(range(len(documents)))
        if len(documents) < 2:
            return order
        window, first = self.fitted_window(backend, query, documents, context)
        fitted_for = {tuple(range(window)): first}  # the candidates' positions a prompt shows -> that prompt
        stride = self.stride
        if window < min(self.window, len(documents)):
            stride = max(1, min(stride, window // 2))
            logger.warning("%s: window of %d passages shrunk to %d (stride %d) to fit max_length=%d", self.name,
                           min(self.window, len(documents)), window, stride, context)
            outcome.window = window
        for _ in range(self.passes):
            for start, end in sliding_windows(len(order), window, stride):
                if end - start < 2:  # rank_llm's last window can hold one passage: nothing to order
                    continue
                docs = [documents[i] for i in order[start:end]]
                shown = tuple(order[start:end])
                fitted = fitted_for.pop(shown) if shown in fitted_for else self.window_prompt(backend, query, docs,
                                                                                                context)
                if fitted is None:  # this window's passages need more room than the first window's
                    outcome.fallbacks += 1
                    logger.warning("%s: a window of %d passages does not fit max_length=%d; kept in its order",
                                   self.name, len(docs), context)
                    continue
                prompt, cut = fitted
                for pos, was_cut in zip(order[start:end], cut):
                    outcome.truncated[pos] = outcome.truncated[pos] or was_cut
                answers = yield [self.ask(backend, prompt, len(docs))]
                local = self.read(answers[0], len(docs), outcome)
                order[start:end] = [order[start + i] for i in local]
        return order

    def ask(self, backend: CausalLM, prompt: Prompt, num: int) -> Ask:
        """The question for one window."""
        return Ask("generate", prompt, max_new_tokens=self.answer_tokens(backend, num) + 1)

    def read(self, answer: Any, num: int, outcome: Ordering) -> list[int]:
        """The window's order from the model's answer (repairs and fallbacks recorded on ``outcome``)."""
        outcome.generated_tokens += answer.num_tokens
        outcome.hit_budget += int(answer.hit_budget)
        local, repairs, usable = parse_permutation(answer.text, num, self.list_template.alpha)
        if not usable:
            outcome.fallbacks += 1
            logger.info("%s: no permutation in the answer %r; the window keeps its order", self.name, answer.text[:80])
        elif repairs:
            outcome.repairs += repairs
            logger.debug("%s: %d identifiers repaired in %r", self.name, repairs, answer.text[:80])
        return local


class ListwiseFirstStrategy(ListwiseStrategy):
    """FIRST: order each window by the logits of its identifier tokens at the first answer position.

    Args:
        prompt_version: ``"v1-alpha"`` (the default: letters, one token each); a
            numeric prompt is refused (``[10]`` is not one token).
        window, stride, passes: as :class:`ListwiseStrategy`.
    """

    name = "listwise-first"

    def __init__(self, prompt_version: str | None = None, *, window: int = 20, stride: int = 10,
                 passes: int = 1) -> None:
        super().__init__(prompt_version or "v1-alpha", window=window, stride=stride, passes=passes)
        if not self.list_template.alpha:
            raise InvalidInputError(f"{self.name} reads one identifier token per passage and needs letter identifiers "
                                    f"(prompt_version='v1-alpha'), not {self.list_template.version!r}")

    def answer_tokens(self, backend: CausalLM, num: int) -> int:
        return 1  # no generation: one position is read

    def ask(self, backend: CausalLM, prompt: Prompt, num: int) -> Ask:
        letters = tuple(identifier(i, True) for i in range(num))
        return Ask("labels", Prompt(prompt.messages, "["), labels=letters, variants=False)

    def read(self, answer: Any, num: int, outcome: Ordering) -> list[int]:
        scores = np.asarray(answer, dtype=np.float64)
        if not np.all(np.isfinite(scores)):
            raise BackendError(f"{self.name}: non-finite identifier log-probabilities {scores.tolist()}")
        return [int(i) for i in np.argsort(-scores, kind="stable")]

    def order(self, backend: CausalLM, requests: Sequence[tuple[str, Sequence[Document]]], context: int,
              *, together: bool = True, k: int | None = None) -> list[Ordering]:
        if not backend.exact_label_logprobs:
            raise UnsupportedError(
                f"{self.name} orders a window by the next-token logits of every identifier, which the "
                f"{backend.name!r} backend cannot return (a server gives its top-k log-probabilities only, so "
                "identifiers outside them would tie); use strategy='listwise' (the permutation the model "
                "generates) with this backend"
            )
        return super().order(backend, requests, context, together=together, k=k)


class RankZephyrStrategy(ListwiseStrategy):
    """Preset for RankZephyr (castorini/rank_zephyr_7b_v1_full) and RankVicuna: rank_llm's settings for them.

    The RankZephyr prompt (``v1``), numeric identifiers, windows of 20 moved up by 10, a 4096-token context,
    generation: rank_llm's ``ZephyrReranker`` defaults. Detected from a model's files (a README that names
    rank_llm as the way to run the model), or chosen with ``strategy="rankzephyr"``.
    """

    name = "rankzephyr"


class FirstMistralStrategy(ListwiseFirstStrategy):
    """Preset for FirstMistral (FIRST on Mistral-7B): the RankZephyr alphabetical prompt (``v1-alpha``), windows
    of 20 moved up by 10, read from the logits of the first identifier: rank_llm's settings with ``use_alpha``
    and ``use_logits``. Detected from a model's files (a README that names rank_llm and FIRST's single-token
    decoding), or chosen with ``strategy="first-mistral"``."""

    name = "first-mistral"


__all__ = ["FirstMistralStrategy", "ListwiseFirstStrategy", "ListwiseStrategy", "RankZephyrStrategy",
           "parse_permutation", "sliding_windows"]
