"""Listwise, pairwise and setwise reranking (ordering strategies).

* prompts: the listwise prompts equal rank_llm's (its installed templates and prompt code);
* algorithms: sliding windows, PRP-sliding and the setwise heap and bubble sorts give the same order, with the
  same number of model calls, as rank_llm's and llm-rankers' own code fed the same answers (an oracle model,
  see ordering_oracle.py for why it is mocked);
* the parser of generated permutations never fails and counts its repairs, as rank_llm repairs them;
* real models: the tiny random Llama and SmolLM2 through transformers, in a Cascade behind a cross-encoder.

rank_llm and llm-rankers are installed without their dependencies (scripts/setup_env.sh): rank_llm's package
``__init__`` imports vLLM, so its prompt modules are imported below with the parent packages' ``__init__``
skipped.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from ordering_oracle import OracleLM, ideal_order, permutation_text, tagged_documents

from interank_sdk import Cascade, Reranker
from interank_sdk.errors import InvalidInputError, UnsupportedError
from interank_sdk.prompts import get_template
from interank_sdk.strategies import get_strategy
from interank_sdk.strategies.listwise import parse_permutation, sliding_windows
from interank_sdk.strategies.ordering import rank_score
from interank_sdk.types import Document

QUERY = "which passage is the most relevant?"


# ---------------------------------------------------------------- reference libraries
@pytest.fixture(scope="module")
def rank_llm(tmp_path_factory):
    """rank_llm's prompt and sliding-window modules, without its package __init__ (which imports vLLM)."""
    spec = importlib.util.find_spec("rank_llm")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("rank-llm is not installed: bash scripts/setup_env.sh test installs it (--no-deps)")
    root = Path(spec.submodule_search_locations[0])
    saved = {name: sys.modules.get(name) for name in ("rank_llm", "rank_llm.rerank", "rank_llm.rerank.listwise")}
    for name, folder in (("rank_llm", root), ("rank_llm.rerank", root / "rerank"),
                         ("rank_llm.rerank.listwise", root / "rerank" / "listwise")):
        if name not in sys.modules or not hasattr(sys.modules[name], "__file__"):
            stub = types.ModuleType(name)
            stub.__path__ = [str(folder)]
            sys.modules[name] = stub
    import yaml
    from rank_llm import data
    from rank_llm.rerank.listwise.listwise_rankllm import ListwiseRankLLM
    from rank_llm.rerank.listwise.singleturn_listwise_inference_handler import SingleTurnListwiseInferenceHandler

    def template(name: str) -> dict:
        return yaml.safe_load((root / "rerank" / "prompt_templates" / name).read_text())

    yield types.SimpleNamespace(data=data, ListwiseRankLLM=ListwiseRankLLM,
                                Handler=SingleTurnListwiseInferenceHandler, template=template)
    for name, module in saved.items():
        if module is None:
            sys.modules.pop(name, None)


def _result(rank_llm, query: str, docs: list[dict]):
    data = rank_llm.data
    return data.Result(query=data.Query(text=query, qid="q"),
                       candidates=[data.Candidate(docid=str(i), score=float(len(docs) - i), doc=d)
                                   for i, d in enumerate(docs)])


PROMPT_DOCS = [
    {"text": "Paris is the capital of France [1] and its largest city."},
    {"title": "Berlin", "text": "Berlin is the capital of Germany."},
    {"text": "The word cafÃ© is mojibake that ftfy repairs to café."},
    {"text": " ".join(f"word{i}" for i in range(400))},
    {"text": "Cats   are small\n\ndomesticated mammals."},
]


