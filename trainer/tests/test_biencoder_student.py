"""The bi-encoder student (``loss="mnrl"``): triplets from the pools, a tiny bi-encoder continued on real teacher
scores and read back by ``Reranker`` with the embedding strategy, and ``adapt`` keeping a bi-encoder base one."""

from __future__ import annotations

import json

import pytest
from distill_samples import write_trec
from interank_trainer import SamplingConfig, adapt, teach, train_student
from interank_trainer.student.adapt_base import prepare_base
from interank_trainer.student.biencoder import cosine_scores
from interank_trainer.student.student_data import read_pools, triplets

from interank_sdk.card import ModelCard
from interank_sdk.errors import InvalidInputError


@pytest.fixture(scope="module")
def scores(tiny_model, tmp_path_factory):
    """Teacher scores of the sample pools by the tiny model with qlm (real, not meaningful)."""
    root = tmp_path_factory.mktemp("bi_scores")
    teach(out=root / "scores", judgments=write_trec(root / "trec"), teacher=str(tiny_model), teacher_dtype="float32",
          sampling=SamplingConfig(depth=8, top_k=4, deep_k=2), show_progress=False)
    return root / "scores"


def test_triplets_take_known_positives_and_negatives_from_the_lower_half():
    rows = [{"query": "q1", "docs": ["a", "b", "c", "d"], "positives": [False, True, False, False]},
            {"query": "q2", "docs": ["e", "f", "g", "h"], "positives": [False] * 4},
            {"query": "q3", "docs": ["i", "j"], "positives": [True, True]}]
    targets = [[3.0, 2.0, 1.0, 0.0], [0.0, 5.0, 1.0, 2.0], [1.0, 0.0]]
    examples, pairs = triplets(rows, targets, seed=0)
    by_query = {e["anchor"]: e for e in examples}
    # the known positive even where the teacher prefers another; a negative from the teacher's lower half only
    assert by_query["q1"]["positive"] == "b" and by_query["q1"]["negative"] in {"c", "d"}
    # no known positive: the teacher's best is the positive
    assert by_query["q2"]["positive"] == "f" and by_query["q2"]["negative"] in {"e", "g"}
    assert "q3" not in by_query and pairs == 4  # only positives in the lower half: no triplet
    assert triplets(rows, targets, seed=0) == (examples, pairs)
    draws = {triplets(rows, targets, seed=s)[0][0]["negative"] for s in range(20)}
    assert len(draws) > 2  # the negative is drawn, not always the same


def test_mnrl_continues_a_bi_encoder_that_reranker_loads(scores, tiny_biencoder, tmp_path):
    from sentence_transformers import SentenceTransformer

    from interank_sdk import Reranker

    out = tmp_path / "student"
    rows, _, _ = read_pools([scores])
    report = train_student(scores=scores, student=str(tiny_biencoder), out=out, loss="mnrl", label_weight=1.0,
                           eval_fraction=0.0, show_progress=False, early_stopping_patience=0, keep="last",
                           args={"num_train_epochs": 30, "learning_rate": 5e-3, "warmup_ratio": 0.0})
    assert report.kind == "bi-encoder" and report.loss == "mnrl" and report.steps > 0 and report.train_examples > 0
    before, after = SentenceTransformer(str(tiny_biencoder)), SentenceTransformer(str(out))
    # trained on every pool: the known answer now beats the pool's other passages by cosine far more often
    def wins(model):
        won = total = 0
        for row in rows:
            pos = [d for d, p in zip(row["docs"], row["positives"]) if p]
            neg = [d for d, p in zip(row["docs"], row["positives"]) if not p]
            s = cosine_scores(model, [(row["query"], d) for d in pos + neg], 16)
            won += sum(a > b for a in s[:len(pos)] for b in s[len(pos):])
            total += len(pos) * len(neg)
        return won / total
    assert wins(after) > max(wins(before), 0.8)
    card = ModelCard.read(out)
    assert card.strategy == "embedding" and card.stage == "student" and card.training["kind"] == "bi-encoder"
    assert card.training["loss"] == "mnrl" and card.training["data"][0]["teacher"]
    # Reranker reads the folder as a bi-encoder: its raw score is the same cosine
    reranker = Reranker(str(out), dtype="float32")
    assert reranker.strategy.name == "embedding"
    pair = (rows[0]["query"], rows[0]["docs"][0])
    assert reranker.predict([pair], raw=True)[0] == pytest.approx(cosine_scores(after, [pair], 1)[0], abs=1e-4)


def test_mnrl_refuses_a_model_that_is_not_a_bi_encoder(scores, tiny_encoder, tmp_path):
    with pytest.raises(InvalidInputError, match="bi-encoder"):
        train_student(scores=scores, student=str(tiny_encoder), out=tmp_path / "s", loss="mnrl",
                      show_progress=False)


def test_student_kind_follows_the_base(tmp_path, tiny_biencoder, tiny_encoder):
    bi = prepare_base(str(tiny_biencoder), tmp_path)
    assert bi.student_kind("auto") == "bi-encoder" and not bi.fresh_head("bi-encoder")
    assert bi.student_kind("cross-encoder") == "cross-encoder" and bi.fresh_head("cross-encoder")
    body = prepare_base(str(tiny_encoder), tmp_path)
    assert body.student_kind("auto") == "cross-encoder" and body.fresh_head("cross-encoder")
    with pytest.raises(InvalidInputError, match="student_kind 'bi-encoder'"):
        body.student_kind("bi-encoder")


def test_adapt_keeps_a_bi_encoder_base_a_bi_encoder(tmp_path, tiny_model, tiny_biencoder):
    from test_adapt import qa_rows, write_jsonl

    from interank_sdk import Reranker

    qa = write_jsonl(tmp_path / "qa.jsonl", qa_rows())
    out = tmp_path / "run"
    report = adapt(out=out, base=str(tiny_biencoder), teacher=str(tiny_model), qa=qa,
                   teacher_kwargs={"dtype": "float32"}, budget_minutes=3, heldout_fraction=0.4,
                   sampling=SamplingConfig(depth=8, top_k=3, deep_k=1), eval_depth=8, teacher_eval_queries=0,
                   max_length=64, epochs=2.0, batch_size=4, general_eval=None, show_progress=False)
    saved = json.loads((out / "adapt_report.json").read_text())
    assert saved["student_kind"] == "bi-encoder" and saved["base"]["fresh_head"] is False
    assert saved["training"]["student_kind"] == "bi-encoder" and saved["training"]["loss"] == "mnrl"
    assert saved["training"]["batch_size"] == 4 and saved["training"]["steps"] > 0
    systems = saved["heldout"]["systems"]
    assert {"base (bi-encoder)", "student"} <= set(systems)
    assert report.gain == pytest.approx(systems["student"]["nDCG@10"] - systems["base (bi-encoder)"]["nDCG@10"],
                                        abs=1e-4)
    interval = saved["heldout"]["gain_interval"]  # how sure the gain is, over the held-out queries
    assert interval["queries"] == saved["heldout"]["queries"] and interval["mean_difference"] == pytest.approx(
        report.gain, abs=1e-3)
    low, high = interval["bootstrap_95"]
    assert low <= report.gain <= high and "95 % interval" in report.verdict
    assert Reranker(str(out / "student")).strategy.name == "embedding"
    assert ModelCard.read(out / "student").training["adapt"]["recommended"] == report.recommended
