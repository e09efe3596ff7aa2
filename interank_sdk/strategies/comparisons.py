"""Pairwise (PRP) and setwise reranking: the model names the better of two passages, or the best of a few.

Both read the model's choice as the log-probabilities of the labels ``A``,
``B``, ... at the position after ``Passage:`` (the Setwise authors' likelihood
read-out, here for causal LMs), so one forward pass answers one comparison and
no answer is ever unreadable.

* ``pairwise`` (PRP, Qin et al. 2024): each comparison is asked in both orders
  to cancel the position bias; a passage wins when both orders prefer it, and a
  disagreement is a tie (half a win each). ``method="allpair"``: every pair,
  ranked by wins (``n(n-1)`` calls); ``method="sliding"`` (PRP-sliding-k, the
  default): ``k`` bubble-sort passes from the bottom, which find the best ``k``
  in about ``2k(n-1)`` calls.
* ``setwise`` (Zhuang et al. 2024): ``num_child + 1`` passages are compared at
  once inside a heap sort (``method="heapsort"``, default) or a bubble sort
  (``"bubblesort"``) that stops once the best ``k`` are found.

The documents below the best ``k`` keep their input order, as in ``llm-rankers``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..backends.base import CausalLM
from ..errors import InvalidInputError, check_int
from ..prompts import format_passage
from ..prompts.lists import ComparisonTemplate
from ..types import Document
from .ordering import Ask, Ordering, OrderingStrategy, Plan, fit_passages


class _ComparisonStrategy(OrderingStrategy):
    """Shared by pairwise and setwise: passages cut to ``passage_tokens``, prompts, the label read-out."""

    methods: tuple[str, ...] = ()

    def __init__(self, prompt_version: str | None = None, *, method: str, k: int = 10,
                 passage_tokens: int = 128) -> None:
        super().__init__(prompt_version)
        if method not in self.methods:
            raise InvalidInputError(f"{self.name} method must be one of {self.methods}, got {method!r}")
        self.method = method
        self.k = check_int("k", k)
        self.passage_tokens = check_int("passage_tokens", passage_tokens, minimum=8)
        assert isinstance(self.template, ComparisonTemplate)
        self.compare_template: ComparisonTemplate = self.template

    def options(self) -> dict[str, Any]:
        return {"method": self.method, "k": self.k, "passage_tokens": self.passage_tokens}

    def ask(self, backend: CausalLM, query: str, docs: Sequence[Document], context: int,
            outcome: Ordering, positions: Sequence[int], cuts: dict[tuple[int, int], tuple[str, bool]]) -> Ask:
        """The question "which of ``docs`` is best?" (passages cut to fit ``context``; ``cuts`` keeps each
        document's cut per size across the plan's comparisons, so a document is tokenized once, not per call)."""
        at = {id(doc): pos for doc, pos in zip(docs, positions)}

        def passage(doc: Document, tokens: int) -> tuple[str, bool]:
            key = (at[id(doc)], tokens)
            if key not in cuts:
                pieces = backend.split_windows(doc.text, tokens, 0)
                cuts[key] = (format_passage(pieces[0], doc.title), len(pieces) > 1)
            return cuts[key]

        fitted = fit_passages(backend, lambda shown: self.compare_template.render(query, shown), docs, passage,
                              context, self.passage_tokens)
        if fitted is None:
            raise InvalidInputError(f"a {self.name} prompt of {len(docs)} passages does not fit max_length={context} "
                                    "tokens; raise max_length or shorten the query")
        prompt, cut = fitted
        for pos, was_cut in zip(positions, cut):
            outcome.truncated[pos] = outcome.truncated[pos] or was_cut
        return Ask("labels", prompt, labels=self.compare_template.labels(len(docs)))

    def work(self, documents: Sequence[Document], k: int | None) -> int:
        """How many of the best the algorithm must find: ``k`` of the call, else the strategy's."""
        return min(k if k is not None else self.k, len(documents))


class PairwiseStrategy(_ComparisonStrategy):
    """PRP: pairwise ranking prompting, both orders per comparison (see the module docstring).

    Args:
        prompt_version: PRP prompt version (default: latest).
        method: ``"sliding"`` (PRP-sliding-k, default) or ``"allpair"``.
        k: the best ``k`` that ``sliding`` finds (the rerank call's ``top_k`` when given).
        passage_tokens: the most tokens of a passage shown.
    """

    name = "pairwise"
    methods = ("sliding", "allpair")

    def __init__(self, prompt_version: str | None = None, *, method: str = "sliding", k: int = 10,
                 passage_tokens: int = 128) -> None:
        super().__init__(prompt_version, method=method, k=k, passage_tokens=passage_tokens)

    def plan(self, backend: CausalLM, query: str, documents: Sequence[Document], context: int,
             outcome: Ordering, k: int | None = None) -> Plan:
        n = len(documents)
        if n < 2:
            return list(range(n))

        cuts: dict[tuple[int, int], tuple[str, bool]] = {}

        def both_orders(a: int, b: int) -> list[Ask]:
            return [self.ask(backend, query, [documents[a], documents[b]], context, outcome, [a, b], cuts),
                    self.ask(backend, query, [documents[b], documents[a]], context, outcome, [b, a], cuts)]

        if self.method == "allpair":
            pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
            answers = yield [ask for a, b in pairs for ask in both_orders(a, b)]
            wins = np.zeros(n)
            for (a, b), first, second in zip(pairs, answers[0::2], answers[1::2]):
                verdict = _verdict(first, second)
                wins[a] += verdict
                wins[b] += 1.0 - verdict
            return [int(i) for i in np.argsort(-wins, kind="stable")]
        ranking = list(range(n))
        last_end = n - 1
        for i in range(self.work(documents, k)):
            current, changed = last_end, False
            while current > i:
                lower, upper = ranking[current], ranking[current - 1]
                answers = yield both_orders(lower, upper)
                if _verdict(answers[0], answers[1]) == 1.0:  # the lower passage wins: it moves up
                    ranking[current - 1], ranking[current] = lower, upper
                    if not changed:
                        changed = True
                        if last_end != n - 1:  # skip the unchanged pairs at the bottom (llm-rankers)
                            last_end += 1
                if not changed:
                    last_end -= 1
                current -= 1
        return _head_then_input_order(ranking, self.work(documents, k))


