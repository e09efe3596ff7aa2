"""``InteRankCompressor`` in a real LangChain pipeline.

``ContextualCompressionRetriever`` (langchain-classic) over langchain-core's
``InMemoryVectorStore`` holding DL19 passages embedded by MiniLM-L6 (real,
offline), compressed by ``InteRankCompressor`` with a real
``interank_sdk.Reranker``. Nothing is mocked.

The embeddings go through a ten-line ``Embeddings`` adapter over
sentence-transformers rather than ``langchain_huggingface.HuggingFaceEmbeddings``,
which computes the same vectors but pins an older ``huggingface_hub`` than the
one this environment's transformers needs.
"""

from __future__ import annotations

import asyncio
import statistics

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("langchain_interank")
retrievers = pytest.importorskip("langchain_classic.retrievers")

from langchain_core.documents import Document  # noqa: E402
from langchain_core.embeddings import Embeddings  # noqa: E402
from langchain_core.vectorstores import InMemoryVectorStore  # noqa: E402
from langchain_interank import EXPLANATION_KEY, SCORE_KEY, InteRankCompressor  # noqa: E402

from interank_sdk import Reranker  # noqa: E402
from interank_sdk.errors import InvalidInputError  # noqa: E402

ContextualCompressionRetriever = retrievers.ContextualCompressionRetriever
RETRIEVE_K = 10


class MiniLMEmbeddings(Embeddings):
    """LangChain embeddings over a local sentence-transformers folder."""

    def __init__(self, path) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(path), device="cpu")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.model.encode(list(texts), normalize_embeddings=True).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


@pytest.fixture(scope="module")
def vector_store(mini_corpus, minilm_dir) -> InMemoryVectorStore:
    store = InMemoryVectorStore(MiniLMEmbeddings(minilm_dir))
    store.add_documents(
        [
            Document(page_content=p.text, metadata={"docid": p.docid, "source": "trec-dl19-passage"}, id=p.docid)
            for p in mini_corpus.passages
        ]
    )
    return store


@pytest.fixture(scope="module")
def base_retriever(vector_store):
    return vector_store.as_retriever(search_kwargs={"k": RETRIEVE_K})


@pytest.fixture
def query_and_docs(mini_corpus, base_retriever) -> tuple[str, list[Document]]:
    query = next(iter(mini_corpus.queries.values()))
    return query, base_retriever.invoke(query)


def _snapshot(docs: list[Document]):
    return [(d.id, d.page_content, dict(d.metadata)) for d in docs]


def test_order_scores_and_new_documents(tiny_reranker, query_and_docs):
    query, docs = query_and_docs
    before = _snapshot(docs)
    out = InteRankCompressor(reranker=tiny_reranker, top_n=None).compress_documents(docs, query)
    expected = tiny_reranker.rerank(query, [d.page_content for d in docs])
    assert len(out) == len(docs) == RETRIEVE_K
    assert [d.id for d in out] == [docs[r.index].id for r in expected]
    assert [d.metadata[SCORE_KEY] for d in out] == pytest.approx([r.score for r in expected])
    for d in out:
        original = next(o for o in docs if o.id == d.id)
        assert d.page_content == original.page_content
        assert {k: v for k, v in d.metadata.items() if k != SCORE_KEY} == original.metadata
        assert EXPLANATION_KEY not in d.metadata
    assert _snapshot(docs) == before
    assert not any(o is d for o in out for d in docs)


def test_top_n_and_score_threshold(tiny_reranker, query_and_docs):
    query, docs = query_and_docs
    full = InteRankCompressor(reranker=tiny_reranker, top_n=None).compress_documents(docs, query)
    top3 = InteRankCompressor(reranker=tiny_reranker, top_n=3).compress_documents(docs, query)
    assert [d.id for d in top3] == [d.id for d in full[:3]]
    threshold = statistics.median(d.metadata[SCORE_KEY] for d in full)
    kept = InteRankCompressor(reranker=tiny_reranker, top_n=None, score_threshold=threshold).compress_documents(
        docs, query
    )
    assert [d.id for d in kept] == [d.id for d in full if d.metadata[SCORE_KEY] >= threshold]
    assert 0 < len(kept) < len(full)
    # the threshold comes before top_n
    cut = InteRankCompressor(reranker=tiny_reranker, top_n=len(full), score_threshold=threshold).compress_documents(
        docs, query)
    assert [d.id for d in cut] == [d.id for d in kept]


