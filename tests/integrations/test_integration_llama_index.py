"""``InteRankRerank`` in a real LlamaIndex pipeline.

VectorStoreIndex over DL19 passages embedded by MiniLM-L6 (real, offline) ->
retriever -> ``InteRankRerank`` (a real ``interank_sdk.Reranker``) -> query
engine. The only mock is LlamaIndex's own ``MockLLM`` as the generator: no
generator model exists on this machine; it echoes its prompt, which lets the
tests see which passages reached the generator.

Plumbing runs on the tiny random model (its scores are arbitrary but
deterministic, so the adapter must reproduce the reranker's order exactly);
one end-to-end test with the demo model checks that reranking helps.
"""

from __future__ import annotations

import asyncio
import statistics

import pytest

pytest.importorskip("llama_index.core")
pytest.importorskip("llama_index.postprocessor.interank_rerank")

from llama_index.core import VectorStoreIndex  # noqa: E402
from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload, LlamaDebugHandler  # noqa: E402
from llama_index.core.instrumentation import get_dispatcher  # noqa: E402
from llama_index.core.instrumentation.event_handlers import BaseEventHandler  # noqa: E402
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent  # noqa: E402
from llama_index.core.llms import MockLLM  # noqa: E402
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode  # noqa: E402
from llama_index.postprocessor.interank_rerank import EXPLANATION_KEY, RETRIEVAL_SCORE_KEY, InteRankRerank  # noqa: E402

from interank_sdk import Reranker  # noqa: E402
from interank_sdk.errors import InvalidInputError  # noqa: E402

RETRIEVE_K = 10


@pytest.fixture(scope="module")
def embed_model(minilm_dir):
    hf = pytest.importorskip("llama_index.embeddings.huggingface")
    return hf.HuggingFaceEmbedding(model_name=str(minilm_dir), device="cpu")


@pytest.fixture(scope="module")
def index(mini_corpus, embed_model) -> VectorStoreIndex:
    nodes = [
        TextNode(
            text=p.text,
            id_=p.docid,
            metadata={"docid": p.docid, "source": "trec-dl19-passage"},
            excluded_embed_metadata_keys=["docid", "source"],
            excluded_llm_metadata_keys=["docid", "source"],
        )
        for p in mini_corpus.passages
    ]
    return VectorStoreIndex(nodes, embed_model=embed_model)


@pytest.fixture(scope="module")
def retrieved(index, mini_corpus) -> dict[str, list[NodeWithScore]]:
    retriever = index.as_retriever(similarity_top_k=RETRIEVE_K)
    return {qid: retriever.retrieve(q) for qid, q in mini_corpus.queries.items()}


@pytest.fixture
def query_and_nodes(mini_corpus, retrieved) -> tuple[str, list[NodeWithScore]]:
    qid = next(iter(mini_corpus.queries))
    return mini_corpus.queries[qid], retrieved[qid]


def _snapshot(nodes: list[NodeWithScore]):
    return [(n.node.node_id, n.score, dict(n.node.metadata), list(n.node.excluded_llm_metadata_keys)) for n in nodes]


def _direct(reranker: Reranker, query: str, nodes: list[NodeWithScore], **kwargs):
    return reranker.rerank(query, [n.node.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes], **kwargs)


def test_order_and_scores_are_the_rerankers(tiny_reranker, query_and_nodes):
    query, nodes = query_and_nodes
    before = _snapshot(nodes)
    out = InteRankRerank(reranker=tiny_reranker, top_n=None).postprocess_nodes(nodes, query_str=query)
    expected = _direct(tiny_reranker, query, nodes)
    assert len(out) == len(nodes) == RETRIEVE_K
    assert [n.node.node_id for n in out] == [nodes[r.index].node.node_id for r in expected]
    assert [n.score for n in out] == pytest.approx([r.score for r in expected])
    assert all(a.score >= b.score for a, b in zip(out, out[1:]))
    # new NodeWithScore objects; the caller's list, scores and metadata are untouched
    assert _snapshot(nodes) == before
    assert not any(o is n for o in out for n in nodes)


