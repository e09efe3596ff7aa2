"""Calibration: a monotone map from a model's raw score to P(relevant), fitted on a user's judgments.

A classifier's sigmoid, a yes/no softmax and a query likelihood all land in
``[0, 1]``, but the same 0.5 means different things for each model. A
:class:`Calibration` maps the raw score (:attr:`RankedDocument.raw_score
<interank_sdk.types.RankedDocument.raw_score>`: a logit, a log-odds, a mean
log-likelihood, a service's score) to the probability that the document is
relevant, as measured on judged (query, document) pairs, so that a threshold
of 0.5 keeps what is more likely relevant than not, for any model.

Methods:

* ``"platt"`` (default): ``sigmoid(a * raw + b)``, fitted by maximum likelihood
  with Platt's smoothed targets; two numbers, robust with a few hundred pairs;
* ``"temperature"``: ``sigmoid(raw / T)``; one number, for raw scores that are
  already logits or log-odds centred on 0;
* ``"isotonic"``: the pool-adjacent-violators fit, interpolated linearly
  between its blocks; the most flexible, needs the most pairs.

Every map is non-decreasing, and the reranker applies it after ordering, so a
calibrated reranker ranks exactly as the uncalibrated one does.

Example:
    >>> from interank_sdk.calibration import fit_calibration
    >>> raw = [-3.0, -2.0, -1.5, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0, 4.0] * 5
    >>> relevant = [False, False, False, True, False, True, False, True, True, True] * 5
    >>> cal = fit_calibration(raw, relevant, min_pairs=10)
    >>> cal.method, round(cal(4.0), 2) > round(cal(-3.0), 2)
    ('platt', True)
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidInputError, ModelLoadError

logger = logging.getLogger(__name__)

METHODS = ("platt", "temperature", "isotonic")
#: the fewest judged pairs a calibration is fitted on, and the fewest of each class among them
MIN_PAIRS = 30
MIN_PER_CLASS = 3
#: bins of the expected calibration error (equal width over [0, 1])
ECE_BINS = 15


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x, dtype=np.float64)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


@dataclass
class Calibration:
    """A fitted map from raw score to P(relevant).

    Attributes:
        method: ``"platt"``, ``"temperature"`` or ``"isotonic"``.
        params: the map's numbers (platt: ``a``, ``b``; temperature: ``t``;
            isotonic: the knots ``x`` and ``y``).
        strategy: the strategy whose raw scores it maps (another strategy's
            scores, e.g. an explanation cascade's head, are left as they are).
        relevance_level: the least judgment grade counted as relevant.
        fitted_on: what it was fitted on (data, queries, pairs, positives).
        heldout: calibration error on judged queries held out of the fit
            (``ece``/``brier`` after, ``ece_before``/``brier_before`` of the
            uncalibrated scores, ``brier_constant`` of scoring every pair with
            the fitted queries' share of relevant pairs, ``queries``, ``pairs``);
            empty when there were too few queries to hold any out.
    """

    method: str
    params: dict[str, Any]
    strategy: str | None = None
    relevance_level: int = 2
    fitted_on: dict[str, Any] = field(default_factory=dict)
    heldout: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InvalidInputError(f"calibration method must be one of {METHODS}, got {self.method!r}")
        need = {"platt": ("a", "b"), "temperature": ("t",), "isotonic": ("x", "y")}[self.method]
        missing = [k for k in need if k not in self.params]
        if missing:
            raise InvalidInputError(f"a {self.method} calibration needs params {missing}")
        if self.method == "isotonic" and (len(self.params["x"]) != len(self.params["y"]) or not self.params["x"]):
            raise InvalidInputError("an isotonic calibration needs as many knots x as values y, at least one")

    def apply(self, raw: Sequence[float] | np.ndarray) -> np.ndarray:
        """P(relevant) of each raw score."""
        x = np.asarray(raw, dtype=np.float64)
        if not np.all(np.isfinite(x)):
            raise InvalidInputError("calibration got a non-finite raw score")
        if self.method == "platt":
            return _sigmoid(self.params["a"] * x + self.params["b"])
        if self.method == "temperature":
            return _sigmoid(x / self.params["t"])
        return np.interp(x, np.asarray(self.params["x"], dtype=np.float64), np.asarray(self.params["y"], dtype=np.float64))

    def __call__(self, raw: float) -> float:
        return float(self.apply([raw])[0])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, *, origin: str = "calibration") -> Calibration:
        """A calibration from its JSON object (as written in ``interank.json``).

        Raises:
            ModelLoadError: the object is not a calibration this version can read.
        """
        if not isinstance(data, dict) or not isinstance(data.get("params"), dict):
            raise ModelLoadError(f"{origin}: a calibration must be an object with 'method' and 'params'")
        known = {"method", "params", "strategy", "relevance_level", "fitted_on", "heldout"}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except (InvalidInputError, TypeError) as exc:
            raise ModelLoadError(f"{origin}: {exc}") from exc

    def save(self, path: str | Path) -> Path:
        """Write the calibration alone as JSON (for a model whose folder is not yours to write)."""
        out = Path(path).expanduser()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return out

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        """A calibration saved by :meth:`save` (or the ``calibration`` object of an ``interank.json``)."""
        p = Path(path).expanduser()
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelLoadError(f"cannot read {p}: {exc}") from exc
        if isinstance(data, dict) and "calibration" in data and "params" not in data:
            data = data["calibration"]
        return cls.from_dict(data, origin=str(p))


# ------------------------------------------------------------------------------------------------ in use
def initial_calibration(value: Any, card: Any, strategy: str) -> Calibration | None:
    """The calibration a reranker starts with: ``value`` (a :class:`Calibration`, a saved file, ``False``
    for none), else the one in the model card (``None``).

    Raises:
        InvalidInputError: a value of another type, or a calibration fitted for another strategy.
        ModelLoadError: a saved calibration or card entry that cannot be read.
    """
    if value is False:
        return None
    if value is None or value is True:
        data = getattr(card, "calibration", None) if card is not None else None
        if not data:
            if value is True:
                raise InvalidInputError("calibration=True but the model card has no calibration")
            return None
        cal = Calibration.from_dict(data, origin="interank.json")
        if cal.strategy is not None and cal.strategy != strategy and value is None:
            logger.info("the model card's calibration is for the %r strategy's scores; reading with %r, the "
                        "scores are not calibrated", cal.strategy, strategy)
            return None
    elif isinstance(value, Calibration):
        cal = value
    elif isinstance(value, (str, Path)):
        cal = Calibration.load(value)
    else:
        raise InvalidInputError(f"calibration must be a Calibration, a path, False or None, got {type(value).__name__}")
    if cal.strategy is not None and cal.strategy != strategy:
        raise InvalidInputError(f"the calibration was fitted on the {cal.strategy!r} strategy's scores; this reranker "
                                f"reads the model with {strategy!r} (calibrate it again, or pass strategy=...)")
    return cal


def _ordered(strategy: str | None) -> bool:
    """Whether ``strategy`` orders lists: its raw score is a rank (lower is better), its score is what maps."""
    from .strategies import STRATEGIES

    cls = STRATEGIES.get(strategy or "")
    return bool(cls is not None and cls.orders)


def calibration_input(ranked: Any, ordered: bool | None = None) -> float:
    """What a calibration maps for a ranked document: its raw score (a logit, a log-odds, a mean
    log-likelihood, a service's score), or its uncalibrated score where the strategy has no raw number (the
    graded expectation) or where the raw number is a rank (ordering strategies: the score from the rank).

    ``ordered``: whether the document's strategy orders lists, when the caller knows it (looked up otherwise)."""
    raw = getattr(ranked, "raw_score", None)
    if ordered is None:
        ordered = _ordered(getattr(ranked, "strategy", None))
    if raw is not None and not ordered:
        return float(raw)
    model = getattr(ranked, "model_score", None)
    return float(model if model is not None else ranked.score)


def apply_calibration(calibration: Calibration, ranked: Sequence[Any]) -> None:
    """Set ``model_score`` and ``score`` of each ranked document its strategy scored to the calibrated
    probability, in place (``raw_score`` is untouched; documents another strategy scored keep theirs)."""
    mine = [r for r in ranked if calibration.strategy is None or r.strategy == calibration.strategy]
    if not mine:
        return
    ordered = {name: _ordered(name) for name in {r.strategy for r in mine}}  # one registry lookup per strategy
    for r, p in zip(mine, calibration.apply([calibration_input(r, ordered[r.strategy]) for r in mine])):
        r.model_score = r.score = float(p)
        r.calibrated = True


def describe_scores(calibration: Calibration | None, *, from_rank: bool = False) -> str:
    """One line on what a reranker's scores mean (for ``describe()``); ``from_rank``: an ordering strategy's."""
    if calibration is None and from_rank:
        return ("not calibrated: scores come from the final rank (1.0 first, 0.0 last; raw_score is the rank); "
                "they say nothing about how relevant the first document is (calibrate on judgments to fix that)")
    if calibration is None:
        return ("not calibrated: scores are the model's own numbers in [0, 1]; they order documents but a "
                "threshold means something different for each model (calibrate on judgments to fix that)")
    return (f"calibrated ({calibration.method}, relevant = grade >= {calibration.relevance_level}, "
            f"{calibration.fitted_on.get('pairs', '?')} judged pairs{heldout_summary(calibration.heldout)}): "
            "scores are P(relevant)")


def heldout_summary(heldout: dict[str, Any]) -> str:
    """``", held-out ECE 0.048, Brier 0.213 (a constant: 0.233)"``, or ``""`` when nothing was held out.

    The constant is the Brier score of saying the share of relevant pairs for every pair: calibrated scores
    close to it are honest about their base rate but barely tell relevant from irrelevant documents apart."""
    ece, brier, constant = (heldout.get(k) for k in ("ece", "brier", "brier_constant"))
    out = f", held-out ECE {ece:.3f}" if isinstance(ece, float) else ""
    if isinstance(brier, float):
        out += f", Brier {brier:.3f}" + (f" (a constant: {constant:.3f})" if isinstance(constant, float) else "")
    return out


def warn_uncalibrated(reranker: Any, min_score: float | None) -> None:
    """Log once per reranker that a threshold is applied to scores that are not calibrated."""
    if min_score is None or getattr(reranker, "calibration", None) is not None \
            or getattr(reranker, "_warned_uncalibrated", False):
        return
    reranker._warned_uncalibrated = True
    logger.warning("min_score=%s on %s, which is not calibrated: the threshold compares the model's own scores, "
                   "not probabilities of relevance (Reranker.calibrate fits them on your judgments)",
                   min_score, getattr(reranker, "model_name", "a reranker"))


# ------------------------------------------------------------------------------------------------ metrics
def expected_calibration_error(probs: Sequence[float], labels: Sequence[bool], bins: int = ECE_BINS) -> float:
    """ECE: the pair-weighted mean gap between the mean predicted probability and the share of relevant pairs
    over ``bins`` equal-width bins of [0, 1]."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if p.size == 0:
        raise InvalidInputError("no pairs to measure calibration on")
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            total += mask.sum() * abs(p[mask].mean() - y[mask].mean())
    return float(total / p.size)


def brier_score(probs: Sequence[float], labels: Sequence[bool]) -> float:
    """Mean squared error of the probabilities against the 0/1 judgments."""
    p = np.asarray(probs, dtype=np.float64)
    return float(np.mean((p - np.asarray(labels, dtype=np.float64)) ** 2))


def reliability(probs: Sequence[float], labels: Sequence[bool], bins: int = ECE_BINS) -> list[dict[str, float]]:
    """Per non-empty bin: mean predicted probability, share relevant, pairs (a reliability diagram's points)."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    return [{"bin": b, "predicted": float(p[idx == b].mean()), "observed": float(y[idx == b].mean()),
             "pairs": int((idx == b).sum())} for b in range(bins) if (idx == b).any()]


# ------------------------------------------------------------------------------------------------ fitting
def _platt(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood ``a, b`` of ``sigmoid(a x + b)`` with Platt's smoothed targets (Newton's method on
    standardised scores, with step halving)."""
    n_pos, n_neg = float(y.sum()), float(len(y) - y.sum())
    t = np.where(y > 0, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    mu, sd = float(x.mean()), float(x.std()) or 1.0
    z = (x - mu) / sd
    w = np.zeros(2)

    def loss(w: np.ndarray) -> float:
        f = w[0] * z + w[1]
        return float(np.sum(np.logaddexp(0.0, f) - t * f))

    current = loss(w)
    for _ in range(100):
        p = _sigmoid(w[0] * z + w[1])
        g = np.array([np.sum((p - t) * z), np.sum(p - t)])
        s = p * (1.0 - p) + 1e-12
        h = np.array([[np.sum(s * z * z), np.sum(s * z)], [np.sum(s * z), np.sum(s)]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(h, g)
        scale = 1.0
        while scale > 1e-6:
            candidate = w - scale * step
            value = loss(candidate)
            if value <= current:
                break
            scale /= 2.0
        else:
            break
        converged = abs(current - value) < 1e-10 * max(1.0, abs(current))
        w, current = candidate, value
        if converged:
            break
    return float(w[0] / sd), float(w[1] - w[0] * mu / sd)


def _temperature(x: np.ndarray, y: np.ndarray) -> float:
    """Maximum-likelihood ``T`` of ``sigmoid(x / T)`` (golden-section search over log T)."""
    def loss(log_t: float) -> float:
        f = x / math.exp(log_t)
        return float(np.sum(np.logaddexp(0.0, f) - y * f))

    lo, hi = math.log(1e-3), math.log(1e3)
    g = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = loss(a), loss(b)
    for _ in range(80):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = loss(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = loss(b)
    return math.exp((lo + hi) / 2.0)


def _isotonic(x: np.ndarray, y: np.ndarray) -> tuple[list[float], list[float]]:
    """Pool adjacent violators over the scores in increasing order; knots at each block's mean score."""
    order = np.argsort(x, kind="mergesort")
    xs, ys = x[order], y[order]
    blocks: list[list[float]] = []  # [sum_y, count, sum_x]
    for xi, yi in zip(xs, ys):
        blocks.append([float(yi), 1.0, float(xi)])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            s, c, sx = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
            blocks[-1][2] += sx
    return [b[2] / b[1] for b in blocks], [b[0] / b[1] for b in blocks]


def _fit_map(method: str, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    if method == "platt":
        a, b = _platt(x, y)
        if not a > 0:
            raise InvalidInputError(
                "the raw scores do not increase with relevance on these judgments (fitted slope "
                f"{a:.3g}): a calibration would reverse the model's ranking; check the data and the model")
        return {"a": a, "b": b}
    if method == "temperature":
        return {"t": _temperature(x, y)}
    knots_x, knots_y = _isotonic(x, y)
    return {"x": knots_x, "y": knots_y}


def check_pairs(raw: Sequence[float], relevant: Sequence[bool], *, min_pairs: int = MIN_PAIRS) -> tuple[np.ndarray,
                                                                                                         np.ndarray]:
    """The judged pairs as arrays, checked: enough pairs, both classes, finite scores.

    Raises:
        InvalidInputError: what is wrong, with the counts.
    """
    x = np.asarray(raw, dtype=np.float64)
    y = np.asarray(relevant, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise InvalidInputError(f"got {x.size} raw scores for {y.size} judgments")
    bad = int((~np.isfinite(x)).sum())
    if bad:
        raise InvalidInputError(f"{bad} of {x.size} raw scores are not finite (NaN or infinite): the model could "
                                "not be read on those pairs; nothing was fitted")
    n_pos = int(y.sum())
    if x.size < min_pairs:
        raise InvalidInputError(f"calibration needs at least {min_pairs} judged pairs, got {x.size}")
    if n_pos < MIN_PER_CLASS or x.size - n_pos < MIN_PER_CLASS:
        raise InvalidInputError(
            f"calibration needs at least {MIN_PER_CLASS} relevant and {MIN_PER_CLASS} non-relevant judged pairs; "
            f"got {n_pos} relevant and {x.size - n_pos} non-relevant (check relevance_level)")
    return x, y


def fit_calibration(
    raw: Sequence[float],
    relevant: Sequence[bool],
    *,
    method: str = "platt",
    groups: Sequence[str] | None = None,
    heldout_fraction: float = 0.2,
    seed: int = 0,
    scores: Sequence[float] | None = None,
    strategy: str | None = None,
    relevance_level: int = 2,
    source: dict[str, Any] | None = None,
    min_pairs: int = MIN_PAIRS,
) -> Calibration:
    """Fit a calibration on judged pairs.

    The map is fitted on every pair. Before that, when ``groups`` (the query of
    each pair) name at least five queries, a share of the queries
    (``heldout_fraction``, seeded) is held out, the map is fitted on the others
    and its error measured on them (:attr:`Calibration.heldout`): the figure
    to trust on queries the fit never saw.

    Args:
        raw: each pair's raw score.
        relevant: each pair's judgment (grade >= ``relevance_level``).
        method: ``"platt"`` (default), ``"temperature"`` or ``"isotonic"``.
        groups: each pair's query id (for the held-out measurement).
        heldout_fraction: share of the queries held out for the measurement.
        seed: the held-out draw.
        scores: the uncalibrated ``[0, 1]`` scores, for the before/after figures.
        strategy, relevance_level, source: recorded on the calibration.
        min_pairs: the fewest pairs accepted.

    Raises:
        InvalidInputError: an unknown method, too few pairs, no positives or no
            negatives, non-finite raw scores, scores that fall with relevance.
    """
    if method not in METHODS:
        raise InvalidInputError(f"calibration method must be one of {METHODS}, got {method!r}")
    if not 0.0 < heldout_fraction < 1.0:
        raise InvalidInputError(f"heldout_fraction must be in (0, 1), got {heldout_fraction!r}")
    x, y = check_pairs(raw, relevant, min_pairs=min_pairs)
    heldout: dict[str, Any] = {}
    if groups is not None:
        g = np.asarray([str(q) for q in groups])
        if g.shape != x.shape:
            raise InvalidInputError(f"got {g.size} query ids for {x.size} pairs")
        queries = sorted(set(g.tolist()))
        if len(queries) >= 5:
            rng = np.random.default_rng(seed)
            held = set(rng.choice(queries, size=max(1, round(heldout_fraction * len(queries))), replace=False))
            mask = np.isin(g, list(held))
            try:
                check_pairs(x[~mask], y[~mask], min_pairs=min(min_pairs, 10))
                part = Calibration(method, _fit_map(method, x[~mask], y[~mask]))
                probs = part.apply(x[mask])
                heldout = {"queries": len(held), "pairs": int(mask.sum()), "positives": int(y[mask].sum()),
                           "ece": expected_calibration_error(probs, y[mask]), "brier": brier_score(probs, y[mask]),
                           # saying the fitted queries' share of relevant pairs for every pair: a map that tells
                           # pairs apart scores below it
                           "brier_constant": brier_score(np.full(int(mask.sum()), y[~mask].mean()), y[mask])}
                if scores is not None:
                    before = np.asarray(scores, dtype=np.float64)[mask]
                    heldout.update(ece_before=expected_calibration_error(before, y[mask]),
                                   brier_before=brier_score(before, y[mask]))
            except InvalidInputError as exc:
                logger.warning("no held-out calibration error: %s", exc)
        else:
            logger.warning("only %d judged queries: no held-out calibration error is measured", len(queries))
    fitted_on = {**(source or {}), "pairs": int(x.size), "positives": int(y.sum())}
    if groups is not None:
        fitted_on["queries"] = len(set(map(str, groups)))
    return Calibration(method=method, params=_fit_map(method, x, y), strategy=strategy,
                       relevance_level=relevance_level, fitted_on=fitted_on, heldout=heldout)


__all__ = ["ECE_BINS", "METHODS", "MIN_PAIRS", "MIN_PER_CLASS", "Calibration", "apply_calibration", "brier_score",
           "calibration_input", "check_pairs", "describe_scores", "expected_calibration_error", "fit_calibration",
           "heldout_summary", "initial_calibration", "reliability", "warn_uncalibrated"]
