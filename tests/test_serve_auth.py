"""`interank serve` authentication: Bearer keys on every route but /health, and no key ever leaks.

Real uvicorn servers on 127.0.0.1, real HTTP (httpx), the tiny random model;
the CLI tests run `interank serve` in a subprocess as a user would.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import httpx
import pytest

from interank_sdk.errors import InvalidInputError
from interank_sdk.serve import BackgroundServer, create_app, wait_ready
from interank_sdk.serve.auth import check_exposure, is_loopback, load_api_keys

KEY = "test-key-0123456789abcdef"
OTHER_KEY = "other-key-fedcba9876543210"
PAYLOAD = {"query": "what do cats eat?", "documents": ["cats eat fish", "the eiffel tower is in paris"]}


@pytest.fixture(scope="module")
def server(tiny_reranker):
    with BackgroundServer(create_app(tiny_reranker, api_keys=[KEY, OTHER_KEY])) as url:
        yield url


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_rerank_needs_a_key(server):
    r = httpx.post(f"{server}/v1/rerank", json=PAYLOAD, timeout=30)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="interank"'
    assert r.json()["request_id"] == r.headers["x-request-id"]
    for key in (KEY, OTHER_KEY):  # every configured key works
        r = httpx.post(f"{server}/v1/rerank", json=PAYLOAD, headers=_bearer(key), timeout=30)
        assert r.status_code == 200, r.text
        assert len(r.json()["results"]) == 2


@pytest.mark.parametrize("header", [
    "Bearer wrong-key-0123456789abcdef",
    f"Bearer {KEY}x",            # a longer key with the right prefix
    f"Bearer {KEY[:-1]}",        # a prefix of the right key
    f"Basic {KEY}",              # the right key under another scheme
    KEY,                         # no scheme
    "Bearer",
])
def test_wrong_keys_are_refused_and_never_echoed(server, header, caplog):
    with caplog.at_level(logging.DEBUG):
        r = httpx.post(f"{server}/v2/rerank", json=PAYLOAD, headers={"Authorization": header}, timeout=30)
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    server_log = "\n".join(rec.getMessage() for rec in caplog.records if rec.name.startswith(("interank", "uvicorn")))
    assert "401" in server_log  # the refusal is logged ...
    sent = header.removeprefix("Bearer").removeprefix("Basic").strip()
    for secret in {KEY, OTHER_KEY, sent} - {""}:
        assert secret not in r.text
        assert secret not in server_log, "a key reached the log"  # ... without the key


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/ready"), ("GET", "/metrics"), ("GET", "/docs"), ("GET", "/openapi.json"),
    ("POST", "/rerank"), ("POST", "/v2/rerank"), ("GET", "/no-such-route"),
])
def test_every_route_but_health_is_closed(server, method, path):
    r = httpx.request(method, f"{server}{path}", json=PAYLOAD if method == "POST" else None, timeout=30)
    assert r.status_code == 401, f"{method} {path} answered {r.status_code} without a key"
    r = httpx.request(method, f"{server}{path}", json=PAYLOAD if method == "POST" else None, headers=_bearer(KEY),
                      timeout=30)
    assert r.status_code != 401


def test_health_stays_open_for_liveness_probes(server):
    r = httpx.get(f"{server}/health", timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_metrics_open_only_when_asked(tiny_reranker):
    with BackgroundServer(create_app(tiny_reranker, api_keys=[KEY], metrics_public=True)) as url:
        assert httpx.get(f"{url}/metrics", timeout=10).status_code == 200
        assert httpx.post(f"{url}/v1/rerank", json=PAYLOAD, timeout=30).status_code == 401
        assert httpx.get(f"{url}/ready", timeout=10).status_code == 401


def test_the_openapi_schema_declares_the_bearer_scheme(server):
    schema = httpx.get(f"{server}/openapi.json", headers=_bearer(KEY), timeout=10).json()
    schemes = schema["components"]["securitySchemes"]
    assert any(s.get("scheme", "").lower() == "bearer" for s in schemes.values())


def test_keys_from_arguments_file_and_environment(tmp_path, monkeypatch):
    path = tmp_path / "keys.txt"
    path.write_text(f"# rotated 2025-01\n{KEY}\n\n  {OTHER_KEY}  \n{KEY}\n")
    monkeypatch.setenv("INTERANK_API_KEY", "env-key-0123456789abcdef")
    assert load_api_keys(["arg-key-0123456789abcdef"], path) == [
        "arg-key-0123456789abcdef", KEY, OTHER_KEY, "env-key-0123456789abcdef"]
    monkeypatch.delenv("INTERANK_API_KEY")
    assert load_api_keys([], None) == []


def test_bad_key_configuration_is_a_typed_error_that_never_shows_the_key(tmp_path, caplog):
    with pytest.raises(InvalidInputError, match="printable ASCII") as info:
        load_api_keys(["has a space in it 0123456789"])
    assert "has a space" not in str(info.value)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing here\n")
    with pytest.raises(InvalidInputError, match="holds no key"):
        load_api_keys([], empty)
    with pytest.raises(InvalidInputError, match="cannot read"):
        load_api_keys([], tmp_path / "missing.txt")
    with caplog.at_level(logging.WARNING):
        assert load_api_keys(["k3y"]) == ["k3y"]  # accepted, with a warning that does not show it
    assert "shorter than 16" in caplog.text and "k3y" not in caplog.text


def test_exposure_rules():
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        assert is_loopback(host)
        check_exposure(host, [], allow_unauthenticated=False)
    for host in ("0.0.0.0", "::", "10.0.0.5", "example.com"):
        assert not is_loopback(host)
        with pytest.raises(InvalidInputError, match="--api-key-file"):
            check_exposure(host, [], allow_unauthenticated=False)
        check_exposure(host, [KEY], allow_unauthenticated=False)
        check_exposure(host, [], allow_unauthenticated=True)


def _serve(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "interank_sdk", "serve", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})


def test_cli_refuses_a_public_address_without_a_key(tiny_model):
    proc = _serve(["--model", str(tiny_model), "--host", "0.0.0.0", "--port", "0"],
                  env={"INTERANK_API_KEY": ""})
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "refusing to serve on 0.0.0.0 without an API key" in out
    assert "--allow-unauthenticated" in out


def test_cli_with_a_key_file_and_the_environment(tiny_model, tmp_path):
    """A new user's check: 401 without a key, 200 with the key from the file or from $INTERANK_API_KEY."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    keys = tmp_path / "keys.txt"
    keys.write_text(KEY + "\n")
    env_key = "env-key-0123456789abcdef"
    proc = _serve(["--model", str(tiny_model), "--strategy", "yesno", "--dtype", "float32", "--port", str(port),
                   "--api-key-file", str(keys), "--log-level", "info"], env={"INTERANK_API_KEY": env_key})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, api_key=KEY, process=proc, timeout=120)
        assert httpx.post(f"{url}/v1/rerank", json=PAYLOAD, timeout=30).status_code == 401
        for key in (KEY, env_key):
            r = httpx.post(f"{url}/v1/rerank", json=PAYLOAD, headers=_bearer(key), timeout=30)
            assert r.status_code == 200, r.text
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    assert "2 API key(s)" in out
    assert KEY not in out and env_key not in out, "a key reached the server log"
