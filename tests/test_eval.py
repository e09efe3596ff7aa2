"""Tests of interank_sdk.eval: loaders, metrics (ir-measures) and the rerank runner.

The benchmark data is read from ``$INTERANK_DATA`` or ``<repo>/../shared/data``.
"""

from __future__ import annotations

import math
import os
import re
import statistics
from pathlib import Path

import pytest

from interank_sdk.errors import InteRankError, InvalidInputError
from interank_sdk.eval import (
    TrecDataset,
    default_data_dir,
    evaluate_reranker,
    evaluate_run,
    friendly_name,
    load_qrels,
    load_queries,
    load_run,
    paired_bootstrap,
    per_query,
    rerank_run,
    write_run,
)

REPO = Path(__file__).resolve().parent.parent
DATA_ROOT = Path(os.environ.get("INTERANK_DATA") or REPO.parent / "shared" / "data")
DL19 = DATA_ROOT / "trec-dl19-passage"
DL21 = DATA_ROOT / "trec-dl21-passage"

needs_dl19 = pytest.mark.skipif(not DL19.is_dir(), reason=f"DL19 data not found at {DL19} (set INTERANK_DATA)")
needs_dl21 = pytest.mark.skipif(not DL21.is_dir(), reason=f"DL21 data not found at {DL21} (set INTERANK_DATA)")

BM25_DL19 = {"nDCG@10": 0.5058, "MRR@10": 0.8233, "Recall@100": 0.4531}
BM25_DL21_NDCG10 = 0.4458


@pytest.fixture(scope="module")
def dl19() -> TrecDataset:
    return TrecDataset.load(DL19)


@pytest.fixture(scope="module")
def bm25_dl19() -> dict:
    return load_run(DL19 / "run.bm25.top100.trec")


# --------------------------------------------------------------------------- loaders


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("INTERANK_DATA", raising=False)
    assert default_data_dir() == REPO.parent / "shared" / "data" / "trec-dl19-passage"
    assert default_data_dir("trec-dl21-passage").name == "trec-dl21-passage"
    monkeypatch.setenv("INTERANK_DATA", str(tmp_path))
    assert default_data_dir("x") == tmp_path / "x"


@needs_dl19
def test_load_dl19(dl19, bm25_dl19):
    assert len(dl19.queries) == 43
    assert len(dl19.corpus) == 14581
    assert len(dl19.qrels) == 43
    assert sum(len(j) for j in dl19.qrels.values()) == 9260
    assert set(dl19.qrels["19335"].values()) <= {0, 1, 2, 3}
    doc = dl19.corpus["5611210"]
    assert doc["title"] is None and doc["text"].startswith("5. Cancel. A flea")
    assert dl19.queries["264014"] == "how long is life cycle of flea"

    assert len(bm25_dl19) == 43 and all(len(docs) == 100 for docs in bm25_dl19.values())
    first = bm25_dl19["264014"]
    assert first[0][0] == "5611210" and first[0][1] == pytest.approx(15.780599594116211)
    assert all(a[1] >= b[1] for docs in bm25_dl19.values() for a, b in zip(docs, docs[1:]))

    top10 = load_run(DL19 / "run.bm25.top100.trec", depth=10)
    assert all(docs == bm25_dl19[q][:10] for q, docs in top10.items())


@needs_dl19
def test_load_with_corpus_subset(bm25_dl19):
    wanted = {d for docs in bm25_dl19.values() for d, _ in docs[:5]}
    subset = TrecDataset.load(DL19, corpus_ids=wanted)
    assert set(subset.corpus) == wanted
    assert len(subset.queries) == 43


@needs_dl19
def test_qrels_four_columns_and_header(tmp_path, dl19):
    four = tmp_path / "four.qrels"
    three_hdr = tmp_path / "beir.tsv"
    rows = [(q, d, g) for q, judged in dl19.qrels.items() for d, g in judged.items()]
    four.write_text("".join(f"{q} 0 {d} {g}\n" for q, d, g in rows))
    three_hdr.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{g}\n" for q, d, g in rows))
    assert load_qrels(four) == dl19.qrels
    assert load_qrels(three_hdr) == dl19.qrels


def test_load_run_orders_by_rank_then_score(tmp_path):
    path = tmp_path / "run.trec"
    path.write_text(
        "q1 Q0 c 3 1.0 t\n"
        "q2 Q0 x 1 9.0 t\n"
        "q1 Q0 a 1 5.0 t\n"
        "q1 Q0 b2 2 2.0 t\n"
        "q1 Q0 b1 2 4.0 t\n"  # same rank as b2: higher score first
        "\n"
    )
    run = load_run(path)
    assert list(run) == ["q1", "q2"]
    assert [d for d, _ in run["q1"]] == ["a", "b1", "b2", "c"]
    assert run["q1"][1] == ("b1", 4.0)
    assert [d for d, _ in load_run(path, depth=2)["q1"]] == ["a", "b1"]


