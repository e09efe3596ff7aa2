"""A longer, random fuzzing campaign than the test suite's, with its counts recorded.

1. HTTP: schemathesis against the OpenAPI schema of a running `interank serve`
   app (the tiny random model, an API key), every operation, ``--http-examples``
   positive and as many negative cases, random each run: counts by operation
   and status, 5xx, schema-conformance failures, documents lost or duplicated.
2. Python API: hypothesis on ``Reranker.rerank`` / ``rerank_batch`` with
   arbitrary unicode (unpaired surrogates included), control characters, empty
   and duplicate documents, huge and negative ``top_k`` and junk: counts of
   answers, typed errors (``InteRankError``) and untyped exceptions by type.

Failures are recorded, not raised, so the campaign runs to the end; the JSON
keeps a few examples of each. Writes bench/results/serve_fuzz.json::

    python bench/serve_fuzz.py                           # ~2 minutes
    python bench/serve_fuzz.py --http-examples 2000 --api-examples 2000
"""

from __future__ import annotations

import argparse
import builtins
import collections
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))
from results_io import write_json
from serve_load import _conftest

KEY = "bench-fuzz-key-0123456789abcdef"
#: schemathesis raises its check failures as an exception group (Python 3.11+; AssertionError before)
_FAILURE_GROUP = getattr(builtins, "BaseExceptionGroup", AssertionError)


def _fuzz_mode(schema, mode, url: str, auth: dict, examples: int) -> dict:
    """One generation mode of the HTTP campaign; failures are counted, not raised."""
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        negative_data_rejection,
        response_schema_conformance,
        status_code_conformance,
    )

    statuses: collections.Counter = collections.Counter()
    failures: collections.Counter = collections.Counter()
    samples: list[dict] = []
    document_errors: collections.Counter = collections.Counter()
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    if mode is GenerationMode.NEGATIVE:
        checks.append(negative_data_rejection)

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=schema.as_strategy(generation_mode=mode))
    def fuzz(case) -> None:
        response = case.call(base_url=url, headers=auth, timeout=60)
        statuses[f"{case.method} {case.path} {response.status_code}"] += 1
        try:
            case.validate_response(response, checks=checks)
        except (AssertionError, _FAILURE_GROUP) as exc:  # record and go on
            failures[", ".join(sorted({type(e).__name__ for e in getattr(exc, "exceptions", [exc])}))] += 1
            if len(samples) < 5:
                samples.append({"operation": f"{case.method} {case.path}", "status": response.status_code,
                                "failure": str(exc)[:500], "body": repr(case.body)[:300]})
        if response.status_code == 200 and case.method == "POST" and isinstance(case.body, dict):
            body = response.json()
            results = body if case.path == "/rerank" else body["results"]
            docs = case.body.get("texts") if case.path == "/rerank" else case.body.get("documents")
            indices = [r["index"] for r in results]
            top_n = case.body.get("top_n")
            document_errors["duplicated"] += len(indices) - len(set(indices))
            document_errors["lost"] += (len(docs) if top_n is None else min(top_n, len(docs))) - len(set(indices))

    start = time.perf_counter()
    fuzz()
    return {
        "requests": sum(statuses.values()),
        "seconds": round(time.perf_counter() - start, 1),
        "by_operation_and_status": dict(sorted(statuses.items())),
        "5xx": sum(n for key, n in statuses.items() if key.rsplit(" ", 1)[1].startswith("5")),
        "check_failures": dict(failures),
        "failure_samples": samples,
        "documents_lost": document_errors["lost"],
        "documents_duplicated": document_errors["duplicated"],
    }


def http_campaign(reranker, examples: int) -> dict:
    import schemathesis
    from schemathesis.generation import GenerationMode

    from interank_sdk.serve import BackgroundServer, create_app

    auth = {"Authorization": f"Bearer {KEY}"}
    app = create_app(reranker, api_keys=[KEY], max_documents=16, max_document_chars=2000, max_query_chars=500,
                     max_body_bytes=256 * 1024)
    report: dict = {}
    with BackgroundServer(app) as url:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json", headers=auth, timeout=30)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            report[mode.value] = _fuzz_mode(schema, mode, url, auth, examples)
            print(mode.value, json.dumps({k: v for k, v in report[mode.value].items()
                                          if k not in ("by_operation_and_status", "failure_samples")}), flush=True)
        report["health_after"] = app.state.service.status
    return report


