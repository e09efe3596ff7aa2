"""The settings of the InteRank recipe: :func:`~interank_trainer.synthesize`, :func:`~interank_trainer.distill`,
:func:`~interank_trainer.rl` and :func:`~interank_trainer.rank`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from interank_sdk.errors import InvalidInputError

from ..config import PathLike, check_non_negative, check_positive, check_quantization

#: InteRank's LoRA target modules: attention projections and the MLP gate
INTERANK_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj")


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
        check_positive(self, "num_queries", "teacher_batch_size", "teacher_max_new_tokens", "query_max_new_tokens",
                  "max_passage_words", "max_query_words", "max_generated_query_words")
        check_non_negative(self, "hard_negatives", "random_negatives", "corpus_negatives")
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
        check_positive(self, "batch_size", "gradient_accumulation_steps")


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
        check_positive(self, "num_generations", "max_new_tokens", "batch_size", "length_budget", "logging_steps")
        if len(self.reward_weights) != 3 or any(w < 0 for w in self.reward_weights) or sum(self.reward_weights) <= 0:
            raise InvalidInputError("reward_weights must be three non-negative numbers, not all zero")
        if self.temperature <= 0:
            raise InvalidInputError("temperature must be > 0")
        check_quantization(self)


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



def _check_lora_training(config: Any) -> None:
    """The checks every LoRA-training config (:class:`DistillConfig`, :class:`RankConfig`) shares."""
    check_quantization(config)
    check_positive(config, "lora_r", "lora_alpha", "max_length", "logging_steps")
    if config.learning_rate <= 0 or config.epochs <= 0:
        raise InvalidInputError("learning_rate and epochs must be > 0")
    if not 0 <= config.lora_dropout < 1:
        raise InvalidInputError(f"lora_dropout must be in [0, 1), got {config.lora_dropout}")
    if config.yes_threshold not in (1, 2):
        raise InvalidInputError(f"yes_threshold must be 1 or 2, got {config.yes_threshold}")


__all__ = ["INTERANK_TARGET_MODULES", "SynthesizeConfig", "DistillConfig", "RLConfig", "RankConfig"]
