"""synthesize: a real (tiny, random) teacher Reranker judges real BM25 candidates; accounting and resume."""

from __future__ import annotations

import json

import pytest
from interank_sdk.errors import InvalidInputError
from interank_sdk.eval import load_qa_pairs

from trainer_samples import QA
from interank_trainer import SynthesizeConfig, synthesize
from interank_trainer.data.formats import DATA_FILE, MANIFEST_FILE, PROGRESS_FILE


def _rows(folder):
    return [json.loads(line) for line in (folder / DATA_FILE).read_text().splitlines() if line.strip()]


def test_malformed_teacher_judgments_are_counted_not_used(qa_file, tiny_teacher, tmp_path):
    """The random teacher never writes 'Relevance Label:' itself: every judgment is dropped and counted."""
    out = tmp_path / "data"
    report = synthesize(qa=qa_file, teacher=tiny_teacher, out=out, show_progress=False)
    assert report.pairs_done == report.pairs_total == 5
    assert report.judgments > 5
    assert report.rows == 0 and _rows(out) == []
    assert report.dropped == {"missing_marker": report.judgments}
    assert report.missing_marker == report.judgments
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["status"] == "complete"
    assert manifest["dropped"] == {"missing_marker": report.judgments} and manifest["rows"] == 0
    # the teacher's query lines (random words) were rejected, and counted
    assert report.pairs_without_generated_queries == 5 and sum(report.queries_rejected.values()) >= 5


def test_keep_complete_still_drops_explanations_cut_by_the_budget(qa_file, tiny_teacher, tmp_path):
    """keep_complete accepts an appended marker only after an explanation that ended by itself."""
    report = synthesize(qa=qa_file, teacher=tiny_teacher, out=tmp_path / "d", missing_marker="keep_complete",
                        max_pairs=2, show_progress=False)
    assert report.hit_token_budget == report.judgments > 0  # 8-token budget: every explanation is cut
    assert report.rows == 0 and report.dropped == {"missing_marker_cut_by_budget": report.judgments}


def test_rows_when_appended_markers_are_accepted(qa_file, tiny_teacher, tmp_path):
    out = tmp_path / "data"
    report = synthesize(qa=qa_file, teacher=tiny_teacher, out=out, missing_marker="keep", hard_negatives=2,
                        random_negatives=1, show_progress=False)
    rows = _rows(out)
    assert report.rows == len(rows) == report.judgments and report.dropped == {}
    assert sum(report.labels.values()) == len(rows)
    answers = {r["id"]: r["answer"] for r in QA}
    for row in rows:
        probs = row["label_probs"]
        assert len(probs) == 3 and abs(sum(probs) - 1) < 1e-6
        assert row["label"] == max(range(3), key=probs.__getitem__)
        assert row["teacher_wrote_marker"] is False
        completion = row["completion"][0]["content"]
        assert completion.endswith(f"{row['explanation']}\nRelevance Label: {row['label']} ##")
        assert row["prompt"][-1]["role"] == "user" and row["query"] in row["prompt"][-1]["content"]
        if row["candidate"] == "positive":
            assert row["passage"] == answers[row["pair_id"]]
        else:  # negatives are other pairs' answers, never the pair's own
            assert row["source_pair"] != row["pair_id"] and row["passage"] != answers[row["pair_id"]]
    kinds = {r["candidate"] for r in rows}
    assert {"positive", "bm25", "random"} <= kinds
    assert {r["pair_id"] for r in rows if r["candidate"] == "positive"} == set(answers)
    # readable by `datasets` as a prompt/completion dataset
    import datasets

    ds = datasets.load_dataset("json", data_files=str(out / DATA_FILE), split="train")
    assert len(ds) == len(rows) and {"prompt", "completion", "label"} <= set(ds.column_names)


def test_resume_after_interrupt_is_complete_without_duplicates(qa_file, tiny_teacher, tmp_path, monkeypatch):
    settings = dict(qa=qa_file, teacher=tiny_teacher, missing_marker="keep", show_progress=False, seed=3)
    reference = tmp_path / "reference"
    synthesize(out=reference, **settings)

    out = tmp_path / "interrupted"
    real = tiny_teacher.rerank_batch
    calls = {"n": 0}

    def flaky(*args, **kwargs):  # interrupt while judging the third pair
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated Ctrl-C")
        return real(*args, **kwargs)

    monkeypatch.setattr(tiny_teacher, "rerank_batch", flaky)
    with pytest.raises(KeyboardInterrupt):
        synthesize(out=out, **settings)
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["status"] == "interrupted" and manifest["pairs_done"] == 2
    assert len((out / PROGRESS_FILE).read_text().splitlines()) == 2
    monkeypatch.setattr(tiny_teacher, "rerank_batch", real)

    # a torn write: rows of an unfinished pair without its progress entry are discarded on resume
    with (out / DATA_FILE).open("a") as handle:
        handle.write(json.dumps({"id": "q3:0:0", "pair_id": "q3", "query": "x", "passage": "y", "label": 0}) + "\n")

    report = synthesize(out=out, **settings)
    assert report.pairs_resumed == 2 and report.pairs_done == 5
    rows = _rows(out)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert {r["pair_id"] for r in rows} == {r["id"] for r in QA}
    # deterministic for a seed: the interrupted-and-resumed dataset equals the uninterrupted one
    assert sorted(map(json.dumps, rows)) == sorted(map(json.dumps, _rows(reference)))
    # a third run has nothing left to do
    again = synthesize(out=out, **settings)
    assert again.pairs_resumed == 5 and len(_rows(out)) == len(rows)


