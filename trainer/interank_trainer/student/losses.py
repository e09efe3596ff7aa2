"""Distillation losses for sentence-transformers' ``CrossEncoderTrainer`` that it does not ship.

Both take what its listwise losses take (``inputs = (queries, documents per
query)``, ``labels = one tensor of targets per query``), score every (query,
document) pair with the student once, and compare the student's scores with
the targets (the teacher's scores, per query, on a logit scale; see
:mod:`interank_trainer.student.student_data`):

* :class:`RankNetKDLoss`, DeAR's ``L = (1 - a) RankNet + a T^2 KL(teacher || student)``:
  RankNet over every pair whose targets differ (``log(1 + exp(-(s_i - s_j)))``
  for target_i > target_j), and the KL divergence between the teacher's and the
  student's softmax distributions over the query's documents at temperature
  ``T`` (``a = 0.1``, ``T = 2`` by default, as DeAR);
* :class:`PLDLoss`, Plackett-Luce distillation: the negative Plackett-Luce
  log-likelihood, under the student's scores, of the teacher's ranking, each
  position weighted by the teacher's softmax probability of the document at it
  (``sum_k w_k (log sum_{j >= k} exp(s_pi(j)) - s_pi(k))``), so the positions the
  teacher is confident about count most.

Rank-DistiLLM's ADR-MSE ships with sentence-transformers (``ADRMSELoss``) and
is used from there, as are RankNet, ListNet, LambdaLoss, MarginMSE and BCE
(:func:`build_loss`).
"""

from __future__ import annotations

from typing import Any

from .._deps import need

torch = need("torch")
nn = torch.nn
F = torch.nn.functional


class _ListwiseLoss(nn.Module):
    """Scores the pairs once and hands padded ``(scores, targets, mask)`` matrices to :meth:`list_loss`."""

    def __init__(self, model: Any, mini_batch_size: int | None = None) -> None:
        super().__init__()
        self.model = model
        self.mini_batch_size = mini_batch_size
        if getattr(model, "num_labels", 1) != 1:
            raise ValueError(f"{type(self).__name__} needs a model with one output label, got {model.num_labels}")

    def forward(self, inputs: list[Any], labels: list[Any], prompt: str | None = None, task: str | None = None):
        if len(inputs) != 2 or isinstance(labels, torch.Tensor):
            raise ValueError(f"{type(self).__name__} expects (queries, documents per query) and one label tensor "
                             "per query")
        queries, docs_list = inputs
        sizes = [len(docs) for docs in docs_list]
        if sizes != [len(lab) for lab in labels]:
            raise ValueError(f"documents per query {sizes} do not match labels per query {[len(x) for x in labels]}")
        from sentence_transformers.util import batch_to_device

        pairs = [(q, d) for q, docs in zip(queries, docs_list) for d in docs]
        step = self.mini_batch_size or len(pairs)
        logits = []
        for i in range(0, len(pairs), step):
            tokens = batch_to_device(self.model.preprocess(pairs[i:i + step], prompt=prompt, task=task), self.model.device)
            logits.append(self.model(tokens)["scores"].view(-1))
        scores = torch.cat(logits).float()
        return self.list_loss(*pad_lists(scores, [torch.as_tensor(lab) for lab in labels]))

    def list_loss(self, scores: Any, targets: Any, mask: Any) -> Any:
        """The loss of padded ``(queries, docs)`` student ``scores`` against ``targets``; ``mask``: real entries."""
        raise NotImplementedError

    def get_config_dict(self) -> dict[str, Any]:
        return {"mini_batch_size": self.mini_batch_size}


def pad_lists(scores: Any, labels: list[Any]) -> tuple[Any, Any, Any]:
    """Flat per-pair ``scores`` and per-query ``labels`` as padded ``(scores, targets, mask)`` matrices."""
    sizes = [len(lab) for lab in labels]
    mask = torch.zeros((len(sizes), max(sizes)), dtype=torch.bool, device=scores.device)
    for row, n in enumerate(sizes):
        mask[row, :n] = True
    padded = torch.zeros(mask.shape, dtype=scores.dtype, device=scores.device).masked_scatter(mask, scores)
    targets = torch.zeros(mask.shape, dtype=torch.float32, device=scores.device)
    targets = targets.masked_scatter(mask, torch.cat(labels).float().to(scores.device))
    return padded, targets, mask


def ranknet(scores: Any, targets: Any, mask: Any, sigma: float = 1.0) -> Any:
    """Mean ``log(1 + exp(-sigma (s_i - s_j)))`` over the pairs of a query with ``target_i > target_j``."""
    better = (targets.unsqueeze(2) > targets.unsqueeze(1)) & mask.unsqueeze(2) & mask.unsqueeze(1)
    diffs = scores.unsqueeze(2) - scores.unsqueeze(1)
    losses = F.softplus(-sigma * diffs)[better]
    return losses.mean() if losses.numel() else scores.sum() * 0.0


#: what padded entries are filled with: exp() of it is exactly 0 in float32, and it stays finite
#: (``-inf`` would turn ``0 * -inf`` products of padded entries into NaN gradients)
_PAD = -1e4


