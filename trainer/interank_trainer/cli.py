"""``interank-train``: the command line of the trainer (mirrors the Python API).

Subcommands::

    interank-train synthesize --qa QA.jsonl --teacher MODEL --out DIR
    interank-train prepare --judgments TREC_FOLDER --out DIR        (alias: from-judgments)
    interank-train distill --data DIR [DIR ...] --student MODEL --out ADAPTER
    interank-train rl --data DIR --adapter ADAPTER --out ADAPTER2 [--method grpo|rwsft]
    interank-train rank --data DIR [DIR ...] --student MODEL --out ADAPTER
    interank-train teach (--judgments TREC_FOLDER | --qa QA.jsonl | --corpus CORPUS.jsonl) --teacher MODEL --out DIR
                         [--ray [ADDRESS]]
    interank-train student --scores DIR [DIR ...] --student MODEL --out DIR [--loss ranknet-kd|adr-mse|pld|...]
    interank-train adapt --base MODEL --teacher MODEL (--qa QA.jsonl | --corpus DOCS.jsonl | --judgments DIR) --out DIR
                         [--budget-minutes 60] [--min-gain 0.05]   (exit 1 when the student is not recommended)

The result (a report) is printed as JSON on stdout; logs, progress bars and
the trainers' own prints go to stderr. Errors in the input exit with status 2
and a one-line message.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from dataclasses import MISSING, fields
from typing import Any

from interank_sdk.errors import InteRankError

from . import __version__
from .config import (
    STUDENT_LOSSES, DistillConfig, JudgmentsConfig, RankConfig, RLConfig, SamplingConfig, StudentConfig,
    SynthesizeConfig, TeachConfig,
)


_RESULT_STREAM = sys.stdout


def _print(payload: dict[str, Any]) -> None:
    """The command's result as JSON on stdout (logs, progress and trainer prints go to stderr)."""
    _RESULT_STREAM.write(json.dumps(payload, indent=2, default=str) + "\n")
    _RESULT_STREAM.flush()


def cmd_synthesize(args: argparse.Namespace) -> int:
    from .synthesize import synthesize

    teacher_kwargs = {"base_url": args.base_url} if args.base_url else {}
    report = synthesize(SynthesizeConfig(
        qa=args.qa, teacher=args.teacher, out=args.out, num_queries=args.num_queries,
        include_question=not args.no_question, hard_negatives=args.hard_negatives,
        random_negatives=args.random_negatives, corpus=args.corpus, corpus_negatives=args.corpus_negatives,
        max_pairs=args.max_pairs, skip_invalid=args.skip_invalid, seed=args.seed,
        max_passage_words=args.max_passage_words, missing_marker=args.missing_marker.replace("-", "_"),
        min_label_confidence=args.min_label_confidence, teacher_backend=args.backend, teacher_device=args.device,
        teacher_dtype=args.dtype, teacher_quantization=args.quantization, teacher_batch_size=args.batch_size,
        teacher_max_length=args.max_length, teacher_max_new_tokens=args.max_new_tokens,
        teacher_prompt_version=args.prompt_version, teacher_kwargs=teacher_kwargs,
        show_progress=not args.quiet,
    ))
    _print({"out": str(report.out), **report.as_dict()})
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from .judgments import prepare_judgments

    grade_map = JudgmentsConfig.__dataclass_fields__["grade_map"].default_factory()  # type: ignore[misc]
    if args.grade_map:
        try:
            grade_map = {int(k): int(v) for k, v in (item.split(":") for item in args.grade_map.split(","))}
        except ValueError:
            raise InteRankError(f"--grade-map must look like '0:0,1:1,2:2,3:2', got {args.grade_map!r}") from None
    report = prepare_judgments(JudgmentsConfig(
        data=args.judgments, out=args.out, grade_map=grade_map, max_per_query=args.max_per_query,
        max_rows=args.max_rows, balance=args.balance, seed=args.seed,
    ))
    _print({"out": str(report.out), **report.as_dict()})
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    from .distill import distill

    report = distill(DistillConfig(
        **_lora_training_kwargs(args), lr_scheduler=args.lr_scheduler, batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum, max_rows=args.max_rows, balance_labels=args.balance_labels,
    ))
    _print({k.name: getattr(report, k.name) for k in fields(report)})
    return 0


