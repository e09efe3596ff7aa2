"""Calibration, measured: fitted on DL21 judgments, evaluated on DL19 (other queries), per scoring kind.

For each kind (a cross-encoder, and the demo LLM read by ``qlm``, ``yesno`` and ``graded``; a cascade of the
cross-encoder and the best-calibrated LLM reading): every judged pair among the BM25 top ``--depth`` of
``--fit-queries`` DL21 queries and ``--eval-queries`` DL19 queries is scored once (raw scores cached under
``$INTERANK_CACHE/bench/calibration/``, so a rerun only fits and measures), a Platt map is fitted on DL21 with
:func:`interank_sdk.calibration.fit_calibration` (what ``Reranker.calibrate`` does), and on DL19:

* expected calibration error (15 bins) and Brier score of the uncalibrated and the calibrated scores;
* at the threshold 0.5: precision and recall of "relevant" (grade >= 2) and the mean calibrated score of the
  kept documents (a calibrated model's kept documents should be relevant as often as it says);
* "nothing relevant": every DL19 query twice, once with its candidates as they are (a relevant one among them:
  the flag should stay down) and once with its relevant candidates removed (the flag should go up); the flag is
  "no candidate reaches 0.5"; precision and recall of the flag.

The cascade: the cross-encoder orders each query's candidates, its best ``--cascade-head`` are scored by the
second stage; each stage has its own map (both fitted on DL21), so one threshold reads both stages.

Usage::

    python bench/calibration.py [--fit-queries 15] [--eval-queries 20] [--depth 10] [--kinds ...]

Writes ``bench/results/calibration.json`` and ``.png`` (reliability diagrams before/after per kind).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
CACHE = Path(os.environ.get("INTERANK_CACHE", Path.home() / ".cache" / "interank"))
DATA = Path(os.environ.get("INTERANK_DATA", REPO.parent / "shared" / "data"))
SCORES = CACHE / "bench" / "calibration"
DEMO = CACHE / "models" / "qwen2.5-coder-0.5b-instruct"
STUDENT = CACHE / "adapt" / "dl21" / "student"
KINDS = {"cross-encoder": (STUDENT, "auto"), "qlm": (DEMO, "qlm"), "yesno": (DEMO, "yesno"),
         "graded": (DEMO, "graded")}


def judged_candidates(name: str, queries: int, depth: int):
    from interank_sdk.eval import TrecDataset, load_run

    folder = DATA / name
    dataset = TrecDataset.load(folder)
    run = load_run(folder / "run.bm25.top100.trec", depth)
    qids = [q for q in run if q in dataset.qrels][:queries]
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
    if todo:
        from interank_sdk import Reranker
        from interank_sdk.calibration import calibration_input

        model, strategy = KINDS[kind]
        reranker = Reranker(str(model), strategy=strategy, calibration=False)
        start = time.perf_counter()
        for i, (q, docids) in enumerate(todo.items()):
            docs = [{"text": dataset.corpus[d]["text"], "title": dataset.corpus[d].get("title") or None}
                    for d in docids]
            for r in reranker.rerank(dataset.queries[q], docs):  # what a calibration maps, and the [0, 1] score
                cache[f"{q}\t{docids[r.index]}"] = (calibration_input(r), float(r.score))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(cache))
            print(f"  {kind} {name}: {i + 1}/{len(todo)} queries ({time.perf_counter() - start:.0f} s)", flush=True)
        reranker.close()
    return cache


def measure(probs: np.ndarray, labels: np.ndarray, qids: list[str]) -> dict:
    from interank_sdk.calibration import brier_score, expected_calibration_error

    kept = probs >= 0.5
    out = {"ece": expected_calibration_error(probs, labels), "brier": brier_score(probs, labels),
           "precision_at_0.5": float(labels[kept].mean()) if kept.any() else None,
           "recall_at_0.5": float(labels[kept].sum() / max(1, labels.sum())),
           "mean_score_kept": float(probs[kept].mean()) if kept.any() else None, "kept": int(kept.sum())}
    # "nothing relevant": each query as it is (a relevant candidate among them) and with its relevant ones removed
    flags, truth = [], []
    for q in sorted(set(qids)):
        mine = np.array([x == q for x in qids])
        if labels[mine].any():
            flags.append(not (probs[mine] >= 0.5).any())
            truth.append(False)
        rest = mine & (labels == 0)
        if rest.any():
            flags.append(not (probs[rest] >= 0.5).any())
            truth.append(True)
    f, t = np.array(flags), np.array(truth)
    out["nothing_relevant"] = {"cases": int(len(f)), "positives": int(t.sum()),
                               "precision": float(t[f].mean()) if f.any() else None,
                               "recall": float(f[t].mean()) if t.any() else None}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fit-queries", type=int, default=15, help="DL21 queries the maps are fitted on")
    parser.add_argument("--eval-queries", type=int, default=20, help="DL19 queries measured")
    parser.add_argument("--depth", type=int, default=10, help="BM25 candidates per query")
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    parser.add_argument("--cascade-head", type=int, default=5)
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "calibration.json"))
    args = parser.parse_args()
    from interank_sdk.calibration import fit_calibration, reliability

    fit_set = judged_candidates("trec-dl21-passage", args.fit_queries, args.depth)
    eval_set = judged_candidates("trec-dl19-passage", args.eval_queries, args.depth)
    results: dict = {"fit": {"data": "trec-dl21-passage", "queries": len(fit_set[1]), "pairs": len(fit_set[2])},
                     "eval": {"data": "trec-dl19-passage", "queries": len(eval_set[1]), "pairs": len(eval_set[2])},
                     "depth": args.depth, "relevance_level": 2, "method": "platt", "kinds": {}}
    calibrated: dict[str, dict] = {}
    for kind in args.kinds:
        print(f"[{kind}]", flush=True)
        rows = {}
        for label, (dataset, qids, pairs) in (("fit", fit_set), ("eval", eval_set)):
            name = "dl21" if label == "fit" else "dl19"
            cache = scores_for(kind, name, dataset, pairs)
            raw = np.array([cache[f"{q}\t{d}"][0] for q, d in pairs])
            score = np.array([cache[f"{q}\t{d}"][1] for q, d in pairs])
            labels = np.array([dataset.qrels[q][d] >= 2 for q, d in pairs], dtype=float)
            rows[label] = (raw, score, labels, [q for q, _ in pairs], [d for _, d in pairs])
        raw, score, labels, qids, _ = rows["fit"]
        cal = fit_calibration(raw, labels.astype(bool), groups=qids, scores=score, strategy=kind)
        raw, score, labels, qids, docids = rows["eval"]
        after = cal.apply(raw)
        calibrated[kind] = {"probs": dict(zip(zip(qids, docids), after)), "labels": labels, "qids": qids,
                            "docids": docids, "raw": dict(zip(zip(qids, docids), raw))}
        results["kinds"][kind] = {
            "model": str(KINDS[kind][0]), "calibration": cal.to_dict(),
            "before": measure(score, labels, qids), "after": measure(after, labels, qids),
            "reliability_before": reliability(score, labels), "reliability_after": reliability(after, labels),
        }
        r = results["kinds"][kind]
        print(f"  ECE {r['before']['ece']:.3f} -> {r['after']['ece']:.3f}  Brier {r['before']['brier']:.3f} -> "
              f"{r['after']['brier']:.3f}  P/R@0.5 {r['after']['precision_at_0.5']} / {r['after']['recall_at_0.5']:.3f}",
              flush=True)
    llms = [k for k in ("yesno", "graded", "qlm") if k in calibrated]
    if "cross-encoder" in calibrated and llms:
        second = min(llms, key=lambda k: results["kinds"][k]["after"]["ece"])
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
        results["kinds"]["cascade"] = {"stages": ["cross-encoder", second], "head": args.cascade_head,
                                       "after": measure(probs_a, labels_a, qids_out),
                                       "reliability_after": reliability(probs_a, labels_a)}
    from results_io import write_json

    out = Path(args.out)
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
        ax.set_title(kind, fontsize=9)
        ax.set_xlabel("predicted P(relevant)", fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=6, loc="upper left")
    axes[0][0].set_ylabel("share relevant (DL19)", fontsize=8)
    fig.suptitle(f"fitted on DL21 ({results['fit']['pairs']} pairs), measured on DL19 ({results['eval']['pairs']} "
                 "pairs)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
