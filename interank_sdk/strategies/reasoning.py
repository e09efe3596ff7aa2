"""InteRank reasoning: explain first, then read the label distribution after the marker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..backends.base import CausalLM
from ..errors import InvalidInputError
from ..prompts import Prompt
from .base import Judgment
from .labels import GradedStrategy

#: the marker after which the label is read
MARKER = "Relevance Label:"
#: the end-of-answer marker of the InteRank output format
END = "##"


class ReasoningStrategy(GradedStrategy):
    """Generate an explanation, then score from P(label) at the position after ``Relevance Label:``.

    1. Greedy, batched generation (left padding, KV cache) of the explanation;
       it stops when the model writes the marker ``Relevance Label:`` (the
       label itself is never generated: it is read as a distribution), the
       end marker ``##``, end-of-sequence, or ``max_new_tokens``.
    2. The marker is appended if the model did not write it (counted in
       :attr:`Judgment.missing_marker`), and one forward pass reads the
       distribution over the labels ``0``/``1``/``2`` at the next position.
       The score is the expected label / 2, as in the ``graded`` strategy.

    The marker is looked for only in the model's own output, never in the
    document, so a document that contains ``Relevance Label: 2 ##`` cannot
    choose where the label is read.

    Args:
        prompt_version: reasoning prompt version (default: latest).
        max_new_tokens: token budget of one explanation.
    """

    name = "reasoning"
    generates = True

    def __init__(self, prompt_version: str | None = None, max_new_tokens: int = 160) -> None:
        super().__init__(prompt_version)
        if max_new_tokens < 1:
            raise InvalidInputError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        self.max_new_tokens = max_new_tokens

    def options(self) -> dict[str, object]:
        return {"max_new_tokens": self.max_new_tokens}

    def judge(self, backend: CausalLM, pairs: Sequence[tuple[str, str]]) -> list[Judgment]:
        if not pairs:
            return []
        prompts = [self.prompt(q, p) for q, p in pairs]
        generations = backend.generate(prompts, max_new_tokens=self.max_new_tokens, stop=(MARKER, END))
        label_prompts: list[Prompt] = []
        missing: list[bool] = []
        for prompt, gen in zip(prompts, generations):
            wrote_marker = gen.stopped_at == MARKER
            body = gen.text if wrote_marker else gen.text.rstrip() + "\n"
            label_prompts.append(replace(prompt, assistant_prefix=prompt.assistant_prefix + body + MARKER))
            missing.append(not wrote_marker)
        logp = backend.label_logprobs(label_prompts, self.labels)
        out = []
        for row, gen, miss in zip(logp, generations, missing):
            judgment = self.from_logprobs(row)
            judgment.explanation = gen.text.strip()
            judgment.generated_tokens = gen.num_tokens
            judgment.missing_marker = miss
            judgment.hit_budget = gen.hit_budget
            out.append(judgment)
        return out