def cmd_rl(args: argparse.Namespace) -> int:
    from .rl import rl

    report = rl(RLConfig(
        data=args.data, adapter=args.adapter, out=args.out, method=args.method,
        num_generations=args.num_generations, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
        learning_rate=args.lr, max_steps=args.max_steps, batch_size=args.batch_size, beta=args.beta,
        length_budget=args.length_budget, min_reward=args.min_reward,
        quantization=None if args.quantization == "none" else args.quantization, device=args.device,
        dtype=args.dtype, max_rows=args.max_rows, seed=args.seed, show_progress=not args.quiet,
    ))
    _print({k.name: getattr(report, k.name) for k in fields(report)})
    return 0


def cmd_rank(args: argparse.Namespace) -> int:
    from .rank import rank

    report = rank(RankConfig(
        **_lora_training_kwargs(args), group_size=args.group_size, pointwise_weight=args.pointwise_weight,
        train_layers=args.train_layers, random_negatives=args.random_negatives,
    ))
    _print({k.name: getattr(report, k.name) for k in fields(report)})
    return 0


def cmd_teach(args: argparse.Namespace) -> int:
    from .teach import teach

    teacher_kwargs = {"base_url": args.base_url} if args.base_url else {}
    report = teach(TeachConfig(
        out=args.out, teacher=args.teacher, teacher_strategy=args.strategy, teacher_backend=args.backend,
        teacher_device=args.device, teacher_dtype=args.dtype, teacher_quantization=args.quantization,
        teacher_batch_size=args.batch_size, teacher_max_length=args.max_length, teacher_kwargs=teacher_kwargs,
        judgments=args.judgments, run=args.run, qa=args.qa, corpus=args.corpus,
        sampling=SamplingConfig(depth=args.depth, top_k=args.top_k, deep_k=args.deep_k,
                                include_judged=args.include_judged, seed=args.seed),
        min_positive_grade=args.min_positive_grade, require_positive=not args.allow_no_positive,
        max_queries=args.max_queries, max_passage_words=args.max_passage_words,
        synthetic_queries=args.synthetic_queries, keep_fraction=args.keep_fraction, fewshot=args.fewshot,
        query_max_new_tokens=args.query_max_new_tokens, pools_per_call=args.pools_per_call, threads=args.threads,
        ray=args.ray, ray_workers=args.ray_workers, ray_cpus_per_worker=args.ray_cpus, ray_gpus_per_worker=args.ray_gpus,
        max_minutes=args.max_minutes, show_progress=not args.quiet,
    ))
    sys.stderr.write(f"teach: {report.pairs_this_run} pairs scored in {report.scoring_seconds:.1f} s "
                     f"({report.pairs_per_second:.2f} pairs/s); {report.pairs} pairs in {report.out}\n")
    _print({"out": str(report.out), **report.as_dict()})
    return 0


def cmd_student(args: argparse.Namespace) -> int:
    from .student import train_student

    report = train_student(StudentConfig(
        scores=args.scores, student=args.student, out=args.out, loss=args.loss, label_weight=args.label_weight,
        unjudged_grade=None if args.unjudged_grade.lower() == "none" else float(args.unjudged_grade),
        max_grade=args.max_grade, teacher_transform=args.teacher_transform.replace("-", "_"),
        co_teacher=args.co_teacher, co_teacher_weight=args.co_teacher_weight,
        co_teacher_strategy=args.co_teacher_strategy, kd_alpha=args.kd_alpha,
        temperature=args.temperature, adr_alpha=args.adr_alpha, docs_per_query=args.docs_per_query,
        eval_fraction=args.eval_fraction, eval_steps=args.eval_steps, early_stopping_patience=args.patience,
        keep=args.keep, anneal_to_budget=args.anneal_to_budget, learning_rate=args.lr, epochs=args.epochs,
        max_steps=args.max_steps, batch_size=args.batch_size,
        warmup_ratio=args.warmup_ratio, max_length=args.max_length, device=args.device, threads=args.threads,
        seed=args.seed, max_pools=args.max_pools, max_minutes=args.max_minutes,
        bf16={"auto": None, "on": True, "off": False}[args.bf16], show_progress=not args.quiet,
    ))
    _print({k.name: getattr(report, k.name) for k in fields(report)})
    return 0


