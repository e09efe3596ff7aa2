"""adapt's ablation: which variants a run can make, and a whole run on tiny real models (a random 2-layer Llama
teacher, a tiny sentence-transformers bi-encoder base) training each variant on its part of the same teaching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from interank_trainer import SamplingConfig, adapt
from interank_trainer.student.adapt_ablation import plan_variants
from interank_trainer.student.adapt_base import Base
from test_adapt import DOCS, qa_rows, write_jsonl

from interank_sdk.errors import InvalidInputError

FOLDERS = [Path("w/scores-queries"), Path("w/scores-corpus"), Path("w/scores-fill-abc")]
ALL = ("all", "qa-only", "corpus-only", "teacher-alone", "fresh-head")


def _plan(folders, co_teacher="base-model", kind="bi-encoder", base_kind="bi-encoder"):
    base = Base("spec", "model", base_kind, "embedding" if base_kind == "bi-encoder" else "classifier")
    return {v.name: v for v in plan_variants(ALL, folders, co_teacher, base, kind)}


def test_variants_train_on_their_part_of_the_teaching():
    plan = _plan(FOLDERS)
    assert [f.name for f in plan["all"].scores] == ["scores-queries", "scores-corpus", "scores-fill-abc"]
    assert [f.name for f in plan["qa-only"].scores] == ["scores-queries", "scores-fill-abc"]
    assert [f.name for f in plan["corpus-only"].scores] == ["scores-corpus"]
    # the teacher alone: no co-teacher in the targets and no pool the co-teacher alone scored
    assert [f.name for f in plan["teacher-alone"].scores] == ["scores-queries", "scores-corpus"]
    assert plan["teacher-alone"].co_teacher is None and plan["all"].co_teacher == "base-model"
    assert plan["fresh-head"].kind == "cross-encoder" and plan["all"].kind == "bi-encoder"
    assert not any(v.skipped for v in plan.values())
    with pytest.raises(ValueError, match="not a teaching folder"):  # never guessed into a variant
        _plan([*FOLDERS, Path("w/scores-other")])


def test_variants_a_run_cannot_make_say_why():
    only_qa = _plan(FOLDERS[:1])
    assert "no synthetic corpus query" in only_qa["qa-only"].skipped
    assert "no synthetic corpus query" in only_qa["corpus-only"].skipped
    assert "no real query" in _plan(FOLDERS[1:2])["qa-only"].skipped
    assert "no co-teacher" in _plan(FOLDERS, co_teacher=None)["teacher-alone"].skipped
    assert "its head is what the student continues" in _plan(FOLDERS, kind="cross-encoder",
                                                              base_kind="cross-encoder")["fresh-head"].skipped
    assert "already has a fresh head" in _plan(FOLDERS, kind="cross-encoder")["fresh-head"].skipped
    assert _plan(FOLDERS[1:2])["all"].skipped is None


@pytest.mark.parametrize("value", [("all", "nope"), ("all", "all"), "qa-only,corpus"])
def test_unknown_or_repeated_variants_are_refused(tmp_path, value):
    with pytest.raises(InvalidInputError, match="ablation"):
        adapt(out=tmp_path, base="b", teacher="t", qa=tmp_path / "qa.jsonl", ablation=value)


def test_adapt_trains_and_scores_each_variant_on_the_same_heldout(tmp_path, tiny_model, tiny_biencoder):
    from interank_sdk import Reranker

    qa = write_jsonl(tmp_path / "qa.jsonl", qa_rows())
    # the answers are corpus documents too (the QA pairs find them by text), so queries are written for them
    texts = DOCS + [r["answer"] for r in qa_rows()]
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"_id": f"d{i}", "text": t} for i, t in enumerate(texts)])
    out = tmp_path / "run"
    options = {"out": out, "base": str(tiny_biencoder), "teacher": str(tiny_model), "qa": qa, "corpus": corpus,
               "synthetic_queries": len(texts), "keep_fraction": 1.0, "query_max_new_tokens": 8,
               "teacher_kwargs": {"dtype": "float32"}, "budget_minutes": 3, "heldout_fraction": 0.4,
               "sampling": SamplingConfig(depth=8, top_k=3, deep_k=1), "eval_depth": 8, "teacher_eval_queries": 0,
               "max_length": 64, "epochs": 2.0, "batch_size": 4, "general_eval": None, "show_progress": False,
               "ablation": "all,qa-only,corpus-only,teacher-alone,fresh-head", "ablation_minutes": 0.1}
    report = adapt(**options)
    saved = json.loads((out / "adapt_report.json").read_text())
    ablation = saved["ablation"]
    assert "corpus" in saved["teaching"] and "no_pool" not in saved["teaching"]["corpus"], saved["teaching"]
    assert ablation["skipped"] == {} and list(ablation["rows"]) == list(ALL)
    rows = ablation["rows"]
    base = saved["heldout"]["systems"]["base (bi-encoder)"]["nDCG@10"]
    for name, row in rows.items():
        assert row["steps"] > 0 and (out / "work" / "ablation" / name / "student" / "config.json").is_file(), name
        assert row["gain"] == pytest.approx(row["nDCG@10"] - base, abs=1e-4)
        low, high = row["gain_interval"]["bootstrap_95"]
        assert low <= row["gain_interval"]["mean_difference"] <= high
    # each variant read its own part of the teaching: the sources' pools add up to the whole
    pools = {name: json.loads((out / "work" / "ablation" / name / "training.json").read_text())["pools_read"]
             for name in rows}
    assert pools["qa-only"] > 0 and pools["corpus-only"] > 0
    assert pools["qa-only"] + pools["corpus-only"] == pools["all"]
    fill = [f for f in rows["all"]["scores"] if f.startswith("scores-fill-")]
    assert pools["teacher-alone"] <= pools["all"] and (pools["teacher-alone"] < pools["all"]) == bool(fill)
    assert rows["teacher-alone"]["co_teacher"] is None and rows["all"]["co_teacher"] is not None
    assert rows["all"]["loss"] == "mnrl" and rows["fresh-head"]["student_kind"] == "cross-encoder"
    assert rows["fresh-head"]["fresh_head"] is True
    fresh = Reranker(str(out / "work" / "ablation" / "fresh-head" / "student"))
    assert fresh.strategy.name != "embedding"
    assert "Ablation" in (out / "adapt_report.md").read_text()
    assert report.report["minutes"]["ablation"] > 0
    # a rerun trains and scores no variant again; other ablation_minutes train them again
    records = {n: (out / "work" / "ablation" / n / "training.json").stat().st_mtime_ns for n in rows}
    again = adapt(**options)
    assert again.report["ablation"]["rows"] == rows
    assert {n: (out / "work" / "ablation" / n / "training.json").stat().st_mtime_ns for n in rows} == records
    adapt(**{**options, "ablation": ("corpus-only",), "ablation_minutes": 0.12})
    assert (out / "work" / "ablation" / "corpus-only" / "training.json").stat().st_mtime_ns != records["corpus-only"]
    record = json.loads((out / "work" / "ablation" / "corpus-only" / "training.json").read_text())
    assert record["minutes_given"] == 0.12
