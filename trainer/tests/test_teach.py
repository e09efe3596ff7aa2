"""teach: pools from judgments / QA pairs / a bare corpus, scored by a real (tiny, random) teacher Reranker;
accounting of bad input, resume after an interrupt, determinism."""

from __future__ import annotations

import json

import pytest
from interank_sdk.errors import InvalidInputError

from distill_samples import QRELS, RUN, write_trec
from interank_trainer import SamplingConfig, TeachConfig, teach
from interank_trainer.data.formats import MANIFEST_FILE, PROGRESS_FILE
from interank_trainer.data.pools import Pool, PoolDoc, PoolProblems, finalize_pool, sample_ranking
from interank_trainer.student.teach import FAILURES_FILE, SCORES_FILE, SYNTHETIC_FILE, read_scores

SAMPLING = SamplingConfig(depth=8, top_k=3, deep_k=2, seed=1)


@pytest.fixture(scope="module")
def qlm_teacher(tiny_model):
    from interank_sdk import Reranker

    return Reranker(str(tiny_model), strategy="qlm", dtype="float32", batch_size=8)


@pytest.fixture
def trec(tmp_path):
    return write_trec(tmp_path / "trec")


def _settings(trec, teacher, **extra):
    return dict(judgments=trec, teacher=teacher, sampling=SAMPLING, show_progress=False, **extra)


def test_sample_ranking_top_and_stratified_deep_ranks():
    ranking = [f"d{i}" for i in range(1, 101)]
    config = SamplingConfig(depth=100, top_k=10, deep_k=3, seed=0)
    picked = sample_ranking(ranking, config, "q")
    assert [r for _, r in picked[:10]] == list(range(1, 11))
    deep = [r for _, r in picked[10:]]
    # one rank from each band of ranks 11-100: 11-40, 41-70, 71-100
    assert len(deep) == 3 and 11 <= deep[0] <= 40 < deep[1] <= 70 < deep[2] <= 100
    assert picked == sample_ranking(ranking, config, "q")  # deterministic per (seed, key)
    others = {tuple(sample_ranking(ranking, SamplingConfig(depth=100, top_k=10, deep_k=3, seed=s), "q"))
              for s in range(8)}
    assert len(others) > 1  # the seed moves the deep picks
    assert sample_ranking(ranking[:12], config, "q")[10:] == [("d11", 11), ("d12", 12)]  # fewer ranks than bands


def test_finalize_pool_counts_bad_passages_and_pools():
    problems = PoolProblems()
    docs = [PoolDoc("a", "text a", "rank:1", 2, True), PoolDoc("a", "again", "rank:2"), PoolDoc("b", " ", "rank:3"),
            PoolDoc("c", "text c", "rank:4", 0)]
    pool = finalize_pool(Pool("q", "a query", "judgments", docs), require_positive=True, problems=problems)
    assert [d.doc_id for d in pool.docs] == ["a", "c"]
    assert problems.counts == {"duplicate_passage_id": 1, "empty_passage": 1}
    no_pos = [PoolDoc("x", "t", "rank:1", 0), PoolDoc("y", "u", "rank:2")]
    assert finalize_pool(Pool("q2", "q", "judgments", no_pos), require_positive=True, problems=problems) is None
    assert finalize_pool(Pool("q3", "  ", "judgments", docs[:1]), require_positive=False, problems=problems) is None
    assert finalize_pool(Pool("q4", "q", "judgments", docs[:1]), require_positive=False, problems=problems) is None
    assert problems.counts == {"duplicate_passage_id": 1, "empty_passage": 1, "no_positive": 1, "empty_query": 1,
                               "too_few_passages": 1}


