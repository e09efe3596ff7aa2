"""Reliability of `interank serve` under load and faults: 1x and 2x the measured capacity, faults injected.

The server runs in a subprocess (this file with ``--child``): the real
``create_app`` and ``make_server`` of ``interank serve``, serving a real
Reranker (the tests' tiny random model by default, or ``--model``) wrapped by a
fault injector:

* ``raise``: about 1% of the requests carry a marker that makes the backend
  raise mid-batch (a ``BackendError``, as a remote backend that fails does);
  the batch is then rescored request by request, so only the poisoned request
  may fail;
* ``stall``: once per phase, one request makes the backend stop answering for
  ``--stall-seconds`` (longer than ``--stall-timeout``): ``/health`` must
  report it and new requests get 503 at once until it answers again.

Phases, each checked answer by answer (every document back exactly once, the
scores equal to a sequential reference):

1. unloaded: one request at a time (the unloaded latency);
2. capacity: ``--clients`` closed-loop clients; requests/s is the capacity
   (the saturation throughput);
3. latency-bounded capacity: the highest Poisson rate, no faults, whose p95
   stays within 2x the unloaded p95, found by bisection (``--search-steps``);
   at saturation, random arrivals queue, so this is the rate to plan a replica for;
4. 0.5x, 1x and 2x: open-loop Poisson arrivals at those multiples of the
   capacity for ``--seconds`` each, faults injected (the stall at mid-phase);
   the bounded queue must answer 503 with ``Retry-After`` rather than let
   latency grow without bound.

Writes bench/results/serve_reliability.json and .png::

    python bench/serve_reliability.py                    # tiny model, ~3 minutes
    python bench/serve_reliability.py --model ~/.cache/interank/models/smollm2-135m-instruct --seconds 20

All traffic goes to 127.0.0.1; the number of requests is bounded by the rates and durations.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from results_io import write_json
from serve_load import Server, _conftest, _free_port, make_requests

RAISE, STALL = "FAULT-RAISE", "FAULT-STALL"


def child(args: argparse.Namespace) -> None:
    """The server process: interank serve's app around a Reranker with injected faults."""
    import threading

    from interank_sdk import Reranker
    from interank_sdk.errors import BackendError
    from interank_sdk.serve.app import create_app
    from interank_sdk.serve.logs import log_config
    from interank_sdk.serve.server import make_server

    class FaultInjector:
        """The real Reranker; a batch with a RAISE query raises, a STALL query stops it for a while."""

        def __init__(self, inner: Reranker) -> None:
            self.inner, self.model_name, self.strategy, self.backend = inner, inner.model_name, inner.strategy, \
                inner.backend
            self.max_length, self.long_documents = inner.max_length, inner.long_documents
            self.lock = threading.Lock()

        def rerank_batch(self, queries, documents_per_query):
            if any(RAISE in q for q in queries):
                raise BackendError("injected fault: the backend failed mid-batch")
            if any(STALL in q for q in queries):
                time.sleep(args.stall_seconds)
            return self.inner.rerank_batch(queries, documents_per_query)

    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    reranker = Reranker(args.model, strategy=args.strategy, dtype=args.dtype, batch_size=args.batch_size)
    app = create_app(FaultInjector(reranker), max_queue=args.max_queue, request_timeout=args.request_timeout,
                     stall_timeout=args.stall_timeout, max_documents=max(args.docs, 1000))
    make_server(app, host="127.0.0.1", port=args.port, log_config=log_config("warning"),
                graceful_timeout=10).run()


class FaultServer(Server):
    """This file's ``--child`` server in a subprocess (the fault injector needs code inside the server)."""

    def __init__(self, child_args: list[str], threads: int) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        self.proc = subprocess.Popen([sys.executable, __file__, "--child", "--port", str(self.port), *child_args],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)


def _check(body: dict, reference: dict[int, float], n_docs: int) -> tuple[int, int, int]:
    """(lost, duplicated, wrong-score) documents of one 200 answer."""
    indices = [r["index"] for r in body["results"]]
    lost = n_docs - len(set(indices))
    duplicated = len(indices) - len(set(indices))
    wrong = sum(abs(r["relevance_score"] - reference[r["index"]]) > 1e-4 for r in body["results"]
                if r["index"] in reference)
    return lost, duplicated, wrong


class _StaleConnection(Exception):
    """The server closed a kept-alive connection before answering on it."""


