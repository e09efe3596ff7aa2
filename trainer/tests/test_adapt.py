"""adapt: inputs and their errors, the split, the base's head, and whole runs on tiny real models
(a random 2-layer Llama teacher read by query likelihood, a random 2-layer BERT cross-encoder base),
resumed after kill -9 at random points."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from interank_sdk.errors import InvalidInputError

from trainer_samples import QA
from interank_trainer import adapt
from interank_trainer.student.adapt_base import prepare_base
from interank_trainer.data.adapt_inputs import RealQuery, load_inputs, split_queries
from interank_trainer.cli import main

MORE = [
    ("q6", "biology", "why are leaves green", "the leaf is green because of chlorophyll and light"),
    ("q7", "travel", "where is the eiffel tower", "the eiffel tower is in paris on the river seine in france"),
    ("q8", "pets", "what do dogs eat", "dogs eat food made for pets and drink water"),
    ("q9", "code", "is java a computer language", "java is a computer language for programs"),
    ("q10", "health", "what does the body use protein for", "the body uses protein for health and the cell"),
    ("q11", "travel", "what is the capital of england", "london is the capital of england"),
    ("q12", "biology", "what do trees need", "trees in the forest need water and light"),
]
DOCS = ["a forest has trees and water", "the river seine is in france", "python programs read data",
        "cats drink water", "an enzyme is a protein", "the capital has a tower"]


def qa_rows() -> list[dict]:
    return list(QA) + [{"id": i, "domain": d, "question": q, "answer": a} for i, d, q, a in MORE]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture
def inputs(tmp_path):
    qa = write_jsonl(tmp_path / "qa.jsonl", qa_rows())
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"_id": f"d{i}", "text": t} for i, t in enumerate(DOCS)])
    return qa, corpus


@pytest.fixture(scope="module")
def tiny_cross_encoder(tiny_encoder, tmp_path_factory) -> Path:
    """A one-logit BERT cross-encoder on the tiny encoder's body (random head, seeded)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(1)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_encoder, num_labels=1)
    folder = tmp_path_factory.mktemp("tiny_ce") / "model"
    model.save_pretrained(folder, safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny_encoder).save_pretrained(folder)
    return folder


# ------------------------------------------------------------------ inputs
def test_inputs_join_answers_to_the_collection_and_reuse_corpus_copies(tmp_path):
    rows = qa_rows()
    qa = write_jsonl(tmp_path / "qa.jsonl", rows)
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"_id": "c1", "text": "  " + rows[0]["answer"] + " "},
                                                     {"_id": "c2", "text": "other text"}])
    data = load_inputs(corpus=corpus, qa=qa, judgments=None, eval_judgments=None)
    assert len(data.queries) == len(rows)
    first = data.queries[0]
    assert first.relevant == {"c1": 1}  # the corpus already held this answer: no duplicate document
    assert data.queries[1].relevant == {"qa:q2": 1} and "qa:q2" in data.documents
    assert len(data.documents) == 2 + len(rows) - 1
    assert data.sources["qa_answers_found_in_corpus"] == 1


@pytest.mark.parametrize("rows, message", [
    ([], "the corpus is empty"),
    ([{"_id": "a", "text": "x"}, {"_id": "b", "text": "  "}], ":2: document 'b' has no text"),
    ([{"_id": "a", "text": "x"}, {"text": "y"}], ":2: expected an object with '_id'"),
    ([{"_id": "a", "text": "x"}, {"_id": "a", "text": "y"}], ":2: duplicate document id 'a'"),
])
def test_bad_corpus_rows_name_file_and_line(tmp_path, rows, message):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", rows)
    with pytest.raises(InvalidInputError, match=message):
        load_inputs(corpus=corpus, qa=None, judgments=None, eval_judgments=None)