def cmd_adapt(args: argparse.Namespace) -> int:
    from .adapt import adapt
    from .adapt_config import AdaptConfig

    values = config_from_args(AdaptConfig, args, ADAPT_SKIP)
    values["sampling"] = SamplingConfig(depth=args.depth, top_k=args.top_k, deep_k=args.deep_k, seed=args.seed,
                                        include_judged=True)
    if args.base_url:
        values["teacher_kwargs"] = {"base_url": args.base_url}
    values["show_progress"] = not args.quiet
    report = adapt(AdaptConfig(**values))
    _print({"out": str(report.out), "student": str(report.student), "recommended": report.recommended,
            "gain": report.gain, "verdict": report.verdict, "heldout": report.report.get("heldout"),
            "warnings": report.report.get("warnings")})
    if not report.recommended:
        sys.stderr.write(f"interank-train adapt: {report.verdict}\n")
        return 1
    return 0


#: AdaptConfig fields without a generated flag (set from other flags, or not command-line values)
ADAPT_SKIP = ("sampling", "teacher_kwargs", "show_progress")


def _attribute_help(cls: type) -> dict[str, str]:
    """The ``Attributes:`` entries of a config dataclass's docstring, by field name (the flags' help)."""
    helps: dict[str, str] = {}
    current: list[str] = []
    doc = (cls.__doc__ or "").split("Attributes:", 1)[-1]
    for line in doc.splitlines():
        stripped = line.strip()
        head = stripped.split(":", 1)[0]
        if stripped and ":" in stripped and all(part.strip().isidentifier() for part in head.split(",")) \
                and line.startswith(" " * 8) and not line.startswith(" " * 12):
            current = [h.strip() for h in head.split(",")]
            for name in current:
                helps[name] = stripped.split(":", 1)[1].strip()
        elif stripped and current:
            for name in current:
                helps[name] += " " + stripped
    return {k: v.replace("%", "%%") for k, v in helps.items()}


