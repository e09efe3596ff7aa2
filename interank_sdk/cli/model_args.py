"""The model options every command shares (``--model``, ``--strategy``, ``--backend``, ...) and the reranker
they describe."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..cascade import Cascade
from ..reranker import Reranker


def model_args(parser: argparse.ArgumentParser) -> None:
    """Add the options that choose and configure the model to a command's ``parser``."""
    parser.add_argument("--model", "-m", required=True,
                        help="hub id, model folder, .gguf file, LoRA adapter folder, or a served model's name")
    parser.add_argument(
        "--strategy", "-s", default="auto",
        help="what is read from the model: auto (from its files), qlm, yesno, graded, reasoning, classifier, "
        "embedding, qwen3-reranker, bge-reranker-gemma, remote; or an LLM ordering several documents per call: "
        "listwise, listwise-first, rankzephyr, first-mistral, pairwise, setwise (default: auto)",
    )
    parser.add_argument("--strategy-option", action="append", default=[], metavar="KEY=VALUE", type=_key_value,
                        help="a strategy option, e.g. instruction='Given a question, find the answer', window=10, "
                        "method=bubblesort "
                        "(VALUE is parsed as JSON when it is JSON); repeatable")
    parser.add_argument("--prompt-version", default=None, help="prompt template version (default: latest)")
    parser.add_argument("--backend", default="auto", help="auto/hf, vllm, openai or rerank-api")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--quantization", choices=["4bit", "8bit", "int8"], default=None,
                        help="4bit/8bit: bitsandbytes (CUDA); int8: the CPU int8 path")
    parser.add_argument("--max-length", type=int, default=None,
                        help="tokens per input (default: 512 for LLMs, 4096 for listwise/pairwise/setwise prompts, the "
                        "model's own limit for classifiers)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="sequences per forward pass (default: 16 for LLMs, 64 for classifiers and encoders)")
    parser.add_argument("--long-documents", choices=["truncate", "window"], default="truncate")
    parser.add_argument("--query-max-tokens", type=int, default=None,
                        help="tokens a long query keeps (default: half of what the prompt leaves in --max-length)")
    parser.add_argument("--local-files-only", action="store_true", help="never contact the model hub")
    parser.add_argument("--base-url", default=None, help="server URL for --backend openai or rerank-api")
    parser.add_argument("--api", default=None, choices=["cohere", "cohere-v2", "tei", "score"],
                        help="--backend rerank-api: the service's API (default cohere)")
    parser.add_argument("--max-new-tokens", type=int, default=160, help="token budget of one explanation")
    parser.add_argument("--calibration", default=None, metavar="PATH|none",
                        help="a calibration saved by `interank calibrate --out` (default: the model card's, if any; "
                             "'none': the model's own scores)")
    parser.add_argument("--cascade-model", default=None,
                        help="a second, stronger reranker that rescores the best --cascade-depth of --model "
                        "(a Cascade: e.g. --model a cross-encoder, --cascade-model an LLM)")
    parser.add_argument("--cascade-strategy", default="auto", help="strategy of --cascade-model (default: auto)")
    parser.add_argument("--cascade-depth", type=int, default=20, help="documents the second stage rescores")
    parser.add_argument("--cascade-fusion", type=float, default=0.0,
                        help="weight of the first stage's score in the head's order, in [0, 1] (the Cascade's "
                             "fusion_weight; default 0: the second stage alone orders the head)")


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed: Any = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.strip(), parsed


def make_reranker(args: argparse.Namespace, *, show_progress: bool = False,
                  keep_freed_memory: bool = True) -> Reranker | Cascade:
    """The reranker the command line describes: a :class:`Reranker`, or a :class:`Cascade` with ``--cascade-model``.

    ``keep_freed_memory`` (the CPU allocator setting and ``threads="auto"``, both process-wide) is on: every
    ``interank`` command owns its process.
    """
    kwargs: dict[str, Any] = {}
    if args.base_url:
        kwargs["base_url"] = args.base_url
    if getattr(args, "api", None):
        kwargs["api"] = args.api
    local = args.backend in ("auto", "hf", "transformers")
    if local:
        kwargs.update(show_progress=show_progress)
        if keep_freed_memory:  # the command owns its process: tune the allocator and the CPU threads
            kwargs.update(keep_freed_memory=True, threads="auto")
    common = {"device": args.device, "dtype": args.dtype, "quantization": args.quantization,
              "batch_size": args.batch_size, "local_files_only": args.local_files_only}
    first = Reranker(
        args.model,
        backend=args.backend,
        strategy=args.strategy,
        strategy_options=dict(getattr(args, "strategy_option", None) or []),
        prompt_version=args.prompt_version,
        max_length=args.max_length,
        long_documents=args.long_documents,
        max_new_tokens=args.max_new_tokens,
        **({"query_max_tokens": args.query_max_tokens} if getattr(args, "query_max_tokens", None) else {}),
        **_calibration(getattr(args, "calibration", None)),
        **common,
        **kwargs,
    )
    if not getattr(args, "cascade_model", None):
        return first
    second_kwargs = {"keep_freed_memory": True, "threads": "auto"} if keep_freed_memory and local else {}
    second = Reranker(args.cascade_model, strategy=args.cascade_strategy, max_new_tokens=args.max_new_tokens,
                      long_documents=args.long_documents, **common, **second_kwargs)
    return Cascade(first, second, depth=args.cascade_depth, fusion_weight=getattr(args, "cascade_fusion", 0.0))


def _calibration(value: str | None) -> dict[str, Any]:
    if value is None:
        return {}
    return {"calibration": False if value.lower() == "none" else value}


def strategy_name(reranker: Any) -> str:
    """``"classifier"``, or ``"classifier -> qlm"`` for a cascade."""
    if hasattr(reranker, "first"):
        return f"{strategy_name(reranker.first)} -> {strategy_name(reranker.second)}"
    return str(reranker.strategy.name)