def test_teach_judgments_scores_every_pool_with_the_teacher(trec, qlm_teacher, tmp_path):
    out = tmp_path / "scores"
    report = teach(out=out, **_settings(trec, qlm_teacher))
    rows = read_scores(out)
    # query 5 has no positive: dropped and counted; the passage missing from the corpus and the empty one too
    assert [r["pool_id"] for r in rows] == ["1", "2", "3", "4"]
    assert report.dropped == {"no_positive": 1, "missing_passage": 1, "empty_passage": 1}
    assert report.pools_total == report.pools_done == 4 and report.pairs == sum(len(r["docs"]) for r in rows)
    assert report.pairs_this_run == report.pairs and report.pairs_per_second > 0
    for row in rows:
        qrels = QRELS[row["pool_id"]]
        assert row["grades"] == [qrels.get(d) for d in row["doc_ids"]]
        assert row["positives"] == [qrels.get(d, 0) >= 1 for d in row["doc_ids"]]
        top = [d for d in RUN[row["pool_id"]][:3] if d not in ("missing", "empty")]
        assert row["doc_ids"][:len(top)] == top and len(row["doc_ids"]) == len(top) + 2  # + 2 deep picks
        # the stored scores are the teacher's scores of exactly these passages
        assert row["teacher_scores"] == pytest.approx(qlm_teacher.score(row["query"], row["docs"]), rel=1e-5)
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["status"] == "complete" and manifest["dropped"] == report.dropped
    assert manifest["pairs_per_second"] > 0 and manifest["teacher"]["strategy"] == "qlm"
    import datasets

    ds = datasets.load_dataset("json", data_files=str(out / SCORES_FILE), split="train")
    assert len(ds) == 4 and {"query", "docs", "teacher_scores", "grades"} <= set(ds.column_names)


