"""Label strategies: the score is the expected label under the model's label distribution."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..backends.base import Backend
from .base import Judgment, Strategy


class LabelStrategy(Strategy):
    """Read a distribution over label tokens at the answer position.

    The probabilities of the label tokens (summed over surface variants) are
    renormalised over the labels, and the score is the expected label value
    divided by the largest value, so it lies in ``[0, 1]``.
    """

    #: label strings, in the order of :attr:`values`
    labels: tuple[str, ...] = ()
    #: numeric value of each label
    values: tuple[float, ...] = ()

    def judge(self, backend: Backend, pairs: Sequence[tuple[str, str]]) -> list[Judgment]:
        if not pairs:
            return []
        logp = backend.label_logprobs([self.prompt(q, p) for q, p in pairs], self.labels)
        return [self.from_logprobs(row) for row in logp]

    def from_logprobs(self, logp: np.ndarray) -> Judgment:
        """A judgment from the log-probabilities of :attr:`labels` (one row)."""
        logp = np.asarray(logp, dtype=np.float64)
        probs = np.exp(logp - logp.max())
        probs /= probs.sum()
        values = np.asarray(self.values, dtype=np.float64)
        score = float(probs @ values / values.max())
        best = int(np.argmax(probs))
        raw = float(logp[0] - logp[-1]) if len(self.labels) == 2 else None  # log-odds of the first label
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