def test_bad_qa_rows_raise_or_are_counted(tmp_path):
    rows = qa_rows()
    bad = rows + [{"id": "e", "question": "what is it", "answer": " "},
                  {"id": "dup", "question": "another", "answer": rows[1]["answer"]}]
    qa = write_jsonl(tmp_path / "qa.jsonl", bad)
    with pytest.raises(InvalidInputError, match=rf"qa.jsonl:{len(rows) + 1}: 'answer' must be a non-empty string"):
        load_inputs(corpus=None, qa=qa, judgments=None, eval_judgments=None)
    qa2 = write_jsonl(tmp_path / "qa2.jsonl", bad[:-2] + bad[-1:])
    with pytest.raises(InvalidInputError, match=rf"qa2.jsonl:{len(rows) + 1}: the answer repeats the answer on line 2"):
        load_inputs(corpus=None, qa=qa2, judgments=None, eval_judgments=None)
    data = load_inputs(corpus=None, qa=qa, judgments=None, eval_judgments=None, skip_invalid=True)
    assert len(data.queries) == len(rows)
    assert data.problems == {"qa_empty_answer": 1, "qa_duplicate_answer": 1}


def test_a_judged_query_without_its_answer_in_the_collection(tmp_path):
    folder = tmp_path / "judged"
    folder.mkdir()
    write_jsonl(folder / "queries.jsonl", [{"_id": "1", "text": "why do plants need light"},
                                           {"_id": "2", "text": "what do cats eat"}])
    write_jsonl(folder / "corpus.jsonl", [{"_id": "p1", "text": "plants use light"}])
    (folder / "qrels.tsv").write_text("1\tp1\t2\n2\tgone\t2\n")
    with pytest.raises(InvalidInputError, match="query '2' has no relevant document"):
        load_inputs(corpus=None, qa=None, judgments=folder, eval_judgments=None)
    data = load_inputs(corpus=None, qa=None, judgments=folder, eval_judgments=None, skip_invalid=True)
    assert [q.qid for q in data.queries] == ["1"]
    assert data.problems == {"judged_document_not_in_collection": 1, "query_without_relevant_document": 1}


def test_split_is_seeded_by_query_and_stratified_by_domain():
    queries = [RealQuery(f"{d}{i}", "q", {"x": 1}, "qa", d) for d in "abc" for i in range(10)]
    adapt_q, held = split_queries(queries, 0.3, seed=0)
    assert sorted(q.domain for q in held) == ["a"] * 3 + ["b"] * 3 + ["c"] * 3
    assert not {q.qid for q in adapt_q} & {q.qid for q in held}
    assert [q.qid for q in split_queries(queries, 0.3, seed=0)[1]] == [q.qid for q in held]
    assert [q.qid for q in split_queries(queries, 0.3, seed=1)[1]] != [q.qid for q in held]


# -------------------------------------------------------------------- base
def test_base_kinds(tmp_path, tiny_encoder, tiny_cross_encoder, tiny_model, minilm):
    assert prepare_base(str(tiny_cross_encoder), tmp_path).kind == "cross-encoder"
    assert prepare_base(str(tiny_encoder), tmp_path).kind == "encoder-body"
    assert prepare_base(str(minilm), tmp_path).reranker == "embedding"
    with pytest.raises(InvalidInputError, match="not a cross-encoder"):
        prepare_base(str(tiny_model), tmp_path)


def test_a_two_logit_head_becomes_one_logit_with_the_same_probability(tmp_path, tiny_encoder):
    import torch
    from interank_sdk import Reranker
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(2)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_encoder, num_labels=2)
    folder = tmp_path / "two"
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder)
    tokenizer.save_pretrained(folder)
    base = prepare_base(str(folder), tmp_path / "work")
    assert base.kind == "converted"
    pairs = [("why do plants need light", "plants use light"), ("capital of france", "cats eat fish")]
    with torch.no_grad():
        enc = tokenizer([p[0] for p in pairs], [p[1] for p in pairs], padding=True, return_tensors="pt")
        expected = model.eval()(**enc).logits.softmax(-1)[:, 1]
    got = Reranker(base.model, dtype="float32").predict(pairs)
    assert list(got) == pytest.approx(expected.tolist(), abs=1e-5)


