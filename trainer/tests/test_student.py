"""student: targets and data checks, a tiny BERT-like (and a tiny causal-LM) student trained a few steps with
each loss on real teacher scores, the folder loaded by sentence-transformers' CrossEncoder (and by Reranker)."""

from __future__ import annotations

import json

import pytest
import torch
from interank_sdk.card import ModelCard
from interank_sdk.errors import InvalidInputError

from distill_samples import write_trec
from interank_trainer import SamplingConfig, StudentConfig, teach, train_student
from interank_trainer.cli import main
from interank_trainer.student.config import STUDENT_LOSSES
from interank_trainer.student.trainer import ACTIVATION, load_student, pair_renderer
from interank_trainer.student.student_data import build_examples, pool_targets, read_pools, split_pools
from interank_trainer.student.teach import SCORES_FILE

PAIRS = [("why do plants need light", "plants use light energy in photosynthesis to make food"),
         ("what is the capital of france", "paris is the capital of france"),
         ("what is the capital of france", "cats eat fish and drink water")]


@pytest.fixture(scope="module")
def scores(tiny_model, tmp_path_factory):
    """Teacher scores of the sample pools by the tiny model with qlm (real, not meaningful)."""
    root = tmp_path_factory.mktemp("scores")
    trec = write_trec(root / "trec")
    teach(out=root / "scores", judgments=trec, teacher=str(tiny_model), teacher_dtype="float32",
          sampling=SamplingConfig(depth=8, top_k=4, deep_k=2), show_progress=False)
    return root / "scores"


def _config(**kw):
    return StudentConfig(**{"scores": "s", "student": "m", "out": "o", **kw})


def test_targets_mix_teacher_and_grades():
    row = {"teacher_scores": [3.0, 1.0, 2.0], "grades": [0, 3, None], "positives": [False, True, False]}
    z = [1.224745, -1.224745, 0.0]  # (t - 2) / sqrt(2/3)
    assert pool_targets(row, _config())["logit"] == pytest.approx(z, abs=1e-6)
    # grades only: unjudged counts as 0 -> grades (0, 3, 0), z-scored
    assert pool_targets(row, _config(label_weight=1.0))["logit"] == pytest.approx([-0.707107, 1.414214, -0.707107],
                                                                                 abs=1e-6)
    half = pool_targets(row, _config(label_weight=0.5))["logit"]
    assert half == pytest.approx([(z[0] - 0.707107) / 2, (z[1] + 1.414214) / 2, (z[2] - 0.707107) / 2], abs=1e-6)
    # unjudged passages keep the teacher's target when unjudged_grade is None
    mixed = pool_targets(row, _config(label_weight=1.0, unjudged_grade=None))["logit"]
    assert mixed == pytest.approx([-1.0, 1.0, 0.0], abs=1e-6)
    logs = pool_targets({**row, "teacher_scores": [0.1, 0.01, 0.001]}, _config(teacher_transform="log_zscore"))
    assert logs["logit"] == pytest.approx([1.224745, 0.0, -1.224745], abs=1e-6)  # equal steps on a log scale
    prob = pool_targets(row, _config(label_weight=1.0))["prob"]
    assert prob == pytest.approx([0.0, 1.0, 0.0])  # grade / max_grade
    gain = pool_targets(row, _config())["gain"]
    assert gain == pytest.approx([3.0, 0.0, 1.5])  # min-max scaled to [0, max_grade]


def test_co_teacher_is_mixed_on_z_scores():
    row = {"teacher_scores": [3.0, 1.0, 2.0], "grades": [None] * 3, "positives": [False] * 3,
           "co_teacher_scores": [1.0, 2.0, 0.0]}
    # teacher z (1.2247, -1.2247, 0), co-teacher z (0, 1.2247, -1.2247): half each (0.6124, 0, -0.6124), z-scored
    mixed = pool_targets(row, _config(co_teacher="bi", co_teacher_weight=0.5, unjudged_grade=None))["logit"]
    assert mixed == pytest.approx([1.224745, 0.0, -1.224745], abs=1e-6)
    with pytest.raises(InvalidInputError, match="no co-teacher scores"):
        pool_targets({k: v for k, v in row.items() if k != "co_teacher_scores"}, _config(co_teacher="bi"))


