"""What an OpenAI-compatible server is and how it counts, and how to read its log-probability answers.

Used by :class:`~interank_sdk.backends.openai.OpenAIBackend`: the server's kind
(vLLM answers ``GET /version``), its token counts when no local tokenizer is
given (vLLM's ``/tokenize``, llama-cpp-python's ``/extras/tokenize``, else an
estimate), windows cut by those counts, label log-probabilities from token
strings, and the continuation's log-probabilities in an echoed prompt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import BackendError, InvalidInputError
from .base import Generation
from .tokens import label_logprobs_from_top_k

logger = logging.getLogger(__name__)

#: characters per token assumed when neither a local tokenizer nor the server can count
CHARS_PER_TOKEN = 4.0


class ServerProbe:
    """Probe a server once for what it is and whether it can count tokens; count with it.

    Args:
        client: the backend's ``httpx.Client``.
        base_url: the server's URL including ``/v1``.
        model_name: the served model's name.
        timeout: seconds for a probe.
    """

    def __init__(self, client: Any, base_url: str, model_name: str, *, timeout: float = 10.0) -> None:
        self.client = client
        self.base_url = base_url
        self.root = base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url
        self.model_name = model_name
        self.timeout = timeout
        self._kind: str | None = None
        self._tokenize: str | None = None  # "vllm", "llama-cpp-python", "none" once probed

    def kind(self) -> str:
        """``"vllm"`` when the server answers ``GET /version`` as vLLM does, else ``"generic"`` (probed once)."""
        if self._kind is None:
            kind = "generic"
            try:
                response = self.client.get(f"{self.root}/version", timeout=min(self.timeout, 10.0))
                if response.status_code == 200 and "version" in response.json():
                    kind = "vllm"
            except Exception:  # noqa: BLE001 - a probe: any failure means "not vLLM"
                pass
            self._kind = kind
            logger.info("server at %s: %s", self.base_url, kind)
        return self._kind

    def count(self, text: str) -> int:
        """Token count from the server's tokenizer endpoint, else an estimate."""
        if not text:
            return 0
        probes = {
            "vllm": (f"{self.root}/tokenize", {"model": self.model_name, "prompt": text, "add_special_tokens": False}),
            "llama-cpp-python": (f"{self.base_url}/extras/tokenize", {"input": text, "model": self.model_name}),
        }
        kinds = [self._tokenize] if self._tokenize else list(probes)
        for kind in kinds:
            if kind == "none":
                break
            url, body = probes[kind]
            try:
                response = self.client.post(url, json=body)
                if response.status_code == 200:
                    data = response.json()
                    n = data.get("count", len(data.get("tokens", [])))
                    self._tokenize = kind
                    return int(n)
            except Exception:  # noqa: BLE001 - a probe: any failure means "not this server"
                continue
        if self._tokenize != "none":
            logger.warning(
                "no local tokenizer and the server has no tokenize endpoint: token counts are estimated "
                "at %.0f characters per token (pass tokenizer= for exact document budgets)", CHARS_PER_TOKEN
            )
            self._tokenize = "none"
        return max(1, round(len(text) / CHARS_PER_TOKEN))

    def windows(self, text: str, max_tokens: int, overlap: int) -> list[str]:
        """Character windows of ``text`` sized by the server's token count (every character in one)."""
        if max_tokens < 1:
            raise InvalidInputError("max_tokens must be >= 1")
        n = self.count(text)
        if n <= max_tokens:
            return [text]
        chars = max(1, int(len(text) * max_tokens / n))
        step = max(1, int(len(text) * max(1, max_tokens - min(overlap, max_tokens - 1)) / n))
        windows, start = [], 0
        while True:
            windows.append(text[start : start + chars])
            if start + chars >= len(text):
                return windows
            start += step


