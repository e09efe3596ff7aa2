"""The settings of the student recipe: :func:`~interank_trainer.teach`, :func:`~interank_trainer.train_student`
and :func:`~interank_trainer.adapt` (``interank-train adapt``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from interank_sdk.errors import InvalidInputError

from ..config import PathLike, check_minutes, check_non_negative, check_positive, check_threads
from ..data.config import SamplingConfig


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
        threads: torch threads of the teacher (``None``: torch's default), or ``"auto"``: the teacher
            ``Reranker`` is built with ``threads="auto"`` and picks them before each call, every core while
            the machine is otherwise idle, fewer while other processes keep cores busy (a ready ``Reranker``
            keeps its own setting).
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
    threads: int | str | None = None
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
        check_positive(self, "teacher_batch_size", "teacher_max_length", "max_passage_words", "synthetic_queries",
                  "query_max_new_tokens", "pools_per_call", "ray_workers")
        check_non_negative(self, "min_positive_grade")
        if self.max_queries is not None and (isinstance(self.max_queries, bool) or self.max_queries < 1):
            raise InvalidInputError(f"max_queries must be >= 1 or None, got {self.max_queries}")
        if not 0.0 < self.keep_fraction <= 1.0:
            raise InvalidInputError(f"keep_fraction must be in (0, 1], got {self.keep_fraction}")
        check_threads(self)
        if self.ray is not None and not str(self.ray).strip():
            raise InvalidInputError("ray must be None, 'local' or a cluster address")
        if self.ray_cpus_per_worker <= 0 or self.ray_gpus_per_worker < 0:
            raise InvalidInputError("ray_cpus_per_worker must be > 0 and ray_gpus_per_worker >= 0")
        check_minutes(self)



#: losses of :func:`interank_trainer.train_student`: sentence-transformers' own, and the trainer's
STUDENT_LOSSES = ("ranknet-kd", "adr-mse", "pld", "ranknet", "listnet", "lambdaloss", "margin-mse", "bce")
#: losses that train a bi-encoder student (:mod:`interank_trainer.student.biencoder`): the student stays an
#: embedding model, continued from a sentence-transformers bi-encoder
BIENCODER_LOSSES = ("mnrl",)


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
            ``"listnet"``, ``"lambdaloss"``, ``"margin-mse"``, ``"bce"``: a cross-encoder
            student; or ``"mnrl"`` (multiple negatives ranking, in-batch negatives plus one
            teacher-chosen hard negative): ``student`` must be a sentence-transformers
            bi-encoder, continued as one (:mod:`interank_trainer.student.biencoder`).
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
        early_stopping_patience: stop after this many evaluations without a gain (0: never).
        keep: which weights are written: ``"best"``, the held-out's best evaluation
            (as early stopping picks it), or ``"last"``, the weights at the end of the
            schedule (the held-out is still evaluated and reported; needs
            ``early_stopping_patience=0``). On the distillation example the held-out
            (55 pools, mostly teacher-written queries) picked a step that scored 0.524
            nDCG@10 on DL19 where the annealed last weights scored 0.590.
        args: the optimisation, as sentence-transformers' ``CrossEncoderTrainingArguments``
            (an instance, or a dict of its fields: ``learning_rate``, ``num_train_epochs``,
            ``max_steps``, ``per_device_train_batch_size`` (queries for listwise losses,
            pairs for ``bce``/``margin-mse``), ``warmup_ratio``, ``weight_decay``,
            ``eval_steps`` (0 or absent: evaluate at the end of each epoch), ``seed``
            (also the held-out split's, the lists' and the head's), ``bf16`` (absent:
            where the device runs bf16 natively, as :func:`interank_sdk.training.resolve_dtype`
            decides), ``lr_scheduler_type``, ``gradient_accumulation_steps``...). A dict's
            missing fields take :data:`STUDENT_TRAINING_DEFAULTS`. The trainer sets the
            fields in :data:`TRAINER_OWNED_ARGS` itself (checkpoints, evaluation and
            saving follow ``keep`` and ``early_stopping_patience``).
        max_length: token budget of one (query, passage) pair.
        pair_format: causal-LM students: how the query (``{query}``) and the passage
            (``{passage}``: the title, ``title_separator``, then the text; the pools
            join them with a newline, :func:`interank_sdk.prompts.format_passage`)
            are written, DeAR's ``"query: ..."`` / ``"document: ..."`` by default;
            recorded in ``interank.json`` so ``Reranker`` writes them the same way.
            Ignored for encoders.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        threads: torch threads of the training (``None``: default), or ``"auto"``: training keeps torch's
            default and the co-teacher's ``Reranker`` is built with ``threads="auto"`` (see :class:`TeachConfig`).
        max_minutes: the budget of the whole call: loading, the co-teacher's scoring,
            then training in what they left, which stops at it (the weights ``keep``
            names are written as usual); ``None``: no limit.
        anneal_to_budget: with ``max_minutes``, the learning rate warms up and decays
            linearly to 0 over the run's progress, the larger of steps done / planned
            and time spent / budget, so a run the budget ends has annealed
            (:mod:`interank_trainer.student.schedule`); ``False``: the step-planned linear
            schedule, cut wherever the budget falls.
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
    early_stopping_patience: int = 2
    keep: str = "best"
    args: Any = field(default_factory=dict)
    max_length: int = 256
    pair_format: dict[str, str] = field(default_factory=lambda: {
        "query": "query: {query}", "document": "document: {passage}", "title_separator": "\n"})
    device: str = "auto"
    threads: int | str | None = None
    max_minutes: float | None = None
    anneal_to_budget: bool = True
    max_pools: int | None = None
    show_progress: bool = True

    def validate(self) -> None:
        check_minutes(self)
        if self.keep not in ("best", "last"):
            raise InvalidInputError(f"keep must be 'best' or 'last', got {self.keep!r}")
        if self.keep == "last" and self.early_stopping_patience:
            raise InvalidInputError("keep='last' keeps the weights at the end of the schedule; early stopping would "
                                    "end the run at a held-out plateau instead: set early_stopping_patience=0")
        if self.loss not in STUDENT_LOSSES + BIENCODER_LOSSES:
            raise InvalidInputError(f"loss must be one of {', '.join(STUDENT_LOSSES + BIENCODER_LOSSES)}, "
                                    f"got {self.loss!r}")
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
        check_positive(self, "max_grade", "max_length")
        check_non_negative(self, "early_stopping_patience")
        self._check_args()
        if isinstance(self.docs_per_query, bool) or not isinstance(self.docs_per_query, int) or self.docs_per_query < 2:
            raise InvalidInputError(f"docs_per_query must be an integer >= 2, got {self.docs_per_query!r}")
        if not {"query", "document"} <= set(self.pair_format) <= {"query", "document", "title_separator"} \
                or "{query}" not in self.pair_format["query"] or "{passage}" not in self.pair_format["document"]:
            raise InvalidInputError("pair_format needs 'query' (with {query}) and 'document' (with {passage}), "
                                    f"optionally 'title_separator'; got {self.pair_format}")
        if self.max_pools is not None and (isinstance(self.max_pools, bool) or self.max_pools < 1):
            raise InvalidInputError(f"max_pools must be >= 1 or None, got {self.max_pools}")
        check_threads(self)

    #: fields of earlier versions that are now training arguments (the unknown-field error points here)
    MOVED_FIELDS: ClassVar[dict[str, str]] = {
        name: f"pass args={{'{new}': ...}} (CrossEncoderTrainingArguments)" for name, new in (
            ("learning_rate", "learning_rate"), ("epochs", "num_train_epochs"), ("max_steps", "max_steps"),
            ("batch_size", "per_device_train_batch_size"), ("warmup_ratio", "warmup_ratio"),
            ("weight_decay", "weight_decay"), ("eval_steps", "eval_steps"), ("seed", "seed"), ("bf16", "bf16"))}

    def _check_args(self) -> None:
        if isinstance(self.args, dict):
            owned = sorted(set(self.args) & set(TRAINER_OWNED_ARGS))
            if owned:
                raise InvalidInputError(f"args sets {owned}: the trainer sets these itself (checkpoints and "
                                        "evaluation follow keep and early_stopping_patience)")
            bad = sorted(k for k in self.args if not isinstance(k, str) or not k.isidentifier())
            if bad:
                raise InvalidInputError(f"args keys must be CrossEncoderTrainingArguments field names, got {bad}")
        elif not hasattr(self.args, "to_dict") or not hasattr(self.args, "learning_rate"):
            raise InvalidInputError("args must be a CrossEncoderTrainingArguments or a dict of its fields, "
                                    f"got {type(self.args).__name__}")
        numbers = {k: self.setting(k) for k in ("learning_rate", "num_train_epochs", "per_device_train_batch_size",
                                                "warmup_ratio", "weight_decay", "seed", "eval_steps")}
        if not (_number(numbers["learning_rate"]) and numbers["learning_rate"] > 0
                and _number(numbers["num_train_epochs"]) and numbers["num_train_epochs"] > 0):
            raise InvalidInputError("args: learning_rate and num_train_epochs must be > 0, "
                                    f"got {numbers['learning_rate']!r}, {numbers['num_train_epochs']!r}")
        batch = numbers["per_device_train_batch_size"]
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise InvalidInputError(f"args: per_device_train_batch_size must be a positive integer, got {batch!r}")
        warmup = numbers["warmup_ratio"]
        if warmup is not None and not (_number(warmup) and 0 <= warmup < 1):
            raise InvalidInputError(f"args: warmup_ratio must be in [0, 1), got {warmup!r}")
        if not (_number(numbers["weight_decay"]) and numbers["weight_decay"] >= 0):
            raise InvalidInputError(f"args: weight_decay must be >= 0, got {numbers['weight_decay']!r}")
        if isinstance(numbers["seed"], bool) or not isinstance(numbers["seed"], int):
            raise InvalidInputError(f"args: seed must be an integer, got {numbers['seed']!r}")
        steps = numbers["eval_steps"]
        if steps is not None and not (_number(steps) and steps >= 0):
            raise InvalidInputError(f"args: eval_steps must be >= 0 or None, got {steps!r}")

    def setting(self, name: str) -> Any:
        """One training argument as the student trains with it: ``args``' value, else the student default
        (:data:`STUDENT_TRAINING_DEFAULTS`; ``None`` for ``bf16``/``eval_steps`` when unset: automatic)."""
        if isinstance(self.args, dict):
            return self.args.get(name, STUDENT_TRAINING_DEFAULTS.get(name))
        if name == "warmup_ratio":  # an instance carries it in warmup_steps (a float < 1 is a ratio)
            steps = self.args.warmup_steps
            return steps if isinstance(steps, float) and steps < 1 else None
        return getattr(self.args, name)

    @property
    def seed(self) -> int:
        """The run's seed (``args``' ``seed``): the split, the lists, the head and the training."""
        return int(self.setting("seed"))

    @property
    def batch_size(self) -> int:
        """``args``' ``per_device_train_batch_size``."""
        return int(self.setting("per_device_train_batch_size"))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


