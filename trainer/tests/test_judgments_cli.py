"""Training data from relevance judgments, and the interank-train CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from interank_sdk.errors import InvalidInputError

from interank_trainer import prepare_judgments
from interank_trainer.cli import main
from interank_trainer.data.formats import MANIFEST_FILE, read_rows


def _folder(tmp_path, qrels):
    folder = tmp_path / "trec"
    folder.mkdir()
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in [("1", "plants light"), ("2", "paris")]))
    (folder / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": d, "title": title, "text": t}) + "\n"
        for d, title, t in [("a", "", "plants use light"), ("b", "Paris", "paris is in france"), ("c", "", "cats")]))
    (folder / "qrels.tsv").write_text(qrels)
    return folder


def test_grades_map_to_interank_labels_and_missing_texts_are_counted(tmp_path):
    folder = _folder(tmp_path, "1\ta\t3\n1\tb\t0\n1\tc\t1\n2\tb\t2\n2\tmissing\t2\n9\ta\t1\n")
    report = prepare_judgments(data=folder, out=tmp_path / "out")
    rows = {r["id"]: r for r in read_rows(tmp_path / "out")}
    assert {k: r["label"] for k, r in rows.items()} == {"1:a": 2, "1:b": 0, "1:c": 1, "2:b": 2}
    assert rows["1:a"]["grade"] == 3 and rows["2:b"]["passage"] == "Paris\nparis is in france"
    assert report.skipped == {"missing_passage": 1, "missing_query": 1}
    assert report.labels == {"0": 1, "1": 1, "2": 2} and report.judgments == 6
    assert all(r["explanation"] is None and r["strategy"] == "graded" for r in rows.values())
    manifest = json.loads((tmp_path / "out" / MANIFEST_FILE).read_text())
    assert manifest["source"] == "judgments" and manifest["rows"] == 4


def test_sampling_and_bad_grades(tmp_path):
    folder = _folder(tmp_path, "1\ta\t3\n1\tb\t0\n1\tc\t1\n2\tb\t2\n2\ta\t0\n2\tc\t0\n")
    balanced = prepare_judgments(data=folder, out=tmp_path / "bal", balance=True)
    assert set(balanced.labels.values()) == {1}
    capped = prepare_judgments(data=folder, out=tmp_path / "cap", max_per_query=2)
    assert capped.rows == 4 and capped.skipped == {"sampled_out": 2}
    with pytest.raises(InvalidInputError, match="grade 3 .* is not in grade_map"):
        prepare_judgments(data=folder, out=tmp_path / "x", grade_map={0: 0, 1: 1, 2: 2})
    with pytest.raises(InvalidInputError, match="judgment folder not found"):
        prepare_judgments(data=tmp_path / "nope", out=tmp_path / "x")


def test_dl21_judgments_with_text(data_root):
    """DL21: 4,812 of the 10,828 judgments have their passage text in corpus.jsonl."""
    folder = data_root / "trec-dl21-passage"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found (set INTERANK_DATA)")
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        report = prepare_judgments(data=folder, out=out)
    assert report.rows == 4812 and report.judgments == 10828 and report.queries == 53
    assert report.skipped == {"missing_passage": 10828 - 4812}
    assert report.labels["2"] == report.grades.get("2", 0) + report.grades.get("3", 0)


def test_cli_prepare_and_errors(tmp_path, capsys):
    folder = _folder(tmp_path, "1\ta\t3\n1\tb\t0\n")
    assert main(["-q", "prepare", "--judgments", str(folder), "--out", str(tmp_path / "d")]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["rows"] == 2 and payload["labels"] == {"0": 1, "1": 0, "2": 1}
    assert main(["-q", "from-judgments", "--data", str(folder), "--out", str(tmp_path / "e"),
                 "--grade-map", "0:0,3:1"]) == 0
    assert read_rows(tmp_path / "e")[0]["label"] in (0, 1)
    assert main(["-q", "distill", "--data", str(tmp_path / "missing"), "--student", "x", "--out", "y"]) == 2
    assert "training data not found" in capsys.readouterr().err
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "why", "answer": ""}\n')
    assert main(["-q", "synthesize", "--qa", str(qa), "--teacher", "x", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "qa.jsonl:1: 'answer' must be a non-empty string" in err and "--skip-invalid" in err


def test_cli_synthesize_distill_rl_end_to_end(tmp_path, tiny_model, qa_file, capsys):
    data, adapter, refined = tmp_path / "data", tmp_path / "adapter", tmp_path / "refined"
    assert main(["-q", "synthesize", "--qa", str(qa_file), "--teacher", str(tiny_model), "--out", str(data),
                 "--max-new-tokens", "6", "--missing-marker", "keep", "--dtype", "float32", "--max-pairs", "3"]) == 0
    synth = json.loads(capsys.readouterr().out)
    assert synth["pairs_done"] == 3 and synth["rows"] == synth["judgments"] > 0
    assert main(["-q", "distill", "--data", str(data), "--student", str(tiny_model), "--out", str(adapter),
                 "--max-steps", "1", "--batch-size", "2", "--grad-accum", "1", "--lora-r", "4",
                 "--dtype", "float32"]) == 0
    assert json.loads(capsys.readouterr().out)["strategy"] == "reasoning"
    assert main(["-q", "rl", "--data", str(data), "--adapter", str(adapter), "--out", str(refined),
                 "--method", "rwsft", "--max-steps", "1", "--num-generations", "2", "--batch-size", "1",
                 "--max-new-tokens", "6", "--min-reward", "0", "--dtype", "float32"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 1
    assert json.loads((refined / "interank.json").read_text())["stage"] == "rl-rwsft"


@pytest.mark.slow  # a subprocess
def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "interank_trainer", "--help"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0
    for command in ("synthesize", "prepare", "from-judgments", "distill", "rl"):
        assert command in out.stdout
