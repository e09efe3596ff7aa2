"""TeacherSpec: the one description of a teacher Reranker that synthesize, teach, adapt and the co-teacher build
from; and ``threads="auto"``, which reaches the Reranker that takes it."""

from __future__ import annotations

import pytest
from interank_sdk.errors import InvalidInputError

from interank_trainer import AdaptConfig, StudentConfig, SynthesizeConfig, TeachConfig
from interank_trainer.student.teach import teacher_of
from interank_trainer.teacher import TeacherSpec


def test_teach_spec_is_the_reranker_arguments_a_ray_worker_receives():
    config = TeachConfig(out="o", teacher="model", qa="qa.jsonl", teacher_strategy="yesno", teacher_dtype="float32",
                         teacher_batch_size=4, teacher_kwargs={"revision": "main"})
    assert teacher_of(config).kwargs() == {
        "model": "model", "strategy": "yesno", "backend": "auto", "device": "auto", "dtype": "float32",
        "quantization": None, "batch_size": 4, "max_length": 512, "revision": "main"}
    assert teacher_of(config).name == "model"


def test_synthesize_spec_carries_the_reasoning_settings():
    config = SynthesizeConfig(qa="qa.jsonl", teacher="model", out="o", teacher_prompt_version="v1",
                              teacher_max_new_tokens=64, teacher_kwargs={"base_url": "http://x"})
    kwargs = TeacherSpec.of(config, strategy="reasoning").kwargs()
    assert kwargs["strategy"] == "reasoning" and kwargs["prompt_version"] == "v1" and kwargs["max_new_tokens"] == 64
    assert kwargs["base_url"] == "http://x" and kwargs["batch_size"] == 8 and kwargs["max_length"] == 1024


def test_a_ready_teacher_is_not_rebuilt_and_cannot_travel():
    spec = TeacherSpec(object())
    with pytest.raises(InvalidInputError, match="rebuilt in another process"):
        spec.kwargs()
    with pytest.raises(InvalidInputError, match="model name/path or a Reranker"):
        spec.build()


def test_threads_auto_goes_to_the_teacher_reranker_and_ints_do_not():
    auto = TeachConfig(out="o", teacher="model", qa="qa.jsonl", threads="auto")
    auto.validate()
    assert teacher_of(auto).kwargs()["threads"] == "auto"
    assert "threads" not in teacher_of(TeachConfig(out="o", teacher="model", qa="qa.jsonl", threads=2)).kwargs()
    StudentConfig(scores="s", student="m", out="o", threads="auto").validate()
    AdaptConfig(out="o", base="b", teacher="t", qa="q", threads="auto").validate()
    for bad in (0, "all", True, 1.5):
        with pytest.raises(InvalidInputError, match="threads"):
            TeachConfig(out="o", teacher="model", qa="qa.jsonl", threads=bad).validate()


def test_the_spec_round_trips_through_its_kwargs():
    spec = TeacherSpec("m", strategy="qlm", batch_size=4, options={"threads": "auto", "revision": "main"})
    again = TeacherSpec.from_kwargs(spec.kwargs())
    assert again == spec and again.kwargs() == spec.kwargs()
