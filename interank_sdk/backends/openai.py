"""OpenAI-compatible server backend (vLLM's ``vllm serve``, llama.cpp's server, ...).

The server computes the tokens; the SDK renders prompts, reads label
probabilities and query likelihoods from the log-probabilities the server
returns, exactly as the in-process backends do.

Two ways to talk to the server:

* ``endpoint="completions"`` (the default when a tokenizer of the served model
  is available locally): the SDK renders the chat template itself and sends
  token ids (or the rendered text, for servers that take only text) to
  ``/v1/completions`` with ``logprobs``. Label scores, query likelihood
  (``echo=True``) and generation all work, and scores match the transformers
  backend for the same weights.
* ``endpoint="chat"`` (no local tokenizer): ``/v1/chat/completions`` with
  ``top_logprobs``; the server applies the chat template. Label strategies and
  generation work; query likelihood needs prompt log-probabilities, which the
  chat API does not return, so it raises :class:`UnsupportedError`.

Requests run concurrently on a bounded pool of threads (``max_concurrency``)
sharing one ``httpx`` connection pool; each has a timeout, and connection
errors, 429 and 5xx answers are retried with exponential backoff (tenacity),
honouring ``Retry-After``. Other 4xx answers raise :class:`BackendError` with
the server's message at once. The API key comes from ``api_key`` or the
``INTERANK_BACKEND_API_KEY`` / ``OPENAI_API_KEY`` environment variables and is never
logged, shown in ``repr`` or put in an exception.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .._deps import require
from ..errors import BackendError, InvalidInputError, ModelLoadError, UnsupportedError
from ..prompts import Prompt
from .base import CausalLM, Generation
from .http import API_KEY_ENV as _BACKEND_KEY_ENV
from .http import HTTPTransport, error_message
from .openai_server import (
    ServerProbe,
    chat_top_logprobs,
    echoed_tail,
    first_choice,
    generation_from_answer,
    label_logprobs_from_strings,
)

#: environment variables read (in this order) when no ``api_key`` is given
API_KEY_ENV = (*_BACKEND_KEY_ENV, "OPENAI_API_KEY")
from .tokens import (
    count_tokens,
    exact_token_id,
    prompt_token_ids,
    has_tokenizer,
    label_variants,
    leading_bos_id,
    plain_render,
    render_prompt,
    single_token_ids,
    split_windows,
)

logger = logging.getLogger(__name__)

#: environment variables read (in this order) when no ``base_url`` is given
BASE_URL_ENV = ("INTERANK_BASE_URL", "OPENAI_BASE_URL")

T = TypeVar("T")
R = TypeVar("R")


class _BadPrompt(Exception):
    """The server rejected a token-id prompt (it takes only text)."""


def _refuses_token_ids(response: Any, payload: dict[str, Any]) -> None:
    """Servers that take only text prompts refuse token ids: some with 400/422, llama-cpp-python with a 500
    carrying the validation errors. Not retried; the caller tries the text form."""
    if isinstance(payload.get("prompt"), list) and response.status_code in (400, 422, 500):
        message = error_message(response)
        if response.status_code != 500 or "prompt" in message:
            raise _BadPrompt(message)


class OpenAIBackend(CausalLM):
    """Score with a model served by any OpenAI-compatible server.

    Args:
        model: the model name the server knows (``"model"`` field of every
            request), e.g. the path or hub id given to ``vllm serve``.
        base_url: server URL including ``/v1`` (``http://127.0.0.1:8000/v1``);
            default: ``$INTERANK_BASE_URL`` or ``$OPENAI_BASE_URL``.
        api_key: bearer token; default: ``$INTERANK_BACKEND_API_KEY`` or ``$OPENAI_API_KEY``.
            Never logged or shown.
        tokenizer: a hub id or folder with the served model's tokenizer (or a
            ``.gguf`` file), used to render the chat template and count tokens
            locally. Default: ``model`` itself when it is a local folder with
            tokenizer files. ``False`` forces the chat endpoint.
        endpoint: ``"auto"`` (completions with a tokenizer, else chat),
            ``"completions"`` or ``"chat"``.
        max_concurrency: requests in flight at once.
        timeout: seconds allowed for one request (connect, read, write).
        max_retries: retries of a request after a connection error, a timeout,
            429 or 5xx (exponential backoff with jitter, ``Retry-After`` honoured).
        backoff: first backoff in seconds; doubles up to ``max_backoff``.
        max_backoff: longest wait between two tries.
        top_logprobs: alternatives requested per position for label scores;
            a label outside them gets a floor probability (see
            :func:`~interank_sdk.backends.tokens.label_logprobs_from_top_k`).
        exact_labels: ask for the label tokens' log-probabilities explicitly
            (vLLM's ``logprob_token_ids``) instead of reading them from the top-k.
            Default: on when the server answers ``GET /version`` like vLLM and a
            local tokenizer gives the label token ids.
        prompt_format: ``"auto"`` (token ids, falling back to text if the
            server refuses them), ``"tokens"`` or ``"text"`` (completions only).
        headers: extra HTTP headers.
        local_files_only, trust_remote_code: for loading the local tokenizer.
        device, dtype, quantization: chosen by the server; only their defaults
            (``"auto"``, ``"auto"``, ``None``) are accepted here.
        batch_size: unused (the server batches the concurrent requests).
        show_progress: progress bar over requests.

    Example:
        >>> from interank_sdk import Reranker
        >>> reranker = Reranker(
        ...     "/models/Qwen2.5-0.5B-Instruct", backend="openai",
        ...     base_url="http://127.0.0.1:8000/v1", strategy="qlm",
        ... )  # doctest: +SKIP
    """

    name = "openai"

    def __init__(
        self,
        model: str | Path,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        tokenizer: str | Path | bool | None = None,
        endpoint: str = "auto",
        max_concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        top_logprobs: int = 20,
        exact_labels: bool | None = None,
        prompt_format: str = "auto",
        headers: dict[str, str] | None = None,
        device: str = "auto",
        dtype: Any = "auto",
        quantization: str | None = None,
        batch_size: int = 16,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
        show_progress: bool = False,
    ) -> None:
        super().__init__()
        if quantization is not None:
            raise InvalidInputError(
                f"quantization={quantization!r} cannot be applied by the openai backend: the server loads the "
                "weights (start it with a quantized model, e.g. `vllm serve ... --quantization ...`)"
            )
        if device != "auto":
            raise InvalidInputError(f"device={device!r} cannot be chosen by the openai backend: the server picks it")
        if dtype not in ("auto", None):
            raise InvalidInputError(f"dtype={dtype!r} cannot be chosen by the openai backend: set it on the server")
        if endpoint not in ("auto", "completions", "chat"):
            raise InvalidInputError(f"endpoint must be 'auto', 'completions' or 'chat', got {endpoint!r}")
        if prompt_format not in ("auto", "tokens", "text"):
            raise InvalidInputError(f"prompt_format must be 'auto', 'tokens' or 'text', got {prompt_format!r}")
        if not 1 <= top_logprobs <= 100:
            raise InvalidInputError(f"top_logprobs must be in [1, 100], got {top_logprobs}")
        del batch_size  # the server batches concurrent requests itself
        base_url = base_url or next((os.environ[v] for v in BASE_URL_ENV if os.environ.get(v)), None)
        if not base_url:
            raise InvalidInputError(
                "the openai backend needs base_url= (e.g. 'http://127.0.0.1:8000/v1') "
                f"or one of the environment variables {', '.join(BASE_URL_ENV)}"
            )
        self.model_name = str(model)
        self.base_url = base_url.rstrip("/")
        self._http = HTTPTransport(
            self.base_url, api_key=api_key, headers=headers, timeout=timeout, max_retries=max_retries,
            backoff=backoff, max_backoff=max_backoff, max_concurrency=max_concurrency, show_progress=show_progress,
            key_env=API_KEY_ENV,
        )
        self.max_concurrency = max_concurrency
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.top_logprobs = top_logprobs
        self._exact_labels = exact_labels
        self.show_progress = show_progress
        self.tokenizer, self.tokenizer_source = self._load_tokenizer(
            tokenizer, local_files_only=local_files_only, trust_remote_code=trust_remote_code
        )
        if endpoint == "auto":
            endpoint = "completions" if self.tokenizer is not None else "chat"
        if endpoint == "completions" and self.tokenizer is None:
            raise InvalidInputError(
                "endpoint='completions' needs the served model's tokenizer to render its chat template: "
                "pass tokenizer='<hub id or folder>' (or use endpoint='chat')"
            )
        self.endpoint = endpoint
        self.prompt_format = prompt_format
        self._bos_id = leading_bos_id(self.tokenizer) if self.tokenizer is not None else None
        self._label_cache: dict[tuple[str, bool], tuple[list[int], set[str]]] = {}
        self._client = self._http.client
        self._server = ServerProbe(self._client, self.base_url, self.model_name, timeout=self.timeout)
        logger.info(
            "openai backend: model %s at %s (endpoint %s, tokenizer %s)",
            self.model_name, self.base_url, self.endpoint, self.tokenizer_source,
        )

    # ----------------------------------------------------------------- set-up
    def _load_tokenizer(self, tokenizer: Any, *, local_files_only: bool, trust_remote_code: bool):
        if tokenizer is False:
            return None, None
        source = tokenizer
        if source is None:
            path = Path(self.model_name).expanduser()
            if path.is_dir() and has_tokenizer(path):
                source = path
            else:
                return None, None
        transformers = require("transformers", "hf")
        text = str(source)
        kwargs: dict[str, Any] = {"local_files_only": local_files_only, "trust_remote_code": trust_remote_code}
        try:
            if text.lower().endswith(".gguf"):
                path = Path(text).expanduser()
                tok = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name, **kwargs)
            else:
                tok = transformers.AutoTokenizer.from_pretrained(text, **kwargs)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load the tokenizer {text!r} for the openai backend: {exc}") from exc
        return tok, text

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent so far (retries included)."""
        return self._http.requests_sent

    def __repr__(self) -> str:
        key = "***" if self._http.has_key else None
        return (
            f"OpenAIBackend(model={self.model_name!r}, base_url={self.base_url!r}, "
            f"endpoint={self.endpoint!r}, api_key={key!r})"
        )

    def close(self) -> None:
        """Close the connection pool and the worker threads."""
        self._http.close()

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- transport
    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST with retries; returns the JSON answer or raises :class:`BackendError`."""
        return self._http.post(path, payload, inspect_response=_refuses_token_ids)

    def _map(self, fn: Callable[[T], R], items: Sequence[T], desc: str) -> list[R]:
        """Apply ``fn`` to every item on the bounded pool (one forward pass counted per call)."""
        if not items:
            return []
        self.forward_passes += 1
        return self._http.map(fn, items, desc)

    def _completion(self, ids: list[int], text: str, **params: Any) -> dict[str, Any]:
        """One ``/completions`` request with the prompt as token ids (or text as a fallback)."""
        payload = {"model": self.model_name, "temperature": 0.0, **params}
        if self.prompt_format != "text":
            try:
                return self._post("/completions", {**payload, "prompt": ids})
            except _BadPrompt as exc:
                if self.prompt_format == "tokens":
                    raise BackendError(f"the server refused a token-id prompt: {exc}") from None
                # the same request as text: if the server takes it, it takes no token ids (switch for good);
                # if it refuses it too, the problem was elsewhere and its error is raised
                answer = self._post("/completions", {**payload, "prompt": self._strip_bos(text)})
                logger.info("the server takes no token-id prompts (%s); sending rendered text from now on", exc)
                self.prompt_format = "text"
                return answer
        return self._post("/completions", {**payload, "prompt": self._strip_bos(text)})

    def _strip_bos(self, text: str) -> str:
        """The server adds BOS to text prompts itself: do not send it twice."""
        tok = self.tokenizer
        if tok is not None and self._bos_id is not None and tok.bos_token and text.startswith(tok.bos_token):
            return text[len(tok.bos_token) :]
        return text

    # ------------------------------------------------------------- text/tokens
    def render(self, prompt: Prompt) -> str:
        if self.tokenizer is None and prompt.segments is not None:
            return "".join(prompt.segments)
        return render_prompt(self.tokenizer, prompt) if self.tokenizer is not None else plain_render(prompt)

    def _ids(self, prompts: Sequence[Prompt]) -> list[list[int]]:
        """Token ids of prompts as the model reads them (chat template or raw segments)."""
        return prompt_token_ids(self.tokenizer, prompts, self._bos_id)

    def prompt_length(self, prompt: Prompt) -> int:
        if self.tokenizer is not None:
            return len(self._ids([prompt])[0])
        return self.count_tokens([self.render(prompt)])[0]

    def token_id(self, text: str) -> int:
        if self.tokenizer is None:
            raise UnsupportedError("looking up token ids needs the served model's tokenizer: pass tokenizer=")
        return exact_token_id(self.tokenizer, text, self.model_name)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if self.tokenizer is not None:
            return count_tokens(self.tokenizer, texts)
        return list(self._http.pool.map(self._server.count, texts))

    def split_windows(self, text: str, max_tokens: int, overlap: int) -> list[str]:
        if self.tokenizer is not None:
            return split_windows(self.tokenizer, text, max_tokens, overlap)
        if max_tokens < 1:
            raise InvalidInputError("max_tokens must be >= 1")
        return self._server.windows(text, max_tokens, overlap)

    def _label_keys(self, label: str, variants: bool = True) -> tuple[list[int], set[str]]:
        """(single-token ids, token strings) of the label (and its variants); ids empty without a tokenizer."""
        key = (label, variants)
        if key not in self._label_cache:
            forms = label_variants(label) if variants else [label]
            if self.tokenizer is not None:
                ids = single_token_ids(self.tokenizer, label, self.model_name) if variants else [self.token_id(label)]
                strings = {self.tokenizer.decode([i]) for i in ids} | set(forms)
            else:
                ids, strings = [], set(forms)
            self._label_cache[key] = (ids, strings)
        return self._label_cache[key]

    # ------------------------------------------------------------------ scores
    def label_logprobs(self, prompts: Sequence[Prompt], labels: Sequence[str], *, variants: bool = True) -> np.ndarray:
        if not prompts:
            return np.zeros((0, len(labels)), dtype=np.float64)
        keys = [self._label_keys(label, variants)[1] for label in labels]
        if self.endpoint == "completions":
            texts = [self.render(p) for p in prompts]
            items = list(zip(self._ids(prompts), texts))
            params: dict[str, Any] = {"max_tokens": 1, "logprobs": self.top_logprobs}
            if self.exact_labels:
                wanted = sorted({i for label in labels for i in self._label_keys(label, variants)[0]})
                params.update(logprob_token_ids=wanted, logprobs=len(wanted))

            def one(item: tuple[list[int], str]) -> np.ndarray:
                answer = self._completion(item[0], item[1], **params)
                logprobs = first_choice(answer).get("logprobs") or {}
                tops = logprobs.get("top_logprobs") or []
                if not tops or not tops[0]:
                    raise BackendError("the server returned no top_logprobs for a completions request with logprobs")
                return label_logprobs_from_strings(tops[0], keys)

            return np.stack(self._map(one, items, "scoring"))

        def one_chat(prompt: Prompt) -> np.ndarray:
            answer = self._post(
                "/chat/completions",
                self._chat_payload(prompt, max_tokens=1, logprobs=True, top_logprobs=self.top_logprobs),
            )
            return label_logprobs_from_strings(chat_top_logprobs(answer), keys)

        return np.stack(self._map(one_chat, list(prompts), "scoring"))

    @property
    def exact_label_logprobs(self) -> bool:
        return self.exact_labels

    @property
    def exact_labels(self) -> bool:
        """Whether label log-probabilities are requested explicitly (exact) rather than read from the top-k."""
        if self._exact_labels is None:
            self._exact_labels = self.tokenizer is not None and self.server_kind() == "vllm"
        return bool(self._exact_labels)

    def server_kind(self) -> str:
        """``"vllm"`` when the server answers ``GET /version`` as vLLM does, else ``"generic"`` (probed once)."""
        return self._server.kind()

    def _chat_payload(self, prompt: Prompt, **params: Any) -> dict[str, Any]:
        if prompt.segments is not None:
            raise UnsupportedError(
                "this strategy sends a raw prompt in the model's own format, which the chat endpoint cannot take: "
                "pass tokenizer='<hub id or folder of the served model>' to use /v1/completions"
            )
        messages = [dict(m) for m in prompt.messages]
        payload: dict[str, Any] = {"model": self.model_name, "temperature": 0.0, "messages": messages, **params}
        if prompt.assistant_prefix:
            # continue the assistant's partial answer (vLLM's chat extension)
            messages.append({"role": "assistant", "content": prompt.assistant_prefix})
            payload.update(add_generation_prompt=False, continue_final_message=True)
        return payload

    def continuation_logprobs(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[np.ndarray]:
        if len(prompts) != len(continuations):
            raise InvalidInputError("prompts and continuations differ in length")
        if not prompts:
            return []
        if self.endpoint != "completions":
            raise UnsupportedError(
                "query likelihood (strategy 'qlm') needs prompt log-probabilities, which only the completions API "
                "returns (echo=True, logprobs); the chat endpoint has none. Pass tokenizer='<hub id or folder of the "
                "served model>' to use /v1/completions, or choose a label strategy ('yesno', 'graded')"
            )
        heads_text = [self.render(p) for p in prompts]
        heads = self._ids(prompts)
        tails = self.tokenizer(list(continuations), add_special_tokens=False).input_ids
        if any(len(t) == 0 for t in tails):
            raise InvalidInputError("a continuation encodes to zero tokens")
        items = [(h + list(t), ht, c, len(h), len(t)) for h, t, ht, c in zip(heads, tails, heads_text, continuations)]

        def one(item: tuple[list[int], str, str, int, int]) -> np.ndarray:
            ids, head_text, cont, n_head, n_tail = item
            answer = self._completion(ids, head_text + cont, max_tokens=1, echo=True, logprobs=1)
            lp = first_choice(answer).get("logprobs") or {}
            values = lp.get("token_logprobs")
            if not values:
                raise UnsupportedError(
                    "the server returned no prompt log-probabilities for echo=True (query likelihood needs them); "
                    "use a label strategy ('yesno', 'graded') with this server"
                )
            if self.prompt_format != "text" and len(values) >= n_head + n_tail:
                picked = values[n_head : n_head + n_tail]
            else:
                generated = int((answer.get("usage") or {}).get("completion_tokens") or 1)
                picked = echoed_tail(lp, cont, n_tail, generated)
            if not picked or any(v is None for v in picked):
                raise BackendError("the server's echoed log-probabilities do not cover the continuation")
            return np.asarray(picked, dtype=np.float64)

        return self._map(one, items, "scoring")

    def generate(self, prompts: Sequence[Prompt], *, max_new_tokens: int, stop: Sequence[str] = ()) -> list[Generation]:
        if not prompts:
            return []
        if self.endpoint == "completions":
            texts = [self.render(p) for p in prompts]
            items: list[Any] = list(zip(self._ids(prompts), texts))

            def request(item: tuple[list[int], str]) -> dict[str, Any]:
                return self._completion(item[0], item[1], max_tokens=max_new_tokens, stop=list(stop) or None)
        else:
            items = list(prompts)

            def request(item: Prompt) -> dict[str, Any]:
                return self._post(
                    "/chat/completions", self._chat_payload(item, max_tokens=max_new_tokens, stop=list(stop) or None)
                )

        def one(item: Any) -> Generation:
            return generation_from_answer(request(item), stop, lambda text: self.count_tokens([text])[0])

        return self._map(one, items, "generating")

    def describe(self) -> dict[str, object]:
        return {
            "backend": self.name,
            "model": self.model_name,
            "base_url": self.base_url,
            "endpoint": self.endpoint,
            "tokenizer": self.tokenizer_source,
            "prompt_format": self.prompt_format,
            "exact_labels": self._exact_labels,
            "max_concurrency": self.max_concurrency,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "api_key": "set" if self._http.has_key else None,
        }
