"""`interank serve`: a real uvicorn server on 127.0.0.1, real HTTP (httpx), the tiny random model.

Nothing is mocked: the app under test is the one `interank serve` runs, the
reranker is a real transformers model (random weights: these tests check the
service's contract and batching, not ranking quality).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

from interank_sdk import Reranker
from interank_sdk.serve import BackgroundServer, ServiceUnavailable, create_app, wait_ready

QUERY = "what do cats eat?"
DOCS = [
    "cats eat fish and food",
    "the eiffel tower is in paris",
    "dogs drink water",
    "python is a language",
]


@pytest.fixture(scope="module")
def reranker(tiny_model):
    # batch_size 16 and no padding bound: two requests of 4 documents fit in one forward pass
    return Reranker(str(tiny_model), strategy="yesno", dtype="float32", batch_size=16, max_padding=None)


@pytest.fixture(scope="module")
def server(reranker):
    app = create_app(
        reranker, max_documents=8, max_document_chars=300, max_body_bytes=4096, batch_wait_ms=300.0
    )
    with BackgroundServer(app) as url:
        yield url, app


def _post(url: str, payload, **kwargs) -> httpx.Response:
    return httpx.post(f"{url}/v1/rerank", json=payload, timeout=60, **kwargs)


def test_health(server, reranker):
    url, _ = server
    r = httpx.get(f"{url}/health", timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["model"] == Path(reranker.model_name).name  # a local folder is reported by its name, never its path
    assert body["strategy"] == "yesno"
    assert body["calibrated"] is False  # the tiny model's scores are its own, not P(relevant)
    assert body["limits"]["max_documents"] == 8


def test_rerank_matches_the_sdk(server, reranker):
    url, _ = server
    r = _post(url, {"query": QUERY, "documents": DOCS})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"id", "model", "results", "usage", "meta"}
    results = body["results"]
    assert sorted(x["index"] for x in results) == list(range(len(DOCS)))
    scores = [x["relevance_score"] for x in results]
    assert scores == sorted(scores, reverse=True)
    assert all("document" not in x for x in results)  # return_documents defaults to false (Cohere)
    direct = reranker.rerank(QUERY, DOCS)
    assert [x["index"] for x in results] == [d.index for d in direct]
    np.testing.assert_allclose(scores, [d.score for d in direct], atol=1e-5)


def test_objects_top_n_and_return_documents(server):
    url, _ = server
    docs = [
        {"text": "cats eat fish", "title": "cats", "id": 7, "metadata": {"source": "a"}},
        "the eiffel tower is in paris",
        {"text": "dogs drink water"},
    ]
    r = _post(url, {"model": "anything", "query": QUERY, "documents": docs, "top_n": 2, "return_documents": True})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == 2
    for item in results:
        original = docs[item["index"]]
        text = original if isinstance(original, str) else original["text"]
        assert item["document"]["text"] == text
        if item["index"] == 0:
            assert item["document"] == docs[0]  # returned as sent (Cohere v1), the id keeps its type
    full = _post(url, {"query": QUERY, "documents": docs}).json()["results"]
    assert [x["index"] for x in results] == [x["index"] for x in full[:2]]


def test_empty_documents_give_empty_results(server):
    url, _ = server
    r = _post(url, {"query": QUERY, "documents": []})
    assert r.status_code == 200
    assert r.json()["results"] == []


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"documents": DOCS}, "query", "field required"),
        ({"query": "   ", "documents": DOCS}, "query", "empty"),
        ({"query": QUERY}, "documents", "field required"),
        ({"query": QUERY, "documents": "cats eat fish"}, "documents", "list"),
        ({"query": QUERY, "documents": [{"title": "no text"}]}, "documents[0]", "has no 'text' field"),
        ({"query": QUERY, "documents": ["ok", ""]}, "documents", "documents[1] has an empty text"),
        ({"query": QUERY, "documents": [None]}, "documents.0", ""),
        ({"query": QUERY, "documents": DOCS, "top_n": 0}, "top_n", "greater than or equal to 1"),
        ({"query": QUERY, "documents": DOCS, "top_k": 2}, "top_k", "extra inputs are not permitted"),
        ({"query": QUERY, "documents": ["cats"] * 9}, "documents", "at most 8 per request"),
        ({"query": QUERY, "documents": ["cats " * 100]}, "documents", "longer than 300 characters"),
        ({"query": QUERY, "documents": [{"text": "x", "colour": 3}]}, "documents.0", "valid string"),
    ],
)
def test_validation_errors_are_clear_422(server, payload, field, words):
    url, _ = server
    r = _post(url, payload)
    assert r.status_code == 422, r.text
    body = r.json()
    assert field in body["message"]
    assert words.lower() in body["message"].lower()


def test_malformed_json_is_422(server):
    url, _ = server
    r = httpx.post(f"{url}/v1/rerank", content=b'{"query": "x", "documents": [', timeout=10,
                   headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert "json" in r.text.lower()


def test_a_long_query_is_cut_to_its_share_and_answered(server, reranker):
    """A query longer than its share of max_length keeps its first tokens and is scored (as Cohere truncates),
    with the SDK's scores for the same call."""
    url, _ = server
    long_query = " ".join(["cats"] * 600)
    r = _post(url, {"query": long_query, "documents": DOCS})
    assert r.status_code == 200, r.text
    expected = reranker.rerank(long_query, DOCS)
    assert all(x.query_truncated for x in expected)
    got = {item["index"]: item["relevance_score"] for item in r.json()["results"]}
    assert got == pytest.approx({x.index: x.score for x in expected}, abs=1e-5)