def add_config_args(p: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One ``--field-name`` flag per field of the config dataclass ``cls`` (its type, default and documented help),
    so the command line cannot drift from the config."""
    helps = _attribute_help(cls)
    for f in fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        required = f.default is MISSING and f.default_factory is MISSING  # type: ignore[misc]
        default = None if required else f.default
        kind = str(f.type)
        text = helps.get(f.name, "")
        if kind == "bool":
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default, help=text)
            continue
        convert: Any = str
        if kind.startswith("int"):
            convert = int
        elif kind.startswith("float"):
            convert = float
        elif "float" in kind and "None" in kind:
            convert = float
        elif "int" in kind and "None" in kind:
            convert = int
        p.add_argument(flag, dest=f.name, type=convert, default=default, required=required,
                       help=text + ("" if required else f" (default: {default})"))


def config_from_args(cls: type, args: argparse.Namespace, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The config fields read back from the flags :func:`add_config_args` made."""
    return {f.name: getattr(args, f.name) for f in fields(cls) if f.name not in skip}


def _add_teach_args(p: argparse.ArgumentParser) -> None:
    default = {f.name: f.default for f in fields(TeachConfig)}
    sampling = SamplingConfig()
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--judgments", help="TREC/BEIR folder (queries.jsonl, corpus.jsonl, qrels.tsv) + --run")
    source.add_argument("--qa", help='QA pairs: JSONL of {"question", "answer"} (optional "id")')
    source.add_argument("--corpus", help='bare corpus: JSONL of {"_id", "text"} (optional "title"); '
                                         "the teacher writes the queries")
    p.add_argument("--teacher", required=True, help="teacher model: hub id, folder, .gguf, or a server model name")
    p.add_argument("--out", required=True, help="output folder (an existing one is resumed)")
    p.add_argument("--strategy", default=default["teacher_strategy"],
                   help=f"the teacher's strategy (default {default['teacher_strategy']}): qlm, yesno, graded, "
                        "reasoning, classifier, auto...")
    p.add_argument("--run", default=default["run"], help="first-stage run of --judgments (default %(default)s)")
    p.add_argument("--depth", type=int, default=sampling.depth, help="first-stage ranks considered")
    p.add_argument("--top-k", type=int, default=sampling.top_k, help="ranks kept from the top (hard negatives)")
    p.add_argument("--deep-k", type=int, default=sampling.deep_k,
                   help="ranks sampled from below --top-k, one per band of depth (deep sampling)")
    p.add_argument("--include-judged", action="store_true", help="add judged passages the run missed")
    p.add_argument("--min-positive-grade", type=int, default=default["min_positive_grade"])
    p.add_argument("--allow-no-positive", action="store_true", help="keep judgment pools without a known positive")
    p.add_argument("--max-queries", type=int, default=None)
    p.add_argument("--max-passage-words", type=int, default=default["max_passage_words"])
    p.add_argument("--synthetic-queries", type=int, default=default["synthetic_queries"],
                   help="--corpus: passages to write a query for")
    p.add_argument("--keep-fraction", type=float, default=default["keep_fraction"],
                   help="--corpus: share of the written queries kept, by the teacher's score of their passage")
    p.add_argument("--fewshot", default=None, help='--corpus: JSONL of {"passage", "query"} few-shot examples')
    p.add_argument("--query-max-new-tokens", type=int, default=default["query_max_new_tokens"])
    p.add_argument("--pools-per-call", type=int, default=default["pools_per_call"])
    p.add_argument("--seed", type=int, default=sampling.seed)
    p.add_argument("--backend", default="auto", help="teacher backend: auto/hf, vllm or openai")
    p.add_argument("--base-url", default=None, help="server URL for --backend openai")
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--quantization", choices=["4bit", "8bit", "int8"], default=None)
    p.add_argument("--batch-size", type=int, default=default["teacher_batch_size"])
    p.add_argument("--max-length", type=int, default=default["teacher_max_length"], help="teacher prompt budget")
    p.add_argument("--threads", type=int, default=None, help="torch threads of the teacher")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="score on Ray Data: alone, a local Ray cluster; or a cluster address (auto, ray://head:10001)")
    p.add_argument("--ray-workers", type=int, default=default["ray_workers"], help="actors, one teacher each")
    p.add_argument("--ray-cpus", type=float, default=default["ray_cpus_per_worker"], help="CPUs per actor")
    p.add_argument("--ray-gpus", type=float, default=default["ray_gpus_per_worker"], help="GPUs per actor")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="the budget of the whole call: query writing and scoring stop when it ends (rerun to resume)")


