"""The label readout is one piece of code for inference and training: numpy rows (``Reranker``) and torch tensors
(the trainer, through ``interank_sdk.training``) give the same scores, and the tensor path is differentiable."""

from __future__ import annotations

import numpy as np
import pytest

from interank_sdk.strategies.labels import GradedStrategy, YesNoStrategy, expected_label, log_odds, renormalise

torch = pytest.importorskip("torch")


def test_numpy_and_torch_read_the_same_scores():
    rng = np.random.default_rng(0)
    logp = np.log(rng.dirichlet(np.ones(5), size=7))[:, :3]  # three labels' mass, not summing to 1
    tensor = torch.tensor(logp, requires_grad=True)
    values = GradedStrategy.values
    graded_np, graded_t = expected_label(logp, values), expected_label(tensor, values)
    np.testing.assert_allclose(graded_t.detach().numpy(), graded_np, rtol=1e-12)
    probs = np.exp(logp) / np.exp(logp).sum(-1, keepdims=True)  # the definition, written out
    np.testing.assert_allclose(graded_np, probs @ np.asarray(values) / 2.0, rtol=1e-12)
    np.testing.assert_allclose(np.exp(renormalise(logp)).sum(-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(log_odds(tensor[:, :2]).detach().numpy(), logp[:, 0] - logp[:, 1], rtol=1e-12)
    graded_t.sum().backward()
    assert tensor.grad is not None and torch.isfinite(tensor.grad).all() and tensor.grad.abs().sum() > 0


def test_strategy_scores_are_the_shared_functions():
    logp = np.log(np.array([0.2, 0.5, 0.3]))
    judgment = GradedStrategy().from_logprobs(logp)
    assert judgment.score == pytest.approx(float(expected_label(logp, (0.0, 1.0, 2.0))))
    yes = YesNoStrategy().from_logprobs(np.log(np.array([0.6, 0.1])))
    assert yes.raw_score == pytest.approx(np.log(6.0)) and yes.score == pytest.approx(6 / 7)


def test_training_reads_label_logprobs_as_the_backend_does(tiny_model):
    """The trainer's tensor readout on a forward pass equals HFBackend.label_logprobs on the same prompts."""
    from interank_sdk.prompts import get_template
    from interank_sdk.training import GRADED_LABELS, HFBackend, label_logprobs_from_logits

    backend = HFBackend(str(tiny_model), dtype="float32")
    template = get_template("graded")
    prompts = [template.render(q, d) for q, d in [("what is a cat", "a cat is a small animal"),
                                                   ("rain", "water falls from clouds")]]
    labels = GRADED_LABELS[0]
    expected = backend.label_logprobs(prompts, labels)
    ids = [backend.label_token_ids(label) for label in labels]
    rows = backend.encode([backend.render(p) for p in prompts])
    got = []
    with torch.inference_mode():
        for row in rows:  # one prompt per forward: no padding
            logits = backend.model(input_ids=torch.tensor([list(row)])).logits[:, -1, :].float()
            got.append(label_logprobs_from_logits(logits, ids)[0].double().numpy())
    np.testing.assert_allclose(np.stack(got), expected, atol=1e-5)