def test_a_query_that_leaves_no_room_is_422(tiny_model):
    """With a query_max_tokens that leaves the documents no room, the request is refused with the reason."""
    strict = Reranker(str(tiny_model), strategy="yesno", dtype="float32", max_length=96, query_max_tokens=90)
    with BackgroundServer(create_app(strict, max_documents=8, max_body_bytes=8192)) as url:
        r = _post(url, {"query": " ".join(["cats"] * 600), "documents": DOCS})
    assert r.status_code == 422
    assert "max_length" in r.json()["detail"]


def test_body_size_limit_413(server):
    url, _ = server
    big = {"query": QUERY, "documents": ["cats eat fish " * 50] * 8}  # 5.6 kB > 4096: 413 before any validation
    r = _post(url, big)
    assert r.status_code == 413
    assert "4096" in r.json()["detail"]

    def chunks():  # no content-length: the limit must hold for a streamed body too
        yield b'{"query": "cats", "documents": ["'
        for _ in range(100):
            yield b"cats eat fish " * 5
        yield b'"]}'

    r = httpx.post(f"{url}/v1/rerank", content=chunks(), headers={"content-type": "application/json"}, timeout=10)
    assert r.status_code == 413


def test_concurrent_requests_share_one_batch(server, reranker):
    url, app = server
    batcher = app.state.batcher
    other = ["cats drink water", "the sun is big", "fish eat plants"]
    queries = [(QUERY, DOCS), ("where is the eiffel tower?", other)]

    # sequential: one batch (and one forward pass) per request
    sequential = [_post(url, {"query": q, "documents": d}).json()["results"] for q, d in queries]

    async def together():
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(*[
                client.post(f"{url}/v1/rerank", json={"query": q, "documents": d}) for q, d in queries
            ])

    batches, passes = batcher.stats.batches, reranker.backend.forward_passes
    responses = asyncio.run(together())
    assert [r.status_code for r in responses] == [200, 200]
    assert batcher.stats.batches - batches == 1, "two concurrent requests must be scored in one rerank_batch call"
    assert reranker.backend.forward_passes - passes == 1, "their 7 pairs fit one forward pass of batch_size 16"
    assert batcher.stats.largest_batch >= 2
    for got, want in zip([r.json()["results"] for r in responses], sequential):
        assert [x["index"] for x in got] == [x["index"] for x in want]
        np.testing.assert_allclose([x["relevance_score"] for x in got], [x["relevance_score"] for x in want],
                                   atol=1e-5)


