"""Tokenizer-level helpers shared by the backends (transformers, vLLM, OpenAI-compatible servers).

Every backend that holds a Hugging Face tokenizer renders prompts, picks label
tokens and splits long texts the same way, so scores agree across backends
for the same model and prompt. The top-k helper turns the truncated
distributions that vLLM and OpenAI-compatible servers return into label
log-probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInputError, LabelTokenError
from ..prompts import Prompt

#: files whose presence marks a folder as holding a tokenizer
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")


def label_variants(label: str) -> list[str]:
    """Surface forms of a label whose probabilities are summed (space and case variants).

    >>> label_variants("yes")
    ['yes', ' yes', 'Yes', ' Yes', 'YES', ' YES']
    """
    forms = [label, label.lower(), label.capitalize(), label.upper()]
    out: list[str] = []
    for form in forms:
        for variant in (form, " " + form):
            if variant not in out:
                out.append(variant)
    return out


def plain_render(prompt: Prompt) -> str:
    """The fallback rendering for models without a chat template: messages joined by blank lines."""
    return "\n\n".join(m["content"] for m in prompt.messages) + "\n" + prompt.assistant_prefix


def render_prompt(tokenizer: Any, prompt: Prompt) -> str:
    """Render ``prompt`` with the tokenizer's chat template (plain fallback without one).

    The assistant prefix is appended after the generation prompt, so the model
    continues the assistant's turn from it. A raw prompt (``segments``) is its
    segments joined (its exact token ids come from :func:`prompt_token_ids`).
    """
    if prompt.segments is not None:
        bos = (getattr(tokenizer, "bos_token", None) or "") if prompt.bos and tokenizer is not None else ""
        return bos + "".join(prompt.segments)
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(list(prompt.messages), tokenize=False, add_generation_prompt=True)
        return text + prompt.assistant_prefix
    return plain_render(prompt)


def has_tokenizer(folder: Path) -> bool:
    """True when ``folder`` holds tokenizer files."""
    return any((folder / name).is_file() for name in TOKENIZER_FILES)


def leading_bos_id(tokenizer: Any) -> int | None:
    """The BOS id the tokenizer prepends to plain text, or ``None`` when it adds none."""
    bos = tokenizer.bos_token_id
    probe = tokenizer("a", add_special_tokens=True).input_ids
    return bos if (bos is not None and probe and probe[0] == bos) else None


def encode_rendered(tokenizer: Any, texts: Sequence[str], bos_id: int | None) -> list[list[int]]:
    """Token ids of rendered prompts, BOS prepended where the tokenizer expects one.

    The chat template may already start with the BOS text; it is never doubled.
    """
    ids = tokenizer(list(texts), add_special_tokens=False, verbose=False).input_ids
    if bos_id is None:
        return [list(row) for row in ids]
    bos_text = tokenizer.bos_token
    return [list(row) if text.startswith(bos_text) else [bos_id, *row] for text, row in zip(texts, ids)]


def prompt_token_ids(tokenizer: Any, prompts: Sequence[Prompt], bos_id: int | None) -> list[list[int]]:
    """Token ids of prompts, as the model reads them.

    Chat prompts: the rendered text, BOS added where the tokenizer expects one
    (:func:`encode_rendered`). Raw prompts: each segment tokenized on its own,
    ids concatenated, BOS first when the prompt asks for it.

    Raises:
        InvalidInputError: a raw prompt asks for BOS and the tokenizer has none.
    """
    out: list[list[int] | None] = [None] * len(prompts)
    chat = [i for i, p in enumerate(prompts) if p.segments is None]
    if chat:
        texts = [render_prompt(tokenizer, prompts[i]) for i in chat]
        for i, ids in zip(chat, encode_rendered(tokenizer, texts, bos_id)):
            out[i] = ids
    raw = [i for i, p in enumerate(prompts) if p.segments is not None]
    if raw:
        pieces = sorted({seg for i in raw for seg in prompts[i].segments or ()})
        encoded = dict(zip(pieces, tokenizer(pieces, add_special_tokens=False, verbose=False).input_ids)) if pieces else {}
        for i in raw:
            ids: list[int] = []
            if prompts[i].bos:
                if tokenizer.bos_token_id is None:
                    raise InvalidInputError("this prompt starts with BOS but the tokenizer has no BOS token")
                ids.append(int(tokenizer.bos_token_id))
            for seg in prompts[i].segments or ():
                ids.extend(encoded[seg])
            out[i] = ids
    return [ids if ids is not None else [] for ids in out]


def ensure_pad_token(tokenizer: Any) -> None:
    """Give a tokenizer without a pad token one (eos, else unk): padding is masked out, so any id serves."""
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token


def count_tokens(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """Tokens of each text, no special tokens added."""
    if not texts:
        return []
    return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False, verbose=False).input_ids]


def split_windows(tokenizer: Any, text: str, max_tokens: int, overlap: int) -> list[str]:
    """Split ``text`` into windows of at most ``max_tokens`` tokens overlapping by ``overlap``.

    Windows are cut at token boundaries (character offsets from a fast
    tokenizer), so every token of the text is in at least one window.
    """
    if max_tokens < 1:
        raise InvalidInputError("max_tokens must be >= 1")
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    offsets = enc["offset_mapping"]
    n = len(offsets)
    if n <= max_tokens:
        return [text]
    step = max(1, max_tokens - max(0, min(overlap, max_tokens - 1)))
    windows: list[str] = []
    start = 0
    while True:
        end = min(n, start + max_tokens)
        windows.append(text[offsets[start][0] : offsets[end - 1][1]])
        if end >= n:
            return windows
        start += step


def single_token_ids(tokenizer: Any, label: str, model_name: str = "") -> list[int]:
    """Ids of the label's surface variants that are single tokens of the vocabulary.

    Raises:
        LabelTokenError: no variant of ``label`` is a single token.
    """
    ids: list[int] = []
    unk = getattr(tokenizer, "unk_token_id", None)
    for variant in label_variants(label):
        encoded = tokenizer.encode(variant, add_special_tokens=False)
        if len(encoded) == 1 and encoded[0] != unk and encoded[0] not in ids:
            ids.append(encoded[0])
    if not ids:
        raise LabelTokenError(
            f"the vocabulary of {model_name!r} has no single token for label {label!r} "
            f"(tried {label_variants(label)}); use another strategy"
        )
    return ids


def exact_token_id(tokenizer: Any, text: str, model_name: str = "") -> int:
    """The id of ``text`` when it is exactly one (known) token of the vocabulary.

    Raises:
        LabelTokenError: ``text`` encodes to several tokens, none, or the unknown token.
    """
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1 or ids[0] == getattr(tokenizer, "unk_token_id", None):
        raise LabelTokenError(f"{text!r} is not one token of the vocabulary of {model_name!r} (got {ids})")
    return int(ids[0])


class LabelIds:
    """Cached token ids of labels for one tokenizer: a label's single-token variants, or its exact token."""

    def __init__(self, tokenizer: Any, model_name: str = "") -> None:
        self.tokenizer = tokenizer
        self.model_name = model_name
        self._cache: dict[tuple[str, bool], list[int]] = {}

    def __call__(self, label: str, *, variants: bool = True) -> list[int]:
        """Ids of ``label``'s single-token variants (``variants``) or of its exact token. Raises LabelTokenError."""
        key = (label, variants)
        if key not in self._cache:
            self._cache[key] = (single_token_ids(self.tokenizer, label, self.model_name) if variants
                                else [exact_token_id(self.tokenizer, label, self.model_name)])
        return self._cache[key]