def _add_student_args(p: argparse.ArgumentParser) -> None:
    default = {f.name: f.default for f in fields(StudentConfig)}
    p.add_argument("--scores", required=True, nargs="+", help="folder(s) written by interank-train teach")
    p.add_argument("--student", required=True,
                   help="base model: a BERT-like encoder (e.g. all-MiniLM-L6-v2) or a causal LM (one-label head)")
    p.add_argument("--out", required=True, help="student folder to write")
    p.add_argument("--loss", choices=STUDENT_LOSSES, default=default["loss"])
    p.add_argument("--label-weight", type=float, default=default["label_weight"],
                   help="weight of the human grades next to the teacher (0: teacher only, 1: grades only)")
    p.add_argument("--unjudged-grade", default=str(default["unjudged_grade"]),
                   help="grade of unjudged passages when grades are mixed ('none': teacher only for them)")
    p.add_argument("--max-grade", type=int, default=default["max_grade"])
    p.add_argument("--teacher-transform", choices=["zscore", "log-zscore", "raw"], default="zscore")
    p.add_argument("--co-teacher", default=None,
                   help="a cheap second teacher Reranker loads (e.g. a bi-encoder), mixed into the teacher's targets")
    p.add_argument("--co-teacher-weight", type=float, default=default["co_teacher_weight"],
                   help="the co-teacher's share of the teacher target, on per-query z-scores")
    p.add_argument("--co-teacher-strategy", default=default["co_teacher_strategy"])
    p.add_argument("--kd-alpha", type=float, default=default["kd_alpha"], help="ranknet-kd: weight of the KL term")
    p.add_argument("--temperature", type=float, default=default["temperature"], help="ranknet-kd / pld temperature")
    p.add_argument("--adr-alpha", type=float, default=default["adr_alpha"])
    p.add_argument("--docs-per-query", type=int, default=default["docs_per_query"])
    p.add_argument("--eval-fraction", type=float, default=default["eval_fraction"],
                   help="share of queries held out for evaluation and early stopping (0: none)")
    p.add_argument("--eval-steps", type=int, default=default["eval_steps"], help="0: evaluate each epoch")
    p.add_argument("--patience", type=int, default=default["early_stopping_patience"],
                   help="evaluations without a gain before stopping (0: never)")
    p.add_argument("--keep", choices=["best", "last"], default=default["keep"],
                   help="write the held-out's best weights, or the last ones (with --patience 0)")
    p.add_argument("--lr", type=float, default=default["learning_rate"])
    p.add_argument("--epochs", type=float, default=default["epochs"])
    p.add_argument("--max-steps", type=int, default=default["max_steps"], help="> 0 overrides --epochs")
    p.add_argument("--batch-size", type=int, default=default["batch_size"],
                   help="queries per step (pairs for bce / margin-mse)")
    p.add_argument("--warmup-ratio", type=float, default=default["warmup_ratio"])
    p.add_argument("--max-length", type=int, default=default["max_length"], help="tokens of one (query, passage)")
    p.add_argument("--max-pools", type=int, default=None)
    p.add_argument("--device", default=default["device"])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--max-minutes", type=float, default=None,
                   help="budget of the whole call (loading, co-teacher, training); the learning rate decays to 0 by "
                        "its end")
    p.add_argument("--no-anneal", dest="anneal_to_budget", action="store_false",
                   help="with --max-minutes: keep the step-planned schedule, cut where the budget falls")
    p.add_argument("--bf16", choices=["auto", "on", "off"], default="auto",
                   help="bf16 autocast (auto: where the device runs bf16 natively)")
    p.add_argument("--seed", type=int, default=default["seed"])


def _add_lora_training_args(p: argparse.ArgumentParser, config: type) -> None:
    """The options ``distill`` and ``rank`` share; defaults are the config dataclass's own."""
    default = {f.name: f.default for f in fields(config)}
    p.add_argument("--data", required=True, nargs="+", help="dataset folder(s) from synthesize or prepare")
    p.add_argument("--student", required=True, help="base model: hub id, folder or .gguf")
    p.add_argument("--out", required=True, help="adapter folder to write")
    p.add_argument("--prompt-version", default=None)
    p.add_argument("--yes-threshold", type=int, default=default["yes_threshold"],
                   help=f"yesno: labels >= this are 'yes' (default {default['yes_threshold']})")
    p.add_argument("--lora-r", type=int, default=default["lora_r"])
    p.add_argument("--lora-alpha", type=int, default=default["lora_alpha"])
    p.add_argument("--lora-dropout", type=float, default=default["lora_dropout"])
    p.add_argument("--target-modules", nargs="+", default=list(default["target_modules"]))
    p.add_argument("--lr", type=float, default=default["learning_rate"])
    p.add_argument("--epochs", type=float, default=default["epochs"])
    p.add_argument("--max-steps", type=int, default=default["max_steps"], help="> 0 overrides --epochs")
    p.add_argument("--max-length", type=int, default=default["max_length"],
                   help="rows longer than this (tokens) are dropped")
    p.add_argument("--quantization", default=default["quantization"], choices=["auto", "4bit", "none"],
                   help="auto: 4-bit NF4 (QLoRA) on CUDA, none on CPU")
    p.add_argument("--device", default=default["device"])
    p.add_argument("--dtype", default=default["dtype"])
    p.add_argument("--seed", type=int, default=default["seed"])
    p.add_argument("--logging-steps", type=int, default=default["logging_steps"])


