"""The settings of :func:`interank_trainer.adapt` (``interank-train adapt``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from interank_sdk.errors import InvalidInputError

from .config import PathLike, SamplingConfig


def _default_sampling() -> SamplingConfig:
    # pools of 10: the positive(s), BM25's top 6 and 3 deeper ranks of its top 30 (hard and deep negatives);
    # a known answer the first stage missed joins its pool (else the hardest queries would be dropped)
    return SamplingConfig(depth=30, top_k=6, deep_k=3, include_judged=True)


@dataclass
class AdaptConfig:
    """Adapt a reranker to a user's documents and queries, and measure it on held-out queries.

    Attributes:
        out: the run folder: ``student/`` (the adapted model), ``adapt_report.json``,
            ``adapt_report.md``, ``adapt_report.png``; ``work/`` holds what a rerun resumes from.
        base: the reranker to start from: a one-logit cross-encoder (folder or hub
            id; the students this trainer writes too), a two-logit classifier
            (converted to one logit: ``logit1 - logit0``, the same ranking), or an
            encoder body (a fresh one-logit head).
        teacher: the teacher model (any model :class:`~interank_sdk.Reranker` loads).
        corpus: JSONL documents ``{"_id", "text"}`` (optional ``title``): the
            collection, and the passages the teacher writes synthetic queries for.
        qa: JSONL ``{"question", "answer"}`` pairs (optional ``id``, ``domain``):
            each answer joins the collection as its question's relevant document.
        judgments: a TREC/BEIR folder (``queries.jsonl``, ``qrels.tsv``, optional
            ``corpus.jsonl``): judged queries, split like the QA questions.
        eval_judgments: a TREC/BEIR folder evaluated on only (never trained on):
            the held-out measure of a corpus-only run.
        general_eval: a TREC folder with a BM25 run (e.g. DL19) on which the base
            and the student are compared, to show what adaptation cost out of domain.
        general_run: the run file of ``general_eval``.
        general_max_queries: evaluate the first N of its judged queries (``None``: all).
        teacher_strategy: how the teacher's scores are read (``qlm``: query likelihood).
        teacher_quantization: the teacher's quantization (e.g. ``"int8"`` on CPUs with int8
            dot-product instructions).
        teacher_batch_size: the teacher's batch size.
        teacher_max_length: the teacher's token budget of one prompt (a longer query is cut to half of it).
        teacher_kwargs: more :class:`~interank_sdk.Reranker` options for the teacher.
        co_teacher: ``"base"`` (default: the base model scores the pools and is mixed
            into the teacher's targets, as a bi-encoder when the base is a
            sentence-transformers encoder), ``"none"``, or any model ``Reranker`` loads.
            The adapt queries the teacher did not reach within its budget are
            scored by the co-teacher alone, so every real query is trained on.
        co_teacher_weight: the co-teacher's share of the targets.
        first_stage: ``"bm25"`` or a sentence-transformers encoder (folder or hub id):
            the candidates of training pools and of every evaluated system.
        budget_minutes: the whole run's budget: query writing, teaching and
            training (loading and evaluation are extra).
        teach_share: the share of the budget teaching may use (the rest trains).
        heldout_fraction: share of the real queries held out (per domain).
        min_gain: the student is recommended only when its held-out nDCG@10 beats
            the base's by more than 0 and by at least this.
        synthetic_queries: corpus passages the teacher writes a query for
            (``None``: 200 when a corpus is given, else 0).
        keep_fraction: share of the written queries kept, by the teacher's score of their passage.
        sampling: how training pools are drawn from the first stage.
        max_passage_words: words of a passage in a training pool.
        loss, label_weight, learning_rate, batch_size, docs_per_query, max_length,
            epochs: the student's training (:class:`~interank_trainer.StudentConfig`).
            ``learning_rate=None``: 1e-4 for a fresh head, 3e-5 when the base is a
            trained cross-encoder.
        eval_depth: first-stage candidates reranked per held-out query.
        teacher_eval_queries: held-out queries the teacher is evaluated on (its cost
            is ~100x the student's on CPU; 0: not evaluated).
        teacher_eval_depth: first-stage candidates the teacher reranks on those queries.
        biencoder: a sentence-transformers encoder evaluated as a reranker (cosine)
            beside the others (``None``: the base, when it is such an encoder).
        skip_invalid: count and skip invalid input rows instead of raising.
        seed: the split's, the pools' and the student's seed.
        device, threads: where the models run.
        show_progress: progress bars.
    """

    out: PathLike
    base: str
    teacher: Any
    corpus: PathLike | None = None
    qa: PathLike | None = None
    judgments: PathLike | None = None
    eval_judgments: PathLike | None = None
    general_eval: PathLike | None = None
    general_run: str = "run.bm25.top100.trec"
    general_max_queries: int | None = None
    teacher_strategy: str = "qlm"
    teacher_quantization: str | None = None
    teacher_batch_size: int = 16
    teacher_max_length: int = 256
    teacher_kwargs: dict[str, Any] = field(default_factory=dict)
    co_teacher: str = "base"
    co_teacher_weight: float = 0.5
    first_stage: str = "bm25"
    budget_minutes: float = 60.0
    teach_share: float = 0.5
    heldout_fraction: float = 0.3
    min_gain: float = 0.0
    synthetic_queries: int | None = None
    keep_fraction: float = 0.5
    sampling: SamplingConfig = field(default_factory=_default_sampling)
    max_passage_words: int = 150
    loss: str = "ranknet-kd"
    label_weight: float = 0.3
    learning_rate: float | None = None
    batch_size: int = 2
    docs_per_query: int = 16
    max_length: int = 256
    epochs: float = 8.0
    eval_depth: int = 100
    teacher_eval_queries: int = 50
    teacher_eval_depth: int = 20
    biencoder: str | None = None
    skip_invalid: bool = False
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    show_progress: bool = True

    def validate(self) -> None:
        if self.budget_minutes is None or not self.budget_minutes > 0:
            raise InvalidInputError(f"budget_minutes must be positive, got {self.budget_minutes!r}")
        if not 0 < self.teach_share < 1:
            raise InvalidInputError(f"teach_share must be in (0, 1), got {self.teach_share!r}")
        if not 0 < self.heldout_fraction < 1:
            raise InvalidInputError(f"heldout_fraction must be in (0, 1), got {self.heldout_fraction!r}")
        if self.eval_depth < 1 or self.teacher_eval_depth < 1 or self.teacher_eval_queries < 0:
            raise InvalidInputError("eval_depth and teacher_eval_depth must be positive, teacher_eval_queries >= 0")
        if not 0 <= self.co_teacher_weight < 1:
            raise InvalidInputError(f"co_teacher_weight must be in [0, 1), got {self.co_teacher_weight!r}")
        if self.corpus is None and self.qa is None and self.judgments is None:
            raise InvalidInputError("nothing to adapt to: pass corpus, qa or judgments")
        if not isinstance(self.sampling, SamplingConfig):
            raise InvalidInputError(f"sampling must be a SamplingConfig, got {type(self.sampling).__name__}")
        self.sampling.validate()
        if self.co_teacher_weight == 0 and self.co_teacher not in ("none",):
            raise InvalidInputError("co_teacher_weight 0 mixes nothing in: pass co_teacher='none' instead")
        if self.synthetic_queries is not None and self.synthetic_queries < 0:
            raise InvalidInputError(f"synthetic_queries must be >= 0, got {self.synthetic_queries!r}")

    @property
    def synthetic(self) -> int:
        """The synthetic queries to write (the default depends on whether a corpus is given)."""
        if self.synthetic_queries is not None:
            return self.synthetic_queries
        return 200 if self.corpus is not None else 0


__all__ = ["AdaptConfig"]