def test_top_n_and_score_threshold(tiny_reranker, query_and_nodes):
    query, nodes = query_and_nodes
    full = InteRankRerank(reranker=tiny_reranker, top_n=None).postprocess_nodes(nodes, query_str=query)
    top3 = InteRankRerank(reranker=tiny_reranker, top_n=3).postprocess_nodes(nodes, query_str=query)
    assert [n.node.node_id for n in top3] == [n.node.node_id for n in full[:3]]
    threshold = statistics.median(n.score for n in full)
    kept = InteRankRerank(reranker=tiny_reranker, top_n=None, score_threshold=threshold).postprocess_nodes(
        nodes, query_str=query
    )
    assert [n.node.node_id for n in kept] == [n.node.node_id for n in full if n.score >= threshold]
    assert 0 < len(kept) < len(full)
    both = InteRankRerank(reranker=tiny_reranker, top_n=2, score_threshold=threshold).postprocess_nodes(
        nodes, query_str=query
    )
    assert [n.node.node_id for n in both] == [n.node.node_id for n in kept[:2]]
    # the threshold comes before top_n, and LlamaIndex's own name for it works the same
    cut = InteRankRerank(reranker=tiny_reranker, top_n=len(full), similarity_cutoff=threshold).postprocess_nodes(
        nodes, query_str=query)
    assert [n.node.node_id for n in cut] == [n.node.node_id for n in kept]


def test_nothing_relevant_gives_no_nodes_and_a_log_line(tiny_reranker, query_and_nodes, caplog):
    query, nodes = query_and_nodes
    with caplog.at_level("INFO", logger="llama_index.postprocessor.interank_rerank.base"):
        none = InteRankRerank(reranker=tiny_reranker, top_n=3, score_threshold=1.0).postprocess_nodes(
            nodes, query_str=query)
    assert none == []
    assert "no node reached score_threshold=1.0" in caplog.text
    with pytest.raises(InvalidInputError, match="min_score"):
        InteRankRerank(reranker=tiny_reranker, score_threshold=2.0)
    with pytest.raises(InvalidInputError, match="not two different thresholds"):
        InteRankRerank(reranker=tiny_reranker, score_threshold=0.2, similarity_cutoff=0.3)


def test_explain_cascade_puts_explanations_in_copied_metadata(tiny_model, query_and_nodes):
    query, nodes = query_and_nodes
    explainer = Reranker(str(tiny_model), strategy="yesno", dtype="float32", max_new_tokens=12)
    before = _snapshot(nodes)
    out = InteRankRerank(reranker=explainer, top_n=None, explain=2).postprocess_nodes(nodes, query_str=query)
    expected = _direct(explainer, query, nodes, explain=2)
    assert [n.node.node_id for n in out] == [nodes[r.index].node.node_id for r in expected]
    assert [n.node.metadata.get(EXPLANATION_KEY) for n in out] == [r.explanation for r in expected]
    assert all(isinstance(n.node.metadata[EXPLANATION_KEY], str) for n in out[:2])
    assert all(EXPLANATION_KEY not in n.node.metadata for n in out[2:])
    for n in out[:2]:
        assert n.node.metadata["docid"] == n.node.node_id  # caller metadata survives
        # the explanation is for the application, not for the generator or the embedder
        assert EXPLANATION_KEY in n.node.excluded_llm_metadata_keys
        assert EXPLANATION_KEY in n.node.excluded_embed_metadata_keys
    assert _snapshot(nodes) == before


def test_explain_everything_with_the_reasoning_strategy(tiny_model, query_and_nodes):
    query, nodes = query_and_nodes
    reasoning = Reranker(str(tiny_model), strategy="reasoning", dtype="float32", max_new_tokens=12)
    out = InteRankRerank(reranker=reasoning, top_n=3, explain=True).postprocess_nodes(nodes[:4], query_str=query)
    expected = _direct(reasoning, query, nodes[:4], top_k=3, explain=True)
    assert [n.node.node_id for n in out] == [nodes[r.index].node.node_id for r in expected]
    assert [n.node.metadata[EXPLANATION_KEY] for n in out] == [r.explanation for r in expected]
    assert all(0.0 <= n.score <= 1.0 for n in out)


def test_keep_retrieval_score(tiny_reranker, query_and_nodes):
    query, nodes = query_and_nodes
    before = _snapshot(nodes)
    out = InteRankRerank(reranker=tiny_reranker, top_n=None, keep_retrieval_score=True).postprocess_nodes(
        nodes, query_str=query
    )
    first_stage = {n.node.node_id: n.score for n in nodes}
    assert {n.node.node_id: n.node.metadata[RETRIEVAL_SCORE_KEY] for n in out} == first_stage
    assert _snapshot(nodes) == before


