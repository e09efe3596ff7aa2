"""Versioned prompt templates, one family per strategy.

A template is plain data: a system message, a user message with ``{query}``
and ``{passage}`` slots, and an optional assistant prefix the model continues
from. Backends render it with the model's chat template (or a plain fallback).
Changing a prompt means adding a new version, never editing an old one, so
scores stay reproducible: ``Reranker(..., prompt_version="v1")``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidInputError


@dataclass(frozen=True)
class Prompt:
    """A rendered-ready prompt: chat messages plus the assistant's first words."""

    messages: tuple[dict[str, str], ...]
    assistant_prefix: str = ""


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
        """Fill the slots (``str.replace``, so braces in the inputs are safe)."""
        user = self.user.replace("{query}", query).replace("{passage}", passage)
        prefix = self.assistant_prefix.replace("{query}", query)
        messages: list[dict[str, str]] = []
        if self.system:
            messages.append({"role": "system", "content": self.system})
        messages.append({"role": "user", "content": user})
        return Prompt(tuple(messages), prefix)


def format_passage(text: str, title: str | None) -> str:
    """The passage as the model sees it: ``title`` on its own line, then the text."""
    return f"{title}\n{text}" if title else text


_TEMPLATES: dict[tuple[str, str], PromptTemplate] = {}
_LATEST: dict[str, str] = {}


def register(template: PromptTemplate) -> PromptTemplate:
    """Add a template to the registry (latest version = last registered)."""
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


from . import templates_v1  # noqa: E402,F401  (registers the built-in templates)

__all__ = ["Prompt", "PromptTemplate", "format_passage", "register", "get_template", "available_templates"]
