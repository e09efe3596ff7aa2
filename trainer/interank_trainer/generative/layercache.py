"""Train the top layers of a decoder over cached states of its frozen lower layers.

With LoRA on the top ``k`` decoder layers only, the layers below never change:
their output for a training row is the same at every step. :class:`LayerCache`
computes it once per row (one forward pass over the lower layers, no grad) and
keeps it in memory; a training step then enters the model at layer ``start``
with the cached states as ``inputs_embeds`` and runs only the top layers, the
final norm and the head, forward and backward. On a CPU, where a step of a
0.5B model is all matmul, that is about ``k / layers`` of a full step.

Entering at a layer uses the model's own forward (masks, rotary positions,
final norm, ``logits_to_keep``) with its layer list cut to the top layers, so
it works for decoders whose embedding output is used as is (Llama, Qwen2,
Mistral, SmolLM...). :meth:`LayerCache.check` compares the cut forward with
the full one on real rows and raises :class:`UnsupportedError` where they
differ (for example models that scale their embeddings).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from interank_sdk.errors import UnsupportedError

from .._deps import need

logger = logging.getLogger(__name__)


class _Stop(Exception):
    """Raised by the capture hook: the forward pass has what it needs."""


def decoder(model: Any) -> Any:
    """The decoder stack (``model.model`` of a ``*ForCausalLM``, through a peft wrapper) with its ``layers``."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    inner = base.get_decoder() if hasattr(base, "get_decoder") else getattr(base, "model", None)
    torch = need("torch")
    if inner is None or not isinstance(getattr(inner, "layers", None), torch.nn.ModuleList):
        raise UnsupportedError(f"{type(base).__name__} has no decoder layer list; train all layers (train_layers=None)")
    return inner


def num_layers(model: Any) -> int:
    """Decoder layers of ``model``."""
    return len(decoder(model).layers)


@contextlib.contextmanager
def top_layers_only(model: Any, start: int) -> Iterator[None]:
    """Within the block, ``model``'s forward runs only decoder layers ``start:`` (input: ``inputs_embeds``)."""
    torch = need("torch")
    inner = decoder(model)
    layers, cfg = inner.layers, inner.config
    saved_n, saved_types = cfg.num_hidden_layers, getattr(cfg, "layer_types", None)
    inner.layers = torch.nn.ModuleList(list(layers)[start:])
    cfg.num_hidden_layers = len(layers) - start
    if saved_types is not None:
        cfg.layer_types = list(saved_types)[start:]
    try:
        yield
    finally:
        inner.layers = layers
        cfg.num_hidden_layers = saved_n
        if saved_types is not None:
            cfg.layer_types = saved_types


class LayerCache:
    """Outputs of decoder layers ``0..start-1`` for token rows, and forward passes that start at layer ``start``.

    Args:
        model: the causal LM (peft-wrapped or not) whose lower layers are frozen.
        start: the first layer that is trained (``layers - train_layers``).
        backend: the :class:`~interank_sdk.backends.hf.HFBackend` the model was
            loaded with (its ``batch_tensors`` pads token rows, its ``device``
            is where the model runs); states are kept on the CPU in the model's dtype.
    """

    def __init__(self, model: Any, start: int, backend: Any) -> None:
        n = num_layers(model)
        if not 0 < start < n:
            raise UnsupportedError(f"cannot cache the output of layer {start} of a {n}-layer decoder")
        self.model, self.start, self.backend, self.device = model, start, backend, backend.device
        self.states: list[Any] = []

    def fill(self, rows: Sequence[Sequence[int]], *, batch_size: int = 8, show_progress: bool = True) -> None:
        """Compute and keep the lower layers' output of every row (length-sorted batches, no grad)."""
        torch = need("torch")
        from tqdm.auto import tqdm

        captured: list[Any] = []

        def hook(_module: Any, _args: Any, output: Any) -> None:
            captured.append(output[0] if isinstance(output, tuple) else output)
            raise _Stop

        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        states: list[Any] = [None] * len(rows)
        handle = decoder(self.model).layers[self.start - 1].register_forward_hook(hook)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                for s in tqdm(range(0, len(order), batch_size), desc=f"cache layers 0-{self.start - 1}",
                              unit="batch", disable=not show_progress):
                    idx = order[s:s + batch_size]
                    ids, mask, pos = self.backend.batch_tensors([rows[i] for i in idx])
                    captured.clear()
                    with contextlib.suppress(_Stop):
                        self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False)
                    out = captured[0].detach().to("cpu")
                    for b, i in enumerate(idx):
                        states[i] = out[b, out.shape[1] - len(rows[i]):].clone()
        finally:
            handle.remove()
            self.model.train(was_training)
        self.states = states
        floats = sum(int(t.numel()) for t in states)
        logger.info("cached layer-%d states of %d rows (%.2f GiB)", self.start, len(rows),
                    floats * states[0].element_size() / 2**30)

    def forward(self, index: Sequence[int], **kwargs: Any) -> Any:
        """The model's output for cached rows ``index``, running only the layers from ``start`` on."""
        torch = need("torch")
        rows = [self.states[i] for i in index]
        width = max(int(r.shape[0]) for r in rows)
        embeds = torch.zeros((len(rows), width, rows[0].shape[-1]), dtype=rows[0].dtype)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for b, r in enumerate(rows):
            embeds[b, width - r.shape[0]:] = r
            mask[b, width - r.shape[0]:] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        with top_layers_only(self.model, self.start):
            return self.model(inputs_embeds=embeds.to(self.device), attention_mask=mask.to(self.device),
                              position_ids=pos.to(self.device), use_cache=False, **kwargs)

    def check(self, rows: Sequence[Sequence[int]], index: Sequence[int], tolerance: float = 1e-3) -> float:
        """Max |difference| of the last position's log-probabilities, cut forward vs full forward; raises if above ``tolerance``."""
        torch = need("torch")
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                ids, mask, pos = self.backend.batch_tensors([rows[i] for i in index])
                full = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False,
                                  logits_to_keep=1).logits[:, -1]
                cut = self.forward(index, logits_to_keep=1).logits[:, -1]
        finally:
            self.model.train(was_training)
        diff = float((torch.log_softmax(full.float(), -1) - torch.log_softmax(cut.float(), -1)).abs().max())
        if diff > tolerance:
            raise UnsupportedError(
                f"entering {type(self.model).__name__} at layer {self.start} does not reproduce its full forward "
                f"(max log-prob difference {diff:.3g}); train all layers (train_layers=None)")
        return diff


__all__ = ["LayerCache", "decoder", "num_layers", "top_layers_only"]
