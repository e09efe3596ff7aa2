"""Shared fixtures.

Models: tests never download anything. They use
* ``tiny_model``: a randomly initialised 2-layer Llama with a word-level
  tokenizer, both built here (plumbing and contracts);
* ``smollm2_dir`` / ``smollm2_gguf`` and ``demo_model_dir``: the offline models
  built by ``scripts/provision_models.py`` into ``$INTERANK_CACHE/models``
  (the README's test command runs it first). Tests that need them are skipped
  with a clear reason when they are missing, unless ``INTERANK_REQUIRE_MODELS=1``
  (set by ``.ci/run``) turns the skip into a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("INTERANK_DATA", REPO.parent / "shared" / "data"))
CACHE = Path(os.environ.get("INTERANK_CACHE", Path.home() / ".cache" / "interank"))

from tiny_vocab import CHAT_TEMPLATE, PUNCT, SPECIALS, WORDS  # noqa: E402,F401  (re-exported)

#: fixtures that need an offline model (scripts/provision_models.py) or start a server process: every test that
#: uses one, directly or through another fixture, is marked ``slow``, so ``pytest -m "not slow"`` is the quick
#: suite (tiny models built in the test session only); tests that start a subprocess themselves carry the mark,
#: which tests/test_markers.py checks
SLOW_FIXTURES = frozenset({"smollm2_dir", "smollm2_gguf", "demo_model_dir", "vllm_scoring_server"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def build_tiny_model(folder: Path, *, chat_template: bool = True, seed: int = 0) -> Path:
    """A random 2-layer Llama plus a word-level tokenizer built from WORDS."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab: dict[str, int] = {}
    for tok in SPECIALS + WORDS + PUNCT:
        vocab.setdefault(tok, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok.decoder = decoders.WordPiece(prefix="##")
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        bos_token="<s>",
        eos_token="</s>",
        additional_special_tokens=SPECIALS[4:],
    )
    if chat_template:
        fast.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=vocab["<s>"],
        eos_token_id=vocab["</s>"],
        pad_token_id=vocab["[PAD]"],
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    fast.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_model_plain(tmp_path_factory) -> Path:
    """The tiny model without a chat template (plain prompt fallback)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny_plain") / "model", chat_template=False)


@pytest.fixture(scope="session")
def tiny_reranker(tiny_model):
    from interank_sdk import Reranker

    return Reranker(str(tiny_model), strategy="yesno", dtype="float32", batch_size=4)


def _offline(path: Path, what: str) -> Path:
    if not path.exists():
        msg = f"{what} not built at {path}: run `python scripts/provision_models.py`"
        if os.environ.get("INTERANK_REQUIRE_MODELS") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    return _offline(CACHE / "models" / "smollm2-135m-instruct", "SmolLM2-135M-Instruct")


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    return _offline(CACHE / "models" / "smollm2-135m-instruct.gguf", "SmolLM2-135M-Instruct GGUF")


@pytest.fixture(scope="session")
def demo_model_dir() -> Path:
    return _offline(CACHE / "models" / "qwen2.5-coder-0.5b-instruct", "the demo model (Qwen2.5-Coder-0.5B-Instruct)")


@pytest.fixture(scope="session")
def dl19_dir() -> Path:
    path = DATA / "trec-dl19-passage"
    if not path.exists():
        pytest.fail(f"TREC DL19 data not found at {path} (set INTERANK_DATA)")
    return path
