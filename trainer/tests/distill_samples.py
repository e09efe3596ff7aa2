"""A small TREC-style folder (queries, corpus, graded judgments, a BM25-like run) for the teach/student tests.

Words come from the tiny test model's vocabulary, so its tokenizer sees no unknown words.
"""

from __future__ import annotations

import json
from pathlib import Path

QUERIES = {
    "1": "why do plants need light",
    "2": "what is the capital of france",
    "3": "what do cats eat",
    "4": "which language is good for data",
    "5": "what does a kinase do",
}
PASSAGES = {
    "p1": "plants use light energy in photosynthesis to make food",
    "p2": "the leaf is green because of chlorophyll and light",
    "p3": "paris is the capital of france",
    "p4": "the eiffel tower is in paris on the river seine",
    "p5": "cats eat fish and drink water",
    "p6": "dogs eat food made for pets",
    "p7": "python is a good language for data programs",
    "p8": "java is a computer language",
    "p9": "a kinase is an enzyme protein in the cell",
    "p10": "the body uses protein for health",
    "p11": "trees in the forest need water",
    "p12": "london is the capital of england",
    "empty": "   ",
}
#: query 5 has no positive judgment: its pool must be dropped and counted
QRELS = {
    "1": {"p1": 3, "p2": 2, "p11": 0, "p5": 0},
    "2": {"p3": 3, "p4": 1, "p12": 0},
    "3": {"p5": 3, "p6": 1, "p11": 0},
    "4": {"p7": 3, "p8": 2, "p12": 0},
    "5": {"p9": 0, "p10": 0},
}
#: first-stage rankings (every passage of the corpus appears somewhere, one is missing from the corpus)
RUN = {
    "1": ["p11", "missing", "p1", "p2", "p5", "p6", "p3", "p9", "p10"],
    "2": ["p12", "p3", "empty", "p4", "p1", "p8", "p7"],
    "3": ["p6", "p5", "p11", "p10", "p2", "p4", "p3"],
    "4": ["p8", "p7", "p12", "p9", "p1", "p2", "p6"],
    "5": ["p10", "p9", "p1", "p2", "p3", "p4", "p5"],
}


def write_trec(folder: Path) -> Path:
    """Write the sample as ``queries.jsonl``, ``corpus.jsonl``, ``qrels.tsv`` and ``run.bm25.top100.trec``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items()))
    (folder / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": d, "title": "", "text": t}) + "\n" for d, t in PASSAGES.items()))
    (folder / "qrels.tsv").write_text("".join(f"{q}\t{d}\t{g}\n" for q, judged in QRELS.items() for d, g in judged.items()))
    (folder / "run.bm25.top100.trec").write_text("".join(
        f"{q} Q0 {d} {rank} {20 - rank}.0 bm25\n" for q, docs in RUN.items() for rank, d in enumerate(docs, start=1)))
    return folder
