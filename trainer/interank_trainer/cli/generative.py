"""The InteRank recipe's subcommands: ``synthesize``, ``prepare`` (``from-judgments``), ``distill``, ``rl``, ``rank``.

Every flag writes its config field (``dest``) and takes its default from the
config dataclass; the fields without a flag are in each command's ``*_SKIP``.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from interank_sdk.errors import InteRankError

from ..data.config import JudgmentsConfig
from ..generative.config import DistillConfig, RankConfig, RLConfig, SynthesizeConfig
from .common import QUIET, Command, config_from_args, defaults, no_quantization, print_result, teacher_kwargs

#: SynthesizeConfig fields without a flag of their own
SYNTHESIZE_SKIP = {"teacher_kwargs": "set from --base-url", "show_progress": QUIET}
#: JudgmentsConfig fields without a flag of their own
PREPARE_SKIP: dict[str, str] = {}
#: DistillConfig / RankConfig / RLConfig fields without a flag of their own
DISTILL_SKIP = {"show_progress": QUIET}
RANK_SKIP = {"show_progress": QUIET}
RL_SKIP = {"show_progress": QUIET}


# ----------------------------------------------------------------- configs
def synthesize_config(args: argparse.Namespace) -> SynthesizeConfig:
    values = config_from_args(SynthesizeConfig, args, SYNTHESIZE_SKIP)
    values["missing_marker"] = values["missing_marker"].replace("-", "_")
    return SynthesizeConfig(**values, teacher_kwargs=teacher_kwargs(args), show_progress=not args.quiet)


def prepare_config(args: argparse.Namespace) -> JudgmentsConfig:
    values = config_from_args(JudgmentsConfig, args, PREPARE_SKIP)
    if values["grade_map"] is None:
        values["grade_map"] = defaults(JudgmentsConfig)["grade_map"]
    else:
        try:
            values["grade_map"] = {int(k): int(v) for k, v in (item.split(":") for item in args.grade_map.split(","))}
        except ValueError:
            raise InteRankError(f"--grade-map must look like '0:0,1:1,2:2,3:2', got {args.grade_map!r}") from None
    return JudgmentsConfig(**values)


def _lora_config(cls: type, skip: dict[str, str], args: argparse.Namespace) -> Any:
    values = config_from_args(cls, args, skip)
    values["target_modules"] = tuple(values["target_modules"])
    values["quantization"] = no_quantization(values["quantization"])
    return cls(**values, show_progress=not args.quiet)


def distill_config(args: argparse.Namespace) -> DistillConfig:
    return _lora_config(DistillConfig, DISTILL_SKIP, args)


def rank_config(args: argparse.Namespace) -> RankConfig:
    return _lora_config(RankConfig, RANK_SKIP, args)


def rl_config(args: argparse.Namespace) -> RLConfig:
    values = config_from_args(RLConfig, args, RL_SKIP)
    values["reward_weights"] = tuple(values["reward_weights"])
    values["quantization"] = no_quantization(values["quantization"])
    return RLConfig(**values, show_progress=not args.quiet)


COMMANDS = {
    "synthesize": Command(SynthesizeConfig, SYNTHESIZE_SKIP, synthesize_config),
    "prepare": Command(JudgmentsConfig, PREPARE_SKIP, prepare_config),
    "from-judgments": Command(JudgmentsConfig, PREPARE_SKIP, prepare_config),
    "distill": Command(DistillConfig, DISTILL_SKIP, distill_config),
    "rl": Command(RLConfig, RL_SKIP, rl_config),
    "rank": Command(RankConfig, RANK_SKIP, rank_config),
}


# ---------------------------------------------------------------- commands
def cmd_synthesize(args: argparse.Namespace) -> int:
    from ..generative.synthesize import synthesize

    report = synthesize(synthesize_config(args))
    print_result({"out": str(report.out), **report.as_dict()})
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from ..data.judgments import prepare_judgments

    report = prepare_judgments(prepare_config(args))
    print_result({"out": str(report.out), **report.as_dict()})
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    from ..generative.distill import distill

    report = distill(distill_config(args))
    print_result({k.name: getattr(report, k.name) for k in fields(report)})
    return 0


def cmd_rl(args: argparse.Namespace) -> int:
    from ..generative.rl import rl

    report = rl(rl_config(args))
    print_result({k.name: getattr(report, k.name) for k in fields(report)})
    return 0


def cmd_rank(args: argparse.Namespace) -> int:
    from ..generative.rank import rank

    report = rank(rank_config(args))
    print_result({k.name: getattr(report, k.name) for k in fields(report)})
    return 0


# ------------------------------------------------------------------- flags
def _add_lora_training_args(p: argparse.ArgumentParser, config: type) -> None:
    """The options ``distill`` and ``rank`` share; defaults are the config dataclass's own."""
    default = defaults(config)
    p.add_argument("--data", required=True, nargs="+", help="dataset folder(s) from synthesize or prepare")
    p.add_argument("--student", required=True, help="base model: hub id, folder or .gguf")
    p.add_argument("--out", required=True, help="adapter folder to write")
    p.add_argument("--prompt-version", default=default["prompt_version"])
    p.add_argument("--yes-threshold", type=int, default=default["yes_threshold"],
                   help=f"yesno: labels >= this are 'yes' (default {default['yes_threshold']})")
    p.add_argument("--lora-r", type=int, default=default["lora_r"])
    p.add_argument("--lora-alpha", type=int, default=default["lora_alpha"])
    p.add_argument("--lora-dropout", type=float, default=default["lora_dropout"])
    p.add_argument("--target-modules", nargs="+", default=list(default["target_modules"]))
    p.add_argument("--lr", dest="learning_rate", type=float, default=default["learning_rate"])
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