async def test_async_agrees_with_sync_and_does_not_block_the_loop(tiny_reranker, query_and_nodes):
    query, nodes = query_and_nodes
    rerank = InteRankRerank(reranker=tiny_reranker, top_n=5)
    sync = rerank.postprocess_nodes(nodes, query_str=query)
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    try:
        result = await rerank.apostprocess_nodes(nodes, query_bundle=QueryBundle(query))
    finally:
        done = True
        await task
    assert [(n.node.node_id, n.score) for n in result] == [(n.node.node_id, n.score) for n in sync]
    assert ticks > 1  # the event loop kept running while the reranker worked


def test_missing_query_is_a_clear_error_and_no_nodes_give_none(tiny_reranker, query_and_nodes):
    _, nodes = query_and_nodes
    rerank = InteRankRerank(reranker=tiny_reranker)
    with pytest.raises(InvalidInputError, match="needs the query"):
        rerank.postprocess_nodes(nodes)
    with pytest.raises(InvalidInputError, match="needs the query"):
        asyncio.run(rerank.apostprocess_nodes(nodes))
    assert rerank.postprocess_nodes([], query_str="anything") == []


def test_bad_arguments(tiny_reranker, tiny_model):
    with pytest.raises(InvalidInputError, match="model"):
        InteRankRerank()
    with pytest.raises(InvalidInputError, match="not both"):
        InteRankRerank(str(tiny_model), reranker=tiny_reranker)
    with pytest.raises(InvalidInputError, match="shared Reranker"):
        InteRankRerank(reranker=tiny_reranker, batch_size=2)
    with pytest.raises(InvalidInputError, match="top_n"):
        InteRankRerank(reranker=tiny_reranker, top_n=0)
    with pytest.raises(InvalidInputError, match="explain"):
        InteRankRerank(reranker=tiny_reranker, explain=-1)


def test_model_path_and_reranker_kwargs_build_the_reranker(tiny_model, tiny_reranker, query_and_nodes):
    query, nodes = query_and_nodes
    own = InteRankRerank(str(tiny_model), strategy="yesno", dtype="float32", batch_size=4, top_n=None)
    assert own.model == str(tiny_model)
    assert own.reranker.strategy.name == "yesno" and own.reranker is not tiny_reranker
    out = own.postprocess_nodes(nodes, query_str=query)
    shared = InteRankRerank(reranker=tiny_reranker, top_n=None).postprocess_nodes(nodes, query_str=query)
    assert [(n.node.node_id, n.score) for n in out] == [(n.node.node_id, pytest.approx(n.score)) for n in shared]


def test_shared_reranker_is_used_as_is_with_one_batched_call(tiny_reranker, query_and_nodes):
    query, nodes = query_and_nodes
    a = InteRankRerank(reranker=tiny_reranker, top_n=3)
    b = InteRankRerank(reranker=tiny_reranker, top_n=None, explain=False)
    assert a.reranker is tiny_reranker and b.reranker is tiny_reranker
    assert a.model == b.model == tiny_reranker.model_name
    backend = tiny_reranker.backend
    passes = backend.forward_passes
    b.postprocess_nodes(nodes, query_str=query)
    batch = backend.batch_size
    # one rerank call over all nodes: ceil(n / batch_size) forward passes, not one per node
    assert backend.forward_passes - passes == -(-len(nodes) // batch) < len(nodes)


def test_instrumentation_events_and_callback_event(tiny_reranker, query_and_nodes):
    query, nodes = query_and_nodes

    class Collect(BaseEventHandler):
        seen: list = []

        @classmethod
        def class_name(cls) -> str:
            return "Collect"

        def handle(self, event, **kwargs) -> None:
            if isinstance(event, (ReRankStartEvent, ReRankEndEvent)):
                self.seen.append(event)

    handler = Collect(seen=[])
    root = get_dispatcher()
    root.add_event_handler(handler)
    debug = LlamaDebugHandler()
    rerank = InteRankRerank(reranker=tiny_reranker, top_n=3, callback_manager=CallbackManager([debug]))
    try:
        out = rerank.postprocess_nodes(nodes, query_str=query)
        asyncio.run(rerank.apostprocess_nodes(nodes, query_str=query))
    finally:
        root.event_handlers.remove(handler)
    kinds = [type(e).__name__ for e in handler.seen]
    assert kinds == ["ReRankStartEvent", "ReRankEndEvent"] * 2
    start, end = handler.seen[:2]
    assert start.query.query_str == query and start.top_n == 3 and start.model_name == tiny_reranker.model_name
    assert len(start.nodes) == len(nodes)
    assert [n.node.node_id for n in end.nodes] == [n.node.node_id for n in out]
    pairs = debug.get_event_pairs(CBEventType.RERANKING)
    assert len(pairs) == 2
    assert pairs[0][0].payload[EventPayload.QUERY_STR] == query
    assert [n.node.node_id for n in pairs[0][1].payload[EventPayload.NODES]] == [n.node.node_id for n in out]


async def test_query_engine_with_mock_llm_sync_and_async(index, tiny_reranker, mini_corpus, retrieved):
    qid, query = next(iter(mini_corpus.queries.items()))
    rerank = InteRankRerank(reranker=tiny_reranker, top_n=3)
    engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=RETRIEVE_K, node_postprocessors=[rerank])
    response = engine.query(query)
    expected = rerank.postprocess_nodes(retrieved[qid], query_str=query)
    assert [(n.node.node_id, n.score) for n in response.source_nodes] == [
        (n.node.node_id, pytest.approx(n.score)) for n in expected
    ]
    assert all(n.node.metadata["source"] == "trec-dl19-passage" for n in response.source_nodes)
    # MockLLM echoes its prompt: the reranked passages, and only those, reached the generator
    passages = {p.docid: p.text for p in mini_corpus.passages}
    for n in response.source_nodes:
        assert passages[n.node.node_id][:200] in str(response)
    dropped = [n.node.node_id for n in retrieved[qid] if n.node.node_id not in {m.node.node_id for m in expected}]
    assert dropped and not any(passages[d][:200] in str(response) for d in dropped)
    aresponse = await engine.aquery(query)
    assert [(n.node.node_id, n.score) for n in aresponse.source_nodes] == [
        (n.node.node_id, n.score) for n in response.source_nodes
    ]


