"""The settings of the data stages: how a pool is sampled (:class:`SamplingConfig`) and judgment import."""

from __future__ import annotations

from dataclasses import dataclass, field

from interank_sdk.errors import InvalidInputError

from ..config import PathLike, check_non_negative, check_positive


@dataclass
class SamplingConfig:
    """How a pool's candidates are drawn from a first-stage ranking (the same scheme for every source).

    Every source yields a first-stage ranking per query (a TREC run, or ``bm25s``
    over the other answers or over the corpus, where passages BM25 does not match
    at all follow in a seeded random order), cut at ``depth``. The pool is:

    * the top ``top_k`` ranks (BM25 hard negatives, and the positives among them);
    * ``deep_k`` more drawn from ranks ``top_k + 1 .. depth`` (Rank-DistiLLM's deep
      sampling: candidates from deeper ranks, not only the top), stratified: the
      deeper ranks are cut into ``deep_k`` equal bands and one rank is drawn from each
      band with a generator seeded by ``(seed, pool id)``, so every depth is
      represented and the pool is the same on every run;
    * the known positives (a QA pair's answer, a synthetic query's source passage,
      and with ``include_judged`` every judged passage of the query with text) when
      the first stage missed them.

    Attributes:
        depth: first-stage ranks considered.
        top_k: ranks kept from the top.
        deep_k: ranks sampled from below ``top_k`` (0: none).
        include_judged: judgments source: add judged passages that are not in the run.
        seed: sampling seed.
    """

    depth: int = 100
    top_k: int = 30
    deep_k: int = 10
    include_judged: bool = False
    seed: int = 0

    def validate(self) -> None:
        check_positive(self, "depth", "top_k")
        check_non_negative(self, "deep_k")
        if self.top_k > self.depth:
            raise InvalidInputError(f"top_k ({self.top_k}) must be <= depth ({self.depth})")


@dataclass
class JudgmentsConfig:
    """Settings of :func:`interank_trainer.prepare_judgments` (relevance judgments -> training data).

    Attributes:
        data: a TREC/BEIR folder with ``queries.jsonl``, ``corpus.jsonl`` and
            ``qrels.tsv`` (the layout :mod:`interank_sdk.eval.data` reads).
        out: output dataset folder (same format as ``synthesize``).
        grade_map: judgment grade -> InteRank label (default TREC 0-3:
            0 -> 0, 1 -> 1, 2 -> 2, 3 -> 2). Grades not in the map are an error.
        max_per_query: keep at most this many judged passages per query
            (a label-stratified sample).
        max_rows: keep at most this many rows in all (label-stratified sample).
        balance: sample the same number of rows per label (as far as each label has rows).
        queries: restrict to these query ids.
        seed: sampling seed.
    """

    data: PathLike
    out: PathLike
    grade_map: dict[int, int] = field(default_factory=lambda: {0: 0, 1: 1, 2: 2, 3: 2})
    max_per_query: int | None = None
    max_rows: int | None = None
    balance: bool = False
    queries: list[str] | None = None
    seed: int = 0

    def validate(self) -> None:
        for grade, label in self.grade_map.items():
            if label not in (0, 1, 2):
                raise InvalidInputError(f"grade_map maps grade {grade} to {label}; labels are 0, 1 or 2")
        for name in ("max_per_query", "max_rows"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InvalidInputError(f"{name} must be >= 1 or None, got {value}")



__all__ = ["SamplingConfig", "JudgmentsConfig"]