# ------------------------------------------------------------------ a run
def test_adapt_end_to_end_on_tiny_models(tmp_path, inputs, tiny_model, tiny_cross_encoder):
    from interank_sdk import Reranker
    from interank_sdk.card import ModelCard
    from interank_trainer import SamplingConfig

    qa, corpus = inputs
    out = tmp_path / "run"
    report = adapt(out=out, base=str(tiny_cross_encoder), teacher=str(tiny_model), qa=qa, corpus=corpus,
                   teacher_kwargs={"dtype": "float32"}, synthetic_queries=3, budget_minutes=3, heldout_fraction=0.4,
                   sampling=SamplingConfig(depth=8, top_k=3, deep_k=1), eval_depth=8, teacher_eval_queries=2,
                   teacher_eval_depth=4, max_length=64, epochs=2.0, general_eval=None, show_progress=False)
    for name in ("adapt_report.json", "adapt_report.md", "adapt_report.png"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "adapt_report.json").read_text())
    split = json.loads((out / "work" / "split.json").read_text())
    held = set(split["heldout"])
    assert len(held) == 5 and sorted(saved["heldout"]["systems"]["student"]["by_domain"]) == \
        ["biology", "code", "health", "pets", "travel"]
    # the held-out questions never reach what trains: not in the training set, not in any teacher pool
    texts = {r["id"]: r["question"] for r in qa_rows()}
    train_queries = (out / "work" / "train-set" / "queries.jsonl").read_text()
    for qid in held:
        assert texts[qid] not in train_queries
    for scores in (out / "work").glob("scores-*/scores.jsonl"):
        for line in scores.read_text().splitlines():
            assert json.loads(line)["query"] not in {texts[q] for q in held}
    systems = saved["heldout"]["systems"]
    assert {"first stage (bm25)", "base", "student"} <= set(systems)
    assert saved["gain"] == pytest.approx(systems["student"]["nDCG@10"] - systems["base"]["nDCG@10"], abs=1e-4)
    assert report.recommended == (saved["gain"] > 0) and saved["use"] == ("student" if report.recommended else "base")
    assert "teacher" in saved["heldout"]["teacher_subset"]["systems"]
    assert saved["training"]["from"] == "cross-encoder" and saved["training"]["steps"] > 0
    # the student loads, and its card says what adaptation concluded
    scores = Reranker(str(out / "student")).score("why do plants need light", ["plants use light", "cats"])
    assert len(scores) == 2
    card = ModelCard.read(out / "student")
    assert card.training["adapt"]["recommended"] == report.recommended
    # a rerun resumes: nothing is taught, trained or scored again (with a larger budget too: once the student is
    # trained, teaching does not go on scoring pools it never saw)
    scored = {f: f.read_text() for f in (out / "work").glob("scores-*/scores.jsonl")}
    again = adapt(out=out, base=str(tiny_cross_encoder), teacher=str(tiny_model), qa=qa, corpus=corpus,
                  teacher_kwargs={"dtype": "float32"}, synthetic_queries=3, budget_minutes=30, heldout_fraction=0.4,
                  sampling=SamplingConfig(depth=8, top_k=3, deep_k=1), eval_depth=8, teacher_eval_queries=2,
                  teacher_eval_depth=4, max_length=64, epochs=2.0, show_progress=False)
    assert again.gain == report.gain
    assert again.report["teaching"] == report.report["teaching"]  # what the student was taught, as recorded
    assert {k: again.report["minutes"][k] for k in ("teach", "train")} == \
        {k: report.report["minutes"][k] for k in ("teach", "train")}  # how long they took then, not the rerun
    assert {f: f.read_text() for f in (out / "work").glob("scores-*/scores.jsonl")} == scored
    assert again.report["training"] == report.report["training"]  # the recorded training, not a new one
    # other settings in the same folder are refused
    with pytest.raises(InvalidInputError, match="other settings"):
        adapt(out=out, base=str(tiny_cross_encoder), teacher=str(tiny_model), qa=qa, corpus=corpus, seed=5,
              teacher_kwargs={"dtype": "float32"}, show_progress=False)


