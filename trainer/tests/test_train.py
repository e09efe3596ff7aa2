"""distill (TRL SFTTrainer) and rl (GRPO, reward-weighted SFT) on real models; adapters load in Reranker."""

from __future__ import annotations

import json

import pytest
from interank_sdk import Reranker
from interank_sdk.errors import InvalidInputError
from safetensors.torch import load_file

from interank_trainer import DistillConfig, distill, prepare_judgments, rl, synthesize
from interank_trainer.generative.distill import build_sft_trainer

DOCS = ["plants use light energy to make food", "paris is the capital of france", "cats eat fish"]


@pytest.fixture(scope="session")
def reasoning_data(tiny_model, tmp_path_factory):
    """Synthesized rows from the tiny teacher (appended markers accepted so that rows exist)."""
    from trainer_samples import QA

    folder = tmp_path_factory.mktemp("reasoning_data")
    qa = folder / "qa.jsonl"
    qa.write_text("".join(json.dumps(r) + "\n" for r in QA))
    teacher = Reranker(str(tiny_model), strategy="reasoning", dtype="float32", max_new_tokens=8)
    synthesize(qa=qa, teacher=teacher, out=folder / "data", missing_marker="keep", show_progress=False)
    return folder / "data"


@pytest.fixture(scope="session")
def tiny_adapter(tiny_model, reasoning_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("adapter") / "adapter"
    report = distill(data=reasoning_data, student=str(tiny_model), out=out, max_steps=3, batch_size=2,
                     gradient_accumulation_steps=1, lora_r=8, dtype="float32", logging_steps=1, show_progress=False)
    assert report.steps == 3 and report.strategy == "reasoning"
    return out


def _lora(folder):
    return load_file(str(folder / "adapter_model.safetensors"))


def test_sft_trains_on_the_completion_only_with_the_sdk_tokens(tiny_model, reasoning_data):
    """TRL tokenizes each example into exactly the SDK's prompt tokens + the target; only the target is in the loss."""
    run = build_sft_trainer(DistillConfig(data=reasoning_data, student=str(tiny_model), out="unused",
                                          dtype="float32", max_steps=1, show_progress=False))
    try:
        backend, dataset = run.backend, run.trainer.train_dataset
        from interank_sdk.prompts import get_template

        template = get_template("reasoning")
        batch = run.trainer.data_collator([dataset[i] for i in range(2)])
        for i, example in enumerate(run.examples[:2]):
            query, passage = example["query"], example["passage"]
            prompt_ids = backend.encode([backend.render(template.render(query, passage))])[0]
            row = dataset[i]
            assert row["input_ids"][: len(prompt_ids)] == prompt_ids
            n = len(row["input_ids"])
            assert row["labels"] == [-100] * len(prompt_ids) + row["input_ids"][len(prompt_ids):]
            target = backend.tokenizer(example["completion"], add_special_tokens=False).input_ids
            assert row["input_ids"][len(prompt_ids):] == target + [backend.tokenizer.eos_token_id]
            labels = batch["labels"][i].tolist()
            assert all(t == -100 for t in labels[: len(prompt_ids)])  # prompt never counts
            assert labels[len(prompt_ids): n] == row["input_ids"][len(prompt_ids):]
            assert all(t == -100 for t in labels[n:])  # padding never counts
    finally:
        run.close()


def test_distilled_adapter_loads_in_reranker_with_its_strategy(tiny_adapter, tiny_model):
    files = {p.name for p in tiny_adapter.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "interank.json", "tokenizer.json"} <= files
    card = json.loads((tiny_adapter / "interank.json").read_text())
    from interank_sdk.prompts import get_template

    assert card["strategy"] == "reasoning" and card["stage"] == "distill"
    assert card["prompt_version"] == get_template("reasoning").version
    # written through ModelCard: what Reranker reads at the top, how it was trained under "training"
    assert card["card_format"] == 1 and set(card["training"]["label_forms"]) == {"0", "1", "2"}
    config = json.loads((tiny_adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_model) and config["r"] == 8
    assert set(config["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj"}
    reranker = Reranker(str(tiny_adapter), dtype="float32", max_new_tokens=4)
    assert reranker.strategy.name == "reasoning"
    result = reranker.rerank("why do plants need light", DOCS)
    assert sorted(r.index for r in result) == [0, 1, 2]
    assert all(0.0 <= r.score <= 1.0 and r.explanation is not None for r in result)
    # the adapter changed the model: scores differ from the base model's with the same strategy
    base = Reranker(str(tiny_model), strategy="reasoning", dtype="float32", max_new_tokens=4)
    before = {r.index: r.score for r in base.rerank("why do plants need light", DOCS)}
    after = {r.index: r.score for r in result}
    assert before != after


def test_grpo_two_steps(tiny_adapter, reasoning_data, tmp_path):
    out = tmp_path / "grpo"
    report = rl(data=reasoning_data, adapter=tiny_adapter, out=out, method="grpo", max_steps=2, num_generations=2,
                batch_size=2, max_new_tokens=12, learning_rate=1e-3, dtype="float32", show_progress=False)
    assert report.steps == 2 and len(report.mean_reward) == 2
    card = json.loads((out / "interank.json").read_text())
    assert card["stage"] == "rl-grpo" and card["strategy"] == "reasoning"
    before, after = _lora(tiny_adapter), _lora(out)
    assert before.keys() == after.keys()
    assert any(not (before[k] == after[k]).all() for k in before)
    result = Reranker(str(out), dtype="float32", max_new_tokens=4).rerank("why do plants need light", DOCS)
    assert len(result) == 3 and all(0.0 <= r.score <= 1.0 for r in result)


def test_rwsft_two_steps(tiny_adapter, reasoning_data, tmp_path):
    out = tmp_path / "rwsft"
    report = rl(data=reasoning_data, adapter=tiny_adapter, out=out, method="rwsft", max_steps=2, num_generations=2,
                batch_size=2, max_new_tokens=12, learning_rate=1e-3, min_reward=0.0, dtype="float32",
                show_progress=False)
    assert report.steps == 2 and len(report.mean_reward) == 2 and len(report.kept) == 2
    assert all(0.0 <= r <= 1.0 for r in report.mean_reward)
    assert any(k > 0 for k in report.kept) and any(loss > 0 for loss in report.loss)
    before, after = _lora(tiny_adapter), _lora(out)
    assert any(not (before[k] == after[k]).all() for k in before)
    card = json.loads((out / "interank.json").read_text())
    assert card["stage"] == "rl-rwsft" and card["training"]["rl"]["kept"] == report.kept
    assert card["training"]["parent_adapter"] == str(tiny_adapter) and "label_forms" in card["training"]
    result = Reranker(str(out), dtype="float32", max_new_tokens=4).rerank("why do plants need light", DOCS)
    assert len(result) == 3


def test_rwsft_keeps_nothing_below_min_reward(tiny_adapter, reasoning_data, tmp_path):
    """A random policy never reaches reward 0.99: no sample is kept and the weights stay as they were."""
    out = tmp_path / "none_kept"
    report = rl(data=reasoning_data, adapter=tiny_adapter, out=out, method="rwsft", max_steps=1, num_generations=2,
                batch_size=1, max_new_tokens=8, min_reward=0.99, dtype="float32", show_progress=False)
    assert report.kept == [0]
    before, after = _lora(tiny_adapter), _lora(out)
    assert all((before[k] == after[k]).all() for k in before)


def test_training_errors(tiny_model, tiny_adapter, tmp_path):
    judged = tmp_path / "judged.jsonl"
    judged.write_text(json.dumps({"query": "q", "passage": "p", "label": 2}) + "\n")
    with pytest.raises(InvalidInputError, match="needs explanations"):
        distill(data=judged, student=str(tiny_model), out=tmp_path / "a", strategy="reasoning")
    with pytest.raises(InvalidInputError, match="is a LoRA adapter folder"):
        distill(data=judged, student=str(tiny_adapter), out=tmp_path / "a", strategy="graded")
    with pytest.raises(InvalidInputError, match="training data not found"):
        distill(data=tmp_path / "missing", student=str(tiny_model), out=tmp_path / "a")
    with pytest.raises(InvalidInputError, match="method must be"):
        rl(data=judged, adapter=tiny_adapter, out=tmp_path / "b", method="ppo")
    with pytest.raises(InvalidInputError, match="unknown DistillConfig field"):
        distill(data=judged, student=str(tiny_model), out=tmp_path / "a", lora_rank=8)


def test_graded_distill_from_judgments_and_rl_refuses_it(tiny_model, tmp_path):
    folder = _trec_folder(tmp_path)
    prepare_judgments(data=folder, out=tmp_path / "data")
    out = tmp_path / "graded"
    report = distill(data=tmp_path / "data", student=str(tiny_model), out=out, max_steps=2, batch_size=2,
                     gradient_accumulation_steps=1, lora_r=4, dtype="float32", show_progress=False)
    assert report.strategy == "graded" and report.label_forms == {"0": "0", "1": "1", "2": "2"}
    reranker = Reranker(str(out), dtype="float32")
    assert reranker.strategy.name == "graded"
    result = reranker.rerank("plants light", DOCS)
    assert all(r.label in ("0", "1", "2") for r in result)
    with pytest.raises(InvalidInputError, match="needs a 'reasoning' adapter"):
        rl(data=tmp_path / "data", adapter=out, out=tmp_path / "rl")


def _trec_folder(tmp_path):
    folder = tmp_path / "trec"
    folder.mkdir()
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in [("1", "plants light food"), ("2", "paris")]))
    (folder / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": d, "title": "", "text": t}) + "\n"
        for d, t in [("a", "plants use light to make food"), ("b", "paris is in france"), ("c", "cats eat fish")]))
    (folder / "qrels.tsv").write_text("1\ta\t3\n1\tb\t0\n1\tc\t1\n2\tb\t2\n2\ta\t0\n2\tz\t2\n")
    return folder