@pytest.mark.parametrize(("version", "yaml_name", "alpha"), [
    ("v1", "rank_zephyr_template.yaml", False),
    ("v1-alpha", "rank_zephyr_alpha_template.yaml", True),
])
@pytest.mark.parametrize("max_words", [300, 37])
def test_listwise_prompt_equals_rank_llm(rank_llm, version, yaml_name, alpha, max_words):
    handler = rank_llm.Handler(rank_llm.template(yaml_name))
    query = "what is the [2] capital of france?"
    theirs = handler.generate_prompt(_result(rank_llm, query, PROMPT_DOCS), rank_start=0,
                                     rank_end=len(PROMPT_DOCS), max_length=max_words, use_alpha=alpha)
    template = get_template("listwise", version)
    shown = [template.passage(d["text"], d.get("title"), max_words)[0] for d in PROMPT_DOCS]
    ours = template.render(query, shown)
    assert list(ours.messages) == theirs
    assert "café" in ours.messages[1]["content"] and "(1)" in ours.messages[1]["content"]
    assert [template.passage(d["text"], d.get("title"), max_words)[1] for d in PROMPT_DOCS] == [
        False, False, False, max_words < 400, False]


def _rank_llm_sliding(rank_llm, docs: list[str], relevance: dict, window: int, stride: int, alpha: bool,
                      corrupt=None) -> tuple[list[int], int]:
    """rank_llm's own sliding windows and permutation repair, answered by the same oracle."""
    handler = rank_llm.Handler(rank_llm.template("rank_zephyr_alpha_template.yaml" if alpha
                                                 else "rank_zephyr_template.yaml"))

    class Reference(rank_llm.ListwiseRankLLM):
        def __init__(self):  # the parent's loads a model; only the sliding-window state is set here
            self._window_size, self._stride, self._use_alpha = window, stride, alpha
            self._inference_handler = handler

        def create_prompt(self, result, rank_start, rank_end):
            messages = handler.generate_prompt(result, rank_start=rank_start, rank_end=rank_end, max_length=300,
                                               use_alpha=alpha)
            return messages, 0

        def run_llm(self, prompt, current_window_size=None):
            answer = permutation_text(prompt[-1]["content"], relevance.__getitem__)
            return (corrupt(answer) if corrupt else answer), 0

        run_llm_batched = create_prompt_batched = get_num_tokens = cost_per_1k_token = num_output_tokens = None
        rerank_batch = None

    ref = Reference()
    request = rank_llm.data.Request(query=rank_llm.data.Query(text=QUERY, qid="q"),
                                    candidates=[rank_llm.data.Candidate(docid=str(i), score=0.0, doc={"text": d})
                                                for i, d in enumerate(docs)])
    result = ref.sliding_windows(request, rank_start=0, rank_end=len(docs), top_k_retrieve=len(docs),
                                 populate_invocations_history=True)
    return [int(c.docid) for c in result.candidates], len(result.invocations_history)


@pytest.mark.parametrize(("n", "window", "stride"), [(13, 4, 2), (30, 20, 10), (7, 20, 10), (25, 6, 3)])
@pytest.mark.parametrize("strategy", ["listwise", "listwise-first"])
def test_sliding_windows_equal_rank_llm(rank_llm, n, window, stride, strategy):
    docs, relevance = tagged_documents(n, seed=n)
    oracle = OracleLM(relevance)
    reranker = Reranker(oracle, strategy=strategy, strategy_options={"window": window, "stride": stride})
    result = reranker.rerank(QUERY, docs)
    theirs, calls = _rank_llm_sliding(rank_llm, docs, relevance, window, stride, alpha=strategy == "listwise-first")
    assert [r.index for r in result] == theirs
    assert result.stats.llm_calls == calls == len([w for w in sliding_windows(n, window, stride) if w[1] - w[0] > 1])
    assert result.stats.order_repairs == result.stats.order_fallbacks == 0
    if n <= window:  # one window: the oracle's order exactly
        assert [r.index for r in result] == ideal_order(relevance)
    # a sliding pass brings the best `stride` to the head
    assert [r.index for r in result][:min(stride, n)] == ideal_order(relevance)[:min(stride, n)]
    assert [r.raw_score for r in result] == [float(i) for i in range(1, n + 1)]
    assert [r.score for r in result] == [rank_score(i, n) for i in range(1, n + 1)]
    assert {r.strategy for r in result} == {strategy}