def _lora_training_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields of :func:`_add_lora_training_args`' options (and ``--strategy``)."""
    return dict(
        data=args.data, student=args.student, out=args.out, strategy=args.strategy,
        prompt_version=args.prompt_version, yes_threshold=args.yes_threshold, lora_r=args.lora_r,
        lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout, target_modules=tuple(args.target_modules),
        learning_rate=args.lr, epochs=args.epochs, max_steps=args.max_steps, max_length=args.max_length,
        quantization=None if args.quantization == "none" else args.quantization, device=args.device,
        dtype=args.dtype, seed=args.seed, logging_steps=args.logging_steps, show_progress=not args.quiet,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="interank-train",
        description="Train InteRank rerankers: synthesize judged data, distill a LoRA student, refine with RL, "
                    "distil a teacher into a fast cross-encoder (teach, student).",
    )
    parser.add_argument("--version", action="version", version=f"interank-trainer {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings only, no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synthesize", help="teacher writes queries for QA pairs and judges candidate passages")
    p.add_argument("--qa", required=True, help='JSONL of {"question", "answer"} (optional "id", "domain")')
    p.add_argument("--teacher", required=True, help="teacher model: hub id, folder, .gguf, or a server model name")
    p.add_argument("--out", required=True, help="dataset folder (an existing one is resumed)")
    p.add_argument("--num-queries", type=int, default=2, help="queries the teacher writes per pair (default 2)")
    p.add_argument("--no-question", action="store_true", help="do not use the question itself as a query")
    p.add_argument("--hard-negatives", type=int, default=2, help="BM25 negatives per query from other answers")
    p.add_argument("--random-negatives", type=int, default=1, help="random other answers per query")
    p.add_argument("--corpus", default=None, help="extra passages (JSONL with 'text', or .txt one per line)")
    p.add_argument("--corpus-negatives", type=int, default=1, help="BM25 passages per query from --corpus")
    p.add_argument("--max-pairs", type=int, default=None, help="process only the first N pairs")
    p.add_argument("--skip-invalid", action="store_true", help="count and skip invalid QA rows instead of failing")
    p.add_argument("--max-passage-words", type=int, default=300)
    p.add_argument("--missing-marker", choices=["drop", "keep-complete", "keep"], default="drop",
                   help="judgments where the teacher did not write 'Relevance Label:' itself: drop (default), "
                   "keep-complete (keep unless the token budget cut the explanation) or keep")
    p.add_argument("--min-label-confidence", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default="auto", help="teacher backend: auto/hf, vllm or openai")
    p.add_argument("--base-url", default=None, help="server URL for --backend openai")
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--quantization", choices=["4bit", "8bit"], default=None)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=1024, help="teacher prompt budget in tokens")
    p.add_argument("--max-new-tokens", type=int, default=160, help="explanation budget in tokens")
    p.add_argument("--prompt-version", default=None, help="reasoning prompt version (default: latest)")
    p.set_defaults(func=cmd_synthesize)

    for name in ("prepare", "from-judgments"):
        p = sub.add_parser(name, help="turn TREC/BEIR relevance judgments into a training dataset")
        p.add_argument("--judgments", "--data", dest="judgments", required=True,
                       help="folder with queries.jsonl, corpus.jsonl, qrels.tsv")
        p.add_argument("--out", required=True, help="dataset folder to write")
        p.add_argument("--grade-map", default=None, help="grade:label pairs (default '0:0,1:1,2:2,3:2')")
        p.add_argument("--max-per-query", type=int, default=None)
        p.add_argument("--max-rows", type=int, default=None)
        p.add_argument("--balance", action="store_true", help="same number of rows per label")
        p.add_argument("--seed", type=int, default=0)
        p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("distill", help="LoRA/QLoRA SFT of a student on a dataset (loss on the completion only)")
    _add_lora_training_args(p, DistillConfig)
    p.add_argument("--strategy", default="auto", choices=["auto", "reasoning", "graded", "yesno"])
    p.add_argument("--lr-scheduler", default=DistillConfig.lr_scheduler)
    p.add_argument("--batch-size", type=int, default=DistillConfig.batch_size)
    p.add_argument("--grad-accum", type=int, default=DistillConfig.gradient_accumulation_steps)
    p.add_argument("--max-rows", type=int, default=None)
    p.add_argument("--balance-labels", action="store_true")
    p.set_defaults(func=cmd_distill)

    p = sub.add_parser("rl", help="refine a reasoning adapter with GRPO or reward-weighted SFT")
    p.add_argument("--data", required=True, nargs="+")
    p.add_argument("--adapter", required=True, help="adapter folder written by distill")
    p.add_argument("--out", required=True, help="refined adapter folder to write")
    p.add_argument("--method", choices=["grpo", "rwsft"], default="grpo")
    p.add_argument("--num-generations", type=int, default=4, help="samples per prompt")
    p.add_argument("--max-new-tokens", type=int, default=160)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--max-steps", type=int, default=-1)
    p.add_argument("--batch-size", type=int, default=2, help="prompts per step")
    p.add_argument("--beta", type=float, default=0.0, help="GRPO KL coefficient")
    p.add_argument("--length-budget", type=int, default=80, help="explanation words before the concision penalty")
    p.add_argument("--min-reward", type=float, default=0.1, help="rwsft: keep samples with at least this reward")
    p.add_argument("--quantization", default="auto", choices=["auto", "4bit", "none"])
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--max-rows", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_rl)

    p = sub.add_parser("rank", help="LoRA fine-tuning of a yesno/graded scorer with a ranking loss over one "
                                    "query's judged passages (RankNet + a pointwise term)")
    _add_lora_training_args(p, RankConfig)
    p.add_argument("--strategy", default="yesno", choices=["yesno", "graded"])
    p.add_argument("--group-size", type=int, default=RankConfig.group_size, help="passages of one query per step")
    p.add_argument("--pointwise-weight", type=float, default=RankConfig.pointwise_weight,
                   help="weight of the pointwise label loss")
    p.add_argument("--train-layers", type=int, default=RankConfig.train_layers,
                   help="LoRA on the top N decoder layers only; the layers below run once per row (cached), "
                        "so a step costs about N/layers of a full one (default: all layers)")
    p.add_argument("--random-negatives", type=int, default=RankConfig.random_negatives,
                   help="per query, add this many passages of other queries as label 0")
    p.set_defaults(func=cmd_rank)

    p = sub.add_parser("teach", help="score candidate pools with a teacher Reranker (resumable; --ray to scale out)")
    _add_teach_args(p)
    p.set_defaults(func=cmd_teach)

    p = sub.add_parser("student", help="distil teacher scores into a cross-encoder student (sentence-transformers)")
    _add_student_args(p)
    p.set_defaults(func=cmd_student)

    from .adapt_config import AdaptConfig

    p = sub.add_parser("adapt", help="adapt a cross-encoder to your documents and QA pairs and report, on held-out "
                                     "queries, whether it helped (exit 1 when it did not)")
    add_config_args(p, AdaptConfig, ADAPT_SKIP)
    sampling = AdaptConfig.__dataclass_fields__["sampling"].default_factory()  # type: ignore[misc]
    p.add_argument("--depth", type=int, default=sampling.depth, help="first-stage ranks a training pool is drawn from")
    p.add_argument("--top-k", type=int, default=sampling.top_k, help="ranks kept from the top (hard negatives)")
    p.add_argument("--deep-k", type=int, default=sampling.deep_k, help="ranks sampled below --top-k")
    p.add_argument("--base-url", default=None, help="teacher server URL (with --teacher-kwargs backend openai)")
    p.set_defaults(func=cmd_adapt)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``interank-train``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    global _RESULT_STREAM
    _RESULT_STREAM = sys.stdout
    try:
        with contextlib.redirect_stdout(sys.stderr):  # TRL/transformers print training logs on stdout
            return args.func(args)
    except InteRankError as exc:
        sys.stderr.write(f"interank-train: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interank-train: interrupted (synthesize and teach resume when rerun with the same arguments)\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
