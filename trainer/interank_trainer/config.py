"""Typed configuration objects of the training stages (and judgment import, teacher scoring, students).

Every public function takes one of these, or the same fields as keyword
arguments: ``distill(DistillConfig(data="d", student="m", out="a"))`` and
``distill(data="d", student="m", out="a")`` are the same call. The CLI builds
them from its flags.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

from interank_sdk.errors import InvalidInputError

#: InteRank's LoRA target modules: attention projections and the MLP gate
INTERANK_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj")

PathLike = str | Path


@dataclass
class SynthesizeConfig:
    """Settings of :func:`interank_trainer.synthesize`.

    Attributes:
        qa: JSONL file of QA pairs, ``{"question", "answer"}`` per line (optional ``id``, ``domain``).
        teacher: teacher model (hub id, folder, ``.gguf``, adapter) or a ready
            :class:`interank_sdk.Reranker` (any backend that can generate).
        out: output dataset folder (created; an existing one is resumed).
        num_queries: search queries the teacher writes per QA pair (up to).
        include_question: also judge with the question itself as the query.
        hard_negatives: BM25 hard negatives per query, from the other pairs' answers.
        random_negatives: random other answers per query.
        corpus: optional JSONL of extra passages (``{"text"}``, optional ``title``,
            ``_id``/``id``); BM25 picks ``corpus_negatives`` of them per query.
        corpus_negatives: passages per query taken from ``corpus`` by BM25.
        max_pairs: process only the first N QA pairs.
        skip_invalid: count and skip invalid QA rows (empty answer, missing
            field) instead of raising.
        seed: random seed (random negatives); the run is deterministic for a seed.
        max_passage_words: passages are cut to this many words before judging
            (the row stores the text the teacher saw).
        max_query_words: the question, when used as a query, is cut to this many words.
        max_generated_query_words: generated queries longer than this are rejected.
        query_max_new_tokens: token budget of the query generation.
        missing_marker: what to do with a judgment whose output lacks the
            teacher's own ``Relevance Label:`` marker (the SDK then appended it
            and read the label distribution there): ``"drop"`` (default: a
            malformed output is never training data), ``"keep_complete"`` (keep
            it when the explanation ended by itself, drop it when the token
            budget cut it: for teachers, like small instruct models, that end
            their explanation without the marker) or ``"keep"``. Counted either way.
        min_label_confidence: drop judgments whose most likely label has a
            lower probability (0 keeps all).
        teacher_backend, teacher_device, teacher_dtype, teacher_quantization,
        teacher_batch_size, teacher_max_length, teacher_max_new_tokens,
        teacher_prompt_version, teacher_kwargs: how the teacher
            :class:`~interank_sdk.Reranker` is built when ``teacher`` is a model name
            (``teacher_kwargs`` go to the backend, e.g. ``{"base_url": ...}``).
        show_progress: progress bar over QA pairs.
    """

    qa: PathLike
    teacher: Any
    out: PathLike
    num_queries: int = 2
    include_question: bool = True
    hard_negatives: int = 2
    random_negatives: int = 1
    corpus: PathLike | None = None
    corpus_negatives: int = 1
    max_pairs: int | None = None
    skip_invalid: bool = False
    seed: int = 0
    max_passage_words: int = 300
    max_query_words: int = 128
    max_generated_query_words: int = 32
    query_max_new_tokens: int = 96
    missing_marker: str = "drop"
    min_label_confidence: float = 0.0
    teacher_backend: str = "auto"
    teacher_device: str = "auto"
    teacher_dtype: str = "auto"
    teacher_quantization: str | None = None
    teacher_batch_size: int = 8
    teacher_max_length: int = 1024
    teacher_max_new_tokens: int = 160
    teacher_prompt_version: str | None = None
    teacher_kwargs: dict[str, Any] = field(default_factory=dict)
    show_progress: bool = True

    def validate(self) -> None:
        _positive(self, "num_queries", "teacher_batch_size", "teacher_max_new_tokens", "query_max_new_tokens",
                  "max_passage_words", "max_query_words", "max_generated_query_words")
        _non_negative(self, "hard_negatives", "random_negatives", "corpus_negatives")
        if self.max_pairs is not None and self.max_pairs < 1:
            raise InvalidInputError(f"max_pairs must be >= 1 or None, got {self.max_pairs}")
        if self.missing_marker not in ("drop", "keep_complete", "keep"):
            raise InvalidInputError(
                f"missing_marker must be 'drop', 'keep_complete' or 'keep', got {self.missing_marker!r}"
            )
        if not 0.0 <= self.min_label_confidence <= 1.0:
            raise InvalidInputError(f"min_label_confidence must be in [0, 1], got {self.min_label_confidence}")
        if self.teacher is None or (isinstance(self.teacher, str) and not self.teacher.strip()):
            raise InvalidInputError("a teacher model is required")


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


@dataclass
class DistillConfig:
    """Settings of :func:`interank_trainer.distill` (SFT of a LoRA student with TRL's ``SFTTrainer``).

    Defaults are InteRank's: LoRA r=64, alpha=16, dropout 0.1 on the q/k/v/o and
    gate projections, learning rate 2e-4, constant schedule, one epoch; QLoRA
    (4-bit NF4) on CUDA, plain LoRA on CPU.

    Attributes:
        data: one dataset folder (or ``data.jsonl``) or a list of them.
        student: base model (hub id, folder or ``.gguf``).
        out: adapter folder to write (adapter, tokenizer, ``interank.json``).
        strategy: ``"auto"`` (``reasoning`` when every row has an explanation,
            else ``graded``), ``"reasoning"``, ``"graded"`` or ``"yesno"``: the
            SDK strategy whose prompt and target the student learns, recorded in
            ``interank.json`` so ``Reranker(out)`` scores the same way.
        prompt_version: prompt template version (default: latest).
        yes_threshold: ``yesno`` answers yes for labels >= this (default 2).
        lora_r, lora_alpha, lora_dropout, target_modules: LoRA settings.
        learning_rate, lr_scheduler, epochs, max_steps: optimisation
            (``max_steps > 0`` overrides ``epochs``).
        batch_size, gradient_accumulation_steps: sequences per step.
        max_length: rows longer than this many tokens are dropped (and counted),
            never cut (a cut row would lose its target).
        quantization: ``"auto"`` (4-bit NF4 on CUDA, none on CPU), ``"4bit"`` or ``None``.
        device, dtype: as in :class:`interank_sdk.Reranker` (``dtype="auto"``: bf16 where native).
        gradient_checkpointing: ``None``: on for CUDA, off on CPU.
        max_rows: train on the first N rows only.
        balance_labels: oversample so that every label has as many rows as the largest.
        shuffle: shuffle rows (seeded) before training.
        seed: random seed.
        logging_steps: log the loss every N steps.
        show_progress: progress bars.
    """

    data: PathLike | list[PathLike]
    student: str
    out: PathLike
    strategy: str = "auto"
    prompt_version: str | None = None
    yes_threshold: int = 2
    lora_r: int = 64
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    target_modules: tuple[str, ...] = INTERANK_TARGET_MODULES
    learning_rate: float = 2e-4
    lr_scheduler: str = "constant"
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 4
    gradient_accumulation_steps: int = 4
    max_length: int = 1024
    quantization: str | None = "auto"
    device: str = "auto"
    dtype: str = "auto"
    gradient_checkpointing: bool | None = None
    max_rows: int | None = None
    balance_labels: bool = False
    shuffle: bool = True
    seed: int = 0
    logging_steps: int = 10
    show_progress: bool = True

    def validate(self) -> None:
        if self.strategy not in ("auto", "reasoning", "graded", "yesno"):
            raise InvalidInputError(f"strategy must be auto, reasoning, graded or yesno, got {self.strategy!r}")
        _check_lora_training(self)
        _positive(self, "batch_size", "gradient_accumulation_steps")


@dataclass
class RLConfig:
    """Settings of :func:`interank_trainer.rl` (RL refinement of a distilled adapter).

    Attributes:
        data: dataset folder(s) with the teacher's labels (as for ``distill``).
        adapter: the adapter folder written by ``distill`` (its ``interank.json``
            gives the strategy and prompt version).
        out: the refined adapter folder.
        method: ``"grpo"`` (TRL ``GRPOTrainer``) or ``"rwsft"`` (InteRank's
            reward-weighted SFT: loss = r^3 x NLL over the kept samples).
        num_generations: samples per prompt (GRPO group size, rwsft k).
        max_new_tokens: token budget of one sampled output.
        temperature, top_p: sampling.
        learning_rate: optimiser learning rate.
        max_steps: optimisation steps (``-1``: one pass over the rows).
        batch_size: prompts per step.
        beta: KL coefficient to the distilled policy (GRPO; 0 = none, no reference model).
        reward_weights: weights of the (label, format, grounding) rewards.
        length_budget: explanation length (words) above which the concision reward decays.
        min_reward: rwsft keeps samples whose combined reward is at least this.
        quantization, device, dtype, gradient_checkpointing: as in :class:`DistillConfig`.
        max_rows, shuffle, seed, logging_steps, show_progress: as in :class:`DistillConfig`.
    """

    data: PathLike | list[PathLike]
    adapter: PathLike
    out: PathLike
    method: str = "grpo"
    num_generations: int = 4
    max_new_tokens: int = 160
    temperature: float = 1.0
    top_p: float = 1.0
    learning_rate: float = 1e-5
    max_steps: int = -1
    batch_size: int = 2
    beta: float = 0.0
    reward_weights: tuple[float, float, float] = (1.0, 0.5, 0.5)
    length_budget: int = 80
    min_reward: float = 0.1
    quantization: str | None = "auto"
    device: str = "auto"
    dtype: str = "auto"
    gradient_checkpointing: bool | None = None
    max_rows: int | None = None
    shuffle: bool = True
    seed: int = 0
    logging_steps: int = 1
    show_progress: bool = True

    def validate(self) -> None:
        if self.method not in ("grpo", "rwsft"):
            raise InvalidInputError(f"method must be 'grpo' or 'rwsft', got {self.method!r}")
        if self.num_generations < 2 and self.method == "grpo":
            raise InvalidInputError("GRPO needs num_generations >= 2 (it compares samples within a group)")
        _positive(self, "num_generations", "max_new_tokens", "batch_size", "length_budget", "logging_steps")
        if len(self.reward_weights) != 3 or any(w < 0 for w in self.reward_weights) or sum(self.reward_weights) <= 0:
            raise InvalidInputError("reward_weights must be three non-negative numbers, not all zero")
        if self.temperature <= 0:
            raise InvalidInputError("temperature must be > 0")
        _check_quantization(self)


@dataclass
class RankConfig:
    """Settings of :func:`interank_trainer.rank` (ranking-loss fine-tuning of a LoRA scorer).

    Attributes:
        data: dataset folder(s) (``prepare`` or ``synthesize`` output): rows with
            ``query``, ``passage``, ``label`` and a query key (``qid`` or ``pair_id``).
        student: base model (hub id, folder or ``.gguf``).
        out: adapter folder to write.
        strategy: ``"yesno"`` or ``"graded"``: the prompt and the score that are trained.
        prompt_version: prompt template version (default: latest).
        yes_threshold: ``yesno``'s pointwise target is yes for labels >= this.
        group_size: passages of one query per step (labels mixed).
        pointwise_weight: weight of the pointwise label loss next to the pair loss.
        graded_scale: ``graded`` scores (expected labels in [0, 2]) are multiplied
            by this in the pair loss (a wider logistic range).
        lora_r, lora_alpha, lora_dropout, target_modules: LoRA settings (as distill).
        train_layers: put LoRA on the top ``train_layers`` decoder layers only
            (``None``: all). The output of the frozen layers below is then
            computed once per row and kept in memory, and every step runs only
            the top layers forward and backward: about ``train_layers / layers``
            of a full step's compute (the cache costs one forward pass over the
            rows' lower layers, and ``rows x tokens x hidden`` floats of memory).
        random_negatives: per query, this many passages of *other* queries are
            added with label 0 (deterministic per seed): easy negatives next to
            the judged, on-topic ones.
        learning_rate: AdamW learning rate (constant).
        epochs, max_steps: ``max_steps > 0`` overrides ``epochs`` (passes over the rows).
        max_length: rows longer than this many prompt tokens are dropped (and counted).
        quantization, device, dtype: as in :class:`DistillConfig`.
        seed, logging_steps, show_progress: as in :class:`DistillConfig`.
    """

    data: PathLike | list[PathLike]
    student: str
    out: PathLike
    strategy: str = "yesno"
    prompt_version: str | None = None
    yes_threshold: int = 2
    group_size: int = 8
    pointwise_weight: float = 0.1
    graded_scale: float = 4.0
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = INTERANK_TARGET_MODULES
    train_layers: int | None = None
    random_negatives: int = 0
    learning_rate: float = 2e-4
    epochs: float = 1.0
    max_steps: int = -1
    max_length: int = 512
    quantization: str | None = "auto"
    device: str = "auto"
    dtype: str = "auto"
    seed: int = 0
    logging_steps: int = 10
    show_progress: bool = True

    def validate(self) -> None:
        if self.train_layers is not None and (
                isinstance(self.train_layers, bool) or not isinstance(self.train_layers, int) or self.train_layers < 1):
            raise InvalidInputError(f"train_layers must be None or an integer >= 1, got {self.train_layers!r}")
        if isinstance(self.random_negatives, bool) or not isinstance(self.random_negatives, int) \
                or self.random_negatives < 0:
            raise InvalidInputError(f"random_negatives must be an integer >= 0, got {self.random_negatives!r}")
        if self.strategy not in ("yesno", "graded"):
            raise InvalidInputError(f"strategy must be 'yesno' or 'graded', got {self.strategy!r}")
        _check_lora_training(self)
        if isinstance(self.group_size, bool) or not isinstance(self.group_size, int) or self.group_size < 2:
            raise InvalidInputError(f"group_size must be an integer >= 2 (a pair), got {self.group_size!r}")
        if self.pointwise_weight < 0 or self.graded_scale <= 0:
            raise InvalidInputError("pointwise_weight must be >= 0 and graded_scale > 0")


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
        _positive(self, "depth", "top_k")
        _non_negative(self, "deep_k")
        if self.top_k > self.depth:
            raise InvalidInputError(f"top_k ({self.top_k}) must be <= depth ({self.depth})")


@dataclass
class TeachConfig:
    """Settings of :func:`interank_trainer.teach` (teacher scores over candidate pools, resumable).

    Exactly one pool source is given:

    * ``judgments`` (a TREC/BEIR folder: ``queries.jsonl``, ``corpus.jsonl``,
      ``qrels.tsv``) with ``run`` (a TREC run file, relative to that folder or a
      path): each judged query's pool comes from the run; the judged grades are
      kept next to the teacher's scores;
    * ``qa`` (a JSONL of ``{"question", "answer"}``): the question is the query,
      its answer the positive, ``bm25s`` over the other answers the ranking;
    * ``corpus`` (a JSONL of ``{"_id", "text"}``, optional ``title``): the teacher
      writes a query for each of ``synthetic_queries`` sampled passages (a few-shot
      prompt, InPars/Promptagator style), the queries whose source passage the
      teacher itself scores lowest are filtered out (``keep_fraction``), and
      ``bm25s`` over the corpus gives each kept query its ranking.

    Attributes:
        out: output folder (an existing one is resumed; other settings are refused).
        teacher: a model name/path, or a ready :class:`interank_sdk.Reranker` (single
            process only: Ray workers build their own from the name).
        teacher_strategy: the teacher's strategy (``qlm``, ``yesno``, ``graded``,
            ``reasoning``, ``auto``...).
        teacher_backend, teacher_device, teacher_dtype, teacher_quantization,
        teacher_batch_size, teacher_max_length, teacher_kwargs: how the teacher
            ``Reranker`` is built from a name (``teacher_kwargs`` go to the backend).
        judgments, run, qa, corpus: the pool source (see above).
        sampling: :class:`SamplingConfig`.
        min_positive_grade: a judged passage with at least this grade is a positive.
        require_positive: drop (and count) pools without a known positive.
        max_queries: use the first N queries / QA pairs / kept synthetic queries.
        max_passage_words: passages are cut to this many words before scoring.
        synthetic_queries: corpus source: passages sampled to write a query for.
        keep_fraction: corpus source: share of generated queries kept, best first
            by the teacher's score of (query, source passage).
        fewshot: corpus source: a JSONL of ``{"passage", "query"}`` examples for the
            few-shot prompt (default: the built-in examples).
        query_max_new_tokens: token budget of one generated query.
        pools_per_call: pools scored per teacher call (the unit of work, of
            resuming and of a Ray task; the output does not depend on the runner).
        threads: torch threads of the teacher (``None``: torch's default).
        ray: ``None`` (one process), ``"local"`` (start a Ray cluster on this
            machine) or a cluster address (``"auto"``, ``"ray://head:10001"``).
        ray_workers: actors in the pool, each holding one teacher.
        ray_cpus_per_worker, ray_gpus_per_worker: resources of one actor (GPU nodes:
            ``ray_gpus_per_worker=1`` with ``teacher_backend="vllm"``).
        max_minutes: the budget of the whole call (loading the teacher, writing synthetic queries, scoring):
            no new batch of queries or chunk of pools starts after it (status ``"stopped"``; a rerun resumes); ``None``: no limit.
        show_progress: progress bar over pairs.
    """

    out: PathLike
    teacher: Any
    teacher_strategy: str = "qlm"
    teacher_backend: str = "auto"
    teacher_device: str = "auto"
    teacher_dtype: str = "auto"
    teacher_quantization: str | None = None
    teacher_batch_size: int = 16
    teacher_max_length: int = 512
    teacher_kwargs: dict[str, Any] = field(default_factory=dict)
    judgments: PathLike | None = None
    run: PathLike = "run.bm25.top100.trec"
    qa: PathLike | None = None
    corpus: PathLike | None = None
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    min_positive_grade: int = 1
    require_positive: bool = True
    max_queries: int | None = None
    max_passage_words: int = 200
    synthetic_queries: int = 100
    keep_fraction: float = 0.5
    fewshot: PathLike | None = None
    query_max_new_tokens: int = 32
    pools_per_call: int = 1
    threads: int | None = None
    ray: str | None = None
    ray_workers: int = 2
    ray_cpus_per_worker: float = 1.0
    ray_gpus_per_worker: float = 0.0
    max_minutes: float | None = None
    show_progress: bool = True

    @property
    def source(self) -> str:
        """``"judgments"``, ``"qa"`` or ``"corpus"``."""
        given = [name for name in ("judgments", "qa", "corpus") if getattr(self, name) is not None]
        return given[0] if len(given) == 1 else ""

    def validate(self) -> None:
        given = [name for name in ("judgments", "qa", "corpus") if getattr(self, name) is not None]
        if len(given) != 1:
            raise InvalidInputError(
                f"give exactly one pool source (judgments, qa or corpus), got {given or 'none'}"
            )
        if self.teacher is None or (isinstance(self.teacher, str) and not self.teacher.strip()):
            raise InvalidInputError("a teacher model is required")
        if not isinstance(self.sampling, SamplingConfig):
            raise InvalidInputError(f"sampling must be a SamplingConfig, got {type(self.sampling).__name__}")
        self.sampling.validate()
        _positive(self, "teacher_batch_size", "teacher_max_length", "max_passage_words", "synthetic_queries",
                  "query_max_new_tokens", "pools_per_call", "ray_workers")
        _non_negative(self, "min_positive_grade")
        if self.max_queries is not None and (isinstance(self.max_queries, bool) or self.max_queries < 1):
            raise InvalidInputError(f"max_queries must be >= 1 or None, got {self.max_queries}")
        if not 0.0 < self.keep_fraction <= 1.0:
            raise InvalidInputError(f"keep_fraction must be in (0, 1], got {self.keep_fraction}")
        if self.threads is not None and (isinstance(self.threads, bool) or self.threads < 1):
            raise InvalidInputError(f"threads must be >= 1 or None, got {self.threads}")
        if self.ray is not None and not str(self.ray).strip():
            raise InvalidInputError("ray must be None, 'local' or a cluster address")
        if self.ray_cpus_per_worker <= 0 or self.ray_gpus_per_worker < 0:
            raise InvalidInputError("ray_cpus_per_worker must be > 0 and ray_gpus_per_worker >= 0")
        _check_minutes(self)


#: losses of :func:`interank_trainer.train_student`: sentence-transformers' own, and the trainer's
STUDENT_LOSSES = ("ranknet-kd", "adr-mse", "pld", "ranknet", "listnet", "lambdaloss", "margin-mse", "bce")


@dataclass
class StudentConfig:
    """Settings of :func:`interank_trainer.train_student` (a cross-encoder student from teacher scores).

    Attributes:
        scores: one or more folders written by :func:`interank_trainer.teach`.
        student: the student's base model: a BERT-like encoder folder or hub id
            (loaded as ``AutoModelForSequenceClassification(num_labels=1)``: a fresh
            one-logit head), or a causal LM (a one-label classification head on the
            last token, as in DeAR).
        out: the student folder to write (``CrossEncoder.save_pretrained`` plus ``interank.json``).
        loss: ``"ranknet-kd"`` (DeAR), ``"adr-mse"`` (Rank-DistiLLM), ``"pld"``
            (Plackett-Luce distillation), or sentence-transformers' ``"ranknet"``,
            ``"listnet"``, ``"lambdaloss"``, ``"margin-mse"``, ``"bce"``.
        label_weight: how much the human grades count next to the teacher (0: the
            teacher only, 1: the grades only); see :mod:`interank_trainer.student.student_data`.
        unjudged_grade: the grade of a pool passage nobody judged when grades are
            mixed in (``None``: such passages keep the teacher's target alone).
        max_grade: the top grade (TREC: 3), for the pointwise (``bce``) targets.
        teacher_transform: ``"zscore"`` (per query), ``"log_zscore"`` (z-score of the
            log score: query likelihoods and probabilities) or ``"raw"``.
        co_teacher: a second, cheap teacher (a model ``Reranker`` loads: a bi-encoder,
            a cross-encoder) that scores the same pools when the student's data is
            prepared; its per-query z-scored raw scores are mixed into the teacher's
            with ``co_teacher_weight`` (an ensemble teacher: an LLM's query likelihood
            and a bi-encoder's similarity err differently). ``None``: the teacher alone.
        co_teacher_weight: the co-teacher's share of the teacher target (0 < w < 1).
        co_teacher_strategy: the co-teacher's strategy (``"auto"``: read from its files).
        kd_alpha, temperature: ``ranknet-kd``'s weight of the KL term and its
            temperature (DeAR: 0.1 and 2); ``temperature`` is also PLD's.
        adr_alpha: the ApproxRank sigmoid's sharpness of ``adr-mse``.
        docs_per_query: candidates per query in one listwise example (a pool with
            more is cut into several lists; the positives are spread over them).
        eval_fraction: share of queries held out for evaluation (0: none, no early stopping).
        eval_steps: evaluate every N optimiser steps (0: at the end of each epoch).
        early_stopping_patience: stop after this many evaluations without a gain (0: never).
        keep: which weights are written: ``"best"``, the held-out's best evaluation
            (as early stopping picks it), or ``"last"``, the weights at the end of the
            schedule (the held-out is still evaluated and reported; needs
            ``early_stopping_patience=0``). On the distillation example the held-out
            (55 pools, mostly teacher-written queries) picked a step that scored 0.524
            nDCG@10 on DL19 where the annealed last weights scored 0.590.
        learning_rate, epochs, max_steps, batch_size, warmup_ratio, weight_decay: optimisation
            (``batch_size`` counts queries for listwise losses, pairs for ``bce``/``margin-mse``).
        max_length: token budget of one (query, passage) pair.
        pair_format: causal-LM students: how the query (``{query}``) and the passage
            (``{passage}``: the title, ``title_separator``, then the text; the pools
            join them with a newline, :func:`interank_sdk.prompts.format_passage`)
            are written, DeAR's ``"query: ..."`` / ``"document: ..."`` by default;
            recorded in ``interank.json`` so ``Reranker`` writes them the same way.
            Ignored for encoders.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        bf16: bf16 autocast over fp32 weights (``None``: where the device runs bf16
            natively, as :func:`interank_sdk.sources.resolve_dtype` decides).
        threads: torch threads (``None``: default).
        max_minutes: the budget of the whole call: loading, the co-teacher's scoring,
            then training in what they left, which stops at it (the weights ``keep``
            names are written as usual); ``None``: no limit.
        anneal_to_budget: with ``max_minutes``, the learning rate warms up and decays
            linearly to 0 over the run's progress, the larger of steps done / planned
            and time spent / budget, so a run the budget ends has annealed
            (:mod:`interank_trainer.student.schedule`); ``False``: the step-planned linear
            schedule, cut wherever the budget falls.
        seed: random seed (split, shuffling, initialisation of the head).
        max_pools: use the first N pools only.
        show_progress: progress bars.
    """

    scores: PathLike | list[PathLike]
    student: str
    out: PathLike
    loss: str = "ranknet-kd"
    label_weight: float = 0.0
    unjudged_grade: float | None = 0.0
    max_grade: int = 3
    teacher_transform: str = "zscore"
    co_teacher: str | None = None
    co_teacher_weight: float = 0.5
    co_teacher_strategy: str = "auto"
    kd_alpha: float = 0.1
    temperature: float = 2.0
    adr_alpha: float = 1.0
    docs_per_query: int = 16
    eval_fraction: float = 0.1
    eval_steps: int = 0
    early_stopping_patience: int = 2
    keep: str = "best"
    learning_rate: float = 3e-5
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 2
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_length: int = 256
    pair_format: dict[str, str] = field(default_factory=lambda: {
        "query": "query: {query}", "document": "document: {passage}", "title_separator": "\n"})
    device: str = "auto"
    bf16: bool | None = None
    threads: int | None = None
    max_minutes: float | None = None
    anneal_to_budget: bool = True
    seed: int = 0
    max_pools: int | None = None
    show_progress: bool = True

    def validate(self) -> None:
        _check_minutes(self)
        if self.keep not in ("best", "last"):
            raise InvalidInputError(f"keep must be 'best' or 'last', got {self.keep!r}")
        if self.keep == "last" and self.early_stopping_patience:
            raise InvalidInputError("keep='last' keeps the weights at the end of the schedule; early stopping would "
                                    "end the run at a held-out plateau instead: set early_stopping_patience=0")
        if self.loss not in STUDENT_LOSSES:
            raise InvalidInputError(f"loss must be one of {', '.join(STUDENT_LOSSES)}, got {self.loss!r}")
        if not 0.0 <= self.label_weight <= 1.0:
            raise InvalidInputError(f"label_weight must be in [0, 1], got {self.label_weight}")
        if not 0.0 <= self.kd_alpha <= 1.0:
            raise InvalidInputError(f"kd_alpha must be in [0, 1], got {self.kd_alpha}")
        if self.temperature <= 0 or self.adr_alpha <= 0:
            raise InvalidInputError("temperature and adr_alpha must be > 0")
        if self.teacher_transform not in ("zscore", "log_zscore", "raw"):
            raise InvalidInputError(
                f"teacher_transform must be 'zscore', 'log_zscore' or 'raw', got {self.teacher_transform!r}")
        if self.co_teacher is not None:
            if not 0.0 < self.co_teacher_weight < 1.0:
                raise InvalidInputError(f"co_teacher_weight must be in (0, 1), got {self.co_teacher_weight}")
            if self.teacher_transform == "raw":
                raise InvalidInputError("a co_teacher is mixed on per-query z-scores: teacher_transform must be "
                                        "'zscore' or 'log_zscore', not 'raw'")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise InvalidInputError(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")
        _positive(self, "max_grade", "batch_size", "max_length")
        _non_negative(self, "eval_steps", "early_stopping_patience")
        if isinstance(self.docs_per_query, bool) or not isinstance(self.docs_per_query, int) or self.docs_per_query < 2:
            raise InvalidInputError(f"docs_per_query must be an integer >= 2, got {self.docs_per_query!r}")
        if self.learning_rate <= 0 or self.epochs <= 0 or not 0 <= self.warmup_ratio < 1 or self.weight_decay < 0:
            raise InvalidInputError("learning_rate and epochs must be > 0, warmup_ratio in [0, 1), weight_decay >= 0")
        if not {"query", "document"} <= set(self.pair_format) <= {"query", "document", "title_separator"} \
                or "{query}" not in self.pair_format["query"] or "{passage}" not in self.pair_format["document"]:
            raise InvalidInputError("pair_format needs 'query' (with {query}) and 'document' (with {passage}), "
                                    f"optionally 'title_separator'; got {self.pair_format}")
        if self.max_pools is not None and (isinstance(self.max_pools, bool) or self.max_pools < 1):
            raise InvalidInputError(f"max_pools must be >= 1 or None, got {self.max_pools}")
        if self.threads is not None and (isinstance(self.threads, bool) or self.threads < 1):
            raise InvalidInputError(f"threads must be >= 1 or None, got {self.threads}")


C = TypeVar("C")


def build_config(cls: type[C], config: C | None, kwargs: dict[str, Any]) -> C:
    """A config from an object or keyword arguments (not both), validated."""
    if config is not None:
        if kwargs:
            raise InvalidInputError(f"pass either a {cls.__name__} or keyword arguments, not both")
        if not isinstance(config, cls):
            raise InvalidInputError(f"expected a {cls.__name__}, got {type(config).__name__}")
        result = config
    else:
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise InvalidInputError(f"unknown {cls.__name__} field(s): {unknown}; known: {sorted(known)}")
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]  # type: ignore[arg-type]
        missing = [name for name in required if name not in kwargs]
        if missing:
            raise InvalidInputError(f"{cls.__name__} needs {missing}")
        result = cls(**kwargs)
    result.validate()  # type: ignore[attr-defined]
    return result


def config_dict(config: Any) -> dict[str, Any]:
    """A JSON-friendly dict of a config (paths as strings, models by name)."""
    out: dict[str, Any] = {}
    for f in fields(config):
        key, value = f.name, getattr(config, f.name)  # not asdict(): it deep-copies a Reranker teacher
        if isinstance(value, Path):
            value = str(value)
        elif is_dataclass(value) and not isinstance(value, type):
            value = config_dict(value)
        elif isinstance(value, (list, tuple)):
            value = [str(v) if isinstance(v, Path) else v for v in value]
        elif not isinstance(value, (str, int, float, bool, dict, type(None))):
            value = getattr(value, "model_name", type(value).__name__)
        out[key] = value
    return out


def _check_minutes(config: Any) -> None:
    if config.max_minutes is not None and (isinstance(config.max_minutes, bool) or config.max_minutes <= 0):
        raise InvalidInputError(f"max_minutes must be > 0 or None, got {config.max_minutes!r}")


def _check_quantization(config: Any) -> None:
    if config.quantization not in ("auto", "4bit", None, "none"):
        raise InvalidInputError(f"quantization must be 'auto', '4bit' or None, got {config.quantization!r}")


def _check_lora_training(config: Any) -> None:
    """The checks every LoRA-training config (:class:`DistillConfig`, :class:`RankConfig`) shares."""
    _check_quantization(config)
    _positive(config, "lora_r", "lora_alpha", "max_length", "logging_steps")
    if config.learning_rate <= 0 or config.epochs <= 0:
        raise InvalidInputError("learning_rate and epochs must be > 0")
    if not 0 <= config.lora_dropout < 1:
        raise InvalidInputError(f"lora_dropout must be in [0, 1), got {config.lora_dropout}")
    if config.yes_threshold not in (1, 2):
        raise InvalidInputError(f"yes_threshold must be 1 or 2, got {config.yes_threshold}")


def _positive(config: Any, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")


def _non_negative(config: Any, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInputError(f"{name} must be a non-negative integer, got {value!r}")


__all__ = [
    "INTERANK_TARGET_MODULES",
    "SynthesizeConfig",
    "JudgmentsConfig",
    "DistillConfig",
    "RLConfig",
    "RankConfig",
    "SamplingConfig",
    "TeachConfig",
    "StudentConfig",
    "STUDENT_LOSSES",
    "build_config",
    "config_dict",
]
