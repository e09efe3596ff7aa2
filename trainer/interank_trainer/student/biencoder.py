"""A bi-encoder student: a sentence-transformers bi-encoder continued as one, on the teacher's pools.

The cross-encoder recipe (:mod:`interank_trainer.student.trainer`) puts a fresh
one-logit head on a bi-encoder's body: whatever the bi-encoder learned about
comparing a query with a passage is lost, and a few hundred CPU steps do not
win it back (measured in docs/training.md: all-MiniLM-L6-v2 as a bi-encoder
0.910 nDCG@10 on held-out StackExchange questions, its body with a fresh head
after 191 steps 0.510). ``loss="mnrl"`` keeps the model what it is, as GPL
and InPars-style adaptation do, and trains it with sentence-transformers'
``MultipleNegativesRankingLoss`` on triplets read from the same pools and
targets as every other student (:func:`~interank_trainer.student.student_data.triplets`, on
:func:`~interank_trainer.student.student_data.pool_targets`):

* the anchor is the pool's query; the positive is each known positive (a judged
  relevant passage, a QA answer, a synthetic query's source passage), or, in a
  pool without one, the passage with the best target;
* the hard negative is drawn, seeded, from the pool's passages in the lower
  half of the targets (the teacher's, mixed with the co-teacher's and the
  labels as ``label_weight`` says), never a known positive: the teacher keeps
  a relevant passage the first stage ranked high out of the negatives (GPL's
  reason for a teacher); the other triplets of the batch are in-batch negatives.

The held-out pools are read by cosine similarity, as ``Reranker`` reads the
written folder (its ``interank.json`` names the ``embedding`` strategy).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from interank_sdk.card import ModelCard
from interank_sdk.errors import InvalidInputError
from interank_sdk.training import inspect

from .. import __version__
from .._deps import need
from .config import StudentConfig
from .schedule import TrainingBudget

logger = logging.getLogger(__name__)


def cosine_scores(model: Any, pairs: list[tuple[str, str]], batch_size: int) -> list[float]:
    """Cosine similarity of each (query, passage) pair under ``model`` (each distinct text encoded once)."""
    texts = list(dict.fromkeys(t for pair in pairs for t in pair))
    vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False,
                           convert_to_numpy=True)
    row = {t: i for i, t in enumerate(texts)}
    return [float(vectors[row[q]] @ vectors[row[p]]) for q, p in pairs]


def load_biencoder(config: StudentConfig) -> Any:
    """``config.student`` as a ``SentenceTransformer`` (refused unless its files say it is a bi-encoder)."""
    profile = inspect(config.student)
    if profile.family != "bi-encoder":
        raise InvalidInputError(f"loss {config.loss!r} continues a sentence-transformers bi-encoder; "
                                f"{config.student!r} is {profile.family} ({profile.architecture or profile.model_type}): "
                                f"use a cross-encoder loss to train a head on it")
    torch = need("torch")
    st = need("sentence_transformers", "sentence-transformers")
    torch.manual_seed(config.seed)
    model = st.SentenceTransformer(str(config.student), device=None if config.device == "auto" else config.device)
    model.max_seq_length = config.max_length
    logger.info("bi-encoder student %s (%.1fM parameters, max %d tokens) on %s", config.student,
                sum(p.numel() for p in model.parameters()) / 1e6, config.max_length, model.device)
    return model


def train_biencoder(config: StudentConfig) -> Any:
    """:func:`~interank_trainer.train_student` for ``loss="mnrl"``: continue a bi-encoder on the teacher's pools.

    Same data, split, budget, schedule and report as the cross-encoder student;
    writes a ``SentenceTransformer`` folder with ``interank.json`` (strategy
    ``embedding``). Called by :func:`~interank_trainer.train_student`.

    Raises:
        InvalidInputError: ``config.student`` is not a bi-encoder, or no pool gives a triplet.
    """
    from .trainer import fit, training_threads

    start = time.perf_counter()
    budget = TrainingBudget(config.max_minutes) if config.max_minutes else None
    need("torch")
    need("sentence_transformers", "sentence-transformers")
    from sentence_transformers.sentence_transformer import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.losses import (
        MultipleNegativesRankingLoss,
    )

    with training_threads(config):
        model = load_biencoder(config)
        report = fit(config, model, "bi-encoder", MultipleNegativesRankingLoss(model), SentenceTransformerTrainer,
                     cosine_scores, budget, start)
        save_biencoder(model, report.out, config, report)
    logger.info("bi-encoder student %s: %d steps, held-out %s -> %s, %.0f s", report.out, report.steps,
                report.heldout_before, report.heldout_after, report.seconds)
    return report


def save_biencoder(model: Any, out: Path, config: StudentConfig, report: Any) -> Path:
    """Write ``SentenceTransformer.save``'s folder and ``interank.json`` (strategy ``embedding``)."""
    from .trainer import card_training

    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out))
    ModelCard(strategy="embedding", base_model=str(config.student), stage="student", trainer_version=__version__,
              training=card_training(config, "bi-encoder", report)).write(out)
    logger.info("wrote bi-encoder student %s (strategy embedding)", out)
    return out


__all__ = ["cosine_scores", "load_biencoder", "save_biencoder", "train_biencoder"]