def test_write_load_round_trip(tmp_path):
    run = {
        "q1": [("d3", 0.9), ("d1", 0.9), ("d2", -1.5e-7)],  # tied scores keep their order via ranks
        "q2": [("d9", 1 / 3)],
    }
    path = write_run(run, tmp_path / "sub" / "out.trec", tag="test")
    lines = path.read_text().splitlines()
    assert lines[0].split() == ["q1", "Q0", "d3", "1", "0.9", "test"]
    assert [line.split()[3] for line in lines] == ["1", "2", "3", "1"]
    assert load_run(path) == run
    with pytest.raises(InvalidInputError):
        write_run(run, tmp_path / "bad.trec", tag="two words")
    with pytest.raises(InvalidInputError):
        write_run({"q": [("doc id", 1.0)]}, tmp_path / "bad.trec")


@pytest.mark.parametrize(
    "content, pattern",
    [
        ("q1 Q0 a 1 2.0 t\nq1 Q0 b 2 1.0\n", r"bad\.trec:2: expected 6 columns"),
        ("q1 Q0 a one 2.0 t\n", r"bad\.trec:1: rank 'one' is not an integer"),
        ("q1 Q0 a 1 high t\n", r"bad\.trec:1: score 'high' is not a number"),
        ("q1 Q0 a 1 nan t\n", r"bad\.trec:1: score is NaN"),
        ("q1 Q0 a 1 2.0 t\n\nq1 Q0 a 2 1.0 t\n", r"bad\.trec:3: document 'a' is listed twice .* line 1"),
    ],
)
def test_malformed_run(tmp_path, content, pattern):
    path = tmp_path / "bad.trec"
    path.write_text(content)
    with pytest.raises(InvalidInputError, match=pattern):
        load_run(path)