def _drop_last_repeat_first_add_invalid(answer: str) -> str:
    ids = answer.split(" > ")
    return " > ".join([ids[0], ids[0]] + ids[1:-1] + ["[99]"])


@pytest.mark.parametrize("corrupt", [
    _drop_last_repeat_first_add_invalid,
    lambda a: "Sure! The ranking: " + a.replace(" > ", ", "),
    lambda a: "I cannot rank these passages.",
    lambda a: "<think>[1] > [2]</think>" + " > ".join(reversed(a.split(" > "))),
])
def test_permutation_repair_equals_rank_llm(rank_llm, corrupt):
    docs, relevance = tagged_documents(11, seed=3)
    reranker = Reranker(OracleLM(relevance, corrupt=corrupt), strategy="listwise",
                        strategy_options={"window": 5, "stride": 3})
    result = reranker.rerank(QUERY, docs)
    theirs, _ = _rank_llm_sliding(rank_llm, docs, relevance, 5, 3, alpha=False, corrupt=corrupt)
    assert [r.index for r in result] == theirs
    assert sorted(r.index for r in result) == list(range(11))


def test_parse_permutation_counts_repairs():
    assert parse_permutation("[3] > [1] > [2]", 3) == ([2, 0, 1], 0, True)
    assert parse_permutation("[3] > [3] > [0] > [7]", 4) == ([2, 0, 1, 3], 6, True)  # 3 dropped, 3 appended
    assert parse_permutation("", 3) == ([0, 1, 2], 0, False)
    assert parse_permutation("[C] > [a] > [Q]", 3, alpha=True) == ([2, 0, 1], 2, True)
    assert parse_permutation("2 > 1", 2) == ([1, 0], 0, True)


def test_repairs_and_fallbacks_are_counted_and_logged(caplog):
    docs, relevance = tagged_documents(8, seed=1)
    with caplog.at_level(logging.INFO, logger="interank_sdk.strategies.listwise"):
        result = Reranker(OracleLM(relevance, corrupt=lambda a: "no idea"), strategy="listwise",
                          strategy_options={"window": 4, "stride": 2}).rerank(QUERY, docs)
    assert [r.index for r in result] == list(range(8))  # every window kept its order
    assert result.stats.order_fallbacks == result.stats.llm_calls == 3
    assert "no permutation" in caplog.text
    repaired = Reranker(OracleLM(relevance, corrupt=_drop_last_repeat_first_add_invalid), strategy="listwise",
                        strategy_options={"window": 8}).rerank(QUERY, docs)
    assert repaired.stats.order_repairs == 3 and repaired.stats.order_fallbacks == 0


# ---------------------------------------------------------------- llm-rankers' sorts
def _llm_rankers(kind: str, docs: list[str], relevance: dict, method: str, k: int, num_child: int = 3,
                 position_bias: float = 0.0):
    """llm-rankers' own sort, its compare() answered by the oracle's preferences."""
    if kind == "setwise":
        from llmrankers.setwise import SetwiseLlmRanker as Ranker
    else:
        from llmrankers.pairwise import PairwiseLlmRanker as Ranker
    from llmrankers.rankers import SearchResult

    ranker = Ranker.__new__(Ranker)  # its __init__ loads a model; the sort's settings are set here
    ranker.method, ranker.k, ranker.num_child, ranker.num_permutation = method, k, num_child, 1
    calls = {"n": 0}

    def rel(text: str) -> float:
        return relevance[text.split()[0]]

    def setwise_compare(query, shown):
        calls["n"] += 1
        scores = [rel(d.text) + (position_bias if i == 0 else 0.0) for i, d in enumerate(shown)]
        return Ranker.CHARACTERS[int(np.argmax(scores))]

    def pairwise_compare(query, shown):
        calls["n"] += 2  # both orders
        first = "Passage A" if rel(shown[0]) + position_bias > rel(shown[1]) else "Passage B"
        second = "Passage A" if rel(shown[1]) + position_bias > rel(shown[0]) else "Passage B"
        return [first, second]

    ranker.compare = setwise_compare if kind == "setwise" else pairwise_compare
    ranking = [SearchResult(docid=str(i), score=0.0, text=d) for i, d in enumerate(docs)]
    out = ranker.rerank(QUERY, ranking)
    return [int(r.docid) for r in out], calls["n"]


