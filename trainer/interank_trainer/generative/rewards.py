"""Reward functions for RL on reasoning outputs (TRL reward-function signature).

Each function takes ``completions`` (generated texts) plus dataset columns as
keyword arguments (``label``, ``passage``, ``query``), as
``trl.GRPOTrainer`` passes them, and returns one float per completion in ``[0, 1]``:

* :func:`label_reward`: the stated label agrees with the teacher's: exact 1.0,
  off by one 0.5, off by two 0.0; no readable label 0.0;
* :func:`format_reward`: well-formed output, an explanation then
  ``Relevance Label: <label> ##`` and nothing after it: 1.0; a readable label
  in a looser shape: 0.5; else 0.0;
* :func:`grounding_reward`: the explanation is grounded in the passage (it
  mentions its content words, and its own content words are mostly from the
  passage or the query) and concise (within ``length_budget`` words, decaying
  to 0 at twice the budget).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from interank_sdk.training import REASONING_MARKER

from .targets import parse_label, split_reasoning

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    """about above after again against also because been before being below between both cannot could does doing
    down during each from further have having here itself just more most other over same should some such than
    that their theirs them then there these they this those through under until very what when where which while
    whom with would your yours document passage query question answer relevant relevance irrelevant partially
    label information provides mentions discusses explains directly related topic""".split()
)
#: default weights of (label, format, grounding) in :func:`combined_reward`
DEFAULT_WEIGHTS = (1.0, 0.5, 0.5)


def _text(completion: Any) -> str:
    """A completion as text (TRL passes strings, or message lists for conversational prompts)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    return str(completion)


def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if len(w) >= 4 and w not in _STOP]


def label_reward(completions: Sequence[Any], label: Sequence[int], **_: Any) -> list[float]:
    """1.0 exact, 0.5 off by one, 0.0 off by two or unreadable."""
    out = []
    for completion, target in zip(completions, label):
        stated = parse_label(_text(completion))
        out.append(0.0 if stated is None else {0: 1.0, 1: 0.5}.get(abs(stated - int(target)), 0.0))
    return out


def format_reward(completions: Sequence[Any], **_: Any) -> list[float]:
    """1.0 for ``<explanation> Relevance Label: <0|1|2> ##``; 0.5 for a readable label otherwise; else 0.0."""
    out = []
    for completion in completions:
        text = _text(completion)
        parsed = split_reasoning(text)
        if parsed is not None and len(parsed[0].split()) >= 3:
            out.append(1.0)
        elif parse_label(text) is not None:
            out.append(0.5)
        else:
            out.append(0.0)
    return out


def explanation_of(completion: str) -> str:
    """The explanation part of a reasoning output: the text before the marker (all of it when absent)."""
    at = completion.find(REASONING_MARKER)
    return (completion if at < 0 else completion[:at]).strip()


def grounding_score(explanation: str, passage: str, query: str = "", length_budget: int = 80) -> float:
    """Grounded (mentions passage content, little unsupported content) times concise; in ``[0, 1]``.

    Example:
        >>> grounding_score("The passage says kinases phosphorylate proteins.", "Kinases phosphorylate proteins.")
        0.875
        >>> grounding_score("Kinases phosphorylate proteins.", "Kinases phosphorylate proteins.")
        1.0
        >>> grounding_score("", "Kinases phosphorylate proteins.")
        0.0
    """
    words = explanation.split()
    if not words:
        return 0.0
    content = _content_words(explanation)
    source = set(_content_words(passage))
    support_pool = source | set(_content_words(query))
    mentioned = len(set(content) & source)
    grounded = min(1.0, mentioned / 3.0) if source else 0.0
    supported = (sum(w in support_pool for w in content) / len(content)) if content else 0.0
    concise = 1.0 if len(words) <= length_budget else max(0.0, 1.0 - (len(words) - length_budget) / length_budget)
    return round((0.5 * grounded + 0.5 * supported) * concise, 6)


def make_grounding_reward(length_budget: int = 80):
    """A TRL reward function scoring grounded, concise explanations (see :func:`grounding_score`)."""

    def grounding_reward(completions: Sequence[Any], passage: Sequence[str], query: Sequence[str] | None = None,
                         **_: Any) -> list[float]:
        queries = query if query is not None else [""] * len(completions)
        return [grounding_score(explanation_of(_text(c)), p, q, length_budget)
                for c, p, q in zip(completions, passage, queries)]

    return grounding_reward


grounding_reward = make_grounding_reward()


def combined_reward(
    completions: Sequence[Any], label: Sequence[int], passage: Sequence[str], query: Sequence[str] | None = None,
    *, weights: Sequence[float] = DEFAULT_WEIGHTS, length_budget: int = 80,
) -> list[float]:
    """Weighted mean of the three rewards, in ``[0, 1]`` (the rwsft reward)."""
    parts = (
        label_reward(completions, label),
        format_reward(completions),
        make_grounding_reward(length_budget)(completions, passage, query),
    )
    total = float(sum(weights))
    return [sum(w * p[i] for w, p in zip(weights, parts)) / total for i in range(len(completions))]


__all__ = [
    "DEFAULT_WEIGHTS", "label_reward", "format_reward", "grounding_reward", "make_grounding_reward",
    "grounding_score", "explanation_of", "combined_reward",
]
