"""The command line against the config dataclasses: every field of a subcommand's config has a flag (writing that
field) or is in the command's documented skip list, and the flags' defaults are the config's defaults."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from interank_trainer import (
    AdaptConfig, DistillConfig, JudgmentsConfig, RankConfig, RLConfig, SamplingConfig, StudentConfig,
    SynthesizeConfig, TeachConfig,
)
from interank_trainer.cli import COMMANDS, build_parser

#: per subcommand: the smallest command line, and the config it must give (every other field at its default)
MINIMAL = {
    "synthesize": (["--qa", "q", "--teacher", "t", "--out", "o"], SynthesizeConfig(qa="q", teacher="t", out="o")),
    "prepare": (["--judgments", "j", "--out", "o"], JudgmentsConfig(data="j", out="o")),
    "from-judgments": (["--data", "j", "--out", "o"], JudgmentsConfig(data="j", out="o")),
    "distill": (["--data", "d", "--student", "s", "--out", "o"], DistillConfig(data=["d"], student="s", out="o")),
    "rl": (["--data", "d", "--adapter", "a", "--out", "o"], RLConfig(data=["d"], adapter="a", out="o")),
    "rank": (["--data", "d", "--student", "s", "--out", "o"], RankConfig(data=["d"], student="s", out="o")),
    "teach": (["--qa", "q", "--teacher", "t", "--out", "o"], TeachConfig(out="o", teacher="t", qa="q")),
    "student": (["--scores", "s", "--student", "m", "--out", "o"], StudentConfig(scores=["s"], student="m", out="o")),
    "adapt": (["--base", "b", "--teacher", "t", "--qa", "q", "--out", "o"],
              AdaptConfig(out="o", base="b", teacher="t", qa="q")),
}


def _subparser(name: str):
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")  # noqa: SLF001 - argparse has no public way
    return parser, subparsers.choices[name]


def _dests(name: str) -> set[str]:
    return {action.dest for action in _subparser(name)[1]._actions}  # noqa: SLF001


def test_every_subcommand_is_checked():
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")  # noqa: SLF001
    assert set(COMMANDS) == set(MINIMAL) == set(subparsers.choices)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_config_field_has_a_flag_or_a_documented_reason(name):
    command, dests = COMMANDS[name], _dests(name)
    names = {f.name for f in fields(command.config)}
    assert set(command.skip) <= names, f"{name}: the skip list names fields the config does not have"
    assert all(reason.strip() for reason in command.skip.values()), f"{name}: every skipped field says why"
    missing = sorted(n for n in names - set(command.skip) if n not in dests)
    assert not missing, f"interank-train {name}: config fields without a flag (add one or a skip reason): {missing}"
    if "sampling" in names:  # a nested config: its fields are flags of the command
        assert {f.name for f in fields(SamplingConfig)} <= dests, f"{name}: SamplingConfig fields without a flag"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_flag_defaults_are_the_config_defaults(name):
    argv, expected = MINIMAL[name]
    parser, _ = _subparser(name)
    config = COMMANDS[name].build(parser.parse_args([name, *argv]))
    assert config == expected
    quiet = COMMANDS[name].build(parser.parse_args(["-q", name, *argv]))
    assert getattr(quiet, "show_progress", False) is False


@pytest.mark.parametrize("name", ["teach", "student", "adapt"])
def test_threads_takes_a_count_or_auto(name):
    argv, _ = MINIMAL[name]
    parser, _ = _subparser(name)
    build = COMMANDS[name].build
    assert build(parser.parse_args([name, *argv, "--threads", "auto"])).threads == "auto"
    assert build(parser.parse_args([name, *argv, "--threads", "3"])).threads == 3
    with pytest.raises(SystemExit):
        parser.parse_args([name, *argv, "--threads", "many"])


def test_student_flags_for_weight_decay_and_pair_format():
    argv, _ = MINIMAL["student"]
    parser, _ = _subparser("student")
    pair_format = {"query": "Q: {query}", "document": "D: {passage}"}
    config = COMMANDS["student"].build(parser.parse_args(
        ["student", *argv, "--weight-decay", "0.05", "--pair-format", json.dumps(pair_format)]))
    assert config.args == {"weight_decay": 0.05} and config.pair_format == pair_format
    config.validate()
    with pytest.raises(SystemExit):
        parser.parse_args(["student", *argv, "--pair-format", "[1, 2]"])


def test_student_training_flags_fill_cross_encoder_training_arguments():
    """Each training flag names a real CrossEncoderTrainingArguments field, has the student default, and lands in
    ``StudentConfig.args``; --training-args carries the others; the trainer builds the arguments from them."""
    from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments

    from interank_trainer.cli.student import TRAINING_FLAGS
    from interank_trainer.student.config import STUDENT_TRAINING_DEFAULTS

    known = {f.name for f in fields(CrossEncoderTrainingArguments)}
    assert set(TRAINING_FLAGS.values()) <= known and set(STUDENT_TRAINING_DEFAULTS) <= known
    argv, _ = MINIMAL["student"]
    parser, _ = _subparser("student")
    config = COMMANDS["student"].build(parser.parse_args(
        ["student", *argv, "--lr", "1e-4", "--epochs", "2", "--batch-size", "4", "--seed", "7", "--bf16", "off",
         "--training-args", '{"lr_scheduler_type": "cosine", "gradient_accumulation_steps": 2}']))
    assert config.args == {"learning_rate": 1e-4, "num_train_epochs": 2.0, "per_device_train_batch_size": 4,
                           "seed": 7, "bf16": False, "lr_scheduler_type": "cosine", "gradient_accumulation_steps": 2}
    assert config.seed == 7 and config.batch_size == 4 and config.setting("weight_decay") == 0.01
    with pytest.raises(SystemExit):  # the same field twice
        COMMANDS["student"].build(parser.parse_args(["student", *argv, "--lr", "1e-4", "--training-args",
                                                     '{"learning_rate": 1e-3}']))
