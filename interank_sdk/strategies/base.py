"""The strategy interface: how a relevance score is read from a model."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..backends.base import Backend
from ..prompts import Prompt, PromptTemplate, get_template


@dataclass
class Judgment:
    """A strategy's verdict on one (query, passage) pair.

    Attributes:
        score: relevance in ``[0, 1]``, higher is more relevant.
        label: most probable label (label strategies), else ``None``.
        explanation: generated explanation (reasoning strategy), else ``None``.
        label_probs: probability of each label, renormalised over the labels.
        generated_tokens: tokens generated for the explanation.
        missing_marker: the model did not write the label marker itself.
        hit_budget: generation stopped at the token budget.
    """

    score: float
    label: str | None = None
    explanation: str | None = None
    label_probs: dict[str, float] = field(default_factory=dict)
    generated_tokens: int = 0
    missing_marker: bool = False
    hit_budget: bool = False


class Strategy(ABC):
    """Turns (query, passage) pairs into :class:`Judgment` objects using a backend.

    Args:
        prompt_version: version of the strategy's prompt template (default: latest).
    """

    #: registry name of the strategy
    name: str = ""

    def __init__(self, prompt_version: str | None = None) -> None:
        self.template: PromptTemplate = get_template(self.name, prompt_version)

    def prompt(self, query: str, passage: str) -> Prompt:
        """The prompt for one pair."""
        return self.template.render(query, passage)

    def reserved_tokens(self, backend: Backend, query: str) -> int:
        """Tokens of the prompt around the passage (the passage gets the rest of ``max_length``)."""
        return backend.count_tokens([backend.render(self.prompt(query, ""))])[0]

    @abstractmethod
    def judge(self, backend: Backend, pairs: Sequence[tuple[str, str]]) -> list[Judgment]:
        """Judge ``(query, passage)`` pairs, batched by the backend; one judgment per pair, in order."""

    @property
    def version(self) -> str:
        return self.template.version