@pytest.mark.parametrize(("method", "n", "k", "num_child"), [
    ("heapsort", 20, 10, 3), ("heapsort", 30, 5, 2), ("heapsort", 9, 20, 3),
    ("bubblesort", 20, 10, 3), ("bubblesort", 17, 4, 2),
])
@pytest.mark.parametrize("bias", [0.0, 2.5])
def test_setwise_equals_llm_rankers(method, n, k, num_child, bias):
    docs, relevance = tagged_documents(n, seed=n + k)
    oracle = OracleLM(relevance, position_bias=bias)
    result = Reranker(oracle, strategy="setwise",
                      strategy_options={"method": method, "k": k, "num_child": num_child}).rerank(QUERY, docs)
    theirs, calls = _llm_rankers("setwise", docs, relevance, method, k, num_child, bias)
    assert [r.index for r in result] == theirs
    assert result.stats.llm_calls == calls
    if bias == 0.0:
        assert [r.index for r in result][:min(k, n)] == ideal_order(relevance)[:min(k, n)]


@pytest.mark.parametrize(("n", "k"), [(12, 3), (10, 10), (6, 1)])
@pytest.mark.parametrize("bias", [0.0, 1.5])
def test_prp_sliding_equals_llm_rankers(n, k, bias):
    docs, relevance = tagged_documents(n, seed=2 * n + k)
    result = Reranker(OracleLM(relevance, position_bias=bias), strategy="pairwise",
                      strategy_options={"method": "sliding", "k": k}).rerank(QUERY, docs)
    theirs, calls = _llm_rankers("pairwise", docs, relevance, "bubblesort", k, position_bias=bias)
    assert [r.index for r in result] == theirs
    assert result.stats.llm_calls == calls


def test_prp_allpair_both_orders_cancel_position_bias():
    docs, relevance = tagged_documents(7, seed=5)
    result = Reranker(OracleLM(relevance), strategy="pairwise", strategy_options={"method": "allpair"}).rerank(
        QUERY, docs)
    assert [r.index for r in result] == ideal_order(relevance)
    assert result.stats.llm_calls == 7 * 6  # every pair, both orders
    # a model that always answers "A" ties every pair (both orders disagree): the input order stays
    biased = Reranker(OracleLM(relevance, position_bias=100.0), strategy="pairwise",
                      strategy_options={"method": "allpair"}).rerank(QUERY, docs)
    assert [r.index for r in biased] == list(range(7))


def test_top_k_bounds_the_work_of_the_sorts():
    docs, relevance = tagged_documents(20, seed=9)
    for strategy in ("setwise", "pairwise"):
        full = Reranker(OracleLM(relevance), strategy=strategy).rerank(QUERY, docs)
        head = Reranker(OracleLM(relevance), strategy=strategy).rerank(QUERY, docs, top_k=2)
        assert len(head) == 2 and [r.index for r in head] == ideal_order(relevance)[:2]
        assert head.stats.llm_calls < full.stats.llm_calls


# ---------------------------------------------------------------- the pipeline around them
def test_rerank_batch_steps_the_queries_together():
    docs, rel = tagged_documents(9, seed=11)
    single = OracleLM(rel)
    one = Reranker(single, strategy="setwise").rerank(QUERY, docs)
    oracle = OracleLM(rel)
    batch = Reranker(oracle, strategy="setwise").rerank_batch(["q one", "q two"], [docs, list(docs)])
    assert [[r.index for r in res] for res in batch] == [[r.index for r in one]] * 2
    assert oracle.calls["labels"] == single.calls["labels"]  # one backend call per step, for both queries
    assert [res.stats.llm_calls for res in batch] == [one.stats.llm_calls] * 2
    import asyncio

    awaited = asyncio.run(Reranker(OracleLM(rel), strategy="setwise").arerank_batch(["q one", "q two"], [docs, docs]))
    assert [[r.index for r in res] for res in awaited] == [[r.index for r in one]] * 2