@pytest.mark.slow
def test_demo_model_puts_a_relevant_passage_first(index, demo_model_dir, mini_corpus, retrieved):
    """The demo model (query likelihood) in the pipeline beats the MiniLM retriever's order on these queries."""
    from interank_sdk.eval.metrics import per_query

    rerank = InteRankRerank(demo_model_dir, strategy="qlm", top_n=None)
    engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=RETRIEVE_K, node_postprocessors=[rerank])
    first_stage, reranked = {}, {}
    for qid, query in mini_corpus.queries.items():
        response = engine.query(query)
        assert len(response.source_nodes) == RETRIEVE_K
        assert {n.node.node_id for n in response.source_nodes} == {n.node.node_id for n in retrieved[qid]}
        first_stage[qid] = [(n.node.node_id, n.score) for n in retrieved[qid]]
        reranked[qid] = [(n.node.node_id, n.score) for n in response.source_nodes]
        # the retriever's first passage is not relevant on these queries; the reranker's is
        assert mini_corpus.grade(qid, first_stage[qid][0][0]) < 2
        assert mini_corpus.grade(qid, reranked[qid][0][0]) >= 2
    before = per_query(first_stage, mini_corpus.qrels, ["nDCG@10"], rank_by="order")
    after = per_query(reranked, mini_corpus.qrels, ["nDCG@10"], rank_by="order")
    mean_before = statistics.mean(v["nDCG@10"] for v in before.values())
    mean_after = statistics.mean(v["nDCG@10"] for v in after.values())
    assert mean_after > mean_before, (before, after)


def test_a_cascade_and_a_bi_encoder_work_as_the_postprocessor(minilm_dir, tiny_reranker, query_and_nodes):
    """Other reranker kinds in the same adapter: a bi-encoder alone, and a Cascade (bi-encoder, then the LLM)."""
    from interank_sdk import Cascade

    query, nodes = query_and_nodes
    bi = Reranker(str(minilm_dir), dtype="float32")
    assert bi.strategy.name == "embedding"
    out = InteRankRerank(reranker=bi, top_n=None).postprocess_nodes(nodes, query_str=query)
    assert [n.node.node_id for n in out] == [nodes[r.index].node.node_id for r in _direct(bi, query, nodes)]
    cascade = Cascade(bi, tiny_reranker, depth=3)
    out = InteRankRerank(reranker=cascade, top_n=5).postprocess_nodes(nodes, query_str=query)
    expected = _direct(cascade, query, nodes, top_k=5)
    assert [n.node.node_id for n in out] == [nodes[r.index].node.node_id for r in expected]
    assert [r.stage for r in expected] == [2, 2, 2, 1, 1]
