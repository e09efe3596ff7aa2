"""rank: ranking-loss fine-tuning of a yesno/graded scorer, on the tests' tiny model; adapters load in Reranker."""

from __future__ import annotations

import json
import math
import random

import peft
import pytest
import torch
from interank_sdk import Reranker
from interank_sdk.errors import InvalidInputError
from interank_sdk.prompts import get_template
from safetensors.torch import load_file

from interank_trainer import RankConfig, prepare_judgments, rank
from interank_trainer.cli import main
from interank_trainer.generative.layercache import LayerCache, num_layers
from interank_trainer.generative.models import load_student, lora_config
from interank_trainer.generative.rank import pair_loss, random_negatives, sample_group

QUERIES = [("1", "plants light food"), ("2", "paris capital")]
PASSAGES = [
    ("a", "plants use light to make food"),
    ("b", "paris is the capital of france"),
    ("c", "cats eat fish"),
    ("d", "the sun gives plants energy"),
    ("e", "dogs eat food"),
    ("f", "france has a capital city"),
]
QRELS = "1\ta\t3\n1\td\t2\n1\tb\t0\n1\tc\t0\n1\te\t1\n2\tb\t3\n2\tf\t2\n2\ta\t0\n2\tc\t0\n2\te\t0\n"


@pytest.fixture
def judged(tmp_path):
    folder = tmp_path / "trec"
    folder.mkdir()
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES))
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": d, "title": "", "text": t}) + "\n" for d, t in PASSAGES))
    (folder / "qrels.tsv").write_text(QRELS)
    prepare_judgments(data=folder, out=tmp_path / "data")
    return tmp_path / "data"


def test_pair_loss_is_ranknet_weighted_by_the_label_gap():
    scores = torch.tensor([2.0, 0.0, 1.0])
    labels = torch.tensor([2, 0, 1])
    loss, pairs = pair_loss(scores, labels)
    # pairs (0>1, gap 2, diff 2), (0>2, gap 1, diff 1), (2>1, gap 1, diff 1)
    want = (2 * math.log1p(math.exp(-2)) + math.log1p(math.exp(-1)) + math.log1p(math.exp(-1))) / 4
    assert pairs == 3 and loss.item() == pytest.approx(want)
    same, none = pair_loss(scores, torch.tensor([1, 1, 1]))
    assert none == 0 and same.item() == 0.0


def test_groups_mix_every_label_present():
    rows = [{"label": 0}] * 10 + [{"label": 1}] * 3 + [{"label": 2}] * 1
    group = sample_group(rows, 4, random.Random(0))
    assert len(group) == 4 and {g["label"] for g in group} == {0, 1, 2}


def test_rank_learns_to_order_the_judged_passages(tiny_model, judged, tmp_path):
    out = tmp_path / "adapter"
    report = rank(data=judged, student=str(tiny_model), out=out, max_steps=150, group_size=5, learning_rate=5e-3,
                  dtype="float32", logging_steps=10, show_progress=False)
    assert report.steps == 150 and report.queries == 2 and report.rows == 10 and report.pairs > 0
    assert report.loss[-1] < report.loss[0] * 0.8, report.loss
    # learning to order widens the scores within a group; a collapse would shrink them
    assert len(report.spread) == len(report.loss) and report.spread[-1] > report.spread[0], report.spread
    card = json.loads((out / "interank.json").read_text())
    assert card["strategy"] == "yesno" and card["stage"] == "rank"

    reranker = Reranker(str(out), dtype="float32")
    assert reranker.strategy.name == "yesno"
    texts = [t for _, t in PASSAGES]
    for (qid, query), relevant, irrelevant in [(QUERIES[0], "ad", "bc"), (QUERIES[1], "bf", "ace")]:
        scores = {PASSAGES[r.index][0]: r.score for r in reranker.rerank(query, texts)}
        best_irrelevant = max(scores[d] for d in irrelevant)
        assert all(scores[d] > best_irrelevant for d in relevant), (qid, scores)


def test_graded_rank_writes_a_graded_adapter(tiny_model, judged, tmp_path):
    out = tmp_path / "graded"
    report = rank(RankConfig(data=judged, student=str(tiny_model), out=out, strategy="graded", max_steps=3,
                             group_size=4, dtype="float32", show_progress=False))
    assert report.strategy == "graded"
    result = Reranker(str(out), dtype="float32").rerank("plants light food", [t for _, t in PASSAGES])
    assert all(r.label in ("0", "1", "2") for r in result)


