"""What the generative student writes, at the token level, and reading it back from a generated output.

A dataset row stores its completion as text
(:func:`~interank_trainer.data.formats.reasoning_completion`,
:func:`~interank_trainer.data.formats.label_completion`); training a causal LM on it
needs more: the SDK reads a label as the next-token distribution at one position,
so the label must be a *single token* there for the student's tokenizer
(:func:`label_forms`, used by :func:`~interank_trainer.distill`), and RL rewards
read the label and the explanation back from sampled outputs
(:func:`parse_label`, :func:`split_reasoning`, used by
:mod:`~interank_trainer.generative.rewards`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from interank_sdk.errors import LabelTokenError
from interank_sdk.training import REASONING_END, REASONING_MARKER

#: strategies a generative student can be trained for
TRAINABLE_STRATEGIES = ("reasoning", "graded", "yesno")

_LABEL_RE = re.compile(re.escape(REASONING_MARKER) + r"\s*([0-2])")
_FORMAT_RE = re.compile(r"^\s*(?P<explanation>\S.*?)\s*" + re.escape(REASONING_MARKER) + r"\s*(?P<label>[0-2])\s*"
                        + re.escape(REASONING_END) + r"\s*$", re.DOTALL)


def label_forms(tokenizer: Any, context: str, labels: Sequence[str], *, prefer_space: bool) -> dict[str, str]:
    """For each label, the surface form that is exactly one token right after ``context``.

    The SDK reads a label as the next-token distribution at one position, so a
    student must be trained to put a single label token there. Tokenizers
    differ: Qwen2.5 and SmolLM2 split ``" 2"`` into ``" "`` + ``"2"``, so after
    ``"Relevance Label:"`` the form is ``"2"``; a vocabulary with a ``" 2"``
    token keeps the space.

    Args:
        tokenizer: a transformers tokenizer.
        context: text the label follows (a rendered prompt, or an explanation
            ending with the marker).
        labels: the label strings (``"0"``, ``"1"``, ``"2"`` or ``"yes"``, ``"no"``).
        prefer_space: try ``" " + label`` before ``label``.

    Raises:
        LabelTokenError: no form of a label is a single token after ``context``.
    """
    base = tokenizer(context, add_special_tokens=False).input_ids
    out: dict[str, str] = {}
    for label in labels:
        candidates = [" " + label, label] if prefer_space else [label, " " + label]
        for cand in candidates:
            full = tokenizer(context + cand, add_special_tokens=False).input_ids
            if len(full) == len(base) + 1 and full[: len(base)] == base and full[-1] != tokenizer.unk_token_id:
                out[label] = cand
                break
        else:
            raise LabelTokenError(
                f"neither {label!r} nor {' ' + label!r} is a single token after {context[-40:]!r} for this tokenizer; "
                "the SDK cannot read this label from the model"
            )
    return out


# ----------------------------------------------------------------- parsing
def parse_label(completion: str) -> int | None:
    """The label a generated completion states after ``Relevance Label:`` (``None`` if unreadable).

    Example:
        >>> parse_label("It matches.\\nRelevance Label: 2 ##"), parse_label("no label here")
        (2, None)
    """
    match = _LABEL_RE.search(completion)
    return int(match.group(1)) if match else None


def split_reasoning(completion: str) -> tuple[str, int] | None:
    """``(explanation, label)`` of a well-formed reasoning output, else ``None``.

    Well-formed: a non-empty explanation, then ``Relevance Label: <0|1|2> ##``
    and nothing after it but whitespace.
    """
    match = _FORMAT_RE.match(completion)
    if not match:
        return None
    return match.group("explanation").strip(), int(match.group("label"))


__all__ = ["TRAINABLE_STRATEGIES", "label_forms", "parse_label", "split_reasoning"]