@pytest.mark.slow
def test_smollm2_yesno_distill_learns_the_judgments(smollm2_dir, tmp_path):
    """A real instruct student: after a few epochs on 8 judged pairs, P(yes) separates relevant from not better."""
    pairs = [
        ("how do plants make food", "Photosynthesis lets plants turn light, water and CO2 into sugar.", 2),
        ("how do plants make food", "The Eiffel Tower was finished in 1889 in Paris.", 0),
        ("what is a kinase", "A kinase is an enzyme that adds phosphate groups to proteins.", 2),
        ("what is a kinase", "Football is played by two teams of eleven players.", 0),
        ("capital of france", "Paris is the capital and largest city of France.", 2),
        ("capital of france", "Kinases regulate many pathways in the cell.", 0),
        ("why is the sky blue", "Rayleigh scattering makes short blue wavelengths dominate the sky.", 2),
        ("why is the sky blue", "Python is a programming language.", 0),
    ]
    data = tmp_path / "data.jsonl"
    from interank_trainer.data.formats import make_row

    data.write_text("".join(json.dumps(make_row(row_id=str(i), query=q, passage=p, label=y, source="test")) + "\n"
                            for i, (q, p, y) in enumerate(pairs)))
    base = Reranker(str(smollm2_dir), strategy="yesno")

    def margin(reranker):
        scores = [reranker.rerank(q, [p])[0].score for q, p, _ in pairs]
        pos = [s for s, (_, _, y) in zip(scores, pairs) if y == 2]
        neg = [s for s, (_, _, y) in zip(scores, pairs) if y == 0]
        return sum(pos) / len(pos) - sum(neg) / len(neg)

    before = margin(base)
    out = tmp_path / "adapter"
    report = distill(data=data, student=str(smollm2_dir), out=out, strategy="yesno", epochs=12, batch_size=4,
                     gradient_accumulation_steps=1, lora_r=16, learning_rate=1e-3, logging_steps=1,
                     show_progress=False)
    assert report.label_forms == {"yes": "yes", "no": "no"}
    trained = Reranker(str(out))
    assert trained.strategy.name == "yesno"
    after = margin(trained)
    assert after > before + 0.05, (before, after)  # measured here: 0.05 -> 0.12 after 8 epochs, 0.36 after 12
