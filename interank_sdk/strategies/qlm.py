"""Query likelihood (UPR / QLM): how likely is the model to write the query after reading the passage."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..backends.base import CausalLM
from .base import Judgment, Strategy


class QueryLikelihoodStrategy(Strategy[CausalLM]):
    """Score = exp(mean log P(query token | passage, instruction, previous query tokens)).

    One teacher-forced forward pass per batch; the mapping from mean
    log-probability to the score (the per-token geometric-mean probability) is
    monotone and lies in ``(0, 1]``. Works zero-shot with small instruct
    models that were never trained as rerankers.
    """

    name = "qlm"

    def reserved_tokens(self, backend: CausalLM, query: str) -> int:
        return backend.prompt_length(self.prompt(query, "")) + backend.count_tokens([query])[0]

    def judge(self, backend: CausalLM, pairs: Sequence[tuple[str, str]]) -> list[Judgment]:
        if not pairs:
            return []
        logps = backend.continuation_logprobs([self.prompt(q, p) for q, p in pairs], [q for q, _ in pairs])
        return [Judgment(score=math.exp(float(lp.mean())), raw_score=float(lp.mean())) for lp in logps]