#: what a student trains with where ``StudentConfig.args`` says nothing (CrossEncoderTrainingArguments' names)
STUDENT_TRAINING_DEFAULTS: dict[str, Any] = {
    "learning_rate": 3e-5, "num_train_epochs": 1.0, "max_steps": -1, "per_device_train_batch_size": 2,
    "warmup_ratio": 0.1, "weight_decay": 0.01, "seed": 0, "eval_steps": None, "bf16": None, "logging_steps": 10,
}

#: what a bi-encoder student (``loss="mnrl"``) trains with instead where ``args`` says nothing: in-batch
#: negatives need batches of many pairs, none of them twice (SentenceTransformerTrainingArguments' names)
BIENCODER_TRAINING_DEFAULTS: dict[str, Any] = {
    "learning_rate": 2e-5, "per_device_train_batch_size": 32, "batch_sampler": "no_duplicates",
}

#: the ablation variants :func:`~interank_trainer.adapt` can train beside the student (``AdaptConfig.ablation``)
ADAPT_ABLATIONS: dict[str, str] = {
    "all": "every teaching source, the co-teacher mixed in, the student's own kind: the reference at equal minutes",
    "qa-only": "the real queries' pools only (QA pairs or judged queries): no synthetic corpus query",
    "corpus-only": "the synthetic corpus queries' pools only: no real query",
    "teacher-alone": "the LLM teacher's scores alone: no co-teacher in the targets, no pool only the co-teacher scored",
    "fresh-head": "a cross-encoder on the base's body under a fresh head, instead of the base continued",
}

