"""Real clients, unchanged, against a running `interank serve` (with an API key).

The official cohere SDK (v2 and v1, every field they send), LlamaIndex's and
LangChain's `CohereRerank` pointed at the server with `base_url`, and
Jina-style and TEI-style requests over plain HTTP. The scores must be the
SDK's own (`Reranker.rerank` on the same texts). The client packages come from
the `serve-test` extra, which the test command installs.
"""

from __future__ import annotations

import json
import math

import httpx
import numpy as np
import pytest

from interank_sdk.serve import BackgroundServer, create_app

cohere = pytest.importorskip("cohere", reason="pip install -e '.[serve-test]'")

KEY = "client-key-0123456789abcdef"
QUERY = "what do cats eat?"
TEXTS = ["cats eat fish and food", "the eiffel tower is in paris", "dogs drink water", "python is a language"]


@pytest.fixture(scope="module")
def server(tiny_reranker):
    with BackgroundServer(create_app(tiny_reranker, api_keys=[KEY])) as url:
        yield url


def _sdk_scores(reranker, query: str, texts: list[str]) -> dict[int, float]:
    return {r.index: r.score for r in reranker.rerank(query, texts)}


class _Recorder:
    """An httpx.Client for the cohere SDK that keeps the JSON bodies it sends (to see the fields on the wire)."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.client = httpx.Client(event_hooks={"request": [self._record]}, timeout=60)

    def _record(self, request: httpx.Request) -> None:
        self.bodies.append(json.loads(request.content))


def test_cohere_v2_client_with_every_field(server, tiny_reranker):
    wire = _Recorder()
    co = cohere.ClientV2(api_key=KEY, base_url=server, httpx_client=wire.client)
    response = co.rerank(model="rerank-v3.5", query=QUERY, documents=TEXTS, top_n=2, max_tokens_per_doc=512,
                         priority=0)
    assert set(wire.bodies[0]) == {"model", "query", "documents", "top_n", "max_tokens_per_doc", "priority"}
    assert len(response.results) == 2
    want = _sdk_scores(tiny_reranker, QUERY, TEXTS)
    best = sorted(want, key=lambda i: -want[i])[:2]
    assert [r.index for r in response.results] == best
    np.testing.assert_allclose([r.relevance_score for r in response.results], [want[i] for i in best], atol=1e-5)


def test_cohere_v1_client_rank_fields_over_structured_documents(server, tiny_reranker):
    docs = [
        {"title": "cats", "author": "ann", "text": "cats eat fish and food"},
        {"title": "paris", "author": "bob", "text": "the eiffel tower is in paris"},
        {"title": "dogs", "author": "cy", "text": "dogs drink water"},
    ]
    wire = _Recorder()
    co = cohere.Client(api_key=KEY, base_url=server, httpx_client=wire.client)
    response = co.rerank(model="rerank-english-v3.0", query=QUERY, documents=docs, rank_fields=["title", "text"],
                         return_documents=True, top_n=3, max_chunks_per_doc=4)
    assert {"rank_fields", "return_documents", "max_chunks_per_doc"} <= set(wire.bodies[0])
    assert sorted(r.index for r in response.results) == [0, 1, 2]
    for r in response.results:  # every field comes back untouched, the unranked "author" too
        assert r.document.text == docs[r.index]["text"]
        assert r.document.model_extra == {k: v for k, v in docs[r.index].items() if k != "text"}
    # the model read "title: ...\ntext: ..." (the fields named, in order)
    want = _sdk_scores(tiny_reranker, QUERY, [f"title: {d['title']}\ntext: {d['text']}" for d in docs])
    np.testing.assert_allclose([r.relevance_score for r in response.results],
                               [want[r.index] for r in response.results], atol=1e-5)


async def test_cohere_async_v2_client(server):
    co = cohere.AsyncClientV2(api_key=KEY, base_url=server)
    response = await co.rerank(model="m", query=QUERY, documents=TEXTS)
    assert sorted(r.index for r in response.results) == list(range(len(TEXTS)))


def test_cohere_errors_are_the_sdks_typed_errors(server):
    with pytest.raises(cohere.errors.UnauthorizedError):
        cohere.ClientV2(api_key="wrong-key-0123456789abcdef", base_url=server).rerank(
            model="m", query=QUERY, documents=TEXTS)
    with pytest.raises(cohere.errors.UnprocessableEntityError) as info:
        cohere.ClientV2(api_key=KEY, base_url=server).rerank(model="m", query=QUERY, documents=TEXTS, top_n=0)
    assert "top_n" in json.dumps(info.value.body)


def test_llama_index_cohere_rerank(server, tiny_reranker):
    pytest.importorskip("llama_index.postprocessor.cohere_rerank")
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
    from llama_index.postprocessor.cohere_rerank import CohereRerank

    nodes = [NodeWithScore(node=TextNode(text=t), score=0.0) for t in TEXTS]
    rerank = CohereRerank(api_key=KEY, base_url=server, model="rerank-v3.5", top_n=2, max_retries=1)
    out = rerank.postprocess_nodes(nodes, query_bundle=QueryBundle(QUERY))
    want = _sdk_scores(tiny_reranker, QUERY, TEXTS)
    best = sorted(want, key=lambda i: -want[i])[:2]
    assert [n.node.get_content() for n in out] == [TEXTS[i] for i in best]
    np.testing.assert_allclose([n.score for n in out], [want[i] for i in best], atol=1e-5)


def test_langchain_cohere_rerank(server, tiny_reranker):
    pytest.importorskip("langchain_cohere")
    from langchain_cohere import CohereRerank
    from langchain_core.documents import Document

    docs = [Document(page_content=t, metadata={"n": i}) for i, t in enumerate(TEXTS)]
    compressor = CohereRerank(cohere_api_key=KEY, base_url=server, model="rerank-v3.5", top_n=3)
    out = compressor.compress_documents(docs, QUERY)
    want = _sdk_scores(tiny_reranker, QUERY, TEXTS)
    best = sorted(want, key=lambda i: -want[i])[:3]
    assert [d.metadata["n"] for d in out] == best
    np.testing.assert_allclose([d.metadata["relevance_score"] for d in out], [want[i] for i in best], atol=1e-5)
    assert all("relevance_score" not in d.metadata for d in docs)  # the caller's documents are untouched


def test_jina_style_request(server, tiny_reranker):
    r = httpx.post(f"{server}/v1/rerank", headers={"Authorization": f"Bearer {KEY}"}, timeout=60, json={
        "model": "jina-reranker-v2-base-multilingual", "query": QUERY,
        "documents": TEXTS, "top_n": 3, "return_documents": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] and body["usage"]["documents"] == len(TEXTS)
    want = _sdk_scores(tiny_reranker, QUERY, TEXTS)
    assert [x["index"] for x in body["results"]] == sorted(want, key=lambda i: -want[i])[:3]
    assert all(x["document"] == {"text": TEXTS[x["index"]]} for x in body["results"])


def test_tei_style_request(server, tiny_reranker):
    headers = {"Authorization": f"Bearer {KEY}"}
    want = _sdk_scores(tiny_reranker, QUERY, TEXTS)
    r = httpx.post(f"{server}/rerank", headers=headers, timeout=60, json={
        "query": QUERY, "texts": TEXTS, "raw_scores": False, "return_text": True, "truncate": True,
        "truncation_direction": "Right"})
    assert r.status_code == 200, r.text
    ranked = r.json()
    assert [x["index"] for x in ranked] == sorted(want, key=lambda i: -want[i])  # TEI: a list, best first
    assert all(x["text"] == TEXTS[x["index"]] for x in ranked)
    np.testing.assert_allclose([x["score"] for x in ranked], [want[x["index"]] for x in ranked], atol=1e-5)

    raw = httpx.post(f"{server}/rerank", headers=headers, timeout=60,
                     json={"query": QUERY, "texts": TEXTS, "raw_scores": True}).json()
    assert all("text" not in x for x in raw)
    sigmoid = [1 / (1 + math.exp(-x["score"])) for x in raw]  # raw scores are log-odds: sigmoid(raw) == score
    np.testing.assert_allclose(sigmoid, [want[x["index"]] for x in raw], atol=1e-5)

    left = httpx.post(f"{server}/rerank", headers=headers, timeout=60,
                      json={"query": QUERY, "texts": TEXTS, "truncation_direction": "Left"})
    assert left.status_code == 422 and "truncation_direction" in left.json()["message"]
