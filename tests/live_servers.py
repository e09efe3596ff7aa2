"""Real servers for the remote backends' tests (a uniquely named module: tests/ and trainer/tests are collected
together): free ports, starting llama.cpp's and vLLM's servers, and a fault-injecting HTTP proxy.

The proxy is a real HTTP server on 127.0.0.1 in front of a real server: it answers 503/429 or delays on demand,
counts requests in flight and the headers it saw, and forwards everything else.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

API_KEY = "sk-test-0123456789-do-not-log"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def llama_cpp_python() -> str | None:
    explicit = os.environ.get("INTERANK_LLAMA_CPP_PYTHON")
    if explicit:
        return explicit
    if importlib.util.find_spec("llama_cpp") is not None:
        return sys.executable
    return None


def vllm_command() -> list[str] | None:
    if os.environ.get("INTERANK_VLLM_PYTHON"):
        return [os.environ["INTERANK_VLLM_PYTHON"], "-m", "vllm.entrypoints.openai.api_server", "--model"]
    binary = os.environ.get("INTERANK_VLLM_BIN") or shutil.which("vllm")
    return [binary, "serve"] if binary else None


def start(cmd: list[str], port: int, timeout: float, ready_path: str = "/v1/models") -> subprocess.Popen:
    """Start a server process and wait until ``ready_path`` answers 200 (the test fails with its log if not)."""
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while True:
        try:
            r = httpx.get(f"http://127.0.0.1:{port}{ready_path}", headers={"Authorization": f"Bearer {API_KEY}"},
                          timeout=2)
            if r.status_code == 200:
                proc.log = log  # type: ignore[attr-defined]
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.seek(0)
            pytest.fail(f"server {cmd[:3]} did not start: {log.read().decode(errors='replace')[-3000:]}")
        time.sleep(0.5)


class FaultProxy:
    """A real HTTP proxy on 127.0.0.1 that fails, delays or forwards each request as scripted."""

    def __init__(self, upstream: str, prefix: str = "/v1") -> None:
        self.upstream = upstream.rstrip("/")
        self.prefix = prefix
        self.headers_seen: list[dict[str, str]] = []
        self.script: list[str] = []  # per request: "503", "429", "delay:SECONDS" or "pass"
        self.delay = 0.0
        self.requests = 0
        self.inflight = 0
        self.max_inflight = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with proxy.lock:
                    proxy.requests += 1
                    proxy.inflight += 1
                    proxy.max_inflight = max(proxy.max_inflight, proxy.inflight)
                    action = proxy.script.pop(0) if proxy.script else "pass"
                    proxy.headers_seen.append(dict(self.headers.items()))
                headers = {"content-type": "application/json"}
                try:
                    if action in ("503", "429"):
                        status, content = int(action), b'{"error": {"message": "injected failure"}}'
                        if action == "429":
                            headers["Retry-After"] = "0"
                    else:
                        time.sleep(float(action.split(":")[1]) if action.startswith("delay:") else proxy.delay)
                        r = httpx.post(proxy.upstream + self.path.removeprefix(proxy.prefix), content=body, timeout=120,
                                       headers={k: v for k, v in self.headers.items()
                                                if k.lower() in ("content-type", "authorization")})
                        status, content = r.status_code, r.content
                        headers["content-length"] = str(len(content))
                finally:
                    # a request stops counting before its answer is sent: once the client has the answer
                    # it may send the next one, which must not find this one still counted
                    with proxy.lock:
                        proxy.inflight -= 1
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(content)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{prefix}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