def test_context_too_small_shrinks_the_window_then_refuses(caplog):
    docs, relevance = tagged_documents(12, seed=4, words=30)
    with caplog.at_level(logging.WARNING):
        result = Reranker(OracleLM(relevance), strategy="listwise", max_length=150).rerank(QUERY, docs)
    assert "shrunk" in caplog.text
    assert sorted(r.index for r in result) == list(range(12))
    assert result.stats.llm_calls > 1
    with pytest.raises(InvalidInputError, match="does not fit two passages"):
        Reranker(OracleLM(relevance), strategy="listwise", max_length=64).rerank(QUERY, docs)


def test_ordering_strategies_refuse_what_they_cannot_do():
    docs, relevance = tagged_documents(4)
    with pytest.raises(UnsupportedError, match="strategy='listwise'"):
        Reranker(OracleLM(relevance, exact=False), strategy="listwise-first").rerank(QUERY, docs)
    with pytest.raises(InvalidInputError, match="long_documents"):
        Reranker(OracleLM(relevance), strategy="listwise", long_documents="window")
    with pytest.raises(InvalidInputError, match="letter identifiers"):
        get_strategy("listwise-first", "v1")
    with pytest.raises(InvalidInputError, match="window"):
        get_strategy("listwise", window=1)
    with pytest.raises(InvalidInputError, match="method"):
        get_strategy("setwise", method="quicksort")
    with pytest.raises(UnsupportedError, match="cannot judge a pair alone"):
        get_strategy("pairwise").judge(OracleLM(relevance), [(QUERY, docs[0])])


def test_single_and_empty_lists_cost_no_call():
    oracle = OracleLM({"d00": 1.0})
    reranker = Reranker(oracle, strategy="listwise")
    assert reranker.rerank(QUERY, []) == []
    one = reranker.rerank(QUERY, ["d00 alone"])
    assert [(r.index, r.score, r.raw_score) for r in one] == [(0, 1.0, 1.0)] and one.stats.llm_calls == 0


def test_min_score_and_documents_pass_through():
    docs, relevance = tagged_documents(6, seed=2)
    items = [Document(text=d, id=f"id{i}", metadata={"i": i}) for i, d in enumerate(docs)]
    reranker = Reranker(OracleLM(relevance), strategy="listwise")
    assert "from the final rank" in reranker.describe()["scores"]
    assert reranker.describe()["strategy_options"] == {"window": 20, "stride": 10, "passes": 1}
    result = reranker.rerank(QUERY, items, min_score=0.5)
    assert [r.index for r in result] == ideal_order(relevance)[:3]
    assert all(r.document is items[r.index] for r in result)
    assert result.stats.below_min_score == 3


# ---------------------------------------------------------------- real models
def test_tiny_llm_orders_every_document(tiny_model):
    """A random 2-layer Llama answers the listwise prompt with noise: every document still comes back once, and
    a vocabulary without the comparison labels is an error, never a guess."""
    from interank_sdk.errors import LabelTokenError

    docs = [f"the {w} is a good answer about paris and france number {i}" for i, w in
            enumerate(["cat", "dog", "city", "river", "tower", "museum", "bread"])]
    reranker = Reranker(str(tiny_model), strategy="listwise", strategy_options={"window": 4, "stride": 2})
    result = reranker.rerank("what is the capital of france", docs)
    assert sorted(r.index for r in result) == list(range(len(docs)))
    assert result.stats.llm_calls == 3 and result.stats.generated_tokens > 0
    for strategy in ("pairwise", "setwise", "listwise-first"):
        with pytest.raises(LabelTokenError):  # its word-level vocabulary has no token "A"/"B"
            Reranker(str(tiny_model), strategy=strategy).rerank("what is the capital of france", docs)