def test_bad_rows_are_counted_and_left_out(tmp_path):
    folder = tmp_path / "scores"
    folder.mkdir()
    good = {"pool_id": "a", "query": "q", "docs": ["x", "y", "  "], "teacher_scores": [1.0, 0.5, 0.2],
            "grades": [2, None, None], "positives": [True, False, False]}
    rows = [good,
            {**good, "pool_id": "nan", "teacher_scores": [1.0, float("nan"), 0.0]},
            {**good, "pool_id": "short", "teacher_scores": [1.0]},
            {**good},  # the same pool id again
            {**good, "pool_id": "one", "docs": ["x", " ", ""]},
            {"pool_id": "x", "docs": ["a", "b"]}]
    (folder / SCORES_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows).replace("NaN", "NaN"))
    kept, read, skipped = read_pools([folder])
    assert read == 6 and [r["pool_id"] for r in kept] == ["a"] and kept[0]["docs"] == ["x", "y"]
    assert skipped == {"bad_teacher_scores": 2, "duplicate_pool_id": 1, "empty_passage": 3, "too_few_passages": 1,
                       "malformed_row": 1}
    with pytest.raises(InvalidInputError, match="teacher scores not found"):
        read_pools([tmp_path / "nothing"])


def test_split_is_by_query_and_lists_spread_the_positives(scores):
    rows, _, _ = read_pools([scores])
    train, held = split_pools(rows, 0.25, seed=0)
    assert len(held) == 1 and {r["pool_id"] for r in train}.isdisjoint({r["pool_id"] for r in held})
    assert split_pools(rows, 0.25, seed=0) == (train, held)
    examples, pairs = build_examples(train, _config(docs_per_query=3), lambda q, d: (q, d))
    assert pairs == sum(len(r["docs"]) for r in train)
    for row in train:
        lists = [e for e in examples if e["query"] == row["query"]]
        assert sorted(d for e in lists for d in e["docs"]) == sorted(row["docs"])  # every passage exactly once
        assert all(2 <= len(e["docs"]) <= 3 for e in lists)
        positive = {d for d, p in zip(row["docs"], row["positives"]) if p}
        assert sum(bool(positive & set(e["docs"])) for e in lists) == min(len(lists), len(positive))
    bce, _ = build_examples(train, _config(loss="bce"), lambda q, d: (q, d))
    assert len(bce) == pairs and all(0 <= e["label"] <= 1 for e in bce)
    with pytest.raises(InvalidInputError, match="leaves no pool"):
        split_pools(rows[:1], 0.5, seed=0)


@pytest.mark.parametrize("loss", STUDENT_LOSSES)
def test_each_loss_trains_a_tiny_student_that_cross_encoder_loads(loss, scores, tiny_encoder, tmp_path):
    from sentence_transformers import CrossEncoder

    out = tmp_path / "student"
    config = StudentConfig(scores=scores, student=str(tiny_encoder), out=out, loss=loss, docs_per_query=4,
                           eval_fraction=0.25, show_progress=False,
                           args={"max_steps": 3, "per_device_train_batch_size": 2, "learning_rate": 1e-3,
                                 "warmup_ratio": 0.0})
    report = train_student(config)
    assert report.steps == 3 and report.kind == "encoder" and report.train_loss is not None
    assert report.heldout_pools == 1 and report.train_pools == 3 and report.skipped == {}
    assert set(report.heldout_after) == {"ndcg@10", "teacher_ndcg@10"}
    initial, _ = load_student(config)  # the same seeded start: training moved the scores
    loaded = CrossEncoder(str(out))
    before = initial.predict(PAIRS, activation_fn=torch.nn.Identity())
    after = loaded.predict(PAIRS, activation_fn=torch.nn.Identity())
    assert not torch.allclose(torch.as_tensor(before), torch.as_tensor(after))
    assert loaded.num_labels == 1 and type(loaded.activation_fn).__name__ == "Sigmoid"
    hf_config = json.loads((out / "config.json").read_text())
    assert hf_config["sentence_transformers"]["activation_fn"] == ACTIVATION
    assert json.loads((out / "config_sentence_transformers.json").read_text())["activation_fn"] == ACTIVATION
    card = ModelCard.read(out)
    assert card.strategy == "classifier" and card.stage == "student" and card.base_model == str(tiny_encoder)
    assert card.training["loss"] == loss and card.training["data"][0]["teacher"]
    assert card.training["versions"]["sentence_transformers"] and card.strategy_options == {}