def label_logprobs_from_strings(top: dict[str, float], keys: list[set[str]]) -> np.ndarray:
    """Label log-probs from a server's top-k of token strings (servers may strip a leading space)."""
    merged = {token: float(lp) for token, lp in top.items() if lp is not None}
    label_keys = [{k for k in merged if k in ks or k.strip() in {s.strip() for s in ks}} for ks in keys]
    return label_logprobs_from_top_k(merged, label_keys)


def echoed_tail(lp: dict[str, Any], cont: str, n_tail: int, generated: int) -> list[float | None]:
    """Log-probs of the continuation's tokens in an echoed text prompt.

    The prompt ends with the continuation, followed by ``generated`` new
    tokens. Servers detokenize special tokens differently (llama.cpp drops
    them), so character offsets are only used relative to the end: the
    last ``n_tail`` prompt tokens are taken when their text is the
    continuation (the server tokenized it as the local tokenizer did), else
    every prompt token that overlaps the continuation's characters.
    """
    tokens, offsets, values = lp.get("tokens") or [], lp.get("text_offset") or [], lp.get("token_logprobs") or []
    if not (len(tokens) == len(offsets) == len(values)) or len(tokens) < n_tail + generated:
        raise BackendError("the server's echoed log-probabilities are inconsistent (tokens/offsets/values)")
    end = len(tokens) - generated
    if "".join(tokens[end - n_tail : end]).strip() == cont.strip():
        return values[end - n_tail : end]
    stop = offsets[end] if end < len(offsets) else offsets[-1] + len(tokens[-1])
    start = stop - len(cont)
    return [v for t, o, v in zip(tokens[:end], offsets[:end], values[:end]) if o + max(1, len(t)) > start]


def first_choice(answer: dict[str, Any]) -> dict[str, Any]:
    """The first of an answer's ``choices`` (a malformed answer raises :class:`BackendError`)."""
    try:
        return answer["choices"][0]
    except (KeyError, IndexError, TypeError):
        raise BackendError(f"malformed answer from the server (no choices): {str(answer)[:200]}") from None


def chat_top_logprobs(answer: dict[str, Any]) -> dict[str, float]:
    """The first generated position's top-k of a chat answer, as ``{token string: log-prob}`` (a token string
    listed twice, as some servers do for distinct ids with the same text, gets the sum of the probabilities)."""
    content = (first_choice(answer).get("logprobs") or {}).get("content") or []
    if not content or not content[0].get("top_logprobs"):
        raise BackendError("the server returned no top_logprobs for a chat request with logprobs=true")
    top: dict[str, float] = {}
    for alt in content[0]["top_logprobs"]:
        token, lp = alt["token"], float(alt["logprob"])
        top[token] = float(np.logaddexp(top[token], lp)) if token in top else lp
    return top


def generation_from_answer(answer: dict[str, Any], stop: Sequence[str], count: Callable[[str], int]) -> Generation:
    """A completions or chat answer as a :class:`Generation`: the text cut at the first stop string (servers
    that include it), which stop string ended it, its token count (the server's usage, else ``count``), and
    whether the token budget ended it."""
    choice = first_choice(answer)
    text = choice.get("text")
    if text is None:
        text = (choice.get("message") or {}).get("content") or ""
    finish = choice.get("finish_reason")
    stopped_at = choice.get("stop_reason") if isinstance(choice.get("stop_reason"), str) else None
    if stopped_at is None and finish == "stop" and len(stop) == 1:
        stopped_at = stop[0]
    for s in stop:
        at = text.find(s)
        if at >= 0:
            text, stopped_at = text[:at], s
            break
    n = (answer.get("usage") or {}).get("completion_tokens")
    if n is None:
        n = count(text)
    return Generation(text=text, num_tokens=int(n), hit_budget=finish == "length", stopped_at=stopped_at)


__all__ = ["CHARS_PER_TOKEN", "ServerProbe", "chat_top_logprobs", "echoed_tail", "first_choice",
           "generation_from_answer", "label_logprobs_from_strings"]
