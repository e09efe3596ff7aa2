"""Training targets, label forms, row validation and rewards."""

from __future__ import annotations

import json

import pytest
from interank_sdk.errors import InvalidInputError
from interank_sdk.training import REASONING_MARKER as MARKER

from interank_trainer.data.formats import label_completion, make_row, read_rows, reasoning_completion
from interank_trainer.data.querygen import parse_queries
from interank_trainer.generative.rewards import combined_reward, format_reward, grounding_score, label_reward
from interank_trainer.generative.targets import label_forms, parse_label, split_reasoning


def test_reasoning_completion_is_what_the_strategy_reads():
    text = reasoning_completion("  The document explains kinases. ", 2)
    assert text == "The document explains kinases.\nRelevance Label: 2 ##"
    assert split_reasoning(text) == ("The document explains kinases.", 2)
    assert reasoning_completion("x", 0, "0").endswith(MARKER + "0 ##")
    with pytest.raises(InvalidInputError):
        reasoning_completion("   ", 1)
    with pytest.raises(InvalidInputError):
        reasoning_completion("ok", 3)


def test_label_completion_graded_and_yesno():
    assert [label_completion("graded", k) for k in (0, 1, 2)] == ["0", "1", "2"]
    assert [label_completion("yesno", k) for k in (0, 1, 2)] == ["no", "no", "yes"]
    assert [label_completion("yesno", k, yes_threshold=1) for k in (0, 1, 2)] == ["no", "yes", "yes"]
    with pytest.raises(InvalidInputError):
        label_completion("qlm", 1)


def test_label_forms_tiny_tokenizer_keeps_the_space(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    forms = label_forms(tok, "the document answers .\n" + MARKER, ["0", "1", "2"], prefer_space=True)
    assert forms == {"0": " 0", "1": " 1", "2": " 2"}


@pytest.mark.slow
def test_label_forms_smollm2_puts_the_digit_right_after_the_marker(smollm2_dir):
    """SmolLM2 splits ' 2' into ' ' + '2': the target must write the digit right after ':'."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    context = "It answers the question.\n" + MARKER
    forms = label_forms(tok, context, ["0", "1", "2"], prefer_space=True)
    assert forms == {"0": "0", "1": "1", "2": "2"}
    base = tok(context, add_special_tokens=False).input_ids
    full = tok(context + forms["2"], add_special_tokens=False).input_ids
    assert full[: len(base)] == base and tok.decode(full[len(base):]) == "2"
    assert label_forms(tok, "<|im_start|>assistant\n", ["yes", "no"], prefer_space=False) == {"yes": "yes", "no": "no"}


def test_parse_and_split():
    assert parse_label("blah\nRelevance Label:1 ##") == 1
    assert parse_label("Relevance Label: 7") is None
    assert parse_label("no marker at all") is None
    assert split_reasoning("Relevance Label: 2 ##") is None  # no explanation
    assert split_reasoning("fine\nRelevance Label: 2 ## and more") is None  # text after the end marker


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_read_rows_names_file_and_line(tmp_path):
    good = make_row(row_id="a", query="q", passage="p", label=1, source="test")
    assert read_rows(_write(tmp_path / "ok.jsonl", [good]))[0]["label"] == 1
    with pytest.raises(InvalidInputError, match=r"bad.jsonl:2: missing field\(s\) 'label'"):
        read_rows(_write(tmp_path / "bad.jsonl", [good, {"query": "q", "passage": "p"}]))
    with pytest.raises(InvalidInputError, match=r"lbl.jsonl:1: label must be 0, 1 or 2"):
        read_rows(_write(tmp_path / "lbl.jsonl", [{**good, "label": 3}]))
    with pytest.raises(InvalidInputError, match=r"empty.jsonl:1: 'passage' must be a non-empty string"):
        read_rows(_write(tmp_path / "empty.jsonl", [{**good, "passage": "  "}]))
    with pytest.raises(InvalidInputError, match="training data not found"):
        read_rows(tmp_path / "nowhere")


def test_make_row_prompt_is_the_sdk_template():
    from interank_sdk.prompts import get_template

    row = make_row(row_id="a", query="what is a kinase", passage="an enzyme", label=2, source="t",
                   explanation="It defines it.")
    expected = get_template("reasoning").render("what is a kinase", "an enzyme")
    assert row["prompt"] == [dict(m) for m in expected.messages]
    assert row["prompt_version"] == get_template("reasoning").version
    # the whole assistant turn: the template's assistant prefix, then the target
    content = row["completion"][0]["content"]
    assert content.startswith(expected.assistant_prefix) and content.endswith("It defines it.\nRelevance Label: 2 ##")
    graded = make_row(row_id="b", query="q", passage="p", label=0, source="t")
    assert graded["strategy"] == "graded" and graded["completion"][0]["content"] == "0"


def test_parse_queries():
    parsed = parse_queries('1. why are insects drawn to light\n- "LED insect attraction"\nlight\n'
                           "2. why are insects drawn to light\n3) moths heat seeking behaviour\nextra query here", 3)
    assert parsed.queries == ["why are insects drawn to light", "LED insect attraction", "moths heat seeking behaviour"]
    assert parsed.reasons == {"too_short": 1, "duplicate": 1, "beyond_n": 1}


def test_label_reward_orders_exact_over_off_by_one_over_off_by_two():
    outs = [f"ok\nRelevance Label: {k} ##" for k in (2, 1, 0)] + ["no label"]
    assert label_reward(outs, [2, 2, 2, 2]) == [1.0, 0.5, 0.0, 0.0]


def test_format_reward():
    assert format_reward(["The passage defines a kinase.\nRelevance Label: 2 ##", "Relevance Label: 2",
                          "rambling without a label"]) == [1.0, 0.5, 0.0]


def test_grounding_rewards_passage_content_and_concision():
    passage = "Kinases are enzymes that phosphorylate proteins in the cell."
    grounded = grounding_score("Kinases phosphorylate proteins, which the question asks about.", passage)
    vague = grounding_score("Something unrelated about weather forecasts and football.", passage)
    long = grounding_score(" ".join(["kinases phosphorylate proteins"] * 60), passage, length_budget=80)
    assert grounded > 0.7 and vague == 0.0 and long == 0.0
    combined = combined_reward(["Kinases phosphorylate proteins.\nRelevance Label: 2 ##"], [2], [passage])
    assert combined == [pytest.approx(1.0)]
