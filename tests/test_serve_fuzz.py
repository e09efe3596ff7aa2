"""Fuzzing `interank serve` over HTTP: the inputs that once gave 500s, then schemathesis against the app's
own OpenAPI schema (every operation, positive and negative cases: no 5xx, responses conform to the schema,
every document back exactly once). A real uvicorn server, the tiny random model.

The generated cases are derandomized here so that CI runs the same few hundred every time;
`bench/serve_fuzz.py` runs a longer, random campaign and records its counts.
"""

from __future__ import annotations

import collections
import json

import httpx
import pytest

from interank_sdk.serve import BackgroundServer, create_app

schemathesis = pytest.importorskip("schemathesis", reason="pip install -e '.[serve-test]'")
from hypothesis import HealthCheck, given, settings

KEY = "fuzz-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
#: generated cases per generation mode (positive, negative)
EXAMPLES = 150


@pytest.fixture(scope="module")
def served(tiny_reranker):
    app = create_app(tiny_reranker, api_keys=[KEY], max_documents=16, max_document_chars=2000, max_query_chars=500,
                     max_body_bytes=256 * 1024)
    with BackgroundServer(app) as url:
        yield url, app


def _post_raw(url: str, body: bytes | str, path: str = "/v1/rerank") -> httpx.Response:
    content = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    return httpx.post(f"{url}{path}", content=content, timeout=60,
                      headers={**AUTH, "content-type": "application/json"})


@pytest.mark.parametrize("body", [
    r'{"query": "cats \udfff", "documents": ["cats eat fish"]}',
    r'{"query": "cats", "documents": ["fish \ud800"]}',
    r'{"query": "cats", "documents": [{"text": "fish", "title": "\udc00"}]}',
    r'{"query": "cats", "documents": [{"text": "fish", "metadata": {"\udfff": 1}}], "return_documents": true}',
    r'{"query": "cats", "documents": [{"text": "fish", "metadata": {"k": ["\udbff"]}}], "return_documents": true}',
    r'{"query": "cats", "documents": [{"text": "fish", "author": "\ude00"}], "return_documents": true}',
])
def test_unpaired_surrogates_get_a_422_not_a_500(served, body):
    url, _ = served
    r = _post_raw(url, body)
    assert r.status_code == 422, r.text
    assert "surrogate" in r.json()["message"] and "valid Unicode" in r.json()["message"]


def test_unpaired_surrogates_on_the_tei_route(served):
    url, _ = served
    r = _post_raw(url, r'{"query": "cats", "texts": ["fish \udfff"], "return_text": true}', path="/rerank")
    assert r.status_code == 422 and "surrogate" in r.text


def test_paired_surrogate_escapes_are_valid_text(served):
    url, _ = served
    r = _post_raw(url, r'{"query": "cats \ud83d\ude00", "documents": ["fish \ud83d\udc1f"], "return_documents": true}')
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["document"]["text"] == "fish \N{FISH}"


@pytest.mark.parametrize("depth", [300, 5_000, 50_000])
def test_deep_nesting_is_refused(served, depth):
    url, _ = served
    nested = '{"a":' * depth + "1" + "}" * depth
    r = _post_raw(url, '{"query": "cats", "documents": [{"text": "fish", "metadata": ' + nested + "}]}")
    assert r.status_code in (413, 422), r.text  # 413 when it is also over the body limit
    assert r.status_code == 413 or "nested deeper" in r.json()["message"]
    r = _post_raw(url, "[" * depth + "]" * depth)
    assert r.status_code in (413, 422), r.text


def test_moderate_nesting_in_metadata_comes_back_untouched(served):
    url, _ = served
    nested: object = "leaf"
    for i in range(40):  # 80 levels: within the ~200 the parser allows
        nested = {f"k{i}": [nested, None]}
    doc = {"text": "fish", "metadata": nested}
    r = httpx.post(f"{url}/v1/rerank", headers=AUTH, timeout=60,
                   json={"query": "cats", "documents": [doc], "return_documents": True})
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["document"] == doc