class RawHTTP:
    """A minimal HTTP/1.1 client over asyncio streams with a keep-alive pool.

    httpx spends about a millisecond of CPU per request; on a 2-core machine
    shared with the server that distorts what is measured at 2x the capacity.
    This client writes pre-encoded requests and parses only the status line,
    the headers and a ``Content-Length`` body.
    """

    def __init__(self, url: str, timeout: float) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port, self.timeout = host, int(port), timeout
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        while True:
            reused = bool(self.idle)
            conn = self.idle.pop() if reused else await asyncio.open_connection(self.host, self.port)
            reader, writer = conn
            try:
                writer.write(head + body)
                status, headers, content = await asyncio.wait_for(self._response(reader), self.timeout)
                break
            except (ConnectionError, _StaleConnection):
                writer.close()
                if not reused:  # a pooled connection the server closed while idle is retried, as httpx does
                    raise
            except BaseException:
                writer.close()
                raise
        if headers.get("connection", "").lower() == "close":
            writer.close()
        else:
            self.idle.append(conn)
        return status, headers, content

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
        line = await reader.readline()
        if not line:
            raise _StaleConnection
        status = int(line.split()[1])
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers, await reader.readexactly(int(headers.get("content-length", "0")))

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def _send(http: RawHTTP, payload: dict, reference: dict, t0: float) -> dict:
    sent = time.perf_counter()
    record = {"t": round(sent - t0, 4), "poison": payload.get("_fault")}
    body = payload.get("_bytes") or json.dumps({k: v for k, v in payload.items() if not k.startswith("_")}).encode()
    try:
        status, headers, content = await http.request("POST", "/v1/rerank", body)
        while record["poison"] == "stall" and status == 503 and time.perf_counter() - sent < 10:
            await asyncio.sleep(0.05)  # the stall must reach the backend: resend it until the queue takes it
            status, headers, content = await http.request("POST", "/v1/rerank", body)
    except asyncio.TimeoutError:
        record.update(status="timeout", latency=time.perf_counter() - sent)
        return record
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError, _StaleConnection) as exc:
        record.update(status="connection_error", latency=time.perf_counter() - sent, error=type(exc).__name__)
        return record
    record.update(status=status, latency=time.perf_counter() - sent)
    if status == 200:
        record["lost"], record["duplicated"], record["wrong"] = _check(json.loads(content), reference,
                                                                       len(payload["documents"]))
        if record["poison"]:  # its query carries the fault marker: the reference scores are not its scores
            record["wrong"] = 0
    elif status == 503:
        message = json.loads(content).get("message", "")
        record["reason"] = ("queue_full" if "busy" in message else "stalled" if "not answered" in message
                            else "backend_error")
        record["retry_after"] = headers.get("retry-after")
    return record


async def _watch_health(url: str, stop: asyncio.Event, t0: float, timeline: list) -> None:
    http = RawHTTP(url, timeout=5)
    while not stop.is_set():
        try:
            _, _, content = await http.request("GET", "/health")
            health = json.loads(content)
            timeline.append((round(time.perf_counter() - t0, 3), health["status"], health["queue_depth"]))
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, _StaleConnection):
            timeline.append((round(time.perf_counter() - t0, 3), "unreachable", None))
        await asyncio.sleep(0.25)
    http.close()


async def open_loop(url: str, payloads: list[dict], references: list[dict], rate: float, seconds: float,
                    fault_rate: float, stall_at: float | None, seed: int) -> dict:
    """Poisson arrivals at ``rate`` req/s for ``seconds``; a RAISE fraction and one STALL request (none when
    ``stall_at`` is None)."""
    rng = random.Random(seed)
    arrivals, t = [], 0.0
    while True:
        t += rng.expovariate(rate)
        if t >= seconds:
            break
        arrivals.append(t)
    stall_index = (min(range(len(arrivals)), key=lambda i: abs(arrivals[i] - stall_at))
                   if arrivals and stall_at is not None else -1)
    timeline: list = []
    stop = asyncio.Event()
    http = RawHTTP(url, timeout=60)
    t0 = time.perf_counter()
    watcher = asyncio.ensure_future(_watch_health(url, stop, t0, timeline))
    tasks = []
    for i, at in enumerate(arrivals):
        delay = t0 + at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        k = rng.randrange(len(payloads))
        payload = dict(payloads[k])
        if i == stall_index:
            payload.update(query=f"{STALL} {payload['query']}", _fault="stall", _bytes=None)
        elif rng.random() < fault_rate:
            payload.update(query=f"{RAISE} {payload['query']}", _fault="raise", _bytes=None)
        tasks.append(asyncio.ensure_future(_send(http, payload, references[k], t0)))
    records = await asyncio.gather(*tasks)
    stop.set()
    await watcher
    http.close()
    return summarize(records, rate, seconds, timeline, stall_at)


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    ms = np.asarray(values) * 1000
    return {q: round(float(np.percentile(ms, p)), 1) for q, p in (("p50", 50), ("p95", 95), ("p99", 99),
                                                                  ("max", 100))}