def masked_log_softmax(values: Any, mask: Any) -> Any:
    """``log_softmax`` over the real entries of each row (padded entries get probability 0)."""
    return torch.log_softmax(values.masked_fill(~mask, _PAD), dim=-1)


class RankNetKDLoss(_ListwiseLoss):
    """DeAR's loss: ``(1 - alpha) RankNet + alpha T^2 KL(softmax(t / T) || softmax(s / T))``.

    Args:
        model: the ``CrossEncoder`` being trained (one output label).
        alpha: weight of the distillation (KL) term (DeAR: 0.1).
        temperature: softmax temperature ``T`` of both distributions (DeAR: 2).
        sigma: RankNet's score-difference scale.
        mini_batch_size: pairs per forward pass (``None``: all at once).
    """

    def __init__(self, model: Any, alpha: float = 0.1, temperature: float = 2.0, sigma: float = 1.0,
                 mini_batch_size: int | None = None) -> None:
        super().__init__(model, mini_batch_size)
        self.alpha, self.temperature, self.sigma = alpha, temperature, sigma

    def list_loss(self, scores: Any, targets: Any, mask: Any) -> Any:
        t = self.temperature
        log_p_teacher = masked_log_softmax(targets / t, mask)
        log_p_student = masked_log_softmax(scores / t, mask)
        kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).masked_fill(~mask, 0.0).sum(-1).mean()
        return (1 - self.alpha) * ranknet(scores, targets, mask, self.sigma) + self.alpha * t * t * kl

    def get_config_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "temperature": self.temperature, "sigma": self.sigma, **super().get_config_dict()}


class PLDLoss(_ListwiseLoss):
    """Plackett-Luce distillation: the teacher's ranking's Plackett-Luce likelihood under the student, weighted.

    For one query with teacher targets ``t`` and student scores ``s``: ``pi``
    sorts the documents by ``t`` (best first, ties in input order), ``w =
    softmax(t / T)``, and ``L = sum_k w_pi(k) (logsumexp_{j >= k} s_pi(j) - s_pi(k))``;
    the batch loss is the mean over queries.

    Args:
        model: the ``CrossEncoder`` being trained (one output label).
        temperature: temperature of the teacher's weights.
        mini_batch_size: pairs per forward pass (``None``: all at once).
    """

    def __init__(self, model: Any, temperature: float = 1.0, mini_batch_size: int | None = None) -> None:
        super().__init__(model, mini_batch_size)
        self.temperature = temperature

    def list_loss(self, scores: Any, targets: Any, mask: Any) -> Any:
        order = torch.sort(targets.masked_fill(~mask, float("-inf")), dim=-1, descending=True, stable=True).indices
        s = torch.gather(scores, 1, order)
        m = torch.gather(mask, 1, order)
        w = torch.gather(masked_log_softmax(targets / self.temperature, mask).exp(), 1, order)
        # logsumexp over positions k..n of each row: a cumulative logsumexp from the end
        tail = torch.logcumsumexp(s.masked_fill(~m, _PAD).flip(-1), dim=-1).flip(-1)
        terms = (w * (tail - s)).masked_fill(~m, 0.0)
        return terms.sum(-1).mean()

    def get_config_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, **super().get_config_dict()}


#: the target form each loss is given (see :func:`interank_trainer.student.student_data.pool_targets`)
LOSS_TARGETS = {
    "ranknet-kd": "logit", "pld": "logit", "adr-mse": "logit", "ranknet": "logit", "listnet": "logit",
    "lambdaloss": "gain", "margin-mse": "logit", "bce": "prob",
}


def build_loss(name: str, model: Any, *, kd_alpha: float = 0.1, temperature: float = 2.0, adr_alpha: float = 1.0,
               mini_batch_size: int | None = None) -> Any:
    """The loss module ``name`` for ``model`` (one of :data:`interank_trainer.student.config.STUDENT_LOSSES`)."""
    from sentence_transformers.cross_encoder import losses as st

    if name == "ranknet-kd":
        return RankNetKDLoss(model, alpha=kd_alpha, temperature=temperature, mini_batch_size=mini_batch_size)
    if name == "pld":
        return PLDLoss(model, temperature=temperature, mini_batch_size=mini_batch_size)
    if name == "adr-mse":
        return st.ADRMSELoss(model, alpha=adr_alpha, mini_batch_size=mini_batch_size)
    if name == "ranknet":
        return st.RankNetLoss(model, mini_batch_size=mini_batch_size)
    if name == "listnet":
        return st.ListNetLoss(model, mini_batch_size=mini_batch_size)
    if name == "lambdaloss":
        return st.LambdaLoss(model, mini_batch_size=mini_batch_size)
    if name == "margin-mse":
        return st.MarginMSELoss(model)
    if name == "bce":
        return st.BinaryCrossEntropyLoss(model)
    raise ValueError(f"unknown loss {name!r}")


__all__ = ["RankNetKDLoss", "PLDLoss", "LOSS_TARGETS", "build_loss", "pad_lists", "ranknet", "masked_log_softmax"]
