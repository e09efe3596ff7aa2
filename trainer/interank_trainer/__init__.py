"""interank-trainer: train InteRank rerankers that ``interank_sdk.Reranker`` loads.

The recipe (InteRank, improved):

1. :func:`synthesize`: a teacher writes search queries for QA pairs and judges
   candidate passages (the answer, BM25 hard negatives, random negatives) with
   an explanation and a 0/1/2 label, through the SDK's own ``Reranker``;
   or :func:`prepare_judgments`: TREC/BEIR relevance judgments become the same
   kind of dataset directly;
2. :func:`distill`: LoRA/QLoRA SFT of a student with TRL's ``SFTTrainer``, loss
   on the completion only;
3. :func:`rl`: refinement with TRL's ``GRPOTrainer`` or InteRank's
   reward-weighted SFT;
4. :func:`rank`: a ``yesno``/``graded`` scorer fine-tuned with a ranking loss
   (RankNet over one query's judged passages, plus a pointwise term), the
   fast scorer of the cascade; it learns from judgments far faster than
   pointwise SFT.

Distillation into a fast cross-encoder (Rank-DistiLLM / DeAR):

5. :func:`teach`: any ``Reranker`` scores candidate pools (judgments + a run,
   QA pairs, or a bare corpus with synthetic queries), resumable, on one
   process or on Ray;
6. :func:`train_student`: a sequence-classification student (a BERT-like
   encoder, or a causal LM with a one-label head) trained on those scores with
   sentence-transformers' ``CrossEncoderTrainer`` and a distillation loss
   (RankNet + KD, ADR-MSE, PLD, ...); the folder loads in ``CrossEncoder`` and ``Reranker``.

Adaptation to a user's domain, with a before/after report on held-out queries:

* :func:`adapt`: teach + student from a base cross-encoder on a user's
  documents, QA pairs and judgments, evaluated against the base, BM25, a
  bi-encoder and the teacher on held-out queries (``interank-train adapt``).

Each function takes a typed config (:class:`SynthesizeConfig`,
:class:`DistillConfig`, :class:`RLConfig`, :class:`JudgmentsConfig`, :class:`RankConfig`,
:class:`TeachConfig`, :class:`StudentConfig`, :class:`AdaptConfig`) or the
same fields as keyword arguments; the ``interank-train`` CLI mirrors them.

The package: :mod:`interank_trainer.data` (what both recipes read and write),
:mod:`interank_trainer.generative` (1-4), :mod:`interank_trainer.student` (5, 6 and
adapt), each with its own ``config.py``; :mod:`interank_trainer.teacher` (the teacher
both build) and :mod:`interank_trainer.cli`.

Example:
    >>> import interank_trainer as it
    >>> it.synthesize(qa="qa.jsonl", teacher="Qwen/Qwen2.5-7B-Instruct", out="data")  # doctest: +SKIP
    >>> it.distill(data="data", student="Qwen/Qwen2.5-0.5B-Instruct", out="adapter")  # doctest: +SKIP
    >>> it.rl(data="data", adapter="adapter", out="adapter-rl", method="grpo")  # doctest: +SKIP
    >>> from interank_sdk import Reranker
    >>> Reranker("adapter-rl").rerank("what is a kinase?", ["An enzyme that ...", "Paris is ..."])  # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from .data.config import JudgmentsConfig, SamplingConfig  # noqa: E402
from .data.judgments import JudgmentsReport, prepare_judgments  # noqa: E402
from .generative.config import DistillConfig, RankConfig, RLConfig, SynthesizeConfig  # noqa: E402
from .generative.distill import DistillReport, distill  # noqa: E402
from .generative.rank import RankReport, rank  # noqa: E402
from .generative.rl import RLReport, rl  # noqa: E402
from .generative.synthesize import SynthesisReport, synthesize  # noqa: E402
from .student.config import AdaptConfig, StudentConfig, TeachConfig  # noqa: E402
from .student.teach import TeachReport, teach  # noqa: E402
from .student.trainer import StudentReport, train_student  # noqa: E402
from .student.adapt import AdaptReport, adapt  # noqa: E402

__all__ = [
    "__version__",
    "SynthesizeConfig",
    "DistillConfig",
    "RLConfig",
    "JudgmentsConfig",
    "RankConfig",
    "SamplingConfig",
    "TeachConfig",
    "StudentConfig",
    "TeachReport",
    "StudentReport",
    "SynthesisReport",
    "DistillReport",
    "RLReport",
    "JudgmentsReport",
    "RankReport",
    "synthesize",
    "distill",
    "rl",
    "rank",
    "prepare_judgments",
    "teach",
    "train_student",
    "AdaptConfig",
    "AdaptReport",
    "adapt",
]