def _verdict(first: np.ndarray, second: np.ndarray) -> float:
    """1.0 when the passage shown first in ``first`` (second in ``second``) wins both orders, 0.0 when it loses
    both, 0.5 when the orders disagree (PRP's tie)."""
    prefers_first = first[0] > first[1]
    prefers_first_again = second[1] > second[0]
    if prefers_first and prefers_first_again:
        return 1.0
    if not prefers_first and not prefers_first_again:
        return 0.0
    return 0.5


def _head_then_input_order(ranking: Sequence[int], k: int) -> list[int]:
    """The first ``k`` of ``ranking``, then the rest in input order (how llm-rankers returns a top-k sort)."""
    head = list(ranking[:k])
    chosen = set(head)
    return head + [i for i in range(len(ranking)) if i not in chosen]


class SetwiseStrategy(_ComparisonStrategy):
    """Setwise: the best of ``num_child + 1`` passages per call, in a heap or bubble sort (see the module docstring).

    Args:
        prompt_version: setwise prompt version (default: latest).
        method: ``"heapsort"`` (default) or ``"bubblesort"``.
        num_child: children per heap node; ``num_child + 1`` passages are compared per call (3: four).
        k: the best ``k`` to find (the rerank call's ``top_k`` when given).
        passage_tokens: the most tokens of a passage shown.
    """

    name = "setwise"
    methods = ("heapsort", "bubblesort")

    def __init__(self, prompt_version: str | None = None, *, method: str = "heapsort", num_child: int = 3,
                 k: int = 10, passage_tokens: int = 128) -> None:
        super().__init__(prompt_version, method=method, k=k, passage_tokens=passage_tokens)
        self.num_child = check_int("num_child", num_child)
        if self.num_child + 1 > 23:
            raise InvalidInputError("num_child must leave at most 23 passages per comparison (labels A-W)")

    def options(self) -> dict[str, Any]:
        return {**super().options(), "num_child": self.num_child}

    def plan(self, backend: CausalLM, query: str, documents: Sequence[Document], context: int,
             outcome: Ordering, k: int | None = None) -> Plan:
        n = len(documents)
        if n < 2:
            return list(range(n))
        top = self.work(documents, k)
        arr = list(range(n))

        cuts: dict[tuple[int, int], tuple[str, bool]] = {}

        def best_of(positions: Sequence[int]) -> Plan:
            answers = yield [self.ask(backend, query, [documents[p] for p in positions], context, outcome, positions,
                                      cuts)]
            return int(np.argmax(answers[0]))  # ties: the first shown (the parent, the upper passage)

        if self.method == "heapsort":
            c = self.num_child

            def heapify(size: int, i: int) -> Plan:
                while c * i + 1 < size:
                    inds = [i] + list(range(c * i + 1, min(c * (i + 1) + 1, size)))
                    largest = inds[(yield from best_of([arr[j] for j in inds]))]
                    if largest == i:
                        return []
                    arr[i], arr[largest] = arr[largest], arr[i]
                    i = largest
                return []

            for i in range(n // c, -1, -1):
                yield from heapify(n, i)
            ranked = 0
            for i in range(n - 1, 0, -1):
                arr[i], arr[0] = arr[0], arr[i]
                ranked += 1
                if ranked == top:
                    break
                yield from heapify(i, 0)
            return _head_then_input_order(list(reversed(arr)), top)
        size = self.num_child + 1
        last_start = n - size
        for i in range(top):
            start, end, changed = last_start, last_start + size, False
            while True:
                start = max(start, i)
                window = arr[start:end]
                best = yield from best_of(window)
                if best != 0:
                    arr[start], arr[start + best] = arr[start + best], arr[start]
                    if not changed:
                        changed = True
                        if last_start != n - size and best == len(window) - 1:
                            last_start += len(window) - 1
                if start == i:
                    break
                if not changed:
                    last_start -= self.num_child
                start -= self.num_child
                end -= self.num_child
        return _head_then_input_order(arr, top)


__all__ = ["PairwiseStrategy", "SetwiseStrategy"]