def label_logprobs_from_top_k(
    top: Mapping[Hashable, float], label_keys: Sequence[Collection[Hashable]]
) -> np.ndarray:
    """Label log-probabilities from a truncated (top-k) next-token distribution.

    ``top`` maps tokens (ids, or token strings for OpenAI-compatible servers) to
    their log-probabilities under the full distribution; ``label_keys[j]`` holds
    the tokens of label ``j``'s surface variants. A label's probability is the
    sum over its variants present in ``top``.

    A label none of whose variants made the top-k gets a *floor*: the largest
    probability it could have, ``min(p_k, 1 - sum(top-k))`` where ``p_k`` is the
    smallest probability in the top-k (a token outside the top-k is no more
    likely than the k-th one, nor than the mass the top-k leaves). The
    strategies renormalise over the labels, so a label that never appears
    gets a small, bounded share instead of an impossible zero.

    Args:
        top: token -> log-probability (the top-k, possibly plus the sampled token).
        label_keys: per label, the tokens of its variants.

    Returns:
        array of shape ``(len(label_keys),)`` of log-probabilities.

    >>> import math
    >>> top = {"yes": math.log(0.6), "Yes": math.log(0.1), "maybe": math.log(0.2)}
    >>> out = label_logprobs_from_top_k(top, [{"yes", "Yes"}, {"no", "No"}])
    >>> [round(math.exp(x), 3) for x in out]
    [0.7, 0.1]
    """
    if not top:
        raise ValueError("empty top-k distribution")
    values = np.asarray([float(v) for v in top.values()], dtype=np.float64)
    rest = 1.0 - float(np.exp(values).sum())
    floor = float(values.min())
    if rest > 0:
        floor = min(floor, math.log(rest))
    else:  # the top-k already holds all the mass (rounding): anything else is negligible
        floor = floor - math.log(1e6)
    out = np.empty(len(label_keys), dtype=np.float64)
    for j, keys in enumerate(label_keys):
        present = [float(top[k]) for k in keys if k in top]
        out[j] = float(np.logaddexp.reduce(present)) if present else floor
    return out