def test_a_bad_request_does_not_fail_its_batch_mates(tiny_model):
    # a query_max_tokens that leaves a long query's documents no room: that request fails inside the batch
    strict = Reranker(str(tiny_model), strategy="yesno", dtype="float32", batch_size=16, max_padding=None,
                      max_length=96, query_max_tokens=90)
    app = create_app(strict, max_documents=8, max_document_chars=300, max_body_bytes=8192, batch_wait_ms=300.0)
    with BackgroundServer(app) as url:
        failed = app.state.batcher.stats.failed_batches

        async def together():
            async with httpx.AsyncClient(timeout=60) as client:
                return await asyncio.gather(
                    client.post(f"{url}/v1/rerank", json={"query": QUERY, "documents": DOCS}),
                    client.post(f"{url}/v1/rerank", json={"query": " ".join(["cats"] * 600), "documents": DOCS}),
                )

        good, bad = asyncio.run(together())
        assert good.status_code == 200 and len(good.json()["results"]) == len(DOCS)
        assert bad.status_code == 422
        assert app.state.batcher.stats.failed_batches == failed + 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # a subprocess
def test_interank_serve_cli(tiny_model):
    """`interank serve` as a user runs it: a subprocess, then real requests."""
    port = _free_port()
    cmd = [sys.executable, "-m", "interank_sdk", "serve", "--model", str(tiny_model), "--strategy", "graded",
           "--dtype", "float32", "--port", str(port), "--max-documents", "3", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ})
    try:
        try:  # /health answers (alive) while the model loads; /ready once it can score
            wait_ready(f"http://127.0.0.1:{port}", process=proc, timeout=120)
        except ServiceUnavailable:
            pytest.fail(f"interank serve was not ready: {proc.stdout.read().decode()[-2000:] if proc.poll() else ''}")
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
        assert health["strategy"] == "graded"
        r = httpx.post(f"http://127.0.0.1:{port}/v1/rerank", json={"query": QUERY, "documents": DOCS[:3]}, timeout=60)
        assert r.status_code == 200
        assert sorted(x["index"] for x in r.json()["results"]) == [0, 1, 2]
        r = httpx.post(f"http://127.0.0.1:{port}/v1/rerank", json={"query": QUERY, "documents": DOCS}, timeout=60)
        assert r.status_code == 422 and "at most 3" in r.json()["message"]
    finally:
        proc.terminate()
        proc.wait(30)


def test_a_cascade_serves_unchanged_and_reports_no_path(tiny_model, tiny_reranker):
    """The lead's Cascade (a fast first stage, a second on the head) is just another reranker to the service."""
    from interank_sdk.cascade import Cascade

    second = Reranker(str(tiny_model), strategy="graded", dtype="float32")
    cascade = Cascade(tiny_reranker, second, depth=2)
    with BackgroundServer(create_app(cascade)) as url:
        r = _post(url, {"query": QUERY, "documents": DOCS, "return_documents": True})
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert sorted(x["index"] for x in results) == list(range(len(DOCS)))
        assert all(x["document"]["text"] == DOCS[x["index"]] for x in results)
        direct = cascade.rerank(QUERY, DOCS)
        assert [x["index"] for x in results] == [d.index for d in direct]
        for body in (r.json(), httpx.get(f"{url}/health", timeout=10).json()):
            assert str(tiny_model) not in json.dumps(body), "a local path leaked into a response"
            assert body["model"] == f"{tiny_model.name} -> {tiny_model.name}"


def test_min_score_is_an_extension_cohere_clients_never_see(server, reranker):
    url, _ = server
    plain = _post(url, {"query": QUERY, "documents": DOCS}).json()
    assert "nothing_relevant" not in plain  # a Cohere request gets today's response
    scores = sorted(r["relevance_score"] for r in plain["results"])
    threshold = scores[len(scores) // 2]
    body = _post(url, {"query": QUERY, "documents": DOCS, "min_score": threshold, "top_n": len(DOCS)}).json()
    expected = [r["index"] for r in plain["results"] if r["relevance_score"] >= threshold]
    assert [r["index"] for r in body["results"]] == expected and body["nothing_relevant"] is False
    top1 = _post(url, {"query": QUERY, "documents": DOCS, "min_score": threshold, "top_n": 1}).json()
    assert [r["index"] for r in top1["results"]] == expected[:1]  # the threshold first, then top_n
    none = _post(url, {"query": QUERY, "documents": DOCS, "min_score": 1.0}).json()
    assert none["results"] == [] and none["nothing_relevant"] is True
    for bad in (1.5, -0.1, "high", None):
        r = _post(url, {"query": QUERY, "documents": DOCS, "min_score": bad})
        assert r.status_code == (200 if bad is None else 422), (bad, r.text)
