"""The base an adaptation starts from: what it is, and the one-logit folder the student continues from.

* a one-logit cross-encoder (``*ForSequenceClassification``, ``num_labels=1``):
  the student continues from it, head included;
* a two-logit classifier: converted to one logit, ``w1 - w0`` and ``b1 - b0``,
  so ``sigmoid(new logit) = softmax(old logits)[1]``: the same scores, the same ranking;
* a sentence-transformers bi-encoder such as all-MiniLM-L6-v2: continued as a
  bi-encoder (:mod:`~interank_trainer.student.biencoder`), or, with
  ``student_kind="cross-encoder"``, its body under a fresh, seeded one-logit head;
* a bare encoder body (a BERT-like model): a fresh, seeded one-logit head;
* anything else (a causal LM, more than two labels) is not a cross-encoder:
  :class:`~interank_sdk.errors.InvalidInputError`.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from interank_sdk.errors import InteRankError, InvalidInputError
from interank_sdk.training import inspect

logger = logging.getLogger(__name__)


@dataclass
class Base:
    """The base model of an adaptation run.

    Attributes:
        spec: what the user passed.
        model: the model the student is trained from (``spec``, or a converted folder).
        kind: ``"cross-encoder"`` (one logit, continued), ``"converted"`` (two logits
            made one), ``"bi-encoder"`` or ``"encoder-body"`` (a fresh head).
        reranker: how the base reranks as the user runs it today: ``"classifier"``,
            ``"embedding"`` (a bi-encoder's cosine), or ``None`` (a bare body
            does not rank: its row is left out of the report).
        evidence: what was read from its files.
    """

    spec: str
    model: str
    kind: str
    reranker: str | None
    evidence: tuple[str, ...] = ()

    def student_kind(self, requested: str = "auto") -> str:
        """What the student trained from this base is, ``"cross-encoder"`` or ``"bi-encoder"``, for the
        ``student_kind`` asked (``"auto"``: a bi-encoder stays one, anything else becomes a cross-encoder).

        Raises:
            InvalidInputError: ``"bi-encoder"`` asked of a base that is not one.
        """
        if requested == "bi-encoder" and self.kind != "bi-encoder":
            raise InvalidInputError(f"student_kind 'bi-encoder' continues a sentence-transformers bi-encoder; the base "
                                    f"{self.spec!r} is a {self.kind}")
        if requested == "auto":
            return "bi-encoder" if self.kind == "bi-encoder" else "cross-encoder"
        return requested

    def fresh_head(self, student_kind: str = "cross-encoder") -> bool:
        """Whether a ``student_kind`` student starts with a new head (a cross-encoder on an encoder's body)."""
        return student_kind == "cross-encoder" and self.kind in ("bi-encoder", "encoder-body")


def prepare_base(spec: str, work: Path) -> Base:
    """Read ``spec``'s files and return the :class:`Base` (converting a two-logit head into ``work/base-one-logit``).

    Raises:
        InvalidInputError: the model is not a cross-encoder nor an encoder body.
    """
    try:
        profile = inspect(spec)
    except InteRankError as exc:
        raise InvalidInputError(f"base {spec!r}: {exc}") from exc
    if profile.family == "cross-encoder":
        if profile.num_labels == 1:
            return Base(spec, spec, "cross-encoder", "classifier", profile.evidence)
        if profile.num_labels == 2:
            return Base(spec, str(convert_two_logit(spec, work / "base-one-logit")), "converted", "classifier",
                        profile.evidence)
        raise InvalidInputError(f"base {spec!r} is a classifier with {profile.num_labels} labels: not a relevance "
                                "cross-encoder (one logit, or two: irrelevant/relevant)")
    if profile.family == "bi-encoder":
        return Base(spec, spec, "bi-encoder", "embedding", profile.evidence)
    if profile.family == "unknown" and not profile.is_decoder:
        return Base(spec, spec, "encoder-body", None, profile.evidence)
    raise InvalidInputError(
        f"base {spec!r} is not a cross-encoder ({profile.family}, {profile.architecture or profile.model_type}): "
        "adapt starts from a cross-encoder (one or two logits) or an encoder body (BERT-like, a fresh head); "
        "an LLM reranker is a teacher (--teacher), not a base")


def convert_two_logit(spec: str, folder: Path) -> Path:
    """Write ``spec`` with its two-logit head made one (``logit1 - logit0``) into ``folder`` (kept when present)."""
    if (folder / "config.json").is_file():
        return folder
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(spec)
    tokenizer = AutoTokenizer.from_pretrained(spec)
    head = _last_linear(model)
    if head is None or head.out_features != 2:
        raise InvalidInputError(f"base {spec!r}: no two-output linear classifier layer found to convert")
    with torch.no_grad():
        weight = (head.weight[1] - head.weight[0]).unsqueeze(0).clone()
        bias = (head.bias[1] - head.bias[0]).unsqueeze(0).clone() if head.bias is not None else None
        head.weight = torch.nn.Parameter(weight)
        if bias is not None:
            head.bias = torch.nn.Parameter(bias)
        head.out_features = 1
    model.config.num_labels = 1
    model.config.id2label = {0: "LABEL_0"}
    model.config.label2id = {"LABEL_0": 0}
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    tmp.replace(folder)
    logger.info("base %s: two-logit head converted to one logit (logit1 - logit0) in %s", spec, folder)
    return folder


def _last_linear(model):
    import torch

    last = None
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            last = module
    return last


__all__ = ["Base", "prepare_base", "convert_two_logit"]
