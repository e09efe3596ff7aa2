"""Int8 matrix multiplies for the transformers backend on CPUs (``quantization="int8"``).

Two implementations; :func:`choose_int8_method` picks the one that is fast on this CPU (and the
loader logs which):

* ``"int_mm"`` (:func:`quantize_int8`): per-token int8 through ``torch._int_mm``, fast on CPUs with
  int8 dot-product instructions (AVX512-VNNI, AVX-VNNI, AMX-INT8), far slower than float32 without them;
* ``"dynamic"`` (:func:`quantize_dynamic_int8`, cross-encoders and encoders on CPUs without those
  instructions): PyTorch's dynamic int8 linear layers on its x86/fbgemm engine (AVX2 int8 kernels),
  per-channel int8 weights, one activation scale per call. Measured on an AVX2-only CPU with the DL21
  student (docs/performance.md, "int8"): faster than float32 at DL19 nDCG@10 within 0.005 of it, where
  OpenVINO's static int8 (NNCF) was slower than OpenVINO float32. Its activation scale is one per
  tensor, so a pair's score moves a little with the other pairs of its batch (the same input gives the
  same scores; ``mix_queries=False`` keeps a query's batches independent of other queries).

The rest of this docstring describes ``"int_mm"``.

A CPU scores at its matmul peak already with one sequence, so batching alone
cannot buy much there (see the README's speed section); integer arithmetic can.
CPUs with AVX512-VNNI (or AMX-INT8) multiply int8 at about four times their
fp32 rate. :class:`Int8Linear` replaces an ``nn.Linear``:

* weights: int8, symmetric, one scale per output channel (computed once, at load);
* activations: int8, symmetric, one scale **per token** (row), computed on the fly;
* product: exact int32 accumulation (``torch._int_mm``), rescaled to the input dtype.

Because every token is quantized on its own, a row's result does not depend on
the other rows of its batch or on padding: the same input gives the same scores
in any batch, as with full precision. Embeddings and the LM head stay in full
precision (the head runs for the last position only when scoring). The scores
move a little against fp32 (README and ``bench/throughput.py`` report how much,
measured); use it when CPU latency matters more than the last digit of a score.
No extra dependency: plain PyTorch.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Literal

from .._deps import require
from .hf.device import cpu_flags

logger = logging.getLogger(__name__)

#: the int8 implementations (see the module docstring)
Int8Method = Literal["int_mm", "dynamic"]
INT8_METHODS: tuple[str, ...] = ("int_mm", "dynamic")

#: modules never quantized: the output head (one position when scoring) and the embeddings
DEFAULT_SKIP = ("lm_head",)


def _torch():
    return require("torch", "hf")


def int8_supported() -> bool:
    """True when this PyTorch build runs ``torch._int_mm`` on the CPU."""
    torch = _torch()
    try:
        a = torch.ones((3, 32), dtype=torch.int8)
        b = torch.ones((32, 32), dtype=torch.int8)
        return bool(torch._int_mm(a, b)[0, 0].item() == 32)
    except (RuntimeError, AttributeError, NotImplementedError):
        return False


def int8_fast() -> bool | None:
    """Whether this CPU has int8 dot-product instructions (AVX512-VNNI, AVX-VNNI or AMX-INT8) that make
    ``torch._int_mm`` faster than float32; ``None`` where the CPU's flags cannot be read (not Linux).

    Without them PyTorch runs ``_int_mm`` on a slow generic path, far slower than float32
    (docs/performance.md, "int8").
    """
    flags = cpu_flags()
    return None if flags is None else bool({"avx512_vnni", "avx_vnni", "amx_int8"} & flags)


def dynamic_int8_supported() -> bool:
    """True when this PyTorch has dynamic int8 linear layers and an x86 (fbgemm) quantized engine."""
    torch = _torch()
    engines = set(getattr(torch.backends.quantized, "supported_engines", ()))
    quantization = getattr(getattr(torch, "ao", None), "quantization", None)
    return bool({"x86", "fbgemm"} & engines) and hasattr(quantization, "quantize_dynamic")


def choose_int8_method(task: str) -> Int8Method:
    """The int8 implementation that is fast on this CPU for a model loaded for ``task``.

    ``"dynamic"`` for classifiers (encoder cross-encoders and LLM classifiers) and encoders on a CPU
    known to lack int8 dot-product instructions (where PyTorch has the dynamic int8 layers);
    ``"int_mm"`` otherwise: causal LMs keep the per-token path, whose label-token and likelihood
    readouts were measured with it (one activation scale per tensor is coarse for LLM activation outliers).
    """
    if task != "causal-lm" and int8_fast() is False and dynamic_int8_supported():
        return "dynamic"
    return "int_mm"


def quantize_dynamic_int8(model: Any, skip: tuple[str, ...] = DEFAULT_SKIP) -> int:
    """Replace the ``nn.Linear`` layers of ``model`` (in place, float32) by PyTorch's dynamic int8 linear layers.

    Weights: int8, one scale per output channel; activations: quantized on the fly with one scale
    per call (PyTorch's x86/fbgemm engine; AVX2 int8 kernels). ``torch.ao.quantization`` warns that
    it is deprecated: those warnings are about PyTorch's API, nothing a caller can act on, so they
    are silenced here; a PyTorch without it gets :class:`~interank_sdk.errors.UnsupportedError`.

    Args:
        model: a transformers model on the CPU, in float32.
        skip: module names (last path component) left in full precision (the output heads).

    Returns:
        The number of layers replaced.
    """
    from ..errors import UnsupportedError

    torch = _torch()
    if not dynamic_int8_supported():
        raise UnsupportedError("this PyTorch has no dynamic int8 linear layers (torch.ao.quantization.quantize_dynamic "
                               "with the x86/fbgemm engine); use quantization=None")
    engines = torch.backends.quantized.supported_engines
    if torch.backends.quantized.engine not in ("x86", "fbgemm"):
        torch.backends.quantized.engine = "x86" if "x86" in engines else "fbgemm"
    names = [name for name, module in model.named_modules()
             if isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] not in skip]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
        torch.ao.quantization.quantize_dynamic(model, {name: qconfig for name in names}, dtype=torch.qint8,
                                               inplace=True)
    logger.info("int8 (dynamic, %s engine): %d linear layers quantized (per-channel weights, per-call activations)",
                torch.backends.quantized.engine, len(names))
    return len(names)


def _quantize_rows(x: Any) -> tuple[Any, Any]:
    """Symmetric int8 quantization with one scale per row: ``x ~= q * scale``."""
    torch = _torch()
    x = x.float()
    scale = x.abs().amax(dim=-1, keepdim=True).clamp_(min=1e-8).div_(127.0)
    return torch.round(x / scale).clamp_(-127, 127).to(torch.int8), scale


def _version(x: Any) -> int | None:
    try:
        return int(x._version)
    except RuntimeError:  # inference-mode tensors track no version
        return None


class _SharedInput:
    """The last quantized activation of a model, reused by the sibling layers that read it next.

    Sibling projections read one tensor (q/k/v of an attention block, gate/up of
    an MLP): quantizing it once saves three of seven activation passes per
    decoder layer. One entry per model, so a forward pass holds one quantized
    activation at a time; a hit needs a sibling of the layer that made the
    entry (same parent module) and the same tensor object (at the same version
    where the tensor tracks one). The entry keeps a reference to that tensor, so
    its memory cannot be freed and reused while the entry exists.
    """

    def __init__(self) -> None:
        self.owner: int | None = None
        self.source: Any = None
        self.version: int | None = None
        self.value: tuple[Any, Any] | None = None

    def quantize(self, rows: Any, owner: int) -> tuple[Any, Any]:
        if self.value is not None and owner == self.owner and rows is self.source and _version(rows) == self.version:
            return self.value
        self.clear()
        self.value = _quantize_rows(rows)
        self.owner, self.source, self.version = owner, rows, _version(rows)
        return self.value

    def clear(self) -> None:
        self.owner, self.source, self.value = None, None, None


def _make_int8_linear():
    torch = _torch()

    class Int8Linear(torch.nn.Module):
        """W8A8 linear layer: per-channel int8 weights, per-token int8 activations, int32 accumulation."""

        def __init__(self, linear: Any, shared: _SharedInput, owner: int) -> None:
            super().__init__()
            self.in_features = linear.in_features
            self.out_features = linear.out_features
            q, scale = _quantize_rows(linear.weight.detach())  # one scale per output channel
            self.register_buffer("weight_t", q.t().contiguous(), persistent=False)  # (in, out)
            self.register_buffer("weight_scale", scale.reshape(1, -1), persistent=False)  # (1, out)
            bias = linear.bias.detach().float() if linear.bias is not None else None
            self.register_buffer("bias", bias, persistent=False)
            self._shared = shared
            self._owner = owner  # id of the parent module: only siblings share a quantized input

        def forward(self, x: Any) -> Any:
            shape = x.shape
            q, scale = self._shared.quantize(x, self._owner)
            out = torch._int_mm(q.reshape(-1, shape[-1]), self.weight_t).to(torch.float32)
            out.mul_(scale.reshape(-1, 1)).mul_(self.weight_scale)  # in place: fresh large tensors cost page faults
            if self.bias is not None:
                out.add_(self.bias)
            return out.to(x.dtype).reshape(*shape[:-1], self.out_features)

        def extra_repr(self) -> str:
            return f"in_features={self.in_features}, out_features={self.out_features}, w8a8=per-channel/per-token"

    return Int8Linear


def quantize_int8(model: Any, skip: tuple[str, ...] = DEFAULT_SKIP) -> int:
    """Replace the ``nn.Linear`` layers of ``model`` (in place) by :class:`Int8Linear`.

    Args:
        model: a transformers model on the CPU.
        skip: module names (last path component) left in full precision.

    Returns:
        The number of layers replaced.
    """
    torch = _torch()
    int8_linear = _make_int8_linear()
    shared = _SharedInput()
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.Linear) and name not in skip:
                setattr(parent, name, int8_linear(child, shared, id(parent)))
                replaced += 1
    model.register_forward_hook(lambda *args: shared.clear())  # keep no activation alive between calls
    logger.info("int8: %d linear layers quantized (per-channel weights, per-token activations)", replaced)
    return replaced
