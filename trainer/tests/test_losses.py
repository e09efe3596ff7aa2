"""The distillation losses against values computed by hand (plain math on three or two documents)."""

from __future__ import annotations

import math

import pytest
import torch

from interank_trainer.student.losses import PLDLoss, RankNetKDLoss, build_loss, pad_lists

# one query, three documents: student scores s, teacher targets t
S = [2.0, 0.0, 1.0]
T = [1.0, 0.0, 2.0]


def _softmax(xs):
    m = max(xs)
    e = [math.exp(x - m) for x in xs]
    return [v / sum(e) for v in e]


def _ranknet_by_hand(s, t):
    pairs = [(i, j) for i in range(len(s)) for j in range(len(s)) if t[i] > t[j]]
    return sum(math.log(1 + math.exp(-(s[i] - s[j]))) for i, j in pairs) / len(pairs)


def _kl_by_hand(s, t, temp):
    p = _softmax([x / temp for x in t])
    q = _softmax([x / temp for x in s])
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))


def _matrices(*lists):
    """Padded (scores, targets, mask) of (scores, targets) lists, one query each."""
    scores = torch.tensor([x for s, _ in lists for x in s], requires_grad=True)
    return pad_lists(scores, [torch.tensor(t) for _, t in lists]), scores


def test_ranknet_kd_by_hand():
    (scores, targets, mask), _ = _matrices((S, T))
    # pairs t0 > t1, t2 > t0, t2 > t1: log(1+e^-2), log(1+e^1), log(1+e^-1)
    ranknet = (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(1)) + math.log(1 + math.exp(-1))) / 3
    assert ranknet == pytest.approx(0.584484, abs=1e-6) == pytest.approx(_ranknet_by_hand(S, T))
    expected = 0.9 * ranknet + 0.1 * 4 * _kl_by_hand(S, T, 2.0)
    loss = RankNetKDLoss(None).list_loss(scores, targets, mask)  # DeAR's defaults: alpha 0.1, T 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    only_kd = RankNetKDLoss(None, alpha=1.0, temperature=1.0).list_loss(scores, targets, mask)
    assert only_kd.item() == pytest.approx(_kl_by_hand(S, T, 1.0), rel=1e-6)
    # the student ordering like the teacher, with the teacher's spread: no KL, a small RankNet
    same = RankNetKDLoss(None, alpha=1.0).list_loss(targets.clone(), targets, mask)
    assert same.item() == pytest.approx(0.0, abs=1e-7)


def test_pld_by_hand():
    (scores, targets, mask), _ = _matrices((S, T))
    # teacher order: doc 2 (t=2), doc 0 (t=1), doc 1 (t=0); weights softmax(t)
    w = _softmax(T)
    expected = (w[2] * (math.log(math.exp(1) + math.exp(2) + math.exp(0)) - 1)
                + w[0] * (math.log(math.exp(2) + math.exp(0)) - 2)
                + w[1] * (math.log(math.exp(0)) - 0))
    loss = PLDLoss(None, temperature=1.0).list_loss(scores, targets, mask)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # the student scoring the teacher's order far apart pays almost nothing
    assert PLDLoss(None).list_loss(targets * 50, targets, mask).item() < 1e-6


def test_padding_and_batches_do_not_change_the_loss():
    """Two queries of different sizes in one batch: the mean of the per-query values (PLD, KD), padding ignored."""
    second = ([0.5, -1.0], [0.0, 3.0])
    (scores, targets, mask), flat = _matrices((S, T), second)
    assert mask.tolist() == [[True, True, True], [True, True, False]]
    pld = PLDLoss(None, temperature=1.0)
    one = [pld.list_loss(*_matrices(q)[0]).item() for q in ((S, T), second)]
    both = pld.list_loss(scores, targets, mask)
    assert both.item() == pytest.approx(sum(one) / 2, rel=1e-6)
    kd = RankNetKDLoss(None, alpha=1.0, temperature=1.0)
    assert kd.list_loss(scores, targets, mask).item() == pytest.approx(
        (_kl_by_hand(S, T, 1.0) + _kl_by_hand(*second, 1.0)) / 2, rel=1e-6)
    # RankNet: the mean over all 4 ordered pairs of the batch (3 + 1)
    rn = RankNetKDLoss(None, alpha=0.0).list_loss(scores, targets, mask)
    pairs = 3 * _ranknet_by_hand(S, T) + math.log(1 + math.exp(-(-1.0 - 0.5)))
    assert rn.item() == pytest.approx(pairs / 4, rel=1e-6)
    both.backward()
    assert torch.isfinite(flat.grad).all() and flat.grad.abs().sum() > 0


def test_losses_through_a_real_cross_encoder(tiny_encoder):
    """forward() scores the pairs with the model once and gives list_loss' value on its logits;
    sentence-transformers' ADR-MSE (Rank-DistiLLM) is wired with its alpha and checked by hand too."""
    from sentence_transformers import CrossEncoder
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        AutoModelForSequenceClassification.from_pretrained(tiny_encoder, num_labels=1).save_pretrained(tmp)
        AutoTokenizer.from_pretrained(tiny_encoder).save_pretrained(tmp)
        model = CrossEncoder(tmp, num_labels=1)
    queries = ["plants light", "paris"]
    docs = [["plants use light", "cats eat fish", "the sun"], ["paris is in france", "london"]]
    labels = [torch.tensor(T), torch.tensor([0.0, 3.0])]
    logits = model.predict([(q, d) for q, ds in zip(queries, docs) for d in ds], activation_fn=torch.nn.Identity(),
                           convert_to_tensor=True).float()
    matrices = pad_lists(logits, labels)
    for loss in (RankNetKDLoss(model), PLDLoss(model)):
        assert loss([queries, docs], labels).item() == pytest.approx(loss.list_loss(*matrices).item(), rel=1e-4)
    adr = build_loss("adr-mse", model, adr_alpha=1.0)
    s = logits.tolist()
    expected = []
    for scores, targets in ((s[:3], T), (s[3:], [0.0, 3.0])):
        ranks = [1 + sum(t > ti for t in targets) for ti in targets]  # no ties here
        for i, (si, r) in enumerate(zip(scores, ranks)):
            approx = 1 + sum(1 / (1 + math.exp(-(sj - si))) for j, sj in enumerate(scores) if j != i)
            expected.append((r - approx) ** 2 / math.log2(r + 1))
    assert adr([queries, docs], labels).item() == pytest.approx(sum(expected) / len(expected), rel=1e-4)
    for name in ("ranknet", "listnet", "lambdaloss", "margin-mse", "bce"):
        assert build_loss(name, model).model is model
    with pytest.raises(ValueError, match="unknown loss"):
        build_loss("nope", model)