def test_early_stopping_on_the_heldout_split(scores, tiny_encoder, tmp_path):
    report = train_student(scores=scores, student=str(tiny_encoder), out=tmp_path / "s", docs_per_query=4,
                           eval_fraction=0.25, early_stopping_patience=1, show_progress=False,
                           args={"max_steps": 40, "per_device_train_batch_size": 1, "eval_steps": 1,
                                 "learning_rate": 1e-3})
    assert report.stopped_early and report.steps < 40 and not report.stopped_by_time
    timed = train_student(scores=scores, student=str(tiny_encoder), out=tmp_path / "t", docs_per_query=4,
                          args={"max_steps": 40, "per_device_train_batch_size": 1}, eval_fraction=0.25, early_stopping_patience=0, max_minutes=1e-9,
                          show_progress=False)
    assert timed.stopped_by_time and timed.steps == 1 and not timed.stopped_early
    assert (tmp_path / "t" / "model.safetensors").is_file()


def test_keep_last_writes_the_final_weights_and_keep_best_the_heldout_best(scores, tiny_encoder, tmp_path):
    from sentence_transformers import CrossEncoder

    common = dict(scores=scores, student=str(tiny_encoder), docs_per_query=4, eval_fraction=0.25,
                  show_progress=False, args={"max_steps": 12, "per_device_train_batch_size": 1, "eval_steps": 3,
                                             "learning_rate": 1e-3})
    last = train_student(out=tmp_path / "last", keep="last", early_stopping_patience=0, **common)
    best = train_student(out=tmp_path / "best", keep="best", early_stopping_patience=0, **common)
    assert last.kept == "last (step 12)" and best.kept.startswith("best (step ")
    assert last.steps == best.steps == 12 and not list(tmp_path.glob("*/checkpoint-*"))
    # the same seeded run twice: 'best' wrote the final weights exactly when its best evaluation was the last one
    last_scores, best_scores = (torch.as_tensor(CrossEncoder(str(tmp_path / n)).predict(
        PAIRS, activation_fn=torch.nn.Identity())) for n in ("last", "best"))
    assert torch.allclose(last_scores, best_scores) == (best.kept == "best (step 12)")
    assert last.heldout_after and best.heldout_after
    with pytest.raises(InvalidInputError, match="early_stopping_patience=0"):
        train_student(out=tmp_path / "x", keep="last", early_stopping_patience=2, **common)
    with pytest.raises(InvalidInputError, match="keep must be"):
        train_student(out=tmp_path / "x", keep="final", early_stopping_patience=0, **common)


def test_a_budget_ends_the_run_annealed(scores, tiny_encoder, tmp_path):
    # a 6-second budget over a 5,000-step plan (a few hundred steps fit): time ends the run; the annealed
    # schedule follows the time spent, the step-planned one is cut early in its linear decay
    common = dict(scores=scores, student=str(tiny_encoder), docs_per_query=4, eval_fraction=0.0,
                  max_minutes=0.1, show_progress=False,
                  args={"max_steps": 5_000, "per_device_train_batch_size": 1, "learning_rate": 1e-3, "warmup_ratio": 0.0})
    annealed = train_student(out=tmp_path / "a", **common)
    cut = train_student(out=tmp_path / "c", anneal_to_budget=False, **common)
    assert annealed.stopped_by_time and cut.stopped_by_time and annealed.steps >= 1
    # no assertion on how many steps fit in the budget (that is this machine's speed): the annealed schedule
    # follows the clock, which is far ahead of a 5,000-step plan, so it decayed further than the cut one
    assert annealed.last_learning_rate < cut.last_learning_rate
    assert cut.last_learning_rate > 0.5 * 1e-3  # the step plan had barely begun to decay (< 2,500 steps in 6 s)