def test_cli_exits_1_when_the_student_does_not_reach_min_gain(tmp_path, inputs, tiny_model, tiny_cross_encoder,
                                                             capsys):
    qa, _ = inputs
    out = tmp_path / "cli"
    code = main(["-q", "adapt", "--qa", str(qa), "--base", str(tiny_cross_encoder), "--teacher", str(tiny_model),
                 "--out", str(out), "--budget-minutes", "2", "--heldout-fraction", "0.4", "--eval-depth", "6",
                 "--teacher-eval-queries", "0", "--max-length", "48", "--depth", "6", "--top-k", "3", "--deep-k", "1",
                 "--min-gain", "2.0"])
    assert code == 1
    printed = json.loads(capsys.readouterr().out)
    assert printed["recommended"] is False and "keep the base" in printed["verdict"]
    assert (out / "student" / "config.json").is_file()


def test_a_budget_too_small_for_one_step_is_an_error(tmp_path, inputs, tiny_model, tiny_cross_encoder):
    qa, _ = inputs
    with pytest.raises(InvalidInputError, match="budget"):
        adapt(out=tmp_path / "tiny-budget", base=str(tiny_cross_encoder), teacher=str(tiny_model), qa=qa,
              budget_minutes=0.0005, show_progress=False)
    assert not (tmp_path / "tiny-budget" / "student").exists()


@pytest.mark.slow
def test_kill_9_at_random_points_then_resume(tmp_path, inputs, tiny_model, tiny_cross_encoder):
    """A real CLI run killed with SIGKILL at random moments: each rerun resumes; no pool is scored twice and
    ``out/student`` is either absent or a complete model that loads."""
    from interank_sdk import Reranker

    qa, corpus = inputs
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "interank_trainer.cli", "-q", "adapt", "--qa", str(qa), "--corpus", str(corpus),
               "--base", str(tiny_cross_encoder), "--teacher", str(tiny_model), "--out", str(out),
               "--synthetic-queries", "4", "--budget-minutes", "2", "--heldout-fraction", "0.4",
               "--eval-depth", "8", "--teacher-eval-queries", "2", "--teacher-eval-depth", "4", "--max-length", "48",
               "--depth", "8", "--top-k", "3", "--deep-k", "1", "--min-gain", "-1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rng = random.Random(7)
    for attempt in range(3):
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(4, 20))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        if (out / "student").exists():
            assert len(Reranker(str(out / "student")).score("plants need light", ["plants use light"])) == 1
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    for scores in (out / "work").glob("scores-*/scores.jsonl"):
        ids = [json.loads(line)["pool_id"] for line in scores.read_text().splitlines()]
        assert len(ids) == len(set(ids)), f"a pool was scored twice in {scores}"
    assert json.loads((out / "adapt_report.json").read_text())["training"]["steps"] > 0
    assert not list(out.glob(".student.*"))


def test_a_run_folder_from_before_student_kind_resumes_as_the_cross_encoder_it_trained(tmp_path):
    from interank_trainer.student.adapt import STATE_FILE, _check_state

    old = {"base": "b", "seed": 0}  # what such a folder's state.json holds: no student_kind
    (tmp_path / STATE_FILE).write_text(json.dumps({"format": "interank-trainer/adapt-v1", "settings": old}))
    _check_state(tmp_path, {**old, "student_kind": "cross-encoder"})
    with pytest.raises(InvalidInputError, match="student_kind"):
        _check_state(tmp_path, {**old, "student_kind": "auto"})