def test_resume_after_interrupt_neither_redoes_nor_duplicates(trec, qlm_teacher, tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    teach(out=reference, **_settings(trec, qlm_teacher))
    out = tmp_path / "interrupted"
    real = qlm_teacher.score_batch
    calls = {"n": 0}

    def interrupting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated Ctrl-C")
        return real(*args, **kwargs)

    monkeypatch.setattr(qlm_teacher, "score_batch", interrupting)
    with pytest.raises(KeyboardInterrupt):
        teach(out=out, **_settings(trec, qlm_teacher))
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["status"] == "interrupted" and manifest["pools_done"] == 2
    # a torn write: a row whose chunk was never recorded is discarded on resume
    with (out / SCORES_FILE).open("a") as handle:
        handle.write(json.dumps({"pool_id": "3", "query": "x", "docs": ["y"], "teacher_scores": [0.0]}) + "\n")
    counted = {"pairs": 0}

    def counting(queries, docs):
        counted["pairs"] += sum(len(d) for d in docs)
        return real(queries, docs)

    monkeypatch.setattr(qlm_teacher, "score_batch", counting)
    report = teach(out=out, **_settings(trec, qlm_teacher))
    assert report.pools_resumed == 2 and report.pools_done == 4
    # only the two pools left were scored again
    assert counted["pairs"] == report.pairs_this_run == sum(len(r["docs"]) for r in read_scores(out)[2:])
    assert (out / SCORES_FILE).read_text() == (reference / SCORES_FILE).read_text()
    again = teach(out=out, **_settings(trec, qlm_teacher))
    assert again.pools_resumed == 4 and again.pairs_this_run == 0
    assert len(read_scores(out)) == 4 and len((out / PROGRESS_FILE).read_text().splitlines()) == 4


def test_max_minutes_stops_between_chunks_and_a_rerun_resumes(trec, qlm_teacher, tmp_path):
    out = tmp_path / "scores"
    stopped = teach(out=out, max_minutes=1e-9, **_settings(trec, qlm_teacher))
    assert stopped.stopped and stopped.pools_done == 1 and len(read_scores(out)) == 1
    assert json.loads((out / MANIFEST_FILE).read_text())["status"] == "stopped"
    rest = teach(out=out, **_settings(trec, qlm_teacher))
    assert not rest.stopped and rest.pools_resumed == 1 and rest.pools_done == 4
    assert rest.pairs_per_second_all > 0 and rest.pairs_this_run == rest.pairs - len(read_scores(out)[0]["docs"])


def test_teacher_failures_are_recorded_not_written(trec, qlm_teacher, tmp_path, monkeypatch):
    real = qlm_teacher.score_batch

    def failing(queries, docs):
        if any("capital" in q for q in queries):
            raise RuntimeError("the server went away")
        scores = real(queries, docs)
        return [[float("nan")] * len(s) if "cats" in q else s for q, s in zip(queries, scores)]

    monkeypatch.setattr(qlm_teacher, "score_batch", failing)
    out = tmp_path / "scores"
    report = teach(out=out, pools_per_call=2, **_settings(trec, qlm_teacher))
    assert [r["pool_id"] for r in read_scores(out)] == ["1", "4"]
    assert report.dropped["teacher_error"] == 1 and report.dropped["teacher_non_finite"] == 1
    failures = [json.loads(line) for line in (out / FAILURES_FILE).read_text().splitlines()]
    assert {f["pool_id"]: f["reason"] for f in failures} == {"2": "teacher_error", "3": "teacher_non_finite"}
    assert "the server went away" in failures[0]["error"]


def test_other_settings_are_refused_and_sources_checked(trec, qlm_teacher, tmp_path):
    out = tmp_path / "scores"
    teach(out=out, **_settings(trec, qlm_teacher))
    with pytest.raises(InvalidInputError, match="other settings.*sampling"):
        teach(out=out, judgments=trec, teacher=qlm_teacher, sampling=SamplingConfig(depth=8, top_k=4),
              show_progress=False)
    with pytest.raises(InvalidInputError, match="exactly one pool source"):
        teach(out=out, teacher=qlm_teacher)
    with pytest.raises(InvalidInputError, match="exactly one pool source"):
        teach(out=out, teacher=qlm_teacher, judgments=trec, qa=trec / "queries.jsonl")
    with pytest.raises(InvalidInputError, match="top_k .* must be <= depth"):
        teach(TeachConfig(out=out, teacher=qlm_teacher, judgments=trec, sampling=SamplingConfig(depth=2, top_k=3)))
    with pytest.raises(InvalidInputError, match="ray needs|rebuilt in another process"):
        teach(out=tmp_path / "r", ray="local", **_settings(trec, qlm_teacher))


def test_teach_qa_pairs(qa_file, qlm_teacher, tmp_path):
    out = tmp_path / "qa"
    report = teach(out=out, qa=qa_file, teacher=qlm_teacher, sampling=SamplingConfig(depth=3, top_k=2, deep_k=1),
                   show_progress=False)
    rows = read_scores(out)
    assert report.source == "qa" and len(rows) == 5 and report.dropped == {}
    for row in rows:
        assert row["origins"][0] == "answer" and row["positives"] == [True] + [False] * (len(row["docs"]) - 1)
        assert row["doc_ids"][0] == f"qa:{row['pool_id']}" and len(set(row["doc_ids"])) == len(row["doc_ids"]) == 4


def test_teach_bare_corpus_with_synthetic_queries(trec, qlm_teacher, tmp_path):
    out = tmp_path / "corpus"
    settings = dict(out=out, corpus=trec / "corpus.jsonl", teacher=qlm_teacher, synthetic_queries=8,
                    keep_fraction=0.5, query_max_new_tokens=8, sampling=SamplingConfig(depth=6, top_k=3, deep_k=1),
                    show_progress=False)
    report = teach(**settings)
    synthetic = report.synthetic
    assert synthetic["sampled"] == 8
    assert synthetic["generated"] + sum(v for k, v in synthetic["rejected"].items()
                                        if k != "filtered_by_teacher_score") == 8
    assert synthetic["kept"] == -(-synthetic["generated"] // 2)  # ceil(0.5 x generated)
    written = [json.loads(line) for line in (out / SYNTHETIC_FILE).read_text().splitlines()]
    assert len(written) == 8
    kept = {w["source"]: w for w in written if w["query"]}
    best = sorted(kept.values(), key=lambda w: (-w["score"], w["source"]))[:synthetic["kept"]]
    rows = read_scores(out)
    assert rows and {r["pool_id"] for r in rows} <= {f"syn:{w['source']}" for w in best}
    for row in rows:
        assert row["origins"][0] == "source" and row["positives"][0] and row["query"] == kept[row["doc_ids"][0]]["query"]
    # a rerun writes no query twice and scores nothing again
    again = teach(**settings)
    assert again.pairs_this_run == 0 and len((out / SYNTHETIC_FILE).read_text().splitlines()) == 8