#: CrossEncoderTrainingArguments fields :func:`~interank_trainer.train_student` sets itself
TRAINER_OWNED_ARGS = ("output_dir", "eval_strategy", "save_strategy", "save_steps", "save_total_limit",
                      "load_best_model_at_end", "metric_for_best_model", "greater_is_better", "report_to",
                      "disable_tqdm", "use_cpu")


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
            (converted to one logit: ``logit1 - logit0``, the same ranking), a
            sentence-transformers bi-encoder, or an encoder body (a fresh one-logit head).
        student_kind: what the adapted model is: ``"auto"`` (the base's own kind: a
            bi-encoder base is continued as a bi-encoder, ``loss="mnrl"``; a cross-encoder
            or an encoder body becomes a cross-encoder), ``"cross-encoder"`` (a bi-encoder
            base's body gets a fresh one-logit head) or ``"bi-encoder"`` (a bi-encoder base only).
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
        query_max_new_tokens: token budget of one synthetic query the teacher writes.
        sampling: how training pools are drawn from the first stage.
        max_passage_words: words of a passage in a training pool.
        loss, label_weight, learning_rate, batch_size, docs_per_query, max_length,
            epochs: the student's training (:class:`~interank_trainer.StudentConfig`;
            ``loss`` is a cross-encoder student's: a bi-encoder student trains with ``"mnrl"``).
            ``learning_rate=None``: 1e-4 for a fresh head, 3e-5 when the base is a
            trained cross-encoder, 2e-5 for a bi-encoder; ``batch_size=None``: 2 queries
            per step for a cross-encoder, 32 triplets for a bi-encoder (in-batch negatives).
        ablation: variants of the student to train beside it (comma-separated on the command
            line), each for ``ablation_minutes``
            from the same teaching and evaluated on the same held-out queries
            (:data:`ADAPT_ABLATIONS`: ``all``, ``qa-only``, ``corpus-only``, ``teacher-alone``,
            ``fresh-head``); a variant the run cannot make (``corpus-only`` without a corpus)
            is reported as skipped, with why. Their training and evaluation are extra to the budget.
        ablation_minutes: the training minutes of each ablation variant (the same for all,
            so the rows compare the data, the teacher and the head, not the training time).
        eval_depth: first-stage candidates reranked per held-out query.
        teacher_eval_queries: held-out queries the teacher is evaluated on (its cost
            is ~100x the student's on CPU; 0: not evaluated).
        teacher_eval_depth: first-stage candidates the teacher reranks on those queries.
        biencoder: a sentence-transformers encoder evaluated as a reranker (cosine)
            beside the others (``None``: the base, when it is such an encoder).
        skip_invalid: count and skip invalid input rows instead of raising.
        seed: the split's, the pools' and the student's seed.
        device: where the models run.
        threads: torch threads of the training (as :class:`StudentConfig`); ``"auto"`` also goes to the
            teacher's ``Reranker``.
        show_progress: progress bars.
    """

    out: PathLike
    base: str
    teacher: Any
    student_kind: str = "auto"
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
    query_max_new_tokens: int = 32
    sampling: SamplingConfig = field(default_factory=_default_sampling)
    max_passage_words: int = 150
    loss: str = "ranknet-kd"
    label_weight: float = 0.3
    learning_rate: float | None = None
    batch_size: int | None = None
    docs_per_query: int = 16
    max_length: int = 256
    epochs: float = 8.0
    ablation: tuple[str, ...] = ()
    ablation_minutes: float = 5.0
    eval_depth: int = 100
    teacher_eval_queries: int = 50
    teacher_eval_depth: int = 20
    biencoder: str | None = None
    skip_invalid: bool = False
    seed: int = 0
    device: str = "auto"
    threads: int | str | None = None
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
        if self.student_kind not in ("auto", "cross-encoder", "bi-encoder"):
            raise InvalidInputError(f"student_kind must be 'auto', 'cross-encoder' or 'bi-encoder', "
                                    f"got {self.student_kind!r}")
        if self.batch_size is not None and (isinstance(self.batch_size, bool) or self.batch_size < 1):
            raise InvalidInputError(f"batch_size must be a positive integer or None, got {self.batch_size!r}")
        if self.synthetic_queries is not None and self.synthetic_queries < 0:
            raise InvalidInputError(f"synthetic_queries must be >= 0, got {self.synthetic_queries!r}")
        if isinstance(self.ablation, str):
            self.ablation = tuple(n.strip() for n in self.ablation.split(",") if n.strip())
        self.ablation = tuple(self.ablation)
        unknown = [n for n in self.ablation if n not in ADAPT_ABLATIONS]
        if unknown or len(set(self.ablation)) != len(self.ablation):
            raise InvalidInputError(f"ablation: unknown or repeated variants {unknown or list(self.ablation)}; "
                                    f"choose from {', '.join(ADAPT_ABLATIONS)}")
        if not self.ablation_minutes > 0.05:
            raise InvalidInputError(f"ablation_minutes must be more than 0.05 (3 s), got {self.ablation_minutes!r}")
        check_threads(self)

    @property
    def synthetic(self) -> int:
        """The synthetic queries to write (the default depends on whether a corpus is given)."""
        if self.synthetic_queries is not None:
            return self.synthetic_queries
        return 200 if self.corpus is not None else 0


__all__ = ["STUDENT_LOSSES", "BIENCODER_LOSSES", "ADAPT_ABLATIONS", "STUDENT_TRAINING_DEFAULTS", "BIENCODER_TRAINING_DEFAULTS",
           "TRAINER_OWNED_ARGS", "TeachConfig", "StudentConfig", "AdaptConfig"]
