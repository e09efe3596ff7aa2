"""Label strategies: the score is the expected label under the model's label distribution.

The arithmetic that turns label log-probabilities into a score
(:func:`renormalise`, :func:`expected_label`, :func:`log_odds`) takes a numpy
array or a torch tensor alike: inference reads numpy rows, the trainer
(``interank_sdk.training``) differentiates through the same functions on
tensors, so a model is trained on exactly the score ``Reranker`` reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..backends.base import CausalLM
from .base import Judgment, Strategy


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _logsumexp(x: Any) -> Any:
    """``log(sum(exp(x)))`` over the last axis, kept (the one operation numpy and torch spell differently)."""
    if _is_tensor(x):
        return x.logsumexp(dim=-1, keepdim=True)
    return np.logaddexp.reduce(x, axis=-1, keepdims=True)


def renormalise(label_logp: Any) -> Any:
    """Log-probabilities of the labels renormalised over the labels alone (``log P(label | one of them)``)."""
    return label_logp - _logsumexp(label_logp)


def expected_label(label_logp: Any, values: Sequence[float]) -> Any:
    """The expected label value under the renormalised label distribution, divided by the largest value.

    Args:
        label_logp: ``(..., n_labels)`` log-probabilities (numpy or torch).
        values: the value of each label (e.g. ``(0, 1, 2)``).

    Returns:
        ``(...)`` scores in ``[0, 1]`` (same array kind as ``label_logp``).

    >>> float(expected_label(np.log(np.array([0.25, 0.25, 0.5])), (0.0, 1.0, 2.0)))
    0.625
    """
    probs = math.e ** renormalise(label_logp)
    top = max(values)
    total = probs[..., 0] * (values[0] / top)
    for i in range(1, len(values)):
        total = total + probs[..., i] * (values[i] / top)
    return total


def log_odds(label_logp: Any) -> Any:
    """``log P(first label) - log P(second label)`` (yes/no: the log-odds of "yes"; ``sigmoid`` of it is the score).

    >>> float(log_odds(np.log(np.array([0.75, 0.25]))))  # doctest: +ELLIPSIS
    1.0986...
    """
    return label_logp[..., 0] - label_logp[..., 1]


class LabelStrategy(Strategy[CausalLM]):
    """Read a distribution over label tokens at the answer position.

    The probabilities of the label tokens (summed over surface variants) are
    renormalised over the labels, and the score is the expected label value
    divided by the largest value, so it lies in ``[0, 1]``.
    """

    #: label strings, in the order of :attr:`values`
    labels: tuple[str, ...] = ()
    #: numeric value of each label
    values: tuple[float, ...] = ()

    def judge(self, backend: CausalLM, pairs: Sequence[tuple[str, str]]) -> list[Judgment]:
        if not pairs:
            return []
        logp = backend.label_logprobs([self.prompt(q, p) for q, p in pairs], self.labels)
        return [self.from_logprobs(row) for row in logp]

    def from_logprobs(self, logp: np.ndarray) -> Judgment:
        """A judgment from the log-probabilities of :attr:`labels` (one row)."""
        logp = np.asarray(logp, dtype=np.float64)
        probs = np.exp(renormalise(logp))
        score = float(expected_label(logp, self.values))
        best = int(np.argmax(probs))
        raw = float(log_odds(logp)) if len(self.labels) == 2 else None  # log-odds of the first label
        return Judgment(score=score, raw_score=raw, label=self.labels[best],
                        label_probs=dict(zip(self.labels, probs.tolist())))


class YesNoStrategy(LabelStrategy):
    """``P(yes) / (P(yes) + P(no))`` at the answer position: for models trained as rerankers."""

    name = "yesno"
    labels = ("yes", "no")
    values = (1.0, 0.0)


class GradedStrategy(LabelStrategy):
    """InteRank's graded labels (0 irrelevant, 1 partially relevant, 2 relevant); score = E[label] / 2."""

    name = "graded"
    labels = ("0", "1", "2")
    values = (0.0, 1.0, 2.0)
