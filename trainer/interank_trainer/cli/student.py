"""The student recipe's subcommands: ``teach``, ``student`` and ``adapt``.

Every flag writes its config field (``dest``) and takes its default from the
config dataclass (``adapt``'s flags are generated from :class:`AdaptConfig`);
the fields without a flag are in each command's ``*_SKIP``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from typing import Any

from ..data.config import SamplingConfig
from ..student.config import (
    BIENCODER_LOSSES, STUDENT_LOSSES, STUDENT_TRAINING_DEFAULTS, AdaptConfig, StudentConfig, TeachConfig,
)
from .common import (
    QUIET, Command, add_config_args, config_from_args, defaults, parse_json_object, parse_threads, print_result,
    teacher_kwargs,
)

#: TeachConfig fields without a flag of their own
TEACH_SKIP = {"sampling": "built from --depth, --top-k, --deep-k, --include-judged and --seed (SamplingConfig)",
              "teacher_kwargs": "set from --base-url", "show_progress": QUIET}
#: the training-argument flags of ``student``: flag -> CrossEncoderTrainingArguments field (``StudentConfig.args``)
TRAINING_FLAGS = {"--lr": "learning_rate", "--epochs": "num_train_epochs", "--max-steps": "max_steps",
                  "--batch-size": "per_device_train_batch_size", "--warmup-ratio": "warmup_ratio",
                  "--weight-decay": "weight_decay", "--eval-steps": "eval_steps", "--seed": "seed"}
#: StudentConfig fields without a flag of their own
STUDENT_SKIP = {"show_progress": QUIET,
                "args": "built from " + ", ".join(TRAINING_FLAGS) + ", --bf16 and --training-args (a JSON object of "
                        "any other CrossEncoderTrainingArguments fields)"}
#: AdaptConfig fields without a generated flag (set from other flags, or not command-line values)
ADAPT_SKIP = {"sampling": "built from --depth, --top-k, --deep-k, --include-judged and --seed (SamplingConfig)",
              "teacher_kwargs": "set from --base-url", "show_progress": QUIET}


# ----------------------------------------------------------------- configs
def _sampling(args: argparse.Namespace) -> SamplingConfig:
    return SamplingConfig(**config_from_args(SamplingConfig, args))


def teach_config(args: argparse.Namespace) -> TeachConfig:
    values = config_from_args(TeachConfig, args, TEACH_SKIP)
    return TeachConfig(**values, sampling=_sampling(args), teacher_kwargs=teacher_kwargs(args),
                       show_progress=not args.quiet)


def student_config(args: argparse.Namespace) -> StudentConfig:
    values = config_from_args(StudentConfig, args, STUDENT_SKIP)
    values["unjudged_grade"] = None if args.unjudged_grade.lower() == "none" else float(args.unjudged_grade)
    values["teacher_transform"] = values["teacher_transform"].replace("-", "_")
    training = dict(args.training_args or {})
    given = {name: getattr(args, "train_" + name) for name in TRAINING_FLAGS.values()
             if getattr(args, "train_" + name) is not None}
    bf16 = {"auto": None, "on": True, "off": False}[args.bf16]
    if bf16 is not None:
        given["bf16"] = bf16
    clash = sorted(set(given) & set(training))
    if clash:
        raise SystemExit(f"interank-train student: {clash} given both as flags and in --training-args")
    return StudentConfig(**values, args={**training, **given}, show_progress=not args.quiet)


def adapt_config(args: argparse.Namespace) -> AdaptConfig:
    values = config_from_args(AdaptConfig, args, ADAPT_SKIP)
    return AdaptConfig(**values, sampling=_sampling(args), teacher_kwargs=teacher_kwargs(args),
                       show_progress=not args.quiet)


COMMANDS = {
    "teach": Command(TeachConfig, TEACH_SKIP, teach_config),
    "student": Command(StudentConfig, STUDENT_SKIP, student_config),
    "adapt": Command(AdaptConfig, ADAPT_SKIP, adapt_config),
}


# ---------------------------------------------------------------- commands
def cmd_teach(args: argparse.Namespace) -> int:
    from ..student.teach import teach

    report = teach(teach_config(args))
    sys.stderr.write(f"teach: {report.pairs_this_run} pairs scored in {report.scoring_seconds:.1f} s "
                     f"({report.pairs_per_second:.2f} pairs/s); {report.pairs} pairs in {report.out}\n")
    print_result({"out": str(report.out), **report.as_dict()})
    return 0


def cmd_student(args: argparse.Namespace) -> int:
    from ..student.trainer import train_student

    report = train_student(student_config(args))
    print_result({k.name: getattr(report, k.name) for k in fields(report)})
    return 0


def cmd_adapt(args: argparse.Namespace) -> int:
    from ..student.adapt import adapt

    report = adapt(adapt_config(args))
    print_result({"out": str(report.out), "student": str(report.student), "recommended": report.recommended,
                  "gain": report.gain, "verdict": report.verdict, "heldout": report.report.get("heldout"),
                  "warnings": report.report.get("warnings")})
    if not report.recommended:
        sys.stderr.write(f"interank-train adapt: {report.verdict}\n")
        return 1
    return 0


# ------------------------------------------------------------------- flags
def _add_sampling_args(p: argparse.ArgumentParser, sampling: SamplingConfig, depth_help: str) -> None:
    """The :class:`SamplingConfig` flags (``--seed`` is the command's own)."""
    p.add_argument("--depth", type=int, default=sampling.depth, help=depth_help)
    p.add_argument("--top-k", type=int, default=sampling.top_k, help="ranks kept from the top (hard negatives)")
    p.add_argument("--deep-k", type=int, default=sampling.deep_k,
                   help="ranks sampled from below --top-k, one per band of depth (deep sampling)")
    p.add_argument("--include-judged", action=argparse.BooleanOptionalAction, default=sampling.include_judged,
                   help="add judged passages the first stage missed")


def _add_teach_args(p: argparse.ArgumentParser) -> None:
    default = defaults(TeachConfig)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--judgments", help="TREC/BEIR folder (queries.jsonl, corpus.jsonl, qrels.tsv) + --run")
    source.add_argument("--qa", help='QA pairs: JSONL of {"question", "answer"} (optional "id")')
    source.add_argument("--corpus", help='bare corpus: JSONL of {"_id", "text"} (optional "title"); '
                                         "the teacher writes the queries")
    p.add_argument("--teacher", required=True, help="teacher model: hub id, folder, .gguf, or a server model name")
    p.add_argument("--out", required=True, help="output folder (an existing one is resumed)")
    p.add_argument("--strategy", dest="teacher_strategy", default=default["teacher_strategy"],
                   help=f"the teacher's strategy (default {default['teacher_strategy']}): qlm, yesno, graded, "
                        "reasoning, classifier, auto...")
    p.add_argument("--run", default=default["run"], help="first-stage run of --judgments (default %(default)s)")
    _add_sampling_args(p, default["sampling"], "first-stage ranks considered")
    p.add_argument("--min-positive-grade", type=int, default=default["min_positive_grade"])
    p.add_argument("--allow-no-positive", dest="require_positive", action="store_false",
                   help="keep judgment pools without a known positive")
    p.add_argument("--max-queries", type=int, default=default["max_queries"])
    p.add_argument("--max-passage-words", type=int, default=default["max_passage_words"])
    p.add_argument("--synthetic-queries", type=int, default=default["synthetic_queries"],
                   help="--corpus: passages to write a query for")
    p.add_argument("--keep-fraction", type=float, default=default["keep_fraction"],
                   help="--corpus: share of the written queries kept, by the teacher's score of their passage")
    p.add_argument("--fewshot", default=default["fewshot"],
                   help='--corpus: JSONL of {"passage", "query"} few-shot examples')
    p.add_argument("--query-max-new-tokens", type=int, default=default["query_max_new_tokens"])
    p.add_argument("--pools-per-call", type=int, default=default["pools_per_call"])
    p.add_argument("--seed", type=int, default=default["sampling"].seed)
    p.add_argument("--backend", dest="teacher_backend", default=default["teacher_backend"],
                   help="teacher backend: auto/hf, vllm or openai")
    p.add_argument("--base-url", default=None, help="server URL for --backend openai")
    p.add_argument("--device", dest="teacher_device", default=default["teacher_device"])
    p.add_argument("--dtype", dest="teacher_dtype", default=default["teacher_dtype"])
    p.add_argument("--quantization", dest="teacher_quantization", choices=["4bit", "8bit", "int8"],
                   default=default["teacher_quantization"])
    p.add_argument("--batch-size", dest="teacher_batch_size", type=int, default=default["teacher_batch_size"])
    p.add_argument("--max-length", dest="teacher_max_length", type=int, default=default["teacher_max_length"],
                   help="teacher prompt budget")
    p.add_argument("--threads", type=parse_threads, default=default["threads"],
                   help="torch threads of the teacher, or 'auto' (the teacher Reranker picks them before each call, "
                        "fewer while other processes keep cores busy)")
    p.add_argument("--ray", nargs="?", const="local", default=default["ray"], metavar="ADDRESS",
                   help="score on Ray Data: alone, a local Ray cluster; or a cluster address (auto, ray://head:10001)")
    p.add_argument("--ray-workers", type=int, default=default["ray_workers"], help="actors, one teacher each")
    p.add_argument("--ray-cpus", dest="ray_cpus_per_worker", type=float, default=default["ray_cpus_per_worker"],
                   help="CPUs per actor")
    p.add_argument("--ray-gpus", dest="ray_gpus_per_worker", type=float, default=default["ray_gpus_per_worker"],
                   help="GPUs per actor")
    p.add_argument("--max-minutes", type=float, default=default["max_minutes"],
                   help="the budget of the whole call: query writing and scoring stop when it ends (rerun to resume)")


def _add_student_args(p: argparse.ArgumentParser) -> None:
    default = defaults(StudentConfig)
    p.add_argument("--scores", required=True, nargs="+", help="folder(s) written by interank-train teach")
    p.add_argument("--student", required=True,
                   help="base model: a BERT-like encoder (e.g. all-MiniLM-L6-v2) or a causal LM (one-label head)")
    p.add_argument("--out", required=True, help="student folder to write")
    p.add_argument("--loss", choices=STUDENT_LOSSES + BIENCODER_LOSSES, default=default["loss"],
                   help="a cross-encoder student's loss, or 'mnrl': continue a sentence-transformers bi-encoder "
                        "(--batch-size default 32, --lr 2e-5)")
    p.add_argument("--label-weight", type=float, default=default["label_weight"],
                   help="weight of the human grades next to the teacher (0: teacher only, 1: grades only)")
    p.add_argument("--unjudged-grade", default=str(default["unjudged_grade"]),
                   help="grade of unjudged passages when grades are mixed ('none': teacher only for them)")
    p.add_argument("--max-grade", type=int, default=default["max_grade"])
    p.add_argument("--teacher-transform", choices=["zscore", "log-zscore", "raw"],
                   default=default["teacher_transform"].replace("_", "-"))
    p.add_argument("--co-teacher", default=default["co_teacher"],
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
    p.add_argument("--patience", dest="early_stopping_patience", type=int, default=default["early_stopping_patience"],
                   help="evaluations without a gain before stopping (0: never)")
    p.add_argument("--keep", choices=["best", "last"], default=default["keep"],
                   help="write the held-out's best weights, or the last ones (with --patience 0)")
    helps = {"--max-steps": "> 0 overrides --epochs",
             "--batch-size": "queries per step (pairs for bce / margin-mse, triplets for mnrl)",
             "--weight-decay": "AdamW weight decay", "--eval-steps": "0: evaluate each epoch",
             "--seed": "the run's seed: held-out split, lists, head, training"}
    for flag, name in TRAINING_FLAGS.items():
        value = STUDENT_TRAINING_DEFAULTS[name]
        kind = int if name in ("max_steps", "per_device_train_batch_size", "eval_steps", "seed") else float
        p.add_argument(flag, dest="train_" + name, type=kind, default=None,
                       help=f"training argument {name}" + (f": {helps[flag]}" if flag in helps else "")
                            + f" (default: {value})")
    p.add_argument("--training-args", type=parse_json_object, default=None,
                   help="other CrossEncoderTrainingArguments fields as a JSON object, e.g. "
                        "'{\"lr_scheduler_type\": \"cosine\", \"gradient_accumulation_steps\": 4}'")
    p.add_argument("--max-length", type=int, default=default["max_length"], help="tokens of one (query, passage)")
    p.add_argument("--pair-format", type=parse_json_object, default=default["pair_format"],
                   help="causal-LM students: how the pair is written, as JSON: {\"query\": \"query: {query}\", "
                        "\"document\": \"document: {passage}\", \"title_separator\": \"\\n\"} (the default)")
    p.add_argument("--max-pools", type=int, default=default["max_pools"])
    p.add_argument("--device", default=default["device"])
    p.add_argument("--threads", type=parse_threads, default=default["threads"],
                   help="torch threads of the training, or 'auto' (training keeps torch's default; the co-teacher's "
                        "Reranker picks its threads before each call)")
    p.add_argument("--max-minutes", type=float, default=default["max_minutes"],
                   help="budget of the whole call (loading, co-teacher, training); the learning rate decays to 0 by "
                        "its end")
    p.add_argument("--no-anneal", dest="anneal_to_budget", action="store_false",
                   help="with --max-minutes: keep the step-planned schedule, cut where the budget falls")
    p.add_argument("--bf16", choices=["auto", "on", "off"], default="auto",
                   help="bf16 autocast (auto: where the device runs bf16 natively)")


def add_parsers(sub: Any) -> None:
    """The subcommands of the student recipe, on the ``interank-train`` subparsers ``sub``."""
    p = sub.add_parser("teach", help="score candidate pools with a teacher Reranker (resumable; --ray to scale out)")
    _add_teach_args(p)
    p.set_defaults(func=cmd_teach)

    p = sub.add_parser("student", help="distil teacher scores into a cross-encoder student (sentence-transformers)")
    _add_student_args(p)
    p.set_defaults(func=cmd_student)

    p = sub.add_parser("adapt", help="adapt a reranker to your documents and QA pairs and report, on held-out "
                                     "queries, whether it helped (exit 1 when it did not)")
    add_config_args(p, AdaptConfig, ADAPT_SKIP, types={"threads": parse_threads, "ablation": str})
    _add_sampling_args(p, defaults(AdaptConfig)["sampling"], "first-stage ranks a training pool is drawn from")
    p.add_argument("--base-url", default=None, help="teacher server URL (the teacher Reranker's base_url)")
    p.set_defaults(func=cmd_adapt)


__all__ = ["COMMANDS", "add_parsers", "teach_config", "student_config", "adapt_config"]
