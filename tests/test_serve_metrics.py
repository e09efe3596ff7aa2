"""`interank serve` observability: Prometheus /metrics and a request id in every response and log line.

A real uvicorn server (in a thread for the metrics, `interank serve` in a
subprocess for the log format), real HTTP, the tiny random model.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from interank_sdk.serve import BackgroundServer, create_app, wait_ready

QUERY = "what do cats eat?"
DOCS = ["cats eat fish and food", "the eiffel tower is in paris", "dogs drink water"]


def _samples(url: str) -> dict[tuple[str, tuple], float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples: dict, name: str, missing: float | None = None, **labels: str) -> float:
    """A sample's value; a sample the scrape lacks fails the test (``missing``: the value a not-yet-created
    labelled child counts as, only for the scrape taken before the requests)."""
    key = (name, tuple(sorted(labels.items())))
    if key not in samples:
        if missing is None:
            pytest.fail(f"metric {name}{labels or ''} is not exported")
        return missing
    return samples[key]


@pytest.fixture(scope="module")
def served(tiny_reranker):
    app = create_app(tiny_reranker, max_documents=5)
    with BackgroundServer(app) as url:
        yield url, app


def test_metrics_count_requests_batches_and_documents(served):
    url, _ = served
    before = _samples(url)
    for _ in range(3):
        assert httpx.post(f"{url}/v1/rerank", json={"query": QUERY, "documents": DOCS}, timeout=60).status_code == 200
    assert httpx.post(f"{url}/v1/rerank", json={"query": QUERY, "documents": DOCS * 2}, timeout=60).status_code == 422
    assert httpx.get(f"{url}/no/such/route/1234", timeout=10).status_code == 404
    after = _samples(url)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, missing=0.0, **labels)

    assert grew("interank_requests_total", route="/v1/rerank", method="POST", status="200") == 3
    assert grew("interank_requests_total", route="/v1/rerank", method="POST", status="422") == 1
    assert grew("interank_requests_total", route="other", method="GET", status="404") == 1  # no path labels
    assert grew("interank_request_duration_seconds_count", route="/v1/rerank") == 4
    assert grew("interank_batch_requests_count") == 3
    assert grew("interank_batch_pairs_sum") == 9
    assert grew("interank_documents_scored_total") == 9
    assert _value(after, "interank_queue_depth") == 0
    assert _value(after, "interank_ready") == 1
    assert _value(after, "interank_backend_stalled") == 0
    assert ("interank_model_load_seconds", ()) in after
    assert any(name == "interank_model_info" and value == 1 for (name, _), value in after.items())
    assert _value(after, "interank_requests_in_flight") == 1  # the scrape itself


def test_every_response_carries_a_request_id(served):
    url, _ = served
    responses = [
        httpx.post(f"{url}/v1/rerank", json={"query": QUERY, "documents": DOCS}, timeout=60),
        httpx.post(f"{url}/v1/rerank", json={"query": QUERY}, timeout=60),
        httpx.post(f"{url}/v1/rerank", content=b"x" * 10, headers={"content-type": "application/json"}, timeout=60),
        httpx.get(f"{url}/health", timeout=10),
        httpx.get(f"{url}/nowhere", timeout=10),
    ]
    ids = [r.headers["x-request-id"] for r in responses]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids) and len(set(ids)) == len(ids)
    for r in responses[1:3]:
        assert r.json()["request_id"] == r.headers["x-request-id"]


def test_a_client_request_id_is_kept_when_safe(served):
    url, _ = served
    r = httpx.get(f"{url}/health", headers={"X-Request-ID": "trace-42.a:b_c"}, timeout=10)
    assert r.headers["x-request-id"] == "trace-42.a:b_c"
    for unsafe in ("x" * 65, "a b", "id\\with;semicolon"):
        r = httpx.get(f"{url}/health", headers={"X-Request-ID": unsafe}, timeout=10)
        assert r.headers["x-request-id"] != unsafe and re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])


@pytest.mark.slow  # a subprocess
def test_every_log_line_names_its_request(tiny_model):
    """`interank serve` as run in production: one log format, the request id on every line."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    key = "log-test-key-0123456789abcdef"
    cmd = [sys.executable, "-m", "interank_sdk", "serve", "--model", str(tiny_model), "--strategy", "yesno",
           "--dtype", "float32", "--port", str(port), "--api-key", key, "--log-level", "info"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ})
    try:
        wait_ready(url, api_key=key, process=proc, timeout=120)
        ok = httpx.post(f"{url}/v1/rerank", json={"query": QUERY, "documents": DOCS}, timeout=60,
                        headers={"Authorization": f"Bearer {key}", "X-Request-ID": "req-ok-1"})
        denied = httpx.post(f"{url}/v1/rerank", json={"query": QUERY, "documents": DOCS}, timeout=60,
                            headers={"X-Request-ID": "req-denied-2"})
        assert (ok.status_code, denied.status_code) == (200, 401)
    finally:
        proc.terminate()
        log, _ = proc.communicate(timeout=60)
    lines = [line for line in log.splitlines() if line.strip()]
    line_format = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+ \[[^\]\s]+\] ")
    assert lines and all(line_format.match(line) for line in lines), "\n".join(
        line for line in lines if not line_format.match(line))
    assert any("[req-ok-1]" in line and "200" in line for line in lines)  # uvicorn's access line
    assert any("[req-denied-2]" in line and "401" in line for line in lines)  # the refusal and its access line
    assert key not in log