def test_resume_with_other_settings_is_refused(qa_file, tiny_teacher, tmp_path):
    out = tmp_path / "data"
    synthesize(qa=qa_file, teacher=tiny_teacher, out=out, max_pairs=1, show_progress=False)
    with pytest.raises(InvalidInputError, match="other settings.*hard_negatives"):
        synthesize(qa=qa_file, teacher=tiny_teacher, out=out, hard_negatives=5, show_progress=False)


def test_bad_qa_input(tmp_path, tiny_teacher):
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps(QA[0]) + "\n" + json.dumps({"question": "why?", "answer": "  "}) + "\n")
    with pytest.raises(InvalidInputError, match=r"qa.jsonl:2: 'answer' must be a non-empty string"):
        synthesize(qa=path, teacher=tiny_teacher, out=tmp_path / "o")
    path.write_text(json.dumps({"question": "why?"}) + "\n")
    with pytest.raises(InvalidInputError, match=r"qa.jsonl:1: missing field 'answer'"):
        load_qa_pairs(path)
    path.write_text(json.dumps(QA[0]) + "\n" + json.dumps(QA[0]) + "\n")
    with pytest.raises(InvalidInputError, match="duplicate id 'q1'"):
        load_qa_pairs(path)
    # ids unique within each domain only (BRIGHT numbers each site's pairs from 0): qualified by the domain
    path.write_text(json.dumps(QA[0]) + "\n" + json.dumps({**QA[1], "id": "q1"}) + "\n")
    assert [p.id for p in load_qa_pairs(path)[0]] == ["biology/q1", "travel/q1"]
    path.write_text(json.dumps(QA[0]) + "\n" + json.dumps({"question": "q", "answer": ""}) + "\n{}\n")
    pairs, invalid = load_qa_pairs(path, skip_invalid=True)
    assert len(pairs) == 1 and invalid == {"empty_answer": 1, "missing_question": 1}
    with pytest.raises(InvalidInputError, match="SynthesizeConfig needs"):
        synthesize(qa=path, out=tmp_path / "o")
    with pytest.raises(InvalidInputError, match="missing_marker must be"):
        synthesize(qa=path, teacher=tiny_teacher, out=tmp_path / "o", missing_marker="maybe")
    with pytest.raises(InvalidInputError, match="num_queries must be a positive integer"):
        synthesize(SynthesizeConfig(qa=path, teacher=tiny_teacher, out=tmp_path / "o", num_queries=0))


def test_user_corpus_passages_become_candidates(qa_file, tiny_teacher, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in [
        "plants need light and water to grow", "the eiffel tower is a big tower in paris",
        "dogs and cats are pets", "python programs process data"]))
    out = tmp_path / "data"
    synthesize(qa=qa_file, teacher=tiny_teacher, out=out, corpus=corpus, corpus_negatives=1, missing_marker="keep",
               show_progress=False)
    rows = _rows(out)
    from_corpus = [r for r in rows if r["candidate"] == "corpus"]
    assert from_corpus and all(r["source_pair"] is None for r in from_corpus)


@pytest.mark.slow
def test_smollm2_teacher_accounting(qa_file, smollm2_dir, tmp_path):
    """A real instruct teacher: every judgment is either a row or a counted drop."""
    from interank_sdk import Reranker

    teacher = Reranker(str(smollm2_dir), strategy="reasoning", max_new_tokens=24, batch_size=8)
    report = synthesize(qa=qa_file, teacher=teacher, out=tmp_path / "d", max_pairs=1, num_queries=1,
                        hard_negatives=1, random_negatives=0, query_max_new_tokens=24, show_progress=False)
    assert report.rows + report.dropped_total == report.judgments > 0
    assert report.dropped.get("missing_marker", 0) <= report.missing_marker
    for row in _rows(tmp_path / "d"):
        assert row["teacher_wrote_marker"] is True and row["explanation"]