def test_budget_lr_factor_follows_steps_or_time_whichever_is_further():
    from interank_trainer.student.schedule import TrainingBudget, budget_lr_factor

    budget = TrainingBudget(1.0)
    factor = budget_lr_factor(budget, total_steps=100, warmup_ratio=0.1)
    assert factor(0) == pytest.approx(0.0, abs=1e-3) and factor(10) == pytest.approx(1.0, abs=1e-3)
    assert factor(55) == pytest.approx(0.5, abs=1e-3) and factor(100) == 0.0
    budget.start -= 45.0  # 3/4 of the minute spent: time leads the steps
    budget.deadline -= 45.0
    assert factor(10) == pytest.approx(0.25 / 0.9, abs=1e-3)
    budget.start -= 16.0
    budget.deadline -= 16.0
    assert factor(1) == 0.0 and budget.progress(1, 100) == 1.0
    with pytest.raises(ValueError):
        TrainingBudget(0)


def test_causal_lm_student_with_a_one_label_head(scores, tiny_model, tmp_path):
    from sentence_transformers import CrossEncoder

    out = tmp_path / "causal"
    report = train_student(scores=scores, student=str(tiny_model), out=out, loss="ranknet-kd", args={"max_steps": 2},
                           docs_per_query=4, eval_fraction=0.25, show_progress=False)
    assert report.kind == "causal" and report.steps == 2
    card = ModelCard.read(out)
    assert card.strategy_options["pair_format"] == {"query": "query: {query}", "document": "document: {passage}",
                                                    "title_separator": "\n"}
    assert json.loads((out / "config.json").read_text())["architectures"] == ["LlamaForSequenceClassification"]
    render = pair_renderer("causal", card.strategy_options["pair_format"])
    assert render("plants", "plants use light") == ("query: plants", "document: plants use light")
    scores_ = CrossEncoder(str(out)).predict([render(q, d) for q, d in PAIRS])
    assert len(scores_) == 3 and all(0 < s < 1 for s in scores_)