def api_campaign(reranker, examples: int) -> dict:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from interank_sdk.errors import InteRankError

    text = st.one_of(st.text(max_size=40), st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x1F)),
                     st.lists(st.sampled_from(_conftest().WORDS), min_size=1, max_size=12).map(" ".join),
                     st.text(alphabet=st.characters(categories=["Cs", "Ll"]), max_size=6))  # unpaired surrogates
    junk = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.binary(max_size=6), text),
                        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(
                            st.sampled_from(["text", "title", "id", "metadata", "score", "x"]), inner, max_size=3)),
                        max_leaves=6)
    document = st.one_of(text, st.builds(lambda t, m: {"text": t, "metadata": m}, text,
                                         st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)))
    top_k = st.one_of(st.none(), st.integers(-3, 12), st.just(10**12), st.just(-(10**12)), junk)
    outcomes: collections.Counter = collections.Counter()
    untyped: list[dict] = []
    violations: list[str] = []

    def record(call, *args) -> None:
        try:
            result = call(*args)
        except InteRankError as exc:
            outcomes[f"typed error: {type(exc).__name__}"] += 1
            return
        except Exception as exc:  # noqa: BLE001 - what the campaign counts
            outcomes[f"UNTYPED {type(exc).__name__}"] += 1
            if len(untyped) < 10:
                untyped.append({"exception": type(exc).__name__, "message": str(exc)[:200],
                                "input": repr(args)[:300]})
            return
        outcomes["answered"] += 1
        if call.__name__ == "rerank":
            _, docs, k = args
            indices = [r.index for r in result]
            want = len(docs) if k is None else min(k, len(docs))
            if len(indices) != want or len(set(indices)) != len(indices):
                violations.append(repr(args)[:300])

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(query=st.one_of(text, junk), docs=st.one_of(st.lists(document, max_size=8), junk), k=top_k)
    def rerank_case(query, docs, k) -> None:
        record(reranker.rerank, query, docs, k)

    @settings(max_examples=examples // 2, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(queries=st.one_of(st.lists(text, max_size=3), junk), docs=st.one_of(st.lists(st.lists(document,
                                                                                              max_size=4),
                                                                                     max_size=3), junk))
    def batch_case(queries, docs) -> None:
        record(reranker.rerank_batch, queries, docs)

    start = time.perf_counter()
    rerank_case()
    batch_case()
    return {"cases": sum(outcomes.values()), "seconds": round(time.perf_counter() - start, 1),
            "outcomes": dict(outcomes.most_common()), "untyped_exceptions": sum(
                n for key, n in outcomes.items() if key.startswith("UNTYPED")),
            "untyped_samples": untyped, "contract_violations": len(violations), "violation_samples": violations[:5]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http-examples", type=int, default=600, help="schemathesis cases per generation mode")
    parser.add_argument("--api-examples", type=int, default=600, help="hypothesis cases for rerank")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "serve_fuzz.json"))
    args = parser.parse_args()

    from interank_sdk import Reranker

    logging.getLogger("interank_sdk").setLevel(logging.ERROR)  # the refused requests are expected here
    with tempfile.TemporaryDirectory() as tmp:
        model = _conftest().build_tiny_model(Path(tmp) / "tiny")
        reranker = Reranker(str(model), strategy="yesno", dtype="float32", batch_size=16)
        report = {"benchmark": "serve_fuzz", "model": "tiny random Llama (tests/conftest.py build_tiny_model)",
                  "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                              "python": platform.python_version()}}
        report["http"] = http_campaign(reranker, args.http_examples)
        report["python_api"] = api_campaign(reranker, args.api_examples)
    print("python api", json.dumps({k: v for k, v in report["python_api"].items() if not k.endswith("samples")}))
    out = Path(args.out)
    write_json(out, report, indent=1)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
