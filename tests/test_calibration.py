"""Calibration (raw score -> P(relevant)) and thresholds: the maps themselves, ``Reranker.calibrate`` on a real
tiny cross-encoder and a TREC folder written here, the card it writes, ``min_score`` and "nothing relevant",
cascades, ``interank calibrate`` / ``interank rerank --min-score`` in a subprocess-free CLI call.

The judgments of the TREC folder are made from the tiny random model's own scores (noisy): a random model has
no relevance signal of its own, and what is tested is the calibration machinery, not the model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from judged_samples import trec_following  # noqa: E402
from reranker_models import build_cross_encoder  # noqa: E402

from interank_sdk import Cascade, Reranker  # noqa: E402
from interank_sdk.calibration import (  # noqa: E402
    Calibration,
    brier_score,
    calibration_input,
    describe_scores,
    expected_calibration_error,
    fit_calibration,
)
from interank_sdk.card import MODEL_CARD_FILE  # noqa: E402
from interank_sdk.errors import InvalidInputError, ModelLoadError  # noqa: E402



# ------------------------------------------------------------------------------------------------ the maps
def _synthetic(n: int = 3000, a: float = 2.0, b: float = -1.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.5, n)
    y = rng.random(n) < 1.0 / (1.0 + np.exp(-(a * x + b)))
    return x, y, [str(i // 30) for i in range(n)]


def test_platt_recovers_the_map_that_made_the_labels_and_is_calibrated_on_held_out_queries():
    x, y, groups = _synthetic(n=12000)
    cal = fit_calibration(x, y, groups=groups, scores=1 / (1 + np.exp(-x)))
    assert cal.method == "platt"
    assert abs(cal.params["a"] - 2.0) < 0.15 and abs(cal.params["b"] + 1.0) < 0.1
    # 2400 held-out pairs: 15-bin ECE has a sampling floor of about 0.02 even for the true map
    assert cal.heldout["ece"] < 0.035 < cal.heldout["ece_before"] and cal.heldout["queries"] == 80
    assert cal.heldout["brier"] <= cal.heldout["brier_before"] + 1e-9
    # scores that tell pairs apart beat saying the base rate for every pair; describe() shows both
    assert cal.heldout["brier"] < cal.heldout["brier_constant"] - 0.03
    assert f"Brier {cal.heldout['brier']:.3f} (a constant: {cal.heldout['brier_constant']:.3f})" in \
        describe_scores(cal)
    noise = np.random.default_rng(1).normal(size=3000) + 0.05 * y[:3000]  # next to no information
    uninformative = fit_calibration(noise, y[:3000], groups=groups[:3000])
    assert uninformative.heldout["brier"] == pytest.approx(uninformative.heldout["brier_constant"], abs=0.01)
    assert cal.fitted_on == {"pairs": 12000, "positives": int(y.sum()), "queries": 400}


def test_every_method_is_monotone_and_isotonic_and_temperature_fit_their_shapes():
    x, y, _ = _synthetic(b=0.0)
    grid = np.linspace(-6, 6, 400)
    for method in ("platt", "temperature", "isotonic"):
        p = fit_calibration(x, y, method=method).apply(grid)
        assert np.all(np.diff(p) >= 0), method
        assert np.all((p >= 0) & (p <= 1)), method
    assert abs(fit_calibration(x, y, method="temperature").params["t"] - 0.5) < 0.08  # sigmoid(2x) = sigmoid(x/0.5)
    iso = fit_calibration(x, y, method="isotonic")
    assert expected_calibration_error(iso.apply(x), y) < 0.03


def test_ece_and_brier_by_hand():
    assert expected_calibration_error([0.1, 0.1, 0.9, 0.9], [0, 0, 1, 1]) == pytest.approx(0.1)
    assert expected_calibration_error([0.5, 0.5], [0, 1]) == pytest.approx(0.0)
    assert brier_score([0.0, 1.0, 0.5], [0, 1, 1]) == pytest.approx(0.25 / 3)


@pytest.mark.parametrize("raw, relevant, message", [
    ([0.0] * 40, [False] * 40, "at least 3 relevant"),
    ([0.0] * 40, [True] * 40, "3 non-relevant"),
    ([0.0, 1.0] * 5, [False, True] * 5, "at least 30 judged pairs"),
    ([float("nan")] + [0.0, 1.0] * 20, [True] + [False, True] * 20, "not finite"),
    ([1.0, 0.0] * 20, [False, True] * 20, "reverse the model's ranking"),
])
def test_bad_calibration_data_is_a_clear_error(raw, relevant, message):
    with pytest.raises(InvalidInputError, match=message):
        fit_calibration(raw, relevant)


def test_a_calibration_round_trips_and_a_bad_one_is_refused(tmp_path):
    x, y, _ = _synthetic()
    cal = fit_calibration(x, y, method="isotonic")
    again = Calibration.load(cal.save(tmp_path / "cal.json"))
    np.testing.assert_allclose(again.apply(x[:50]), cal.apply(x[:50]))
    (tmp_path / "bad.json").write_text(json.dumps({"method": "platt", "params": {"a": 1.0}}))
    with pytest.raises(ModelLoadError, match="needs params"):
        Calibration.load(tmp_path / "bad.json")
    with pytest.raises(InvalidInputError, match="non-finite"):
        cal.apply([float("inf")])


# ------------------------------------------------------------------------------------- on a real reranker
@pytest.fixture(scope="module")
def calibrated_setup(tmp_path_factory):
    """A tiny cross-encoder folder, and a TREC folder whose judgments follow its scores."""
    root = tmp_path_factory.mktemp("cal")
    model = build_cross_encoder(root / "ce", "bert")
    data, queries, corpus, run = trec_following(Reranker(str(model), dtype="float32"), root)
    return model, data, queries, corpus, run


@pytest.mark.parametrize("strategy", ["qlm", "yesno", "graded"])
def test_every_llm_reading_calibrates_and_keeps_its_ranking(tiny_model, tmp_path, strategy):
    reranker = Reranker(str(tiny_model), strategy=strategy, dtype="float32")
    data, queries, corpus, run = trec_following(reranker, tmp_path, n_queries=6, depth=8)
    cal = reranker.calibrate(data, save=False, progress=False)
    assert cal.strategy == strategy and cal.params["a"] > 0 and cal.fitted_on["pairs"] == 48
    plain = Reranker(str(tiny_model), strategy=strategy, dtype="float32")
    docs = [corpus[d] for d in run["q0"]]
    got, before = reranker.rerank(queries["q0"], docs), plain.rerank(queries["q0"], docs)
    assert [r.index for r in got] == [r.index for r in before]
    assert all(r.calibrated and r.score == pytest.approx(cal(calibration_input(b))) for r, b in zip(got, before))


def test_calibrate_writes_the_card_and_the_scores_become_the_calibrated_probabilities(calibrated_setup, tmp_path):
    model, data, queries, corpus, run = calibrated_setup
    import shutil

    folder = Path(shutil.copytree(model, tmp_path / "model"))
    plain = Reranker(str(folder), dtype="float32")
    assert plain.calibration is None and not plain.describe()["calibrated"]
    assert "not calibrated" in plain.describe()["scores"]
    cal = plain.calibrate(data, progress=False)
    assert cal.params["a"] > 0 and cal.fitted_on["pairs"] == 120 and cal.fitted_on["queries"] == 12
    assert cal.strategy == "classifier" and cal.relevance_level == 2
    assert set(cal.heldout) >= {"ece", "brier", "ece_before", "brier_before", "queries", "pairs"}
    card = json.loads((folder / MODEL_CARD_FILE).read_text())
    assert card["calibration"]["params"] == cal.params and "strategy" not in card  # the card does not pick it

    loaded = Reranker(str(folder), dtype="float32")
    assert loaded.calibration is not None and loaded.describe()["calibrated"]
    uncalibrated = Reranker(str(folder), dtype="float32", calibration=False)
    q = queries["q0"]
    docs = [corpus[d] for d in run["q0"]]
    got, before = loaded.rerank(q, docs), uncalibrated.rerank(q, docs)
    assert [r.index for r in got] == [r.index for r in before]  # the ranking never changes
    for r, b in zip(got, before):
        assert r.raw_score == b.raw_score and r.calibrated and not b.calibrated
        assert r.score == pytest.approx(cal(r.raw_score)) and r.model_score == r.score
    assert not math.isclose(got[0].score, before[0].score)


def test_isotonic_ties_never_reorder_the_ranking(calibrated_setup):
    model, data, queries, corpus, run = calibrated_setup
    reranker = Reranker(str(model), dtype="float32")
    reranker.calibrate(data, method="isotonic", save=False, progress=False)
    assert reranker.calibration.method == "isotonic"
    plain = Reranker(str(model), dtype="float32", calibration=False)
    for q in list(queries)[:4]:
        docs = [corpus[d] for d in run[q]]
        assert [r.index for r in reranker.rerank(queries[q], docs)] == [r.index for r in plain.rerank(queries[q], docs)]
    assert not (model / MODEL_CARD_FILE).exists() or "calibration" not in json.loads(
        (model / MODEL_CARD_FILE).read_text())  # save=False wrote nothing


def test_bad_judgments_leave_the_model_card_untouched(calibrated_setup, tmp_path):
    model, data, *_ = calibrated_setup
    import shutil

    folder = Path(shutil.copytree(model, tmp_path / "model"))
    (folder / MODEL_CARD_FILE).write_text('{"card_format": 1, "stage": "student"}\n')
    before = (folder / MODEL_CARD_FILE).read_bytes()
    bad = Path(shutil.copytree(data, tmp_path / "bad"))
    qrels = (bad / "qrels.tsv").read_text().replace("\t2\n", "\t1\n")  # no grade reaches 2
    (bad / "qrels.tsv").write_text(qrels)
    reranker = Reranker(str(folder), dtype="float32")
    with pytest.raises(InvalidInputError, match="relevant"):
        reranker.calibrate(bad, progress=False)
    assert (folder / MODEL_CARD_FILE).read_bytes() == before and reranker.calibration is None
    cal = reranker.calibrate(bad, relevance_level=1, save=False, progress=False)  # grade >= 1 has positives
    assert cal.relevance_level == 1


def test_min_score_drops_below_it_keeps_order_then_top_k_and_says_when_nothing_is_relevant(calibrated_setup):
    model, data, queries, corpus, run = calibrated_setup
    reranker = Reranker(str(model), dtype="float32")
    reranker.calibrate(data, save=False, progress=False)
    docs = [corpus[d] for d in run["q1"]]
    full = reranker.rerank(queries["q1"], docs)
    threshold = full[3].score
    kept = reranker.rerank(queries["q1"], docs, min_score=threshold)
    assert [r.index for r in kept] == [r.index for r in full if r.score >= threshold]
    assert kept.nothing_relevant is False and kept.min_score == threshold
    assert kept.stats.below_min_score == len(full) - len(kept)
    assert [r.index for r in reranker.rerank(queries["q1"], docs, min_score=threshold, top_k=2)] == \
        [r.index for r in kept[:2]]
    none = reranker.rerank(queries["q1"], docs, min_score=1.0)
    assert list(none) == [] and none.nothing_relevant is True
    assert full.nothing_relevant is None
    for bad in (float("nan"), 1.5, -0.1, "0.5", True):
        with pytest.raises(InvalidInputError, match="min_score"):
            reranker.rerank(queries["q1"], docs, min_score=bad)


def test_a_calibration_for_another_strategy_is_not_applied_silently(calibrated_setup, tmp_path):
    model, data, *_ = calibrated_setup
    cal = Reranker(str(model), dtype="float32").calibrate(data, save=False, progress=False)
    cal.strategy = "yesno"
    path = cal.save(tmp_path / "cal.json")
    with pytest.raises(InvalidInputError, match="'yesno' strategy"):
        Reranker(str(model), dtype="float32", calibration=str(path))


def test_a_cascade_calibrates_both_stages_onto_one_scale(calibrated_setup):
    model, data, queries, corpus, run = calibrated_setup
    # the same weights twice (the judgments follow this model; a second random model would not): the stages are
    # fitted on different candidates (100 vs the head of 4) and so get different maps
    cascade = Cascade(Reranker(str(model), dtype="float32"), Reranker(str(model), dtype="float32"), depth=4)
    assert cascade.calibration is None and not cascade.describe()["calibrated"]
    first, second = cascade.calibrate(data, save=False, progress=False)
    assert first.params != second.params
    assert cascade.calibration is second and cascade.describe()["calibrated"]
    assert second.fitted_on["depth"] == 4 and first.fitted_on["depth"] == 100
    result = cascade.rerank(queries["q2"], [corpus[d] for d in run["q2"]], min_score=0.5)
    assert all(r.calibrated and r.score >= 0.5 for r in result)


def test_the_cli_calibrates_then_reranks_with_a_threshold(calibrated_setup, tmp_path, capsys):
    import shutil

    from interank_sdk.cli import main

    model, data, queries, corpus, run = calibrated_setup
    folder = Path(shutil.copytree(model, tmp_path / "model"))
    out = tmp_path / "cal.json"
    assert main(["calibrate", "--model", str(folder), "--data", str(data), "--dtype", "float32",
                 "--out", str(out), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["saved_to_model"] and Calibration.load(out).params == payload["calibrations"][0]["params"]
    assert "calibration" in json.loads((folder / MODEL_CARD_FILE).read_text())
    docs = tmp_path / "docs.txt"
    docs.write_text("\n".join(corpus[d] for d in run["q3"]) + "\n")
    assert main(["rerank", "--model", str(folder), "--dtype", "float32", "--query", queries["q3"], "--docs",
                 str(docs), "--min-score", "1.0", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["results"] == [] and result["nothing_relevant"] is True
    assert main(["rerank", "--model", str(folder), "--dtype", "float32", "--calibration", "none", "--query",
                 queries["q3"], "--docs", str(docs), "--json"]) == 0
    assert not any(r["calibrated"] for r in json.loads(capsys.readouterr().out)["results"])


def test_a_calibrated_model_served_says_so_and_thresholds_its_probabilities(calibrated_setup):
    import httpx

    from interank_sdk.serve import BackgroundServer, create_app

    model, data, queries, corpus, run = calibrated_setup
    reranker = Reranker(str(model), dtype="float32")
    reranker.calibrate(data, save=False, progress=False)
    docs = [corpus[d] for d in run["q4"]]
    expected = [r.index for r in reranker.rerank(queries["q4"], docs, min_score=0.5)]
    with BackgroundServer(create_app(reranker)) as url:
        assert httpx.get(f"{url}/health", timeout=10).json()["calibrated"] is True
        body = httpx.post(f"{url}/v1/rerank", json={"query": queries["q4"], "documents": docs, "min_score": 0.5},
                          timeout=60).json()
    assert [r["index"] for r in body["results"]] == expected
    assert body["nothing_relevant"] is (not expected)