def test_cli_teach_then_student(tiny_model, tiny_encoder, tmp_path, capsys):
    trec = write_trec(tmp_path / "trec")
    assert main(["-q", "teach", "--judgments", str(trec), "--teacher", str(tiny_model), "--dtype", "float32",
                 "--out", str(tmp_path / "sc"), "--depth", "8", "--top-k", "3", "--deep-k", "1"]) == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert payload["pools_done"] == 4 and payload["dropped"]["no_positive"] == 1
    assert "pairs/s" in captured.err
    assert main(["-q", "student", "--scores", str(tmp_path / "sc"), "--student", str(tiny_encoder), "--out",
                 str(tmp_path / "st"), "--loss", "pld", "--max-steps", "2", "--eval-fraction", "0.25",
                 "--label-weight", "0.3", "--keep", "last", "--patience", "0", "--max-minutes", "5",
                 "--no-anneal"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["steps"] == 2 and payload["loss"] == "pld" and payload["kept"] == "last (step 2)"
    config = ModelCard.read(tmp_path / "st").training["config"]
    assert config["label_weight"] == 0.3 and config["keep"] == "last" and config["anneal_to_budget"] is False
    assert main(["-q", "student", "--scores", str(tmp_path / "none"), "--student", str(tiny_encoder), "--out",
                 str(tmp_path / "x")]) == 2
    assert "teacher scores not found" in capsys.readouterr().err
    assert main(["-q", "teach", "--qa", str(tmp_path / "missing.jsonl"), "--teacher", str(tiny_model), "--out",
                 str(tmp_path / "q")]) == 2


def test_student_config_checks():
    with pytest.raises(InvalidInputError, match="loss must be one of"):
        _config(loss="hinge").validate()
    with pytest.raises(InvalidInputError, match="label_weight"):
        _config(label_weight=1.5).validate()
    with pytest.raises(InvalidInputError, match="docs_per_query"):
        _config(docs_per_query=1).validate()
    with pytest.raises(InvalidInputError, match="pair_format"):
        _config(pair_format={"query": "{query}"}).validate()
    with pytest.raises(InvalidInputError, match="pair_format"):
        _config(pair_format={"query": "{query}", "document": "{title} {text}"}).validate()
    with pytest.raises(InvalidInputError, match="co_teacher_weight"):
        _config(co_teacher="bi", co_teacher_weight=1.0).validate()
    with pytest.raises(InvalidInputError, match="teacher_transform"):
        _config(co_teacher="bi", teacher_transform="raw").validate()


def test_bi_encoder_co_teacher_scores_the_pools_like_sentence_transformers(scores, minilm, tiny_encoder, tmp_path):
    """The co-teacher's scores are all-MiniLM-L6-v2's cosine similarities (SentenceTransformer.encode), and the
    student's card records the co-teacher."""
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from interank_trainer.student.student_data import co_teacher_scores

    rows, _, _ = read_pools([scores])
    co_teacher_scores(rows, _config(co_teacher=str(minilm), device="cpu", show_progress=False))
    model = SentenceTransformer(str(minilm), device="cpu")
    for row in rows[:2]:
        q = model.encode([row["query"]], normalize_embeddings=True)
        d = model.encode(row["docs"], normalize_embeddings=True)
        # Reranker picks bf16 where the CPU runs it natively (fp32 elsewhere): cosines agree to ~3e-3 there
        assert row["co_teacher_scores"] == pytest.approx((d @ q[0]).tolist(), abs=1e-2)
    out = tmp_path / "st"
    train_student(scores=scores, student=str(tiny_encoder), out=out, args={"max_steps": 1}, docs_per_query=4,
                  eval_fraction=0.25, co_teacher=str(minilm), co_teacher_weight=0.4, show_progress=False)
    config = ModelCard.read(out).training["config"]
    assert config["co_teacher"] == str(minilm) and config["co_teacher_weight"] == 0.4
    assert np.isfinite(rows[0]["co_teacher_scores"]).all()


def test_reranker_loads_the_student_with_cross_encoder_scores(scores, minilm, tmp_path):
    """Reranker(student folder) scores like CrossEncoder(student folder).predict (the classifier strategy);
    a MiniLM-bodied student, whose scores differ from pair to pair."""
    from interank_sdk import Reranker
    from sentence_transformers import CrossEncoder

    out = tmp_path / "student"
    train_student(scores=scores, student=str(minilm), out=out, args={"max_steps": 1}, docs_per_query=4, eval_fraction=0.25,
                  show_progress=False)
    expected = CrossEncoder(str(out)).predict(PAIRS)
    reranker = Reranker(str(out), dtype="float32")  # CrossEncoder runs fp32 (auto: bf16 where native, ~5e-5 off)
    assert reranker.strategy.name == "classifier"
    got = [reranker.score(q, [d])[0] for q, d in PAIRS]
    assert got == pytest.approx([float(x) for x in expected], abs=1e-5)


def test_reranker_loads_a_causal_lm_student_with_its_pair_format(scores, tiny_model, tmp_path):
    """A DeAR-style student: Reranker reads the pair format from interank.json and scores like CrossEncoder
    on the pairs written in that format."""
    from interank_sdk import Reranker
    from sentence_transformers import CrossEncoder

    out = tmp_path / "causal"
    train_student(scores=scores, student=str(tiny_model), out=out, docs_per_query=4, eval_fraction=0.25,
                  args={"max_steps": 2, "learning_rate": 1e-2}, show_progress=False)
    render = pair_renderer("causal", ModelCard.read(out).strategy_options["pair_format"])
    expected = CrossEncoder(str(out)).predict([render(q, d) for q, d in PAIRS])
    reranker = Reranker(str(out), dtype="float32")
    assert reranker.strategy.name == "classifier"
    got = [reranker.score(q, [d])[0] for q, d in PAIRS]
    assert got == pytest.approx([float(x) for x in expected], abs=1e-5)
