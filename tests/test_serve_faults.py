"""`interank serve` under faults: isolation, dropped clients, stalls, timeouts, a bounded queue, budgets,
slow and idle connections, loading and SIGTERM. Real uvicorn servers on 127.0.0.1, real HTTP.

Faults are injected by test doubles that wrap the real tiny-model Reranker:
they make chosen calls raise or block, and pass every other call to the
real model unchanged. Each test says which double it uses and why.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import httpx
import pytest

from interank_sdk.errors import BackendError, ModelLoadError
from interank_sdk.serve import BackgroundServer, create_app, wait_ready

QUERY = "what do cats eat?"
DOCS = ["cats eat fish and food", "the eiffel tower is in paris", "dogs drink water", "python is a language"]
INTERNALS = ("10.9.8.7", "/srv/", "Traceback", "KeyError", "BackendError")


class FaultyReranker:
    """Test double: a real Reranker wrapped so that some calls fail or block.

    A batch containing a query with ``RAISE`` raises a ``BackendError`` whose
    message holds an internal URL and path (the backend failing mid-batch);
    ``CRASH`` raises a ``KeyError`` (a bug); ``HOLD`` blocks until
    :attr:`release` is set (a stalled backend). Every other call goes to the
    real model. :attr:`calls` records the queries of every call.
    """

    def __init__(self, inner) -> None:
        self.inner = inner
        self.model_name, self.strategy, self.backend = inner.model_name, inner.strategy, inner.backend
        self.max_length = inner.max_length
        self.calls: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def rerank_batch(self, queries, documents_per_query):
        self.calls.append(list(queries))
        if any("RAISE" in q for q in queries):
            raise BackendError("http://10.9.8.7:8000/v1/completions refused the connection (see /srv/interank/x.log)")
        if any("CRASH" in q for q in queries):
            raise KeyError("/srv/interank/state")
        if any("HOLD" in q for q in queries):
            self.entered.set()
            self.release.wait(60)
        return self.inner.rerank_batch(queries, documents_per_query)


@pytest.fixture()
def faulty(tiny_reranker):
    double = FaultyReranker(tiny_reranker)
    yield double
    double.release.set()  # never leave a blocked call behind


def _serve(app, **options):
    return BackgroundServer(app, graceful_timeout=5, **options)


def _payload(query: str = QUERY, docs: list[str] = DOCS) -> dict:
    return {"query": query, "documents": docs}


async def _post_all(url: str, payloads: list[dict], timeout: float = 60) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=timeout) as client:
        return await asyncio.gather(*[client.post(f"{url}/v1/rerank", json=p) for p in payloads])


def _wait_for(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _metric(url: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def _assert_clean_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["request_id"] == response.headers["x-request-id"]
    for secret in INTERNALS:
        assert secret not in response.text, f"{secret!r} leaked into a {status} response"


def test_a_backend_failing_mid_batch_fails_only_its_request(faulty):
    """Double: FaultyReranker (RAISE, CRASH). Seven requests arrive together and form one batch."""
    app = create_app(faulty, batch_wait_ms=400.0)
    with _serve(app) as url:
        payloads = [_payload(f"{QUERY} {i}") for i in range(5)] + [_payload("cats RAISE"), _payload("cats CRASH")]
        responses = asyncio.run(_post_all(url, payloads))
        assert len(faulty.calls[0]) >= 3 and any("RAISE" in q for q in faulty.calls[0]), \
            f"the fault must hit a shared batch; batches were {faulty.calls}"
        for r in responses[:5]:
            assert r.status_code == 200 and sorted(x["index"] for x in r.json()["results"]) == [0, 1, 2, 3]
        _assert_clean_error(responses[5], 503)  # the backend failed: retryable, generic message
        assert "Retry-After" in responses[5].headers
        _assert_clean_error(responses[6], 500)  # a bug: generic message, the traceback stays in the log
        assert app.state.batcher.stats.failed_batches >= 1
        assert _metric(url, "interank_batch_failures_total", kind="backend_error") == 1
        assert _metric(url, "interank_batch_failures_total", kind="internal_error") == 1
        # the service is unharmed: later requests succeed and /health is ok
        assert all(r.status_code == 200 for r in asyncio.run(_post_all(url, [_payload()] * 3)))
        assert httpx.get(f"{url}/health", timeout=10).json()["status"] == "ok"


def test_a_request_whose_client_left_is_dropped_not_scored(faulty):
    """Double: FaultyReranker (HOLD keeps the first batch busy while the second client gives up)."""
    app = create_app(faulty)
    with _serve(app) as url:
        async def scenario() -> httpx.Response:
            async with httpx.AsyncClient(timeout=60) as client:
                held = asyncio.ensure_future(client.post(f"{url}/v1/rerank", json=_payload("cats HOLD")))
                await asyncio.to_thread(faulty.entered.wait, 20)
                async with httpx.AsyncClient(timeout=0.5) as impatient:
                    with pytest.raises(httpx.ReadTimeout):
                        await impatient.post(f"{url}/v1/rerank", json=_payload("LEAVER cats"))
                # the server notices the closed connection while the request still waits in the queue
                await asyncio.to_thread(_wait_for, lambda: _metric(
                    url, "interank_requests_dropped_total", reason="client_disconnected") == 1, "the disconnect")
                faulty.release.set()
                return await held

        held = asyncio.run(scenario())
        assert held.status_code == 200
        _wait_for(lambda: app.state.batcher.stats.dropped == 1, "the batcher to skip the dropped request")
        assert not any("LEAVER" in q for call in faulty.calls for q in call), "a request whose client left was scored"
        assert asyncio.run(_post_all(url, [_payload()]))[0].status_code == 200


def test_a_stalled_backend_times_out_shows_in_health_and_recovers(faulty):
    """Double: FaultyReranker (HOLD: the backend stops answering until released)."""
    app = create_app(faulty, request_timeout=2.0, stall_timeout=0.5)
    with _serve(app) as url:
        async def scenario() -> tuple[httpx.Response, httpx.Response, httpx.Response, httpx.Response]:
            async with httpx.AsyncClient(timeout=60) as client:
                stalled = asyncio.ensure_future(client.post(f"{url}/v1/rerank", json=_payload("cats HOLD")))
                await asyncio.to_thread(_wait_for, lambda: httpx.get(f"{url}/health", timeout=5).status_code == 503,
                                        "/health to report the stall")
                health = await client.get(f"{url}/health")
                ready = await client.get(f"{url}/ready")
                # refused at once, not queued; on a fresh connection (the pooled one may be the server's to close)
                refused = await asyncio.to_thread(httpx.post, f"{url}/v1/rerank", json=_payload(), timeout=30)
                return await stalled, health, ready, refused

        stalled, health, ready, refused = asyncio.run(scenario())
        _assert_clean_error(stalled, 504)  # --request-timeout
        assert health.json()["status"] == "stalled" and health.json()["scoring_for_s"] >= 0.5
        assert ready.status_code == 503 and ready.json()["status"] == "stalled"
        _assert_clean_error(refused, 503)
        assert int(refused.headers["Retry-After"]) >= 1
        assert _metric(url, "interank_backend_stalled") == 1
        faulty.release.set()  # the backend answers again
        _wait_for(lambda: httpx.get(f"{url}/health", timeout=5).status_code == 200, "/health to recover")
        responses = asyncio.run(_post_all(url, [_payload()] * 3))
        assert all(r.status_code == 200 for r in responses)


def test_a_full_queue_answers_503_with_retry_after(faulty):
    """Double: FaultyReranker (HOLD keeps the worker busy so the queue fills)."""
    app = create_app(faulty, max_queue=2)
    with _serve(app) as url:
        async def scenario() -> tuple[list[httpx.Response], httpx.Response]:
            async with httpx.AsyncClient(timeout=60) as client:
                held = asyncio.ensure_future(client.post(f"{url}/v1/rerank", json=_payload("cats HOLD")))
                await asyncio.to_thread(faulty.entered.wait, 20)
                queued = [asyncio.ensure_future(client.post(f"{url}/v1/rerank", json=_payload())) for _ in range(2)]
                await asyncio.to_thread(_wait_for, lambda: app.state.batcher.queue_depth == 2, "two queued requests")
                overflow = await client.post(f"{url}/v1/rerank", json=_payload())
                faulty.release.set()
                return [await held, *[await q for q in queued]], overflow

        answered, overflow = asyncio.run(scenario())
        _assert_clean_error(overflow, 503)
        assert "busy" in overflow.json()["message"] and 1 <= int(overflow.headers["Retry-After"]) <= 60
        assert [r.status_code for r in answered] == [200, 200, 200]
        assert _metric(url, "interank_requests_dropped_total", reason="queue_full") == 1


def test_the_per_request_budget_refuses_a_request_that_would_hold_the_model(tiny_reranker):
    """No double: the default limits. 1,000 documents of 2,000 characters pass every size limit but ask
    for ~500k tokens of scoring (minutes on a CPU); the budget refuses it before it reaches the model."""
    app = create_app(tiny_reranker)
    with _serve(app) as url:
        big = {"query": QUERY, "documents": [("cats eat fish " * 150)[:2000]] * 1000}
        r = httpx.post(f"{url}/v1/rerank", json=big, timeout=60)
        _assert_clean_error(r, 413)
        assert "tokens of scoring" in r.json()["message"] and "131072" in r.json()["message"]
        assert app.state.batcher.stats.batches == 0
        assert httpx.post(f"{url}/v1/rerank", json=_payload(), timeout=60).status_code == 200


def test_idle_and_partial_connections_are_closed(tiny_reranker):
    """No double. Slow clients: nothing sent, half a request head, half a body, an idle keep-alive."""
    app = create_app(tiny_reranker, body_timeout=0.5)
    with _serve(app, header_timeout=0.5, timeout_keep_alive=1) as url:
        port = int(url.rsplit(":", 1)[1])

        def connect() -> socket.socket:
            sock = socket.create_connection(("127.0.0.1", port))
            sock.settimeout(15)  # far above the server's timeouts: a connection still open then is a failure
            return sock

        idle = [connect() for _ in range(50)]
        partial_head = connect()
        partial_head.sendall(b"POST /v1/rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
        partial_body = connect()
        partial_body.sendall(b"POST /v1/rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 200\r\n\r\n{\"query\": ")
        for sock in [*idle, partial_head]:
            assert sock.recv(1024) == b"", "an idle or half-sent connection was not closed"
        answer = partial_body.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        while chunk := partial_body.recv(4096):
            answer += chunk  # then the server closes it
        for sock in [*idle, partial_head, partial_body]:
            sock.close()

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        conn.request("GET", "/health")
        assert conn.getresponse().read()
        assert conn.sock.recv(1024) == b"", "an idle keep-alive connection was not closed"
        conn.close()
        assert httpx.post(f"{url}/v1/rerank", json=_payload(), timeout=60).status_code == 200


def test_ready_differs_from_health_while_the_model_loads(tiny_reranker):
    """Double: a loader that blocks until released, then returns the real reranker."""
    release = threading.Event()

    def loader():
        release.wait(30)
        return tiny_reranker

    with _serve(create_app(loader=loader)) as url:
        health = httpx.get(f"{url}/health", timeout=10)
        assert health.status_code == 200 and health.json()["status"] == "loading"  # alive: do not restart it
        assert httpx.get(f"{url}/ready", timeout=10).status_code == 503  # not ready: send it no traffic
        early = httpx.post(f"{url}/v1/rerank", json=_payload(), timeout=10)
        _assert_clean_error(early, 503)
        assert early.json()["message"] == "the model is loading" and early.headers["Retry-After"] == "5"
        release.set()
        _wait_for(lambda: httpx.get(f"{url}/ready", timeout=5).status_code == 200, "/ready")
        assert httpx.post(f"{url}/v1/rerank", json=_payload(), timeout=60).status_code == 200
        assert _metric(url, "interank_model_load_seconds") > 0


def test_a_model_that_fails_to_load_is_reported_without_internals():
    """Double: a loader that raises the error a missing model folder gives."""
    failures: list[BaseException] = []

    def loader():
        raise ModelLoadError("no model at /srv/models/secret-name (config.json missing)")

    with _serve(create_app(loader=loader, on_load_failure=failures.append)) as url:
        _wait_for(lambda: failures, "the load failure")
        health = httpx.get(f"{url}/health", timeout=10)
        assert health.status_code == 503 and health.json()["status"] == "failed"
        r = httpx.post(f"{url}/v1/rerank", json=_payload(), timeout=10)
        _assert_clean_error(r, 503)
        assert "secret-name" not in r.text and "secret-name" not in health.text
    assert isinstance(failures[0], ModelLoadError)


DRAIN_SERVER = textwrap.dedent('''
    import sys, time
    from interank_sdk import Reranker
    from interank_sdk.serve.app import create_app
    from interank_sdk.serve.logs import log_config
    from interank_sdk.serve.server import make_server

    class SlowReranker:
        """Test double: the real Reranker, every call delayed 1 s, so requests are in flight at SIGTERM."""

        def __init__(self, inner):
            self.inner, self.model_name, self.strategy, self.backend = inner, inner.model_name, inner.strategy, inner.backend

        def rerank_batch(self, queries, documents_per_query):
            time.sleep(1.0)
            return self.inner.rerank_batch(queries, documents_per_query)

    model, port = sys.argv[1], int(sys.argv[2])
    reranker = SlowReranker(Reranker(model, strategy="yesno", dtype="float32"))
    app = create_app(reranker, max_batch_pairs=4)  # one 4-document request per batch: 1 s each
    make_server(app, host="127.0.0.1", port=port, graceful_timeout=30, log_config=log_config("info")).run()
''')


@pytest.mark.slow  # a subprocess
def test_sigterm_drains_the_requests_in_flight(tiny_model, tmp_path):
    """A real process and a real SIGTERM. Double: SlowReranker (in the script above) delays each batch."""
    script = tmp_path / "drain_server.py"
    script.write_text(DRAIN_SERVER)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, str(script), str(tiny_model), str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ})
    try:
        wait_ready(url, process=proc, timeout=120)

        async def scenario() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=60) as client:
                inflight = [asyncio.ensure_future(client.post(f"{url}/v1/rerank", json=_payload(f"{QUERY} {i}")))
                            for i in range(4)]
                await asyncio.to_thread(_wait_for, lambda: httpx.get(f"{url}/health", timeout=5).json()[
                    "queue_depth"] == 3, "one request scored and three queued")
                proc.send_signal(signal.SIGTERM)
                await asyncio.sleep(0.5)
                with pytest.raises(httpx.ConnectError):  # no new connections once draining
                    await client.get(f"{url}/health")
                return await asyncio.gather(*inflight)

        responses = asyncio.run(scenario())
        assert [r.status_code for r in responses] == [200] * 4
        assert all(sorted(x["index"] for x in r.json()["results"]) == [0, 1, 2, 3] for r in responses)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log = proc.stdout.read()
    assert "draining" in log