def test_nothing_relevant_returns_no_documents_and_logs_it(tiny_reranker, query_and_docs, caplog):
    query, docs = query_and_docs
    with caplog.at_level("INFO", logger="langchain_interank.compressor"):
        none = InteRankCompressor(reranker=tiny_reranker, top_n=3, score_threshold=1.0).compress_documents(docs, query)
    assert list(none) == []
    assert "no document reached score_threshold=1.0" in caplog.text
    with pytest.raises(InvalidInputError, match="min_score"):
        InteRankCompressor(reranker=tiny_reranker, score_threshold=float("nan"))


def test_explain_cascade_adds_explanations(tiny_model, query_and_docs):
    query, docs = query_and_docs
    explainer = Reranker(str(tiny_model), strategy="yesno", dtype="float32", max_new_tokens=12)
    before = _snapshot(docs)
    out = InteRankCompressor(reranker=explainer, top_n=None, explain=2).compress_documents(docs, query)
    expected = explainer.rerank(query, [d.page_content for d in docs], explain=2)
    assert [d.id for d in out] == [docs[r.index].id for r in expected]
    assert [d.metadata.get(EXPLANATION_KEY) for d in out] == [r.explanation for r in expected]
    assert all(isinstance(d.metadata[EXPLANATION_KEY], str) for d in out[:2])
    assert all(EXPLANATION_KEY not in d.metadata for d in out[2:])
    assert _snapshot(docs) == before


def test_explain_everything_with_the_reasoning_strategy(tiny_model, query_and_docs):
    query, docs = query_and_docs
    reasoning = Reranker(str(tiny_model), strategy="reasoning", dtype="float32", max_new_tokens=12)
    out = InteRankCompressor(reranker=reasoning, top_n=3, explain=True).compress_documents(docs[:4], query)
    expected = reasoning.rerank(query, [d.page_content for d in docs[:4]], top_k=3, explain=True)
    assert [d.id for d in out] == [docs[r.index].id for r in expected]
    assert [d.metadata[EXPLANATION_KEY] for d in out] == [r.explanation for r in expected]


def test_title_metadata_is_shown_to_the_model(tiny_reranker):
    docs = [
        Document(page_content="the cat eats food", metadata={"title": "dogs"}, id="a"),
        Document(page_content="the cat eats food", metadata={}, id="b"),
    ]
    out = InteRankCompressor(reranker=tiny_reranker, top_n=None).compress_documents(docs, "what do dogs eat")
    expected = tiny_reranker.rerank(
        "what do dogs eat", [{"text": "the cat eats food", "title": "dogs"}, "the cat eats food"]
    )
    assert {d.id: d.metadata[SCORE_KEY] for d in out} == pytest.approx(
        {docs[r.index].id: r.score for r in expected}
    )


async def test_async_agrees_with_sync_and_does_not_block_the_loop(tiny_reranker, query_and_docs):
    query, docs = query_and_docs
    compressor = InteRankCompressor(reranker=tiny_reranker, top_n=5)
    sync = compressor.compress_documents(docs, query)
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    try:
        result = await compressor.acompress_documents(docs, query)
    finally:
        done = True
        await task
    assert [(d.id, d.metadata) for d in result] == [(d.id, d.metadata) for d in sync]
    assert ticks > 1  # the event loop kept running while the reranker worked


def test_empty_input_and_bad_arguments(tiny_reranker, tiny_model, query_and_docs):
    query, docs = query_and_docs
    compressor = InteRankCompressor(reranker=tiny_reranker)
    assert compressor.compress_documents([], query) == []
    assert asyncio.run(compressor.acompress_documents([], query)) == []
    with pytest.raises(InvalidInputError, match="query"):
        compressor.compress_documents(docs, "  ")
    with pytest.raises(InvalidInputError, match="model"):
        InteRankCompressor()
    with pytest.raises(InvalidInputError, match="not both"):
        InteRankCompressor(str(tiny_model), reranker=tiny_reranker)
    with pytest.raises(InvalidInputError, match="shared Reranker"):
        InteRankCompressor(reranker=tiny_reranker, strategy="graded")
    with pytest.raises(InvalidInputError, match="top_n"):
        InteRankCompressor(reranker=tiny_reranker, top_n=0)
    for explain in (0, -1, 2.0, "3"):  # the check Reranker.rerank applies, at construction
        with pytest.raises(InvalidInputError, match="explain must be True, False or a positive int"):
            InteRankCompressor(reranker=tiny_reranker, explain=explain)


