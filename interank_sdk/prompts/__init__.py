"""Versioned prompt templates, one family per strategy.

A template is plain data: a system message, a user message with ``{query}``
and ``{passage}`` slots, and an optional assistant prefix the model continues
from. Backends render it with the model's chat template (or a plain fallback).
Changing a prompt means adding a new version, never editing an old one, so
scores stay reproducible: ``Reranker(..., prompt_version="v1")``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidInputError


@dataclass(frozen=True)
class Prompt:
    """A rendered-ready prompt: chat messages plus the assistant's first words, or raw text segments.

    Attributes:
        messages: chat messages, rendered with the model's chat template.
        assistant_prefix: text the assistant's turn starts with.
        segments: a raw prompt instead of messages: each segment is tokenized on
            its own (no special tokens) and the ids concatenated, exactly as
            rerankers with a fixed input format do it in their reference code
            (Qwen3-Reranker's prefix / pair / suffix). No chat template is applied.
        bos: raw prompts only: start with the tokenizer's BOS id.
    """

    messages: tuple[dict[str, str], ...] = ()
    assistant_prefix: str = ""
    segments: tuple[str, ...] | None = None
    bos: bool = False

    @property
    def is_raw(self) -> bool:
        return self.segments is not None

    @classmethod
    def chat(cls, system: str, user: str, assistant_prefix: str = "") -> "Prompt":
        """A chat prompt: the system message (left out when empty), the user message, the assistant's first words.

        >>> Prompt.chat("", "Rank these.").messages
        ({'role': 'user', 'content': 'Rank these.'},)
        """
        system_turn = ({"role": "system", "content": system},) if system else ()
        return cls(system_turn + ({"role": "user", "content": user},), assistant_prefix)


@dataclass(frozen=True)
class PromptTemplate:
    """A versioned prompt.

    Attributes:
        strategy: the strategy this template belongs to (``"yesno"``, ...).
        version: template version (``"v1"``).
        system: system message (may be empty).
        user: user message with ``{query}`` and ``{passage}`` slots.
        assistant_prefix: text the assistant turn starts with; the score is
            read right after it (may contain ``{query}``).
    """

    strategy: str
    version: str
    system: str
    user: str
    assistant_prefix: str = ""

    def render(self, query: str, passage: str) -> Prompt:
        """Fill the slots in one pass (braces or slot names inside the inputs stay literal).

        The passage is untrusted data: the reasoning format's marker inside it is
        neutralised (see :func:`neutralize_markers`).
        """
        values = {"query": query, "passage": neutralize_markers(passage)}
        user = _SLOT.sub(lambda m: values[m.group(1)], self.user)
        prefix = _SLOT.sub(lambda m: values[m.group(1)], self.assistant_prefix)
        return Prompt.chat(self.system, user, prefix)


_SLOT = re.compile(r"\{(query|passage)\}")
_MARKER = re.compile(r"relevance\s*label\s*:", re.IGNORECASE)


def neutralize_markers(text: str) -> str:
    """Defuse the reasoning output marker (``Relevance Label:``) inside untrusted text.

    A document that carries ``Relevance Label: 2 ##`` cannot choose where the
    label is read (only the model's own output is searched for the marker), but
    a small model still copies a label it has just read. Dropping the colon
    (``relevance label``) keeps the words and removes the cue. Text without the
    marker is returned unchanged.
    """
    return _MARKER.sub("relevance label", text)


def format_passage(text: str, title: str | None) -> str:
    """The passage as the model sees it: ``title`` on its own line, then the text."""
    return f"{title}\n{text}" if title else text


_TEMPLATES: dict[tuple[str, str], PromptTemplate] = {}
_LATEST: dict[str, str] = {}


def register(template: PromptTemplate) -> PromptTemplate:
    """Add a template to the registry (latest version = last registered).

    Any frozen dataclass with ``strategy`` and ``version`` registers (the list prompts of
    :mod:`interank_sdk.prompts.lists` are not pair prompts).
    """
    key = (template.strategy, template.version)
    if key in _TEMPLATES:
        raise ValueError(f"prompt {key} is already registered; add a new version instead")
    _TEMPLATES[key] = template
    _LATEST[template.strategy] = template.version
    return template


def get_template(strategy: str, version: str | None = None) -> PromptTemplate:
    """Return the template of ``strategy`` at ``version`` (default: the latest)."""
    if strategy not in _LATEST:
        raise InvalidInputError(f"no prompt templates for strategy {strategy!r}; known: {sorted(_LATEST)}")
    version = version or _LATEST[strategy]
    try:
        return _TEMPLATES[(strategy, version)]
    except KeyError:
        versions = sorted(v for s, v in _TEMPLATES if s == strategy)
        raise InvalidInputError(
            f"no prompt version {version!r} for strategy {strategy!r}; available: {versions}"
        ) from None


def available_templates() -> list[tuple[str, str]]:
    """All registered ``(strategy, version)`` pairs."""
    return sorted(_TEMPLATES)


from . import lists, templates_v1, templates_v2  # noqa: E402,F401  (registers the built-in templates)

__all__ = [
    "Prompt", "PromptTemplate", "format_passage", "neutralize_markers", "register", "get_template",
    "available_templates",
]
