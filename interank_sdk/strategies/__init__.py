"""Score strategies: how a relevance score is read from a model."""

from __future__ import annotations

from ..errors import InvalidInputError
from .base import Judgment, Strategy
from .labels import GradedStrategy, LabelStrategy, YesNoStrategy
from .qlm import QueryLikelihoodStrategy
from .reasoning import ReasoningStrategy

STRATEGIES: dict[str, type[Strategy]] = {
    "yesno": YesNoStrategy,
    "graded": GradedStrategy,
    "qlm": QueryLikelihoodStrategy,
    "reasoning": ReasoningStrategy,
}


def get_strategy(name: str, prompt_version: str | None = None, **options: object) -> Strategy:
    """Instantiate a strategy by name (``options`` go to its constructor, e.g. ``max_new_tokens``)."""
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise InvalidInputError(f"unknown strategy {name!r}; choose one of {sorted(STRATEGIES)}") from None
    return cls(prompt_version=prompt_version, **options)  # type: ignore[call-arg]


__all__ = [
    "Judgment",
    "Strategy",
    "LabelStrategy",
    "YesNoStrategy",
    "GradedStrategy",
    "QueryLikelihoodStrategy",
    "ReasoningStrategy",
    "STRATEGIES",
    "get_strategy",
]
