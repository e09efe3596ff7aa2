"""The CPU int8 path (``quantization="int8"``) and the CPU allocator setting of the transformers backend.

Real layers and real models (the tests' tiny model, SmolLM2): int8 results are
compared with the same layers and models in fp32.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from interank_sdk import Reranker  # noqa: E402
from interank_sdk.backends.int8 import int8_supported, quantize_int8  # noqa: E402
from sdk_samples import PLANT_DOCS, PLANT_QUERY as QUERY  # noqa: E402

pytestmark = pytest.mark.skipif(not int8_supported(), reason="this PyTorch build has no CPU torch._int_mm")

DOCS = [
    *PLANT_DOCS,
    "Plants take in carbon dioxide through small pores called stomata.",
    "The stock market fell sharply on Monday.",
]


def _scores(reranker: Reranker, docs=DOCS) -> np.ndarray:
    out = np.zeros(len(docs))
    for r in reranker.rerank(QUERY, docs):
        out[r.index] = r.score
    return out


def _spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def test_int8_linear_is_close_to_fp32_and_each_row_stands_alone():
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 96)
    x = torch.randn(5, 7, 64)
    reference = linear(x).detach()
    model = torch.nn.Sequential(linear)
    assert quantize_int8(model) == 1
    assert type(model[0]).__name__ == "Int8Linear"
    with torch.inference_mode():
        out = model(x)
        assert out.shape == reference.shape and out.dtype == reference.dtype
        assert ((out - reference).norm() / reference.norm()).item() < 0.02
        # every token is quantized on its own: a row alone gives bit-identical results
        for i in range(len(x)):
            assert torch.equal(model(x[i : i + 1]), out[i : i + 1])


def test_siblings_share_a_quantized_input_but_never_a_stale_one():
    """q/k/v-like siblings reuse one quantization of the same tensor; a changed tensor is quantized again."""
    torch.manual_seed(0)
    parent = torch.nn.Module()
    parent.a = torch.nn.Linear(32, 16, bias=False)
    parent.b = torch.nn.Linear(32, 16, bias=False)
    ref_b = parent.b.weight.detach().clone()
    quantize_int8(parent)
    x = torch.randn(20, 32)
    parent.a(x)
    x.mul_(2)  # in place: same object, new version
    got = parent.b(x)
    want = x @ ref_b.T
    assert ((got - want).norm() / want.norm()).item() < 0.02


def test_lm_head_and_embeddings_stay_in_full_precision(tiny_model):
    reranker = Reranker(str(tiny_model), strategy="yesno", quantization="int8", batch_size=4)
    model = reranker.backend.model
    kinds = {name: type(m).__name__ for name, m in model.named_modules()}
    assert kinds["lm_head"] == "Linear"
    assert any(k == "Int8Linear" for k in kinds.values())
    assert not any(k == "Linear" for name, k in kinds.items() if name != "lm_head")
    assert reranker.backend.describe()["quantization"] == "int8"


def test_int8_scores_are_deterministic_and_valid(tiny_model):
    reranker = Reranker(str(tiny_model), strategy="yesno", quantization="int8", batch_size=4)
    docs = ["the cat eats food", "paris is the capital of france", "python is a language", "the sun gives light"]
    first, second = _scores(reranker, docs), _scores(reranker, docs)
    assert np.array_equal(first, second)
    assert np.all((first > 0) & (first < 1))


@pytest.mark.slow
def test_int8_ranks_like_fp32_with_smollm2(smollm2_dir):
    """Measured: qlm scores within 0.01 of fp32's, Spearman 0.94 over these 6 documents."""
    full = _scores(Reranker(str(smollm2_dir), strategy="qlm", dtype="float32", local_files_only=True))
    int8 = _scores(Reranker(str(smollm2_dir), strategy="qlm", quantization="int8", local_files_only=True))
    assert np.max(np.abs(full - int8)) < 0.03, (full, int8)
    assert _spearman(full, int8) >= 0.8, (full, int8)
    # the relevant passages stay on top
    assert set(np.argsort(-int8)[:3]) == set(np.argsort(-full)[:3]) == {0, 2, 4}


def test_bad_quantization_names_the_choices(tiny_model):
    from interank_sdk.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="'int8'"):
        Reranker(str(tiny_model), quantization="int4")


@pytest.mark.slow  # a subprocess
@pytest.mark.parametrize("setting, expected", [(None, "True"), ("0", "False")])
def test_cpu_allocator_setting_and_its_switch(setting, expected):
    env = {k: v for k, v in os.environ.items() if k != "INTERANK_KEEP_FREED_MEMORY"}
    if setting is not None:
        env["INTERANK_KEEP_FREED_MEMORY"] = setting
    code = "from interank_sdk.backends.cpu_alloc import keep_freed_memory as k; print(k(), k())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    is_glibc = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else None
    if expected == "True" and not is_glibc:
        pytest.skip("not glibc: the setting does not apply")
    assert out.stdout.split() == [expected, expected]