def test_rank_needs_queries_with_two_labels(tiny_model, tmp_path):
    data = tmp_path / "data.jsonl"
    rows = [{"id": str(i), "pair_id": "q", "query": "plants", "passage": p, "label": 2}
            for i, p in enumerate(["plants use light", "the sun"])]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InvalidInputError, match="two different labels"):
        rank(data=data, student=str(tiny_model), out=tmp_path / "x", dtype="float32", show_progress=False)
    with pytest.raises(InvalidInputError, match="group_size"):
        RankConfig(data=data, student="m", out="x", group_size=1).validate()


def test_cli_rank(tiny_model, judged, tmp_path, capsys):
    out = tmp_path / "cli-adapter"
    code = main(["-q", "rank", "--data", str(judged), "--student", str(tiny_model), "--out", str(out),
                 "--max-steps", "2", "--group-size", "4", "--dtype", "float32"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["steps"] == 2 and printed["strategy"] == "yesno"
    code = main(["-q", "rank", "--data", str(judged), "--student", str(tiny_model), "--out", str(tmp_path / "top"),
                 "--max-steps", "1", "--group-size", "4", "--dtype", "float32", "--train-layers", "1",
                 "--random-negatives", "2"])
    # each query has one passage (of the other query) it was not judged on: one random negative each
    assert code == 0 and json.loads(capsys.readouterr().out)["rows"] == 10 + 2
    assert (out / "adapter_config.json").is_file()


def test_layer_cache_reproduces_the_full_forward_and_trains_only_the_top_layers(tiny_model):
    """Entering the decoder at layer 1 over cached layer-0 states gives the full model's output and gradients."""
    backend = load_student(str(tiny_model), dtype="float32")
    assert num_layers(backend.model) == 2
    from interank_sdk.training import quiet_peft

    with quiet_peft():  # as the trainer calls peft
        model = peft.get_peft_model(backend.model, lora_config(backend.model, r=4, alpha=8, dropout=0.0,
                                                               target_modules=("q_proj", "v_proj"), layers=[1]))
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained and all(".layers.1." in n for n in trained), trained
    pairs = [("plants", "plants use light"), ("paris capital", "paris is the capital of france and a city"),
             ("cats", "cats")]
    rows = backend.encode([backend.render(get_template("yesno").render(q, d)) for q, d in pairs])
    cache = LayerCache(model, 1, backend)
    cache.fill(rows, batch_size=2, show_progress=False)
    assert [int(s.shape[0]) for s in cache.states] == [len(r) for r in rows]  # padding is not kept
    assert cache.check(rows, [0, 1, 2], tolerance=1e-4) < 1e-4
    # a non-zero LoRA update (B starts at 0): both paths must still agree, and the gradient reaches it
    for n, p in model.named_parameters():
        if p.requires_grad and "lora_B" in n:
            torch.nn.init.normal_(p, std=0.5)
    model.eval()
    ids, mask, pos = backend.batch_tensors(rows)
    full = model(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=1).logits[:, -1]
    cut = cache.forward([0, 1, 2], logits_to_keep=1).logits[:, -1]
    assert torch.allclose(full, cut, atol=1e-4)
    cut.sum().backward()
    grads = [p.grad for n, p in model.named_parameters() if p.requires_grad]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)


def test_rank_with_train_layers_learns_and_writes_a_top_layer_adapter(tiny_model, judged, tmp_path):
    out = tmp_path / "top"
    report = rank(data=judged, student=str(tiny_model), out=out, max_steps=150, group_size=5, learning_rate=5e-3,
                  train_layers=1, dtype="float32", logging_steps=10, show_progress=False)
    assert report.loss[-1] < report.loss[0] * 0.8, report.loss
    weights = load_file(out / "adapter_model.safetensors")
    assert weights and all(".layers.1." in k for k in weights), sorted(weights)[:4]
    reranker = Reranker(str(out), dtype="float32")
    texts = [t for _, t in PASSAGES]
    scores = {PASSAGES[r.index][0]: r.score for r in reranker.rerank(QUERIES[1][1], texts)}
    assert min(scores["b"], scores["f"]) > max(scores[d] for d in "ace"), scores


def test_random_negatives_come_from_other_queries():
    rows = [{"qid": q, "query": f"query {q}", "passage": f"{q}-{i}", "label": 2 - i % 3} for q in "xyz"
            for i in range(4)]
    extra = random_negatives(rows, 3, random.Random(0))
    assert len(extra) == 9 and all(r["label"] == 0 and r["negative"] == "random" for r in extra)
    assert all(not r["passage"].startswith(r["qid"]) and r["query"] == f"query {r['qid']}" for r in extra)
    assert extra == random_negatives(rows, 3, random.Random(0))  # deterministic per seed
    with pytest.raises(InvalidInputError, match="train_layers"):
        RankConfig(data="d", student="m", out="o", train_layers=0).validate()
    with pytest.raises(InvalidInputError, match="random_negatives"):
        RankConfig(data="d", student="m", out="o", random_negatives=-1).validate()