def test_smollm2_listwise_and_first_on_transformers(smollm2_dir):
    docs = ["Paris is the capital and largest city of France.", "Bread is made from flour, water and yeast.",
            "Berlin is the capital of Germany.", "The Eiffel Tower is in Paris, the capital of France."]
    for strategy in ("listwise", "listwise-first", "setwise", "pairwise"):
        reranker = Reranker(str(smollm2_dir), strategy=strategy, local_files_only=True)
        result = reranker.rerank("what is the capital of france?", docs)
        assert sorted(r.index for r in result) == [0, 1, 2, 3], strategy
        assert result.stats.llm_calls >= 1
        # the batch path answers the same as one query at a time (mix_queries=False: a query's own batches)
        again = reranker.rerank_batch(["what is the capital of france?"] * 2, [docs, docs])
        assert [[r.index for r in res] for res in again] == [[r.index for r in result]] * 2, strategy


def test_cascade_cross_encoder_then_listwise(tmp_path):
    from reranker_models import build_cross_encoder

    docs, relevance = tagged_documents(12, seed=6)
    first = Reranker(str(build_cross_encoder(tmp_path / "ce")))
    second = Reranker(OracleLM(relevance), strategy="listwise", strategy_options={"window": 5, "stride": 2})
    cascade = Cascade(first, second, depth=5)
    result = cascade.rerank(QUERY, docs)
    head = [r.index for r in first.rerank(QUERY, docs)][:5]
    assert [r.stage for r in result] == [2] * 5 + [1] * 7
    assert sorted(r.index for r in result[:5]) == sorted(head)
    assert [r.index for r in result[:5]] == sorted(head, key=lambda i: -relevance[f"d{i:02d}"])
    assert {r.strategy for r in result[:5]} == {"listwise"}
    assert result.stats.llm_calls >= 1


RANKZEPHYR_README = """---
tags:
- generated_from_trainer
license: mit
base_model: mistralai/Mistral-7B-v0.1
---
# Model Card for RankZephyr 7B V1 - Full
RankZephyr is a series of language models trained to act as helpful reranking assistants.
- Repository: https://github.com/castorini/rank_llm
RankZephyr is fine-tuned to act as a listwise reranking agent.
"""
FIRST_README = """# FirstMistral
A listwise reranker trained with FIRST: Faster Improved Listwise Reranking with Single Token Decoding.
Use it with [rank_llm](https://github.com/castorini/rank_llm) and use_logits=True, use_alpha=True.
"""


@pytest.mark.parametrize(("readme", "expected"), [(RANKZEPHYR_README, "rankzephyr"), (FIRST_README, "first-mistral"),
                                                  ("# a chat model\nIt writes poems.\n", "qlm")])
def test_listwise_presets_are_detected_from_the_readme(tiny_model, tmp_path, readme, expected):
    import shutil

    folder = tmp_path / "named-anything"
    shutil.copytree(tiny_model, folder)
    (folder / "README.md").write_text(readme)
    reranker = Reranker(str(folder))
    assert reranker.strategy.name == expected
    if expected == "rankzephyr":
        assert (reranker.strategy.version, reranker.strategy.window, reranker.strategy.stride) == ("v1", 20, 10)
        assert reranker.max_length == 2048  # rank_llm's 4096, capped by the model's own context
    if expected == "first-mistral":
        assert reranker.strategy.list_template.alpha
    # an explicit strategy wins over detection
    assert Reranker(str(folder), strategy="setwise").strategy.name == "setwise"


def test_calibration_maps_the_rank_score_not_the_rank():
    from interank_sdk.calibration import calibration_input
    from interank_sdk.types import RankedDocument

    ranked = RankedDocument(index=0, score=0.75, model_score=0.75, raw_score=2.0, document=Document("x"),
                            strategy="setwise")
    assert calibration_input(ranked) == 0.75  # higher is better, as a calibration map expects
    ranked.strategy = "classifier"
    assert calibration_input(ranked) == 2.0