def summarize(records: list[dict], rate: float, seconds: float, timeline: list, stall_at: float) -> dict:
    status = collections.Counter(str(r["status"]) for r in records)
    ok = [r for r in records if r["status"] == 200]
    clean = [r for r in records if not r["poison"]]
    reasons = collections.Counter(r.get("reason") for r in records if r["status"] == 503)
    fault_caused_5xx = sum(1 for r in records if isinstance(r["status"], int) and r["status"] >= 500
                           and (r["poison"] or r.get("reason") == "stalled"))
    shed = reasons.get("queue_full", 0)
    unexpected_5xx = sum(1 for r in clean if isinstance(r["status"], int) and r["status"] >= 500
                         and r.get("reason") not in ("stalled", "queue_full"))
    return {
        "offered_rate_per_s": round(rate, 2),
        "seconds": seconds,
        "sent": len(records),
        "2xx": sum(1 for r in records if isinstance(r["status"], int) and 200 <= r["status"] < 300),
        "4xx": sum(1 for r in records if isinstance(r["status"], int) and 400 <= r["status"] < 500),
        "5xx": sum(1 for r in records if isinstance(r["status"], int) and r["status"] >= 500),
        "503": status.get("503", 0),
        "503_by_reason": dict(reasons),
        "504": status.get("504", 0),
        "client_timeouts": status.get("timeout", 0),
        "connection_errors": status.get("connection_error", 0),
        "injected": {"raise": sum(r["poison"] == "raise" for r in records),
                     "stall": sum(r["poison"] == "stall" for r in records)},
        "poisoned_answered_2xx": sum(1 for r in records if r["poison"] == "raise" and r["status"] == 200),
        "5xx_caused_by_injected_faults": fault_caused_5xx,
        "503_load_shedding": shed,
        "unexpected_5xx": unexpected_5xx,
        "documents_lost": sum(r.get("lost", 0) for r in ok),
        "documents_duplicated": sum(r.get("duplicated", 0) for r in ok),
        "wrong_scores": sum(r.get("wrong", 0) for r in ok),
        "latency_ms_2xx": _percentiles([r["latency"] for r in ok]),
        "latency_ms_2xx_before_the_stall": _percentiles([r["latency"] for r in ok
                                                         if stall_at is None or r["t"] < stall_at]),
        "health": {"observations": len(timeline),
                   "statuses": dict(collections.Counter(s for _, s, _ in timeline)),
                   "max_queue_depth": max((q for _, _, q in timeline if q is not None), default=None)},
        "timeline": [[r["t"], r["status"], round(r["latency"] * 1000, 1)] for r in records],
    }


async def closed_loop(url: str, payloads: list[dict], references: list[dict], clients: int, seconds: float) -> dict:
    records: list[dict] = []

    async def client(cid: int, t0: float, deadline: float) -> None:
        http = RawHTTP(url, timeout=60)
        k = cid
        while time.perf_counter() < deadline:
            k = (k + clients) % len(payloads)
            records.append(await _send(http, payloads[k], references[k], t0))
        http.close()

    t0 = time.perf_counter()
    await asyncio.gather(*[client(c, t0, t0 + seconds) for c in range(clients)])
    elapsed = time.perf_counter() - t0
    ok = [r for r in records if r["status"] == 200]
    return {"clients": clients, "seconds": round(elapsed, 2), "requests": len(records), "2xx": len(ok),
            "requests_per_s": round(len(ok) / elapsed, 2), "latency_ms": _percentiles([r["latency"] for r in ok]),
            "documents_lost": sum(r.get("lost", 0) for r in ok), "wrong_scores": sum(r.get("wrong", 0) for r in ok)}


