"""Load test of `interank serve`: concurrent clients against a real server on 127.0.0.1.

Starts `interank serve` in a subprocess (the tests' tiny random model by
default, or --model), then runs C concurrent clients sending R requests each
(every request: one query and D documents) and checks every response against
a reference answer taken sequentially before the load. It runs twice in the
same session, side by side:

* ``batched``: the service's micro-batcher on (its defaults, or --batch-wait-ms);
* ``unbatched``: the baseline, ``--max-batch-pairs 1`` (every request scored alone).

Reports throughput (requests/s, pairs/s), p50/p95/p99 latency, batches,
requests per batch and query-document pairs per forward pass (from the
server's /health counters), and writes JSON to bench/results/.

    python bench/serve_load.py                       # tiny model, 8 clients x 50 requests
    python bench/serve_load.py --model ~/.cache/interank/models/smollm2-135m-instruct --requests 10

All traffic goes to 127.0.0.1; the number of requests is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from results_io import write_json  # bench/ is this script's folder

REPO = Path(__file__).resolve().parents[1]


def _conftest():
    if str(REPO / "tests") not in sys.path:  # conftest imports its sibling tiny_vocab
        sys.path.insert(0, str(REPO / "tests"))
    spec = importlib.util.spec_from_file_location("interank_tests_conftest", REPO / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_requests(n_queries: int, n_docs: int, seed: int = 0) -> list[dict]:
    """Distinct (query, documents) payloads built from the tiny model's vocabulary (valid for any model)."""
    words = [w for w in _conftest().WORDS if w.isalpha()]
    rng = random.Random(seed)
    out = []
    for _ in range(n_queries):
        query = " ".join(rng.choices(words, k=6)) + "?"
        docs = [" ".join(rng.choices(words, k=rng.randint(12, 40))) + "." for _ in range(n_docs)]
        out.append({"query": query, "documents": docs})
    return out