def test_malformed_qrels_queries_and_missing_files(tmp_path):
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("q1\td1\t1\nq1\td2\n")
    with pytest.raises(InvalidInputError, match=r"qrels\.tsv:2: expected 3 columns"):
        load_qrels(qrels)
    qrels.write_text("q1\td1\trelevant\n")
    with pytest.raises(InvalidInputError, match=r"qrels\.tsv:1: relevance grade 'relevant'"):
        load_qrels(qrels)

    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"_id": "1", "text": "a"}\n{"_id": "2", "text": \n')
    with pytest.raises(InvalidInputError, match=r"queries\.jsonl:2: invalid JSON"):
        load_queries(queries)
    queries.write_text('{"_id": "1"}\n')
    with pytest.raises(InvalidInputError, match=r"queries\.jsonl:1: missing field\(s\) 'text'"):
        load_queries(queries)

    with pytest.raises(InvalidInputError, match="run file not found"):
        load_run(tmp_path / "nope.trec")
    with pytest.raises(InvalidInputError, match="dataset folder not found"):
        TrecDataset.load(tmp_path / "nope")
    (tmp_path / "ds").mkdir()
    with pytest.raises(InvalidInputError, match="queries file not found"):
        TrecDataset.load(tmp_path / "ds")
    with pytest.raises(InvalidInputError):
        load_run(tmp_path / "x", depth=0)


# --------------------------------------------------------------------------- metrics


def test_friendly_names():
    assert friendly_name("nDCG@10") == "nDCG@10"
    assert friendly_name("RR@10") == "MRR@10"
    assert friendly_name("RR(rel=1)@10") == "MRR@10"
    assert friendly_name("R@100") == "Recall@100"
    assert friendly_name("R(rel=2)@100") == "Recall(rel=2)@100"
    with pytest.raises(InvalidInputError, match="unknown measure"):
        friendly_name("NotAMeasure@3")


def test_metrics_small_hand_checked():
    qrels = {"q": {"a": 2, "b": 0, "c": 1}}
    run = {"q": [("b", 3.0), ("c", 2.0), ("a", 1.0)]}
    m = evaluate_run(run, qrels, ("RR@10", "R@2", "P@1"))
    assert m == {"MRR@10": pytest.approx(0.5), "Recall@2": pytest.approx(0.5), "P@1": 0.0}
    # rank_by="order" ignores the scores and uses the list order
    assert evaluate_run({"q": [("a", 0.0), ("b", 0.0), ("c", 0.0)]}, qrels, ["RR@10"], rank_by="order") == {
        "MRR@10": 1.0
    }
    with pytest.raises(InvalidInputError, match="no query in common"):
        evaluate_run({"other": [("a", 1.0)]}, qrels)
    with pytest.raises(InvalidInputError, match="twice"):
        evaluate_run({"q": [("a", 1.0), ("a", 0.5)]}, qrels)


def test_paired_bootstrap_interval_of_a_difference():
    a = {f"q{i}": 0.5 for i in range(40)}
    better = {q: v + (0.1 if i % 2 else 0.0) for i, (q, v) in enumerate(a.items())}  # +0.05 on average, always >= 0
    out = paired_bootstrap(a, better, rounds=2000, seed=1)
    assert out["mean_difference"] == pytest.approx(0.05) and out["b_wins"] == 20 and out["ties"] == 20
    low, high = out["bootstrap_95"]
    assert 0.0 < low < 0.05 < high <= 0.1  # a sure gain: the interval excludes 0
    noise = {q: v + (0.1 if i % 2 else -0.1) for i, (q, v) in enumerate(a.items())}
    low, high = paired_bootstrap(a, noise, rounds=2000)["bootstrap_95"]
    assert low < 0 < high  # no gain on average: the interval holds 0
    assert paired_bootstrap(a, better, rounds=2000, seed=1) == out  # seeded
    with pytest.raises(InvalidInputError, match="same queries"):
        paired_bootstrap(a, {"q0": 1.0})


@needs_dl19
def test_bm25_dl19_metrics(dl19, bm25_dl19):
    metrics = evaluate_run(bm25_dl19, dl19.qrels)
    assert list(metrics) == ["nDCG@10", "MRR@10", "Recall@100"]
    for name, expected in BM25_DL19.items():
        assert metrics[name] == pytest.approx(expected, abs=5e-4), name

    pq = per_query(bm25_dl19, dl19.qrels)
    assert set(pq) == set(dl19.qrels)
    for name in metrics:
        assert statistics.mean(v[name] for v in pq.values()) == pytest.approx(metrics[name], abs=1e-12)

    # per-query values agree with trec_eval itself (pytrec_eval), fed the run file and qrels
    pytrec_eval = pytest.importorskip("pytrec_eval")
    evaluator = pytrec_eval.RelevanceEvaluator(dl19.qrels, {"ndcg_cut.10", "recip_rank", "recall.100"})
    reference = evaluator.evaluate({q: dict(docs) for q, docs in bm25_dl19.items()})
    for qid, values in pq.items():
        assert values["nDCG@10"] == pytest.approx(reference[qid]["ndcg_cut_10"], abs=1e-9), qid
        assert values["Recall@100"] == pytest.approx(reference[qid]["recall_100"], abs=1e-9), qid
        # trec_eval's recip_rank has no cutoff; equal to RR@10 whenever the first relevant is in the top 10
        if reference[qid]["recip_rank"] >= 0.1:
            assert values["MRR@10"] == pytest.approx(reference[qid]["recip_rank"], abs=1e-9), qid


@needs_dl21
def test_bm25_dl21_ndcg():
    dataset = TrecDataset.load(DL21, corpus_ids=set())
    metrics = evaluate_run(load_run(DL21 / "run.bm25.top100.trec"), dataset.qrels, ["nDCG@10"])
    assert metrics["nDCG@10"] == pytest.approx(BM25_DL21_NDCG10, abs=5e-4)


# --------------------------------------------------------------------------- runner

_WORD = re.compile(r"\w+")


class _Result:
    def __init__(self, index: int, score: float):
        self.index, self.score = index, score


class OverlapReranker:
    """Stands in for the model only to test the runner's plumbing: it scores a
    document by the fraction of query terms it contains (no model involved)."""

    def __init__(self):
        self.calls: list[tuple[list[str], list[list[dict]]]] = []

    def score(self, query: str, doc: dict) -> float:
        q = set(_WORD.findall(query.lower()))
        d = set(_WORD.findall(((doc["title"] or "") + " " + doc["text"]).lower()))
        return len(q & d) / max(len(q), 1)

    def rerank_batch(self, queries, documents_per_query):
        self.calls.append((list(queries), [list(docs) for docs in documents_per_query]))
        out = []
        for query, docs in zip(queries, documents_per_query):
            scored = [_Result(i, self.score(query, doc)) for i, doc in enumerate(docs)]
            out.append(sorted(scored, key=lambda r: -r.score))  # stable: ties keep input order
        return out


class OracleReranker(OverlapReranker):
    """Scores by the judged grade: an upper bound, to check the runner reorders what it is told."""

    def __init__(self, dataset: TrecDataset):
        super().__init__()
        self.qid_of = {text: qid for qid, text in dataset.queries.items()}
        self.qrels = dataset.qrels

    def score(self, query: str, doc: dict) -> float:
        return float(self.qrels[self.qid_of[query]].get(doc["id"], 0))


@needs_dl19
def test_rerank_run_depth_and_length(dl19, bm25_dl19):
    reranker = OverlapReranker()
    out = rerank_run(reranker, dl19, bm25_dl19, depth=20, batch_queries=5, progress=False)
    assert list(out) == list(bm25_dl19)
    assert len(reranker.calls) == math.ceil(43 / 5)
    queries, docs = reranker.calls[0]
    assert len(queries) == 5 and all(len(d) == 20 for d in docs)
    first_doc = docs[0][0]
    assert set(first_doc) == {"text", "title", "id"}
    assert first_doc["id"] == "5611210" and first_doc["title"] is None
    assert first_doc["text"] == dl19.corpus["5611210"]["text"]

    for qid, ranked in out.items():
        original = [d for d, _ in bm25_dl19[qid]]
        ids = [d for d, _ in ranked]
        scores = [s for _, s in ranked]
        assert len(ranked) == 100
        assert sorted(ids[:20]) == sorted(original[:20])  # only the top 20 were reordered
        assert ids[20:] == original[20:]  # the rest keeps its order, below the reranked ones
        assert all(a >= b for a, b in zip(scores, scores[1:]))
        assert all(a > b for a, b in zip(scores[19:], scores[20:]))
        expected = sorted(original[:20], key=lambda d: -reranker.score(dl19.queries[qid], dl19.corpus[d]))
        assert ids[:20] == expected

    full = rerank_run(OverlapReranker(), dl19, bm25_dl19, depth=None, progress=False)
    assert all(len(v) == 100 for v in full.values())


@needs_dl19
def test_oracle_beats_bm25(dl19, bm25_dl19):
    bm25 = evaluate_run(bm25_dl19, dl19.qrels)["nDCG@10"]
    oracle = evaluate_run(rerank_run(OracleReranker(dl19), dl19, bm25_dl19, depth=100, progress=False), dl19.qrels)
    assert oracle["nDCG@10"] > bm25 + 0.3
    assert oracle["Recall@100"] == pytest.approx(evaluate_run(bm25_dl19, dl19.qrels)["Recall@100"])
    shallow = evaluate_run(rerank_run(OracleReranker(dl19), dl19, bm25_dl19, depth=10, progress=False), dl19.qrels)
    assert bm25 < shallow["nDCG@10"] < oracle["nDCG@10"]


@needs_dl19
def test_rerank_run_skips_unjudged_and_checks_contract(dl19, bm25_dl19):
    run = {"unjudged": [("5611210", 1.0)], "264014": bm25_dl19["264014"]}
    out = rerank_run(OverlapReranker(), dl19, run, depth=5, progress=False)
    assert list(out) == ["264014"]

    class Dropper(OverlapReranker):
        def rerank_batch(self, queries, documents_per_query):
            return [results[:-1] for results in super().rerank_batch(queries, documents_per_query)]

    with pytest.raises(InteRankError, match="exactly once"):
        rerank_run(Dropper(), dl19, run, depth=5, progress=False)
    with pytest.raises(InvalidInputError, match="not in the corpus"):
        rerank_run(OverlapReranker(), dl19, {"264014": [("no-such-doc", 1.0)]}, progress=False)
    with pytest.raises(InvalidInputError, match="rerank_batch"):
        rerank_run(object(), dl19, run, progress=False)
    with pytest.raises(InvalidInputError, match="depth"):
        rerank_run(OverlapReranker(), dl19, run, depth=0, progress=False)


@needs_dl19
def test_a_query_that_fails_is_recorded_and_the_run_goes_on(dl19, bm25_dl19):
    """Issue 23 item 7: one failing query never discards the other queries' work; it keeps its first-stage order
    and is named in ``failures`` (a batch it was part of is retried query by query)."""
    qids = list(bm25_dl19)[:6]
    run = {q: bm25_dl19[q] for q in qids}
    bad = dl19.queries[qids[2]]

    class FailsOnOne(OverlapReranker):
        def rerank_batch(self, queries, documents_per_query):
            if bad in queries:
                raise InvalidInputError("this query is too long for the model")
            return super().rerank_batch(queries, documents_per_query)

    reranker = FailsOnOne()
    out = rerank_run(reranker, dl19, run, depth=10, batch_queries=3, progress=False)
    assert list(out) == qids and set(out.failures) == {qids[2]}
    assert "InvalidInputError" in out.failures[qids[2]] and "too long" in out.failures[qids[2]]
    assert out[qids[2]] == [(str(d), float(s)) for d, s in run[qids[2]]]  # first-stage order, untouched
    good = rerank_run(OverlapReranker(), dl19, run, depth=10, batch_queries=3, progress=False)
    assert all(out[q] == good[q] for q in qids if q != qids[2]) and not good.failures
    with pytest.raises(InvalidInputError, match="too long"):
        rerank_run(reranker, dl19, run, depth=10, batch_queries=3, progress=False, on_error="raise")


@needs_dl19
def test_evaluate_reranker_end_to_end(tmp_path, dl19):
    metrics, run = evaluate_reranker(
        OracleReranker(dl19), DL19, "run.bm25.top100.trec", depth=30,
        max_queries=5, progress=False, output_run=tmp_path / "oracle.trec", tag="oracle",
    )
    assert len(run) == 5 and set(metrics) == {"nDCG@10", "MRR@10", "Recall@100"}
    assert metrics["MRR@10"] == 1.0
    assert load_run(tmp_path / "oracle.trec") == run
    assert metrics == pytest.approx(evaluate_run(run, {q: dl19.qrels[q] for q in run}))


def test_subset_of_queries_is_averaged_over_that_subset_only(dl19_dir):
    """Queries judged but absent from the run are ignored, not counted as zero (trec_eval default)."""
    from interank_sdk.eval import evaluate_run, load_qrels, load_run, per_query

    run = load_run(dl19_dir / "run.bm25.top100.trec")
    qrels = load_qrels(dl19_dir / "qrels.tsv")
    subset = {qid: run[qid] for qid in list(run)[:3]}
    values = per_query(subset, qrels)
    assert set(values) == set(subset)
    expected = sum(v["nDCG@10"] for v in values.values()) / 3
    assert evaluate_run(subset, qrels)["nDCG@10"] == pytest.approx(expected)


# --------------------------------------------------------------- QA pairs as a retrieval set
def _write_qa(path, rows):
    import json

    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_qa_pairs_as_a_retrieval_set_and_its_bm25_run():
    from interank_sdk.eval import bm25_run, qa_retrieval_set

    path = DATA_ROOT / "stackexchange-qa" / "qa_pairs.jsonl"
    if not path.exists():
        pytest.fail(f"StackExchange QA pairs not found at {path} (set INTERANK_DATA)")
    data = qa_retrieval_set(path)
    assert len(data.queries) == len(data.corpus) == len(data.qrels) == 749
    assert set(data.domains.values()) == {"biology", "earth-science", "economics", "psychology", "robotics",
                                          "stackoverflow", "sustainable-living"}
    qid = "biology/0"
    assert data.qrels[qid] == {"qa:biology/0": 1} and data.domains[qid] == "biology"
    assert not any(ch.isspace() for d in data.corpus for ch in d)
    run = bm25_run({q: data.queries[q] for q in list(data.queries)[:50]},
                   {d: p["text"] for d, p in data.corpus.items()}, depth=100)
    assert all(1 <= len(docs) <= 100 for docs in run.values())
    assert all(a[1] >= b[1] for docs in run.values() for a, b in zip(docs, docs[1:]))  # best first
    metrics = evaluate_run(run, {q: data.qrels[q] for q in run})
    assert 0.2 < metrics["nDCG@10"] < 0.9  # BM25 finds most accepted answers, not all at rank 1


def test_qa_retrieval_set_refuses_bad_rows_naming_file_and_line(tmp_path):
    from interank_sdk.eval import qa_retrieval_set

    rows = [{"id": "1", "question": "q one", "answer": "an answer"},
            {"id": "2", "question": "q two", "answer": "  an   answer "}]
    with pytest.raises(InvalidInputError, match=r"qa.jsonl:2: the answer repeats the answer on line 1"):
        qa_retrieval_set(_write_qa(tmp_path / "qa.jsonl", rows))
    rows[1]["answer"] = ""
    with pytest.raises(InvalidInputError, match=r"qa2.jsonl:2: 'answer' must be a non-empty string"):
        qa_retrieval_set(_write_qa(tmp_path / "qa2.jsonl", rows))
    assert list(qa_retrieval_set(_write_qa(tmp_path / "qa3.jsonl", rows), skip_invalid=True).queries) == ["1"]