def test_shared_reranker_one_batched_call(tiny_reranker, tiny_model, query_and_docs):
    query, docs = query_and_docs
    a = InteRankCompressor(reranker=tiny_reranker, top_n=2)
    b = InteRankCompressor(reranker=tiny_reranker, top_n=None)
    assert a.reranker is b.reranker is tiny_reranker
    backend = tiny_reranker.backend
    passes = backend.forward_passes
    b.compress_documents(docs, query)
    assert backend.forward_passes - passes == -(-len(docs) // backend.batch_size) < len(docs)
    own = InteRankCompressor(str(tiny_model), strategy="yesno", dtype="float32", top_n=None)
    assert own.model == str(tiny_model) and own.reranker is not tiny_reranker
    assert [(d.id, pytest.approx(d.metadata[SCORE_KEY])) for d in own.compress_documents(docs, query)] == [
        (d.id, d.metadata[SCORE_KEY]) for d in b.compress_documents(docs, query)
    ]


async def test_contextual_compression_retriever_sync_and_async(tiny_reranker, base_retriever, mini_corpus):
    query = next(iter(mini_corpus.queries.values()))
    compressor = InteRankCompressor(reranker=tiny_reranker, top_n=3)
    retriever = ContextualCompressionRetriever(base_compressor=compressor, base_retriever=base_retriever)
    got = retriever.invoke(query)
    expected = compressor.compress_documents(base_retriever.invoke(query), query)
    assert [(d.id, d.metadata) for d in got] == [(d.id, d.metadata) for d in expected]
    assert len(got) == 3 and all(d.metadata["source"] == "trec-dl19-passage" for d in got)
    agot = await retriever.ainvoke(query)
    assert [(d.id, d.metadata) for d in agot] == [(d.id, d.metadata) for d in got]


@pytest.mark.slow
def test_demo_model_puts_a_relevant_passage_first(demo_model_dir, base_retriever, mini_corpus):
    """The demo model (query likelihood) beats the MiniLM retriever's order on these queries."""
    from interank_sdk.eval.metrics import per_query

    compressor = InteRankCompressor(demo_model_dir, strategy="qlm", top_n=None)
    retriever = ContextualCompressionRetriever(base_compressor=compressor, base_retriever=base_retriever)
    first_stage, reranked = {}, {}
    for qid, query in mini_corpus.queries.items():
        docs = retriever.invoke(query)
        first = base_retriever.invoke(query)
        assert {d.id for d in docs} == {d.id for d in first} and len(docs) == RETRIEVE_K
        first_stage[qid] = [(d.id, 0.0) for d in first]
        reranked[qid] = [(d.id, d.metadata[SCORE_KEY]) for d in docs]
        assert mini_corpus.grade(qid, first[0].id) < 2
        assert mini_corpus.grade(qid, docs[0].id) >= 2
    before = per_query(first_stage, mini_corpus.qrels, ["nDCG@10"], rank_by="order")
    after = per_query(reranked, mini_corpus.qrels, ["nDCG@10"], rank_by="order")
    mean_before = statistics.mean(v["nDCG@10"] for v in before.values())
    mean_after = statistics.mean(v["nDCG@10"] for v in after.values())
    assert mean_after > mean_before, (before, after)


def test_a_cascade_and_a_bi_encoder_work_as_the_compressor(minilm_dir, tiny_reranker, query_and_docs):
    """Other reranker kinds in the same adapter: a bi-encoder alone, and a Cascade (bi-encoder, then the LLM)."""
    from interank_sdk import Cascade, Reranker

    query, docs = query_and_docs
    bi = Reranker(str(minilm_dir), dtype="float32")
    out = InteRankCompressor(reranker=bi, top_n=None).compress_documents(docs, query)
    assert [d.id for d in out] == [docs[r.index].id for r in bi.rerank(query, [d.page_content for d in docs])]
    cascade = Cascade(bi, tiny_reranker, depth=3)
    out = InteRankCompressor(reranker=cascade, top_n=4).compress_documents(docs, query)
    expected = cascade.rerank(query, [d.page_content for d in docs], top_k=4)
    assert [d.id for d in out] == [docs[r.index].id for r in expected]
