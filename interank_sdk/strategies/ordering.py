"""Strategies that order a query's candidates by comparing them: listwise, pairwise, setwise.

A pointwise strategy judges each (query, passage) pair alone. An ordering
strategy shows the model several passages at once and reads which comes first
(a generated permutation, the logits of identifier tokens, the label of the
better of two or of the best of a few), inside an algorithm that calls the
model many times per query (sliding windows, a sort). Each algorithm is written
as a *plan*: a generator that yields the questions it needs answered next
(:class:`Ask`), receives the answers, and finally returns the order. The
:func:`run_plans` driver steps the plans of every query of a batch together, so
one backend call answers the windows of all queries at the same step
(``rerank_batch``, ``arerank``), and counts each query's LLM calls.

The result of a query is its :class:`Ordering`; the pipeline turns it into
ranked documents whose score is derived from the rank (:func:`rank_score`) and
whose ``raw_score`` is the rank itself.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..backends.base import CausalLM
from ..errors import BackendError, UnsupportedError
from ..prompts import Prompt
from ..types import Document
from .base import Judgment, Strategy

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ask:
    """One question an ordering plan puts to the model.

    Attributes:
        kind: ``"generate"`` (greedy text, answered with a
            :class:`~interank_sdk.backends.base.Generation`) or ``"labels"``
            (log-probabilities of ``labels`` at the next position, a row).
        prompt: the prompt.
        labels: the label strings (``"labels"``).
        variants: read each label with its surface variants (leading space,
            capitalisation; ``"labels"``), or its own token only.
        max_new_tokens: the generation budget (``"generate"``).
    """

    kind: str
    prompt: Prompt
    labels: tuple[str, ...] = ()
    variants: bool = True
    max_new_tokens: int = 0

    def key(self) -> tuple[Any, ...]:
        """Asks with the same key are answered in one backend call."""
        return (self.kind, self.labels, self.variants, self.max_new_tokens)


@dataclass
class Ordering:
    """What an ordering strategy made of one query's candidates.

    Attributes:
        order: the candidates' positions, best first (each exactly once).
        calls: LLM calls (prompts) spent on the query.
        repairs: identifiers of generated permutations that were invalid or repeated (dropped) or missing
            (appended in their previous order).
        fallbacks: windows whose answer held no usable permutation (kept in their previous order).
        generated_tokens: tokens generated.
        hit_budget: generations stopped by their token budget.
        truncated: per position, whether the passage was cut to fit the prompt.
        window: the window size used, when the context forced a smaller one than asked.
    """

    order: list[int] = field(default_factory=list)
    calls: int = 0
    repairs: int = 0
    fallbacks: int = 0
    generated_tokens: int = 0
    hit_budget: int = 0
    truncated: list[bool] = field(default_factory=list)
    window: int | None = None


#: a plan: yields the next questions, receives their answers in order, returns the order (positions, best first)
Plan = Generator[list[Ask], list[Any], list[int]]


def rank_score(rank: int, n: int) -> float:
    """The score of the document at 1-based ``rank`` among ``n``: linear from 1.0 (first) to 0.0 (last).

    An ordering strategy reads no relevance number from the model, only an order;
    this score keeps the order and lies in ``[0, 1]``. It says nothing about how
    relevant the first document is: calibrate it (``Reranker.calibrate``) or
    threshold the stage before it.

    >>> [rank_score(r, 3) for r in (1, 2, 3)], rank_score(1, 1)
    ([1.0, 0.5, 0.0], 1.0)
    """
    return 1.0 if n <= 1 else (n - rank) / (n - 1)


class OrderingStrategy(Strategy[CausalLM]):
    """A strategy that orders a query's candidates with many calls of a causal LM (see the module docstring).

    Subclasses write :meth:`plan`. ``top_k`` (where the algorithm allows) bounds
    the work to finding the best ``top_k``; the rest keep their input order
    below them.
    """

    #: this strategy orders lists; it does not judge pairs one by one
    orders: ClassVar[bool] = True
    #: the default prompt budget (tokens) of one call when the caller gives no ``max_length``
    default_context: ClassVar[int] = 4096

    @abstractmethod
    def plan(self, backend: CausalLM, query: str, documents: Sequence[Document], context: int,
             outcome: Ordering, k: int | None = None) -> Plan:
        """The plan that orders ``documents`` for ``query``, each prompt within ``context`` tokens; records its
        repairs, fallbacks and truncations on ``outcome``. ``k``: the call's ``top_k``, which bounds the work of
        the algorithms that find the best ``k`` (pairwise sliding, setwise)."""

    def judge(self, backend: CausalLM, pairs: Sequence[tuple[str, str]]) -> list[Judgment]:
        raise UnsupportedError(
            f"strategy {self.name!r} orders a query's candidates together and cannot judge a pair alone; use "
            "Reranker.rerank (or a pointwise strategy such as 'qlm' or 'yesno' to score pairs)"
        )

    def reserved_tokens(self, backend: CausalLM, query: str) -> int | None:
        return None  # each plan fits its own prompts to the context

    def order(self, backend: CausalLM, requests: Sequence[tuple[str, Sequence[Document]]], context: int,
              *, together: bool = True, k: int | None = None) -> list[Ordering]:
        """Order the documents of each ``(query, documents)`` request; one :class:`Ordering` per request.

        Args:
            backend: the causal LM.
            requests: the queries and their candidates.
            context: the most tokens one prompt (with its answer) may take.
            k: the call's ``top_k`` (see :meth:`plan`).
            together: step every query's plan together (one backend call per step for all); ``False``: one
                query after the other (a local runtime that keeps each query's batches its own).
        """
        outcomes = [Ordering(truncated=[False] * len(docs)) for _, docs in requests]
        plans = [(self.plan(backend, query, docs, context, out, k), out, len(docs))
                 for (query, docs), out in zip(requests, outcomes)]
        groups = [plans] if together else [[p] for p in plans]
        for group in groups:
            run_plans(backend, group)
        return outcomes


def run_plans(backend: CausalLM, plans: Sequence[tuple[Plan, Ordering, int]]) -> None:
    """Step ``(plan, outcome, n)`` plans together until each returns its order (stored on its outcome).

    Every step's questions of all plans are grouped by kind and answered in one
    backend call per group.

    Raises:
        BackendError: a plan returned something other than a permutation of its ``n`` positions.
    """
    active: list[tuple[Plan, Ordering, int, list[Ask]]] = []

    def advance(plan: Plan, out: Ordering, n: int, answers: list[Any] | None) -> None:
        try:
            asks = next(plan) if answers is None else plan.send(answers)
        except StopIteration as stop:
            order = list(stop.value)
            if sorted(order) != list(range(n)):
                raise BackendError(f"an ordering plan returned {order}, not a permutation of {n} positions") from None
            out.order = order
            return
        if not asks:
            raise BackendError("an ordering plan asked nothing; a plan with nothing to ask must return")
        out.calls += len(asks)
        active.append((plan, out, n, asks))

    for plan, out, n in plans:
        advance(plan, out, n, None)
    while active:
        step, active = active, []
        answers = answer(backend, [ask for *_, asks in step for ask in asks])
        start = 0
        for plan, out, n, asks in step:
            advance(plan, out, n, answers[start:start + len(asks)])
            start += len(asks)


def answer(backend: CausalLM, asks: Sequence[Ask]) -> list[Any]:
    """The answers to ``asks``, in order, in one backend call per kind of question."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, ask in enumerate(asks):
        groups.setdefault(ask.key(), []).append(i)
    out: list[Any] = [None] * len(asks)
    for (kind, labels, variants, max_new_tokens), positions in groups.items():
        prompts = [asks[i].prompt for i in positions]
        if kind == "generate":
            got: Sequence[Any] = backend.generate(prompts, max_new_tokens=max_new_tokens)
        elif kind == "labels":
            got = list(np.asarray(backend.label_logprobs(prompts, labels, variants=variants), dtype=np.float64))
        else:
            raise ValueError(f"unknown ask kind {kind!r}")
        if len(got) != len(positions):
            raise BackendError(f"the backend answered {len(got)} of {len(positions)} {kind} questions")
        for i, g in zip(positions, got):
            out[i] = g
    return out


def fit_passages(backend: CausalLM, render: Callable[[list[str]], Prompt], documents: Sequence[Document],
                 passage: Callable[[Document, int], tuple[str, bool]], budget: int, start_tokens: int) -> tuple[
                     Prompt, list[bool]] | None:
    """The prompt showing ``documents``, each cut to the most tokens (``passage(doc, n)``) that lets the whole prompt
    fit ``budget`` tokens, starting from ``start_tokens`` each and shrinking as rank_llm does; ``None`` when even
    passages of 8 units do not fit. Also returns which passages were cut."""
    size = start_tokens
    while True:
        shown = [passage(d, size) for d in documents]
        prompt = render([text for text, _ in shown])
        used = backend.prompt_length(prompt)
        if used <= budget:
            return prompt, [cut for _, cut in shown]
        if size <= MIN_PASSAGE_UNITS:
            return None
        size = max(MIN_PASSAGE_UNITS, size - max(1, (used - budget) // (len(documents) * 4)))


#: the least a passage is cut to (words for listwise prompts, tokens for comparisons) before a window shrinks
MIN_PASSAGE_UNITS = 8

__all__ = ["Ask", "MIN_PASSAGE_UNITS", "Ordering", "OrderingStrategy", "Plan", "answer", "fit_passages",
           "rank_score", "run_plans"]
