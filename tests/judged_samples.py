"""A TREC folder whose judgments follow a reranker's own scores, for tests of what is fitted on judgments
(calibration): a tiny random model has no relevance signal of its own, so its judgments are made from its scores
(above each query's median: grade 2), with 20% of them flipped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

WORDS = ("plants sugar light water leaf green sun energy cell root tower paris river stone bread music "
         "engine wheel road city code data graph table").split()


def trec_following(reranker, root: Path, seed: int = 0, n_queries: int = 12, depth: int = 10):
    """A TREC folder whose judgments follow ``reranker``'s raw scores (above each query's median: grade 2), with
    20% of them flipped."""
    rng = np.random.default_rng(seed)
    corpus = {f"d{i}": " ".join(rng.choice(WORDS, size=12)) for i in range(120)}
    queries = {f"q{i}": " ".join(rng.choice(WORDS, size=4)) for i in range(n_queries)}
    run = {q: [f"d{j}" for j in rng.choice(120, size=depth, replace=False)] for q in queries}
    qrels: dict[str, dict[str, int]] = {}
    for q, docids in run.items():
        raw = reranker.predict([(queries[q], corpus[d]) for d in docids])
        cut = np.median(raw)
        qrels[q] = {d: int((r > cut) != (rng.random() < 0.2)) * 2 for d, r in zip(docids, raw)}
    data = root / "trec"
    data.mkdir(parents=True)
    (data / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()))
    (data / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, "text": t}) + "\n" for d, t in corpus.items()))
    (data / "qrels.tsv").write_text("".join(f"{q}\t0\t{d}\t{g}\n" for q, j in qrels.items() for d, g in j.items()))
    (data / "run.bm25.top100.trec").write_text("".join(
        f"{q} Q0 {d} {k + 1} {10.0 - k} BM25\n" for q, docids in run.items() for k, d in enumerate(docids)))
    return data, queries, corpus, run
