"""One small runtime interface per model kind, declared by each strategy, and the pair classifier's one tokenizer
call per batch: documents are fitted to the budget where they are encoded, never counted first.

Real tiny transformers models (tests/reranker_models.py) and sentence-transformers' CrossEncoder as the reference.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
st = pytest.importorskip("sentence_transformers")

from reranker_models import build_cross_encoder  # noqa: E402

from interank_sdk import Reranker  # noqa: E402
from interank_sdk.backends import REGISTRY, RUNTIMES, Backend, CausalLM, PairClassifier  # noqa: E402
from interank_sdk.errors import UnsupportedError  # noqa: E402
from interank_sdk.strategies import STRATEGIES  # noqa: E402

QUERY = "how do plants make food from sunlight ?"
LONG = " ".join(["photosynthesis makes sugar from light in the green leaves of plants ."] * 30)
DOCS = [LONG, "the eiffel tower is in paris .", "chlorophyll makes sugars from light energy .", LONG + " water"]


@pytest.fixture(scope="module")
def ce(tmp_path_factory):
    return build_cross_encoder(tmp_path_factory.mktemp("ce") / "ce", "bert")


def test_every_runtime_implements_the_interface_of_the_kind_it_is_registered_for():
    for (name, kind), target in REGISTRY.items():
        module, _, cls_name = target.partition(":")
        try:
            cls = getattr(importlib.import_module(f"interank_sdk.backends.{module}"), cls_name)
        except ImportError:  # an optional runtime whose package is not installed in this environment
            continue
        assert issubclass(cls, RUNTIMES[kind]), (name, kind, cls)
        assert cls.kind == kind
        assert not any(issubclass(cls, other) for k, other in RUNTIMES.items() if k != kind), cls


def test_each_strategy_declares_the_interface_it_reads():
    for name, cls in STRATEGIES.items():
        assert cls.runtime in RUNTIMES.values(), name
        assert cls.model_kind == cls.runtime.kind, name
    assert STRATEGIES["classifier"].runtime is PairClassifier
    assert STRATEGIES["yesno"].runtime is CausalLM and STRATEGIES["qlm"].runtime is CausalLM


def test_a_backend_of_another_kind_is_refused_by_the_strategy(ce):
    backend = Reranker(str(ce), dtype="float32").backend
    assert isinstance(backend, PairClassifier) and not isinstance(backend, CausalLM)
    with pytest.raises(UnsupportedError, match="reads causal-lm models"):
        Reranker(backend, strategy="yesno")
    assert isinstance(Reranker(backend).backend, Backend)  # its own kind's default strategy takes it


def test_a_pair_classifier_fits_documents_where_it_encodes_them_and_says_which_it_cut(ce, monkeypatch):
    reranker = Reranker(str(ce), dtype="float32", max_length=64, batch_size=2)
    counted: list[str] = []
    real_count = reranker.backend.count_tokens
    monkeypatch.setattr(reranker.backend, "count_tokens", lambda texts: counted.extend(texts) or real_count(texts))
    windows = reranker.backend.split_windows
    monkeypatch.setattr(reranker.backend, "split_windows",
                        lambda *a, **k: pytest.fail("a document was windowed in truncate mode") or windows(*a, **k))
    result = reranker.rerank(QUERY, DOCS)
    assert not any(d in counted for d in DOCS), "documents were tokenized before the call that encodes them"
    by_index = {r.index: r for r in result}
    assert [by_index[i].truncated for i in range(len(DOCS))] == [True, False, False, True]
    assert result.stats.truncated_documents == 2
    # the scores are sentence-transformers' on the same weights and max_length (it cuts the longest text)
    reference = st.CrossEncoder(str(ce), device="cpu", max_length=64).predict([(QUERY, d) for d in DOCS])
    ours = np.array([by_index[i].score for i in range(len(DOCS))])
    assert np.max(np.abs(ours - np.asarray(reference))) <= 1e-4


def test_windowing_still_counts_and_splits_documents(ce):
    result = Reranker(str(ce), dtype="float32", max_length=64, long_documents="window").rerank(QUERY, DOCS)
    long_one = next(r for r in result if r.index == 0)
    assert long_one.num_windows > 1 and not long_one.truncated
    assert result.stats.windowed_documents == 2


def test_the_cut_flags_from_lengths_agree_with_what_the_fast_tokenizer_records(ce):
    encoder = Reranker(str(ce), dtype="float32", max_length=64).backend.pairs
    pairs = [(QUERY, d) for d in DOCS] + [(QUERY, " ".join(["leaf"] * 40))]
    encoded = encoder.encode(pairs)
    lengths = [len(r) for r in encoded.input_ids]
    assert max(lengths) == 64
    assert encoder.cut(pairs, lengths) == encoded.truncated
    assert encoded.truncated[0] and not encoded.truncated[1]
