#!/usr/bin/env python
"""Domain-adapt a small reranker from in-house QA pairs: synthesize -> distill -> RL, measured at each stage.

The whole InteRank recipe on ``../shared/data/stackexchange-qa`` (StackExchange
question / accepted-answer pairs) on CPU:

1. split the questions: held-out questions are never seen in training;
2. **synthesize**: the teacher (the demo model, Qwen2.5-Coder-0.5B-Instruct)
   writes search queries for the training pairs and judges candidate answers
   (the accepted one, BM25 hard negatives, random ones) with an explanation
   and a 0/1/2 label;
3. **distill**: the student (SmolLM2-135M-Instruct) learns the teacher's
   explanations and labels (LoRA, TRL ``SFTTrainer``, loss on the completion);
4. **rl**: the distilled adapter is refined with InteRank's reward-weighted SFT
   (``rwsft``) and/or GRPO.

Before and after each stage the student is measured on the held-out questions:
each question's accepted answer is ranked among the BM25-retrieved answers of
the whole collection (MRR@10 and nDCG@10 through ``interank_sdk.eval.metrics``,
i.e. ir-measures), and on TREC DL19 (BM25 top-``--dl19-depth``, nDCG@10). The
student is scored with the ``reasoning`` strategy at every stage (the scorer it
is trained for), and with zero-shot query likelihood as a reference.

Small run (tens of minutes on 2 CPU cores)::

    python examples/train_domain_adapter.py --train-pairs 8 --heldout 8 --candidates 8

Writes ``OUT/results.json`` and ``OUT/results.png``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import time
from pathlib import Path

CACHE = Path(os.environ.get("INTERANK_CACHE", Path.home() / ".cache" / "interank"))
REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("INTERANK_DATA", REPO.parent / "shared" / "data"))
MEASURES = ("nDCG@10", "RR@10")


def load_pairs(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def heldout_task(pairs: list[dict], heldout: list[dict], k: int, query_words: int, passage_words: int):
    """For each held-out question: BM25 top-k answers of the whole collection, its own answer always among them."""
    import bm25s

    from interank_trainer.data.passages import clean_text

    answers = [clean_text(p["answer"], passage_words) for p in pairs]
    index_of = {p["id"]: i for i, p in enumerate(pairs)}
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(answers, stopwords="en", show_progress=False), show_progress=False)
    task = []
    for p in heldout:
        query = clean_text(p["question"], query_words)
        ids, scores = retriever.retrieve(bm25s.tokenize([query], stopwords="en", show_progress=False),
                                         k=k, show_progress=False)
        ranked = [(int(i), float(s)) for i, s in zip(ids[0], scores[0])]
        own = index_of[p["id"]]
        if own not in [i for i, _ in ranked]:  # not retrieved: it takes the last slot, below the others
            ranked = ranked[: k - 1] + [(own, ranked[-1][1] - 1.0 if ranked else 0.0)]
        task.append({"qid": f"se-{p['id']}", "query": query, "own": own,
                     "docs": [{"id": str(i), "text": answers[i]} for i, _ in ranked],
                     "bm25": [(str(i), s) for i, s in ranked]})
    qrels = {t["qid"]: {str(t["own"]): 1} for t in task}
    return task, qrels


def evaluate_heldout(reranker, task, qrels) -> dict:
    from interank_sdk.eval.metrics import evaluate_run

    results = reranker.rerank_batch([t["query"] for t in task], [t["docs"] for t in task])
    run = {t["qid"]: [(t["docs"][r.index]["id"], r.score) for r in res] for t, res in zip(task, results)}
    stats = {"missing_marker": sum(r.stats.missing_marker for r in results),
             "hit_token_budget": sum(r.stats.hit_token_budget for r in results),
             "generations": sum(r.stats.generations for r in results)}
    return {**evaluate_run(run, qrels, MEASURES, rank_by="order"), "stats": stats}


def evaluate_dl19(reranker, args) -> dict | None:
    if args.dl19_queries <= 0:
        return None
    from interank_sdk.eval import evaluate_reranker

    metrics, _ = evaluate_reranker(reranker, DATA / "trec-dl19-passage", depth=args.dl19_depth,
                                   max_queries=args.dl19_queries, measures=MEASURES, progress=False)
    return metrics


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--qa", default=str(DATA / "stackexchange-qa" / "qa_pairs.jsonl"))
    parser.add_argument("--teacher", default=str(CACHE / "models" / "qwen2.5-coder-0.5b-instruct"))
    parser.add_argument("--student", default=str(CACHE / "models" / "smollm2-135m-instruct"))
    parser.add_argument("--out", default="/tmp/interank-domain-adapter")
    parser.add_argument("--domain", default=None, help="use one StackExchange site only (e.g. biology)")
    parser.add_argument("--train-pairs", type=int, default=8, help="QA pairs the teacher synthesizes from")
    parser.add_argument("--heldout", type=int, default=8, help="held-out questions to evaluate on")
    parser.add_argument("--candidates", type=int, default=8, help="BM25 answers per held-out question")
    parser.add_argument("--query-words", type=int, default=64)
    parser.add_argument("--passage-words", type=int, default=120)
    parser.add_argument("--num-queries", type=int, default=1)
    parser.add_argument("--hard-negatives", type=int, default=1)
    parser.add_argument("--random-negatives", type=int, default=1)
    parser.add_argument("--teacher-max-new-tokens", type=int, default=128)
    parser.add_argument("--missing-marker", choices=["drop", "keep_complete", "keep"], default="keep_complete",
                        help="the demo teacher ends its explanations without 'Relevance Label:' (the SDK appends "
                        "it): keep those that ended by themselves (default)")
    parser.add_argument("--student-max-new-tokens", type=int, default=48)
    parser.add_argument("--distill-epochs", type=float, default=2.0)
    parser.add_argument("--rl", choices=["rwsft", "grpo", "both", "none"], default="rwsft")
    parser.add_argument("--rl-steps", type=int, default=4)
    parser.add_argument("--rl-samples", type=int, default=4)
    parser.add_argument("--dl19-queries", type=int, default=4, help="DL19 queries per evaluation (0: skip)")
    parser.add_argument("--dl19-depth", type=int, default=10)
    parser.add_argument("--eval-teacher", action="store_true", help="also measure the teacher (slow)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)

    from interank_sdk import Reranker

    from interank_trainer import distill, rl, synthesize

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pairs = load_pairs(Path(args.qa))
    if args.domain:
        pairs = [p for p in pairs if p.get("domain") == args.domain]
    order = list(range(len(pairs)))
    random.Random(args.seed).shuffle(order)
    heldout = [pairs[i] for i in order[: args.heldout]]
    train = [pairs[i] for i in order[args.heldout: args.heldout + args.train_pairs]]
    (out / "train_qa.jsonl").write_text("".join(json.dumps(p) + "\n" for p in train))
    task, qrels = heldout_task(pairs, heldout, args.candidates, args.query_words, args.passage_words)
    results: dict = {"args": vars(args), "heldout_ids": [p["id"] for p in heldout],
                     "train_ids": [p["id"] for p in train], "stages": {}, "timings": {}}

    def record(stage: str, reranker) -> None:
        t = time.perf_counter()
        held = evaluate_heldout(reranker, task, qrels)
        dl19 = evaluate_dl19(reranker, args)
        results["stages"][stage] = {"heldout": held, "dl19": dl19}
        results["timings"][f"eval {stage}"] = round(time.perf_counter() - t, 1)
        print(f"[{stage}] held-out MRR@10 {held['MRR@10']:.4f} nDCG@10 {held['nDCG@10']:.4f}"
              + (f" | DL19 nDCG@10 {dl19['nDCG@10']:.4f}" if dl19 else "")
              + f"  ({results['timings'][f'eval {stage}']} s)", flush=True)
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    from interank_sdk.eval.metrics import evaluate_run

    bm25_run = {t["qid"]: t["bm25"] for t in task}
    results["stages"]["BM25"] = {"heldout": evaluate_run(bm25_run, qrels, MEASURES, rank_by="order"), "dl19": None}
    print(f"[BM25] held-out MRR@10 {results['stages']['BM25']['heldout']['MRR@10']:.4f}", flush=True)

    def student(model: str, strategy: str = "auto"):
        return Reranker(model, strategy=strategy, max_new_tokens=args.student_max_new_tokens, batch_size=16,
                        max_length=512)

    record("student zero-shot (qlm)", student(args.student, "qlm"))
    record("student before (reasoning)", student(args.student, "reasoning"))

    # 1. synthesize with the teacher
    t = time.perf_counter()
    teacher = Reranker(args.teacher, strategy="reasoning", max_new_tokens=args.teacher_max_new_tokens,
                       batch_size=16, max_length=768)
    if args.eval_teacher:
        record("teacher (reasoning)", teacher)
    synth = synthesize(qa=out / "train_qa.jsonl", teacher=teacher, out=out / "data", num_queries=args.num_queries,
                       hard_negatives=args.hard_negatives, random_negatives=args.random_negatives,
                       max_passage_words=args.passage_words, max_query_words=args.query_words, seed=args.seed,
                       teacher_max_new_tokens=args.teacher_max_new_tokens, missing_marker=args.missing_marker)
    results["synthesize"] = synth.as_dict()
    results["timings"]["synthesize"] = round(time.perf_counter() - t, 1)
    print(f"[synthesize] {synth.rows} rows from {synth.pairs_done} pairs; dropped {synth.dropped}; "
          f"labels {synth.labels} ({results['timings']['synthesize']} s)", flush=True)
    del teacher
    if synth.rows == 0:
        raise SystemExit("the teacher produced no usable judgment; raise --train-pairs or --teacher-max-new-tokens")

    # 2. distill the student
    t = time.perf_counter()
    sft = distill(data=out / "data", student=args.student, out=out / "adapter-sft", strategy="reasoning",
                  epochs=args.distill_epochs, batch_size=4, gradient_accumulation_steps=1, logging_steps=2,
                  seed=args.seed)
    results["distill"] = {"rows": sft.rows, "steps": sft.steps, "train_loss": sft.train_loss,
                          "label_forms": sft.label_forms}
    results["timings"]["distill"] = round(time.perf_counter() - t, 1)
    record("after distill", student(str(out / "adapter-sft")))

    # 3. RL refinement
    methods = {"both": ["rwsft", "grpo"], "none": []}.get(args.rl, [args.rl])
    for method in methods:
        t = time.perf_counter()
        report = rl(data=out / "data", adapter=out / "adapter-sft", out=out / f"adapter-{method}", method=method,
                    max_steps=args.rl_steps, num_generations=args.rl_samples, batch_size=2,
                    max_new_tokens=args.student_max_new_tokens + 16, learning_rate=2e-5 if method == "rwsft" else 1e-5,
                    seed=args.seed)
        results[f"rl-{method}"] = {"steps": report.steps, "mean_reward": report.mean_reward, "kept": report.kept,
                                   "loss": report.loss}
        results["timings"][f"rl-{method}"] = round(time.perf_counter() - t, 1)
        record(f"after rl-{method}", student(str(out / f"adapter-{method}")))

    plot(results, out / "results.png")
    print(f"\nresults: {out / 'results.json'}, plot: {out / 'results.png'}")
    return 0


def plot(results: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return
    stages = list(results["stages"])
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    for ax, (title, key, metric) in zip(axes, [("held-out StackExchange questions", "heldout", "MRR@10"),
                                               ("TREC DL19 (BM25 top-k)", "dl19", "nDCG@10")]):
        values = [(s, (results["stages"][s][key] or {}).get(metric)) for s in stages]
        values = [(s, v) for s, v in values if v is not None]
        ax.bar(range(len(values)), [v for _, v in values], color="#4c72b0")
        ax.set_xticks(range(len(values)), [s for s, _ in values], rotation=25, ha="right", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_title(f"{title}: {metric}")
        for i, (_, v) in enumerate(values):
            ax.text(i, v + 0.01, f"{v:.3f}", ha="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