@pytest.mark.parametrize("body", [
    b'{"query": "cats", "documents": ["fish"], "top_n": NaN}',
    b'{"query": "cats", "documents": ["fish"], "top_n": Infinity}',
    b'{"query": "cats", "documents": ["fish"], "top_n": 1e400}',
    b'{"query": "cats", "documents": ["fish"], "top_n": 2.5}',
    b'{"query": "cats", "documents": ["\xff\xfe fish"]}',
    b'{"query": "cats", "documents": ["fish"]',
    b'{"query": "cats", "documents": ["fish"]} trailing',
    b"",
    b"null",
    b"[]",
    b'"just a string"',
    b'{"query": {"$gt": ""}, "documents": ["fish"]}',
    b'{"query": "cats", "documents": [["nested", "list"]]}',
    b'{"query": "cats", "documents": ["fish"], "return_documents": "yes please"}',
    # no lax coercion: found by bench/serve_fuzz.py (schemathesis: a boolean accepted as an integer)
    b'{"query": "cats", "documents": [], "max_chunks_per_doc": true}',
    b'{"query": "cats", "documents": ["fish"], "top_n": 2.0}',
    b'{"query": "cats", "documents": ["fish"], "return_documents": "true"}',
    b'{"query": "cats", "documents": [{"text": "fish", "id": true}]}',
])
def test_garbage_gets_a_4xx(served, body):
    url, _ = served
    r = _post_raw(url, body)
    assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
    assert r.json()["request_id"] == r.headers["x-request-id"]


@pytest.mark.parametrize("text", ["fish\x00food", "\x07\x1b[31mred\x1b[0m", "\u202eevil\u202c", "a\u2028b",
                                  "\ufeffbom", "\U0010ffff" * 50, "zalgo z\u0351\u0352\u0353"])
def test_odd_but_valid_text_is_scored_and_echoed(served, text):
    url, _ = served
    r = httpx.post(f"{url}/v1/rerank", headers=AUTH, timeout=60,
                   json={"query": "cats", "documents": [text, "fish"], "return_documents": True})
    assert r.status_code == 200, r.text
    assert {x["document"]["text"] for x in r.json()["results"]} == {text, "fish"}


def test_a_huge_top_n_returns_every_document_once(served):
    url, _ = served
    r = httpx.post(f"{url}/v1/rerank", headers=AUTH, timeout=60,
                   json={"query": "cats", "documents": ["fish", "fish", "dogs"], "top_n": 10**40})
    assert r.status_code == 200, r.text
    assert sorted(x["index"] for x in r.json()["results"]) == [0, 1, 2]


def _every_document_once(case, response) -> None:
    """Our own invariant on top of schemathesis' checks: a 200 returns each requested document at most once,
    and all of them unless top_n asks for fewer."""
    if response.status_code != 200 or case.method != "POST" or not isinstance(case.body, dict):
        return
    body = json.loads(response.content)
    results = body if case.path == "/rerank" else body["results"]
    docs = case.body.get("texts") if case.path == "/rerank" else case.body.get("documents")
    indices = [r["index"] for r in results]
    assert len(indices) == len(set(indices)), f"a document came back twice: {indices}"
    assert all(0 <= i < len(docs) for i in indices)
    top_n = case.body.get("top_n")
    assert len(indices) == (len(docs) if top_n is None else min(top_n, len(docs))), "a document was lost"
    scores = [r["relevance_score" if case.path != "/rerank" else "score"] for r in results]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_schemathesis_finds_no_server_error(served, mode):
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        negative_data_rejection,
        response_schema_conformance,
        status_code_conformance,
    )

    url, _ = served
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", headers=AUTH, timeout=30)
    operations = {f"{op.ok().method.upper()} {op.ok().path}" for op in schema.get_all_operations()}
    assert operations == {"POST /v1/rerank", "POST /v2/rerank", "POST /rerank", "GET /health", "GET /ready",
                          "GET /metrics"}
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    if mode == "negative":
        checks.append(negative_data_rejection)
    seen: collections.Counter = collections.Counter()
    generation = GenerationMode.POSITIVE if mode == "positive" else GenerationMode.NEGATIVE

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=schema.as_strategy(generation_mode=generation))
    def fuzz(case) -> None:
        response = case.call(base_url=url, headers=AUTH, timeout=60)
        seen[(f"{case.method} {case.path}", response.status_code)] += 1
        case.validate_response(response, checks=checks)
        _every_document_once(case, response)

    fuzz()
    assert not [key for key in seen if key[1] >= 500], seen
    sent = sum(seen.values())
    assert sent >= EXAMPLES * 0.8, seen
    if mode == "positive":  # the valid requests really reached the model
        assert sum(n for (op, status), n in seen.items() if op.endswith("rerank") and status == 200) >= 20, seen
    assert httpx.get(f"{url}/health", timeout=10).json()["status"] == "ok"