class Server:
    """`interank serve` in a subprocess."""

    def __init__(self, model: str, strategy: str, extra: list[str]) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "interank_sdk", "serve", "--model", model, "--strategy", strategy,
               "--port", str(self.port), "--log-level", "warning", *extra]
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)

    def wait(self, timeout: float = 300) -> None:
        from interank_sdk.errors import InteRankError
        from interank_sdk.serve import wait_ready

        try:  # /health answers while the model loads; /ready once it can score
            wait_ready(self.url, process=self.proc, timeout=timeout)
        except InteRankError as exc:
            self.log.seek(0)
            raise RuntimeError(f"{exc}: {self.log.read().decode()[-3000:]}") from None

    def health(self) -> dict:
        return httpx.get(f"{self.url}/health", timeout=10).json()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _check(response: httpx.Response, reference: list[dict], n_docs: int, tolerance: float,
           diffs: list[float]) -> str | None:
    """None when the response is correct, else what is wrong (score differences go to ``diffs``)."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    results = response.json().get("results", [])
    if sorted(r["index"] for r in results) != list(range(n_docs)):
        return "indices are not a permutation of the documents"
    scores = [r["relevance_score"] for r in results]
    if scores != sorted(scores, reverse=True):
        return "results are not sorted by relevance_score"
    want = {r["index"]: r["relevance_score"] for r in reference}
    got = {r["index"]: r["relevance_score"] for r in results}
    diff = max(abs(got[i] - want[i]) for i in want)
    diffs.append(diff)
    if diff > tolerance:
        return f"scores differ from the sequential reference by {diff:.2e} > {tolerance:g}"
    return None


async def run_load(url: str, payloads: list[dict], references: list[list[dict]], clients: int,
                   per_client: int, tolerance: float) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    diffs: list[float] = []

    async def client(cid: int, http: httpx.AsyncClient) -> None:
        for k in range(per_client):
            i = (cid * per_client + k) % len(payloads)
            start = time.perf_counter()
            response = await http.post(f"{url}/v1/rerank", json=payloads[i])
            latencies.append(time.perf_counter() - start)
            problem = _check(response, references[i], len(payloads[i]["documents"]), tolerance, diffs)
            if problem:
                errors.append(problem)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=600, limits=limits) as http:
        start = time.perf_counter()
        await asyncio.gather(*[client(c, http) for c in range(clients)])
        elapsed = time.perf_counter() - start
    lat_ms = np.asarray(latencies) * 1000
    n = len(latencies)
    pairs = sum(len(payloads[(c * per_client + k) % len(payloads)]["documents"])
                for c in range(clients) for k in range(per_client))
    return {
        "requests": n,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(n / elapsed, 2),
        "pairs_per_s": round(pairs / elapsed, 1),
        "latency_ms": {q: round(float(np.percentile(lat_ms, p)), 1) for q, p in
                       (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))},
        "errors": len(errors),
        "first_errors": errors[:5],
        "max_abs_score_diff_vs_sequential": float(max(diffs)) if diffs else None,
    }


def measure(mode: str, args: argparse.Namespace, model: str, payloads: list[dict]) -> dict:
    extra = ["--dtype", args.dtype, "--batch-size", str(args.batch_size), "--max-documents", str(args.docs)]
    if mode == "unbatched":
        extra += ["--max-batch-pairs", "1", "--batch-wait-ms", "0"]
    else:
        extra += ["--batch-wait-ms", str(args.batch_wait_ms), "--max-batch-pairs", str(args.max_batch_pairs)]
    server = Server(model, args.strategy, extra)
    try:
        server.wait()
        # sequential references (one request at a time: batches of one)
        references = [httpx.post(f"{server.url}/v1/rerank", json=p, timeout=600).json()["results"] for p in payloads]
        before = server.health()["batcher"]
        load = asyncio.run(run_load(server.url, payloads, references, args.clients, args.requests, args.tolerance))
        after = server.health()["batcher"]
    finally:
        server.stop()
    batches = after["batches"] - before["batches"]
    passes = after["forward_passes"] - before["forward_passes"]
    pairs = after["pairs"] - before["pairs"]
    load["batcher"] = {
        "batches": batches,
        "forward_passes": passes,
        "requests_per_batch": round((after["requests"] - before["requests"]) / batches, 2) if batches else None,
        "pairs_per_forward_pass": round(pairs / passes, 2) if passes else None,
        "largest_batch": after["largest_batch"],
    }
    return load


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model to serve (default: the tests' tiny random model)")
    parser.add_argument("--strategy", default="yesno")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=50, help="requests per client")
    parser.add_argument("--docs", type=int, default=10, help="documents per request")
    parser.add_argument("--queries", type=int, default=40, help="distinct request payloads")
    parser.add_argument("--batch-size", type=int, default=64, help="reranker batch size (pairs per forward pass)")
    parser.add_argument("--batch-wait-ms", type=float, default=0.0)
    parser.add_argument("--max-batch-pairs", type=int, default=256)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="largest score difference from the sequential answer counted as correct (bf16 "
                        "batches of other compositions move scores by ~1e-2: use float32 for exact checks)")
    parser.add_argument("--modes", default="batched,unbatched")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "serve_load.json"))
    args = parser.parse_args()
    if args.clients * args.requests > 5000:
        parser.error("at most 5000 requests in one run")

    tmp = None
    model = args.model
    if model is None:
        tmp = tempfile.TemporaryDirectory()
        model = str(_conftest().build_tiny_model(Path(tmp.name) / "tiny"))
        args.dtype = "float32"
    payloads = make_requests(args.queries, args.docs)
    results: dict[str, dict] = {}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for mode in args.modes.split(","):
        print(f"[{mode}] {args.clients} clients x {args.requests} requests x {args.docs} documents ...", flush=True)
        results[mode] = measure(mode, args, model, payloads)
        r = results[mode]
        print(f"  {r['requests_per_s']} req/s, {r['pairs_per_s']} pairs/s, p50 {r['latency_ms']['p50']} ms, "
              f"p95 {r['latency_ms']['p95']} ms, {r['batcher']['pairs_per_forward_pass']} pairs/forward pass, "
              f"{r['batcher']['requests_per_batch']} requests/batch, errors {r['errors']}, "
              f"max |score diff| vs sequential {r['max_abs_score_diff_vs_sequential']:.1e}", flush=True)
        write_json(out, _report(args, results))  # partial results survive a kill
    report = _report(args, results)
    if "batched" in results and "unbatched" in results:
        print(f"batched / unbatched throughput: {report['throughput_ratio_batched_over_unbatched']}x")
    write_json(out, report)
    print(f"wrote {out}")
    if tmp is not None:
        tmp.cleanup()
    return 1 if any(r["errors"] for r in results.values()) else 0


def _report(args: argparse.Namespace, results: dict[str, dict]) -> dict:
    report = {
        "benchmark": "serve_load",
        "model": args.model or "tiny random Llama (tests/conftest.py build_tiny_model)",
        "strategy": args.strategy,
        "clients": args.clients,
        "requests_per_client": args.requests,
        "documents_per_request": args.docs,
        "batch_size": args.batch_size,
        "batch_wait_ms": args.batch_wait_ms,
        "max_batch_pairs": args.max_batch_pairs,
        "dtype": args.dtype,
        "tolerance": args.tolerance,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "results": results,
    }
    if "batched" in results and "unbatched" in results:
        report["throughput_ratio_batched_over_unbatched"] = round(
            results["batched"]["requests_per_s"] / results["unbatched"]["requests_per_s"], 2
        )
    return report


if __name__ == "__main__":
    raise SystemExit(main())
