"""The model card, ``interank.json``: how a model was trained to be read, in one typed place.

A folder written by ``interank-train`` (a LoRA adapter, a cross-encoder
student) carries an ``interank.json`` that says which strategy reads it, with
which prompt version and options, and how it was made (teacher, data, loss,
versions). :class:`ModelCard` is the only code that reads or writes that file;
``Reranker(folder)`` reads it to pick the strategy (``strategy="auto"``).

Example:
    >>> import tempfile
    >>> from interank_sdk.card import ModelCard
    >>> folder = tempfile.mkdtemp()
    >>> _ = ModelCard(strategy="classifier", base_model="all-MiniLM-L6-v2", stage="student").write(folder)
    >>> ModelCard.read(folder).strategy
    'classifier'
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import InvalidInputError, ModelLoadError

logger = logging.getLogger(__name__)

#: file in a model or adapter folder that records how it was trained to be read
MODEL_CARD_FILE = "interank.json"
#: version of the card's layout (bumped when a field changes meaning)
CARD_FORMAT = 1


@dataclass
class ModelCard:
    """The contents of ``interank.json``.

    Attributes:
        strategy: the strategy (head) that reads the model: ``"qlm"``,
            ``"yesno"``, ``"graded"``, ``"reasoning"``, ``"classifier"``,
            ``"embedding"``, or a preset such as ``"qwen3-reranker"``.
        prompt_version: the prompt template version it was trained with.
        strategy_options: options of that strategy (e.g. a classifier's
            ``pair_format``, a preset's ``instruction``).
        base_model: the model it was trained from.
        stage: what made it (``"distill"``, ``"rank"``, ``"rl-grpo"``,
            ``"student"``...).
        trainer_version: ``interank-trainer`` version that wrote it.
        training: how it was trained (teacher, data, loss, hyper-parameters,
            library versions): free-form, kept as written.
        calibration: the map from raw score to P(relevant) fitted on judgments
            (:class:`~interank_sdk.calibration.Calibration` as a JSON object),
            with what it was fitted on and its held-out error; empty when the
            model is not calibrated.
        extra: any other keys found in the file (kept on rewrite).
    """

    strategy: str | None = None
    prompt_version: str | None = None
    strategy_options: dict[str, Any] = field(default_factory=dict)
    base_model: str | None = None
    stage: str | None = None
    trainer_version: str | None = None
    training: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, origin: str = "interank.json") -> ModelCard:
        """A card from the file's JSON object; unknown keys go to :attr:`extra`.

        Raises:
            ModelLoadError: a known field has the wrong type.
        """
        if not isinstance(data, dict):
            raise ModelLoadError(f"{origin} must hold a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)} - {"extra"}
        values: dict[str, Any] = {}
        for name in known:
            if name not in data or data[name] is None:
                continue
            value = data[name]
            if name in ("strategy_options", "training", "calibration"):
                if not isinstance(value, dict):
                    raise ModelLoadError(f"{origin}: {name!r} must be an object, got {type(value).__name__}")
            elif not isinstance(value, str):
                raise ModelLoadError(f"{origin}: {name!r} must be a string, got {type(value).__name__}")
            values[name] = value
        extra = {k: v for k, v in data.items() if k not in known and k != "card_format"}
        return cls(**values, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to ``interank.json`` (``None`` fields and empty dicts left out)."""
        out: dict[str, Any] = {"card_format": CARD_FORMAT}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is None or value == {}:
                continue
            out[f.name] = value
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    @classmethod
    def read(cls, folder: str | Path | None) -> ModelCard | None:
        """The card of a local folder, or ``None`` when it has none (or ``folder`` is not local).

        Raises:
            ModelLoadError: the file exists but is not valid JSON or has wrong types:
                a model that says how to read it and cannot be understood is not guessed at.
        """
        if folder is None:
            return None
        path = Path(str(folder)).expanduser() / MODEL_CARD_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelLoadError(f"cannot read {path}: {exc}") from exc
        return cls.from_dict(data, origin=str(path))

    def write(self, folder: str | Path) -> Path:
        """Write ``interank.json`` into ``folder`` (created if needed); returns the file's path."""
        if self.strategy is not None and not isinstance(self.strategy, str):
            raise InvalidInputError("ModelCard.strategy must be a string")
        out = Path(folder).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        path = out / MODEL_CARD_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        tmp.replace(path)
        logger.debug("wrote %s (strategy %s)", path, self.strategy)
        return path


def card_strategy(card: ModelCard | None, default: str) -> str:
    """The one "the model card wins" rule: the strategy an ``interank.json`` names, else ``default``
    (what the model's other files say). Only an explicit ``strategy=`` of the caller overrides it."""
    return card.strategy if card is not None and card.strategy else default


__all__ = ["CARD_FORMAT", "MODEL_CARD_FILE", "ModelCard", "card_strategy"]