def latency_bounded_rate(url: str, payloads: list[dict], references: list[dict], saturation: float,
                         bound_ms: float, seconds: float, steps: int) -> dict:
    """The highest Poisson rate (no faults) whose 2xx p95 stays within ``bound_ms``, by bisection between 0 and
    the saturation throughput: the rate an operator can put on one replica before latency degrades."""
    low, high, probes = 0.0, saturation, []
    for step in range(steps):
        rate = (low + high) / 2
        phase = asyncio.run(open_loop(url, payloads, references, rate, seconds, 0.0, None, seed=100 + step))
        p95 = phase["latency_ms_2xx"]["p95"]
        ok = p95 is not None and p95 <= bound_ms and phase["5xx"] == 0 and phase["documents_lost"] == 0
        probes.append({"offered_rate_per_s": round(rate, 2), "sent": phase["sent"], "2xx": phase["2xx"],
                       "p95_ms": p95, "within_bound": ok})
        print(f"  latency-bounded search: {rate:.1f} req/s -> p95 {p95} ms ({'ok' if ok else 'over'})", flush=True)
        low, high = (rate, high) if ok else (low, rate)
        time.sleep(1)
    return {"bound_ms": round(bound_ms, 1), "requests_per_s": round(low, 2),
            "fraction_of_saturation": round(low / saturation, 2) if saturation else None,
            "probe_seconds": seconds, "probes": probes}


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = report["phases"]
    fig, axes = plt.subplots(1, len(phases), figsize=(6 * len(phases), 4.2), sharey=True, squeeze=False)
    colours = {"200": "tab:green", "503": "tab:orange", "504": "tab:red", "500": "tab:purple"}
    for ax, (name, phase) in zip(axes[0], phases.items()):
        by_status: dict[str, list] = collections.defaultdict(list)
        for t, status, latency in phase["timeline"]:
            by_status[str(status)].append((t, latency))
        for status, points in sorted(by_status.items()):
            xs, ys = zip(*points)
            ax.scatter(xs, ys, s=6, alpha=0.6, label=f"{status} ({len(points)})", color=colours.get(status, "black"))
        ax.axhline(report["unloaded"]["latency_ms"]["p95"] * 2, color="grey", linestyle="--", linewidth=0.8,
                   label="2x unloaded p95")
        ax.set_title(f"{name}: {phase['offered_rate_per_s']} req/s offered, faults injected")
        ax.set_xlabel("seconds since the phase started")
        ax.set_yscale("log")
        ax.legend(fontsize=7, loc="upper left")
    axes[0][0].set_ylabel("latency (ms, log)")
    fig.suptitle(f"interank serve reliability ({report['model']}, {report['documents_per_request']} documents "
                 f"per request, {report['machine']['cpus']} CPUs)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model to serve (default: the tests' tiny random model)")
    parser.add_argument("--strategy", default="yesno")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--docs", type=int, default=20, help="documents per request")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--clients", type=int, default=16, help="closed-loop clients of the capacity phase")
    parser.add_argument("--seconds", type=float, default=30.0, help="duration of each open-loop phase")
    parser.add_argument("--capacity-seconds", type=float, default=15.0)
    parser.add_argument("--unloaded-requests", type=int, default=60)
    parser.add_argument("--search-steps", type=int, default=5, help="bisection steps of the latency-bounded rate "
                        "search (0 skips it)")
    parser.add_argument("--search-seconds", type=float, default=10.0, help="duration of each search probe")
    parser.add_argument("--fault-rate", type=float, default=0.01, help="fraction of requests that make the "
                        "backend raise mid-batch")
    parser.add_argument("--stall-seconds", type=float, default=2.0)
    parser.add_argument("--stall-timeout", type=float, default=1.0)
    parser.add_argument("--request-timeout", type=float, default=10.0)
    parser.add_argument("--max-queue", type=int, default=64)
    parser.add_argument("--server-threads", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                        help="torch threads of the server (default: all CPUs but one, left to the event loop and "
                        "this load generator; more threads than cores make OpenMP spin and starve both)")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "serve_reliability.json"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0

    tmp = None
    if args.model is None:
        tmp = tempfile.TemporaryDirectory()
        args.model = str(_conftest().build_tiny_model(Path(tmp.name) / "tiny"))
        model_label = "tiny random Llama (tests/conftest.py build_tiny_model)"
    else:
        model_label = args.model
    server = FaultServer(["--model", args.model, "--strategy", args.strategy, "--dtype", args.dtype, "--docs",
                          str(args.docs), "--batch-size", str(args.batch_size), "--stall-seconds",
                          str(args.stall_seconds), "--stall-timeout", str(args.stall_timeout), "--request-timeout",
                          str(args.request_timeout), "--max-queue", str(args.max_queue)], args.server_threads)
    payloads = make_requests(40, args.docs, seed=1)
    for p in payloads:
        p["_bytes"] = json.dumps(p).encode()
    report: dict = {"benchmark": "serve_reliability", "model": model_label, "strategy": args.strategy,
                    "dtype": args.dtype, "documents_per_request": args.docs, "batch_size": args.batch_size,
                    "server": {"torch_threads": args.server_threads, "max_queue": args.max_queue, "request_timeout_s": args.request_timeout,
                               "stall_timeout_s": args.stall_timeout},
                    "faults": {"raise_fraction": args.fault_rate, "stall_seconds": args.stall_seconds,
                               "stalls_per_phase": 1},
                    "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                "python": platform.python_version()}}
    try:
        server.wait()
        references = []
        latencies = []
        for p in payloads:  # sequential references, also the unloaded latency
            start = time.perf_counter()
            r = httpx.post(f"{server.url}/v1/rerank", content=p["_bytes"], timeout=120,
                           headers={"content-type": "application/json"})
            latencies.append(time.perf_counter() - start)
            references.append({x["index"]: x["relevance_score"] for x in r.json()["results"]})
        for i in range(max(0, args.unloaded_requests - len(payloads))):
            start = time.perf_counter()
            httpx.post(f"{server.url}/v1/rerank", content=payloads[i % len(payloads)]["_bytes"], timeout=120,
                       headers={"content-type": "application/json"})
            latencies.append(time.perf_counter() - start)
        report["unloaded"] = {"requests": len(latencies), "latency_ms": _percentiles(latencies)}
        print(f"unloaded: {report['unloaded']}", flush=True)
        capacity = asyncio.run(closed_loop(server.url, payloads, references, args.clients, args.capacity_seconds))
        report["capacity"] = capacity
        print(f"capacity: {capacity}", flush=True)
        rate = capacity["requests_per_s"]
        if args.search_steps:
            bound = 2 * report["unloaded"]["latency_ms"]["p95"]
            report["latency_bounded_capacity"] = latency_bounded_rate(
                server.url, payloads, references, rate, bound, args.search_seconds, args.search_steps)
        report["phases"] = {}
        for name, factor in (("0.5x", 0.5), ("1x", 1.0), ("2x", 2.0)):
            phase = asyncio.run(open_loop(server.url, payloads, references, rate * factor, args.seconds,
                                          args.fault_rate, args.seconds / 2, seed=int(factor * 10)))
            report["phases"][name] = phase
            print(f"{name}: " + json.dumps({k: v for k, v in phase.items() if k != "timeline"}), flush=True)
            time.sleep(args.stall_seconds + 1)  # let the queue empty between phases
        report["server_health_after"] = server.health()["status"]
    finally:
        server.stop()
        if tmp is not None:
            tmp.cleanup()
    unloaded_p95 = report["unloaded"]["latency_ms"]["p95"]
    phases = report["phases"]
    report["goals"] = {
        "no_documents_lost": all(p["documents_lost"] == 0 for p in phases.values()),
        "no_documents_duplicated": all(p["documents_duplicated"] == 0 for p in phases.values()),
        "no_wrong_scores": all(p["wrong_scores"] == 0 for p in phases.values()),
        "no_5xx_outside_the_injected_faults_and_load_shedding": all(p["unexpected_5xx"] == 0
                                                                    for p in phases.values()),
        "p95_over_unloaded_p95": {name: round(p["latency_ms_2xx"]["p95"] / unloaded_p95, 2)
                                  for name, p in phases.items()},
        "p95_before_the_stall_over_unloaded_p95": {
            name: round(p["latency_ms_2xx_before_the_stall"]["p95"] / unloaded_p95, 2) for name, p in phases.items()},
        "p95_at_1x_within_2x_of_unloaded": phases["1x"]["latency_ms_2xx"]["p95"] <= 2 * unloaded_p95,
        "latency_bounded_capacity_over_saturation": report.get("latency_bounded_capacity", {}).get(
            "fraction_of_saturation"),
        "health_reported_the_stall": all(p["health"]["statuses"].get("stalled", 0) > 0 for p in phases.values()),
        "server_healthy_after": report["server_health_after"] == "ok",
    }
    out = Path(args.out)
    write_json(out, report, indent=1)
    plot(report, out.with_suffix(".png"))
    print(json.dumps(report["goals"], indent=1))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