def _add_optimisation_switches(p: argparse.ArgumentParser, config: type) -> None:
    """``--gradient-checkpointing``/``--shuffle`` (and their ``--no-`` forms) of ``distill`` and ``rl``."""
    default = defaults(config)
    p.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction,
                   default=default["gradient_checkpointing"], help="default: on for CUDA, off on CPU")
    p.add_argument("--shuffle", action=argparse.BooleanOptionalAction, default=default["shuffle"],
                   help="shuffle the rows (seeded) before training")


def add_parsers(sub: Any) -> None:
    """The subcommands of the InteRank recipe, on the ``interank-train`` subparsers ``sub``."""
    default = defaults(SynthesizeConfig)
    p = sub.add_parser("synthesize", help="teacher writes queries for QA pairs and judges candidate passages")
    p.add_argument("--qa", required=True, help='JSONL of {"question", "answer"} (optional "id", "domain")')
    p.add_argument("--teacher", required=True, help="teacher model: hub id, folder, .gguf, or a server model name")
    p.add_argument("--out", required=True, help="dataset folder (an existing one is resumed)")
    p.add_argument("--num-queries", type=int, default=default["num_queries"],
                   help=f"queries the teacher writes per pair (default {default['num_queries']})")
    p.add_argument("--no-question", dest="include_question", action="store_false",
                   help="do not use the question itself as a query")
    p.add_argument("--hard-negatives", type=int, default=default["hard_negatives"],
                   help="BM25 negatives per query from other answers")
    p.add_argument("--random-negatives", type=int, default=default["random_negatives"],
                   help="random other answers per query")
    p.add_argument("--corpus", default=default["corpus"],
                   help="extra passages (JSONL with 'text', or .txt one per line)")
    p.add_argument("--corpus-negatives", type=int, default=default["corpus_negatives"],
                   help="BM25 passages per query from --corpus")
    p.add_argument("--max-pairs", type=int, default=default["max_pairs"], help="process only the first N pairs")
    p.add_argument("--skip-invalid", action="store_true", help="count and skip invalid QA rows instead of failing")
    p.add_argument("--max-passage-words", type=int, default=default["max_passage_words"])
    p.add_argument("--max-query-words", type=int, default=default["max_query_words"],
                   help="the question, used as a query, is cut to this many words")
    p.add_argument("--max-generated-query-words", type=int, default=default["max_generated_query_words"],
                   help="generated queries longer than this are rejected")
    p.add_argument("--query-max-new-tokens", type=int, default=default["query_max_new_tokens"],
                   help="token budget of the query generation")
    p.add_argument("--missing-marker", choices=["drop", "keep-complete", "keep"],
                   default=default["missing_marker"].replace("_", "-"),
                   help="judgments where the teacher did not write 'Relevance Label:' itself: drop (default), "
                   "keep-complete (keep unless the token budget cut the explanation) or keep")
    p.add_argument("--min-label-confidence", type=float, default=default["min_label_confidence"])
    p.add_argument("--seed", type=int, default=default["seed"])
    p.add_argument("--backend", dest="teacher_backend", default=default["teacher_backend"],
                   help="teacher backend: auto/hf, vllm or openai")
    p.add_argument("--base-url", default=None, help="server URL for --backend openai")
    p.add_argument("--device", dest="teacher_device", default=default["teacher_device"])
    p.add_argument("--dtype", dest="teacher_dtype", default=default["teacher_dtype"])
    p.add_argument("--quantization", dest="teacher_quantization", choices=["4bit", "8bit"],
                   default=default["teacher_quantization"])
    p.add_argument("--batch-size", dest="teacher_batch_size", type=int, default=default["teacher_batch_size"])
    p.add_argument("--max-length", dest="teacher_max_length", type=int, default=default["teacher_max_length"],
                   help="teacher prompt budget in tokens")
    p.add_argument("--max-new-tokens", dest="teacher_max_new_tokens", type=int,
                   default=default["teacher_max_new_tokens"], help="explanation budget in tokens")
    p.add_argument("--prompt-version", dest="teacher_prompt_version", default=default["teacher_prompt_version"],
                   help="reasoning prompt version (default: latest)")
    p.set_defaults(func=cmd_synthesize)

    default = defaults(JudgmentsConfig)
    for name in ("prepare", "from-judgments"):
        p = sub.add_parser(name, help="turn TREC/BEIR relevance judgments into a training dataset")
        p.add_argument("--judgments", "--data", dest="data", required=True,
                       help="folder with queries.jsonl, corpus.jsonl, qrels.tsv")
        p.add_argument("--out", required=True, help="dataset folder to write")
        p.add_argument("--grade-map", default=None, help="grade:label pairs (default '0:0,1:1,2:2,3:2')")
        p.add_argument("--max-per-query", type=int, default=default["max_per_query"])
        p.add_argument("--max-rows", type=int, default=default["max_rows"])
        p.add_argument("--balance", action="store_true", help="same number of rows per label")
        p.add_argument("--queries", nargs="+", default=default["queries"], metavar="QID",
                       help="use only these query ids")
        p.add_argument("--seed", type=int, default=default["seed"])
        p.set_defaults(func=cmd_prepare)

    default = defaults(DistillConfig)
    p = sub.add_parser("distill", help="LoRA/QLoRA SFT of a student on a dataset (loss on the completion only)")
    _add_lora_training_args(p, DistillConfig)
    p.add_argument("--strategy", default=default["strategy"], choices=["auto", "reasoning", "graded", "yesno"])
    p.add_argument("--lr-scheduler", default=default["lr_scheduler"])
    p.add_argument("--batch-size", type=int, default=default["batch_size"])
    p.add_argument("--grad-accum", dest="gradient_accumulation_steps", type=int,
                   default=default["gradient_accumulation_steps"])
    p.add_argument("--max-rows", type=int, default=default["max_rows"])
    p.add_argument("--balance-labels", action="store_true")
    _add_optimisation_switches(p, DistillConfig)
    p.set_defaults(func=cmd_distill)

    default = defaults(RLConfig)
    p = sub.add_parser("rl", help="refine a reasoning adapter with GRPO or reward-weighted SFT")
    p.add_argument("--data", required=True, nargs="+")
    p.add_argument("--adapter", required=True, help="adapter folder written by distill")
    p.add_argument("--out", required=True, help="refined adapter folder to write")
    p.add_argument("--method", choices=["grpo", "rwsft"], default=default["method"])
    p.add_argument("--num-generations", type=int, default=default["num_generations"], help="samples per prompt")
    p.add_argument("--max-new-tokens", type=int, default=default["max_new_tokens"])
    p.add_argument("--temperature", type=float, default=default["temperature"])
    p.add_argument("--top-p", type=float, default=default["top_p"])
    p.add_argument("--lr", dest="learning_rate", type=float, default=default["learning_rate"])
    p.add_argument("--max-steps", type=int, default=default["max_steps"])
    p.add_argument("--batch-size", type=int, default=default["batch_size"], help="prompts per step")
    p.add_argument("--beta", type=float, default=default["beta"], help="GRPO KL coefficient")
    p.add_argument("--reward-weights", type=float, nargs=3, default=list(default["reward_weights"]),
                   metavar=("LABEL", "FORMAT", "GROUNDING"), help="weights of the three rewards")
    p.add_argument("--length-budget", type=int, default=default["length_budget"],
                   help="explanation words before the concision penalty")
    p.add_argument("--min-reward", type=float, default=default["min_reward"],
                   help="rwsft: keep samples with at least this reward")
    p.add_argument("--quantization", default=default["quantization"], choices=["auto", "4bit", "none"])
    p.add_argument("--device", default=default["device"])
    p.add_argument("--dtype", default=default["dtype"])
    p.add_argument("--max-rows", type=int, default=default["max_rows"])
    p.add_argument("--seed", type=int, default=default["seed"])
    p.add_argument("--logging-steps", type=int, default=default["logging_steps"])
    _add_optimisation_switches(p, RLConfig)
    p.set_defaults(func=cmd_rl)

    default = defaults(RankConfig)
    p = sub.add_parser("rank", help="LoRA fine-tuning of a yesno/graded scorer with a ranking loss over one "
                                    "query's judged passages (RankNet + a pointwise term)")
    _add_lora_training_args(p, RankConfig)
    p.add_argument("--strategy", default=default["strategy"], choices=["yesno", "graded"])
    p.add_argument("--group-size", type=int, default=default["group_size"], help="passages of one query per step")
    p.add_argument("--pointwise-weight", type=float, default=default["pointwise_weight"],
                   help="weight of the pointwise label loss")
    p.add_argument("--graded-scale", type=float, default=default["graded_scale"],
                   help="graded: the scores are multiplied by this in the pair loss")
    p.add_argument("--train-layers", type=int, default=default["train_layers"],
                   help="LoRA on the top N decoder layers only; the layers below run once per row (cached), "
                        "so a step costs about N/layers of a full one (default: all layers)")
    p.add_argument("--random-negatives", type=int, default=default["random_negatives"],
                   help="per query, add this many passages of other queries as label 0")
    p.set_defaults(func=cmd_rank)


__all__ = ["COMMANDS", "add_parsers", "synthesize_config", "prepare_config", "distill_config", "rl_config",
           "rank_config"]
