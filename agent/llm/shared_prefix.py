"""A prompt encoded once and shared by what follows it: the local backends' key/value reuse.
`PackedContinuations` lays K continuations after ONE copy of their prompt for a single forward (a
custom 4-D mask, positions restarting after the prompt), and `PrefixCache` keeps the KV cache of
recent prompts so that a later call sharing their leading tokens (the system text, the verbalised
STSG) feeds only the rest. Both equal a fresh, one-at-a-time encoding up to float rounding. The
transformers backend (local.py) uses both, the video backend (video.py) the packing; torch and
transformers are imported where they are used.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from videothought.agent.llm.protocol import LanguageModelError

PREFIX_CACHE_ENTRIES = 4  # prompts whose KV is kept: one question's calls (analysis, scoring, rating,
# verdict) share one prefix; SmolLM2's KV is ~46 KB per token in float32, so 4 x 400 tokens is ~74 MB
PREFIX_MIN_TOKENS = 8  # shorter common prefixes (the chat template's first tokens) are not worth a copy
PREFIX_MAX_TOKENS = 4096  # kept tokens in all, whatever the prompts' lengths: ~190 MB of SmolLM2 float32 KV


# ----------------------------------------------------------------------------- packed scoring


@dataclass
class PackedContinuations:
    """K continuations packed after one copy of their shared prompt, for ONE forward pass:

        tokens     p0 p1 p2 | a0 a1 | b0 b1 b2          (P = 3 prompt, K = 2 continuations)
        positions   0  1  2 |  3  4 |  3  4  5          each continuation restarts at P
        mask (query row may attend key column):
                   p0 p1 p2 a0 a1 b0 b1 b2
               p0   x
               p1   x  x
               p2   x  x  x
               a0   x  x  x  x
               a1   x  x  x  x  x
               b0   x  x  x        x
               b1   x  x  x        x  x
               b2   x  x  x        x  x  x
        logits kept at p2 (predicts a0 and b0), a0 (a1), b0 (b1), b1 (b2)

    The same layout serves any decoder that takes a custom 4-D boolean mask and explicit
    positions (Llama-style models in local.py, Qwen2-VL's text model with 3-D positions in video.py).

    With the first C prompt tokens already in a KV cache (`cached=C`, a reused prefix), the
    forward takes only tokens C..T-1: `feed_*` are those rows, and the mask keeps every key column
    (C cached + T - C fed). The other fields stay indexed over all T tokens.
    """

    input_ids: Any  # (1, T) long, T = P + sum(L_k)
    positions: Any  # (T,) long: 0..P-1, then P..P+L_k-1 per continuation
    attention_mask: Any  # (1, 1, T, T) bool, True = attend
    keep: Any  # (T,) bool: rows whose logits are needed
    row_of: Any  # (T,) long: token index -> row among the kept logits (-1 if not kept)
    starts: list[int]  # where each continuation begins
    continuation_ids: list[list[int]]
    num_prompt: int
    cached: int = 0  # leading prompt tokens already in the KV cache: not fed

    @classmethod
    def build(cls, prompt_ids: list[int], continuation_ids: list[list[int]], *, cached: int = 0
              ) -> PackedContinuations:
        import torch

        num_prompt = len(prompt_ids)
        if not 0 <= cached < num_prompt:
            raise ValueError(f"cached must be in [0, {num_prompt}) (the last prompt token predicts the first "
                             f"continuation token), got {cached}")
        total = num_prompt + sum(len(ids) for ids in continuation_ids)
        positions = torch.empty(total, dtype=torch.long)  # (T,)
        segment = torch.full((total,), -1, dtype=torch.long)  # (T,): -1 prompt, k continuation k
        positions[:num_prompt] = torch.arange(num_prompt)
        starts, cursor = [], num_prompt
        for k, ids in enumerate(continuation_ids):
            starts.append(cursor)
            positions[cursor : cursor + len(ids)] = torch.arange(num_prompt, num_prompt + len(ids))
            segment[cursor : cursor + len(ids)] = k
            cursor += len(ids)
        index = torch.arange(total)
        causal = index[None, :] <= index[:, None]  # (T, T): key column not after query row
        visible = (segment[None, :] == -1) | (segment[None, :] == segment[:, None])  # (T, T): prompt or own segment
        keep = torch.zeros(total, dtype=torch.bool)  # (T,)
        keep[num_prompt - 1] = True
        for start, ids in zip(starts, continuation_ids):
            keep[start : start + len(ids) - 1] = True
        row_of = torch.full((total,), -1, dtype=torch.long)  # (T,)
        row_of[keep] = torch.arange(int(keep.sum()))
        input_ids = torch.tensor([list(prompt_ids) + [t for ids in continuation_ids for t in ids]])  # (1, T)
        return cls(input_ids, positions, (causal & visible)[None, None], keep, row_of, starts,
                   [list(ids) for ids in continuation_ids], num_prompt, cached)

    @property
    def feed_ids(self):
        return self.input_ids[:, self.cached:]  # (1, T - C)

    @property
    def feed_positions(self):
        return self.positions[self.cached:]  # (T - C,)

    @property
    def feed_mask(self):
        return self.attention_mask[:, :, self.cached:, :]  # (1, 1, T - C, T): query rows fed, every key column

    @property
    def feed_keep(self):
        return self.keep[self.cached:]  # (T - C,)

    def continuation_logprobs(self, logits, model_name: str) -> list:
        """From the kept logits (R, V) (any leading shape), each continuation's token log-probs."""
        import torch

        logits = logits.reshape(-1, logits.shape[-1]).float()  # (R, V)
        if logits.shape[0] != int(self.keep.sum()):
            raise LanguageModelError(f"{model_name}: the model ignored the logits_to_keep mask")
        logprobs = torch.log_softmax(logits, dim=-1)  # (R, V)
        result = []
        for start, ids in zip(self.starts, self.continuation_ids):
            # token j is predicted at the previous position (the prompt's last for j = 0)
            rows = torch.cat([self.row_of[self.num_prompt - 1 : self.num_prompt],
                              self.row_of[start : start + len(ids) - 1]])  # (L,)
            result.append(logprobs[rows.to(logprobs.device), torch.tensor(ids, device=logprobs.device)].cpu())
        return result


# ----------------------------------------------------------------------------- shared prompt prefixes


def _cache_prefix(cache, length: int):
    """A new DynamicCache holding the first `length` positions of `cache` (copies: the source is
    never changed), or None when `cache` is not made of plain full-attention layers (sliding-window
    or linear-attention layers keep no whole prefix to reuse)."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    layers = getattr(cache, "layers", None)
    if not layers or any(type(layer) is not DynamicLayer or layer.keys is None for layer in layers):
        return None
    return DynamicCache(ddp_cache_data=[(layer.keys[..., :length, :], layer.values[..., :length, :])  # (B, H, L, D)
                                        for layer in layers])


class PrefixCache:
    """Prompt token ids -> the model's KV cache after them, for the most recent `capacity` prompts.

    A new call reuses the longest prefix it shares with a kept prompt and feeds only the rest:

        kept prompt    s s s s e e e e e | a a a           (system text, verbalised STSG, instruction)
        new prompt     s s s s e e e e e | q q q q
        reused         <------ 9 ------>                    the new call feeds q q q q

    Exact: position j's keys and values depend on tokens 0..j only (causal attention), so the reused
    part is what a fresh forward computes, up to the float rounding of other matmul shapes. At least
    the last prompt token is always fed (its logits start the reply or the first continuation).
    Entries are scoped (the active adapter, the weights' version): KV computed under one adapter is
    never read under another, nor after the weights changed in place. At most `capacity` prompts
    and `max_tokens` tokens in all are kept (the least recently used go first). Thread-safe;
    entries are never changed once kept (a lookup returns a copy).
    """

    def __init__(self, capacity: int = PREFIX_CACHE_ENTRIES, min_tokens: int = PREFIX_MIN_TOKENS,
                 max_tokens: int = PREFIX_MAX_TOKENS):
        if capacity < 1 or min_tokens < 1 or max_tokens < min_tokens:
            raise ValueError(f"capacity and min_tokens must be at least 1 and max_tokens at least min_tokens, got "
                             f"{capacity!r}, {min_tokens!r} and {max_tokens!r}")
        self.capacity = capacity
        self.min_tokens = min_tokens
        self.max_tokens = max_tokens
        self._entries: OrderedDict[tuple, tuple[tuple[int, ...], Any]] = OrderedDict()  # key -> (ids, cache)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.reused_tokens = 0

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def lookup(self, scope: tuple, prompt_ids: list[int]):
        """(a new cache holding the reused prefix, its length), or (None, 0) when no kept prompt of
        this scope shares at least `min_tokens` leading tokens."""
        with self._lock:
            best_key, best = None, 0
            for key, (ids, _) in self._entries.items():
                if key[0] != scope:
                    continue
                common = _common_prefix(ids, prompt_ids)
                if common > best:
                    best_key, best = key, common
            best = min(best, len(prompt_ids) - 1)
            if best_key is None or best < self.min_tokens:
                self.misses += 1
                return None, 0
            self._entries.move_to_end(best_key)
            cache = self._entries[best_key][1]
        prefix = _cache_prefix(cache, best)
        if prefix is None:
            return None, 0
        self.hits += 1
        self.reused_tokens += best
        return prefix, best

    def store(self, scope: tuple, prompt_ids: list[int], cache) -> bool:
        """Keep the KV of `prompt_ids` (the first len(prompt_ids) positions of `cache`, which may hold
        more: a reply or packed continuations after them). Kept prompts that are a prefix of this
        one are dropped (this one serves every call they would). False when the cache cannot be kept."""
        if cache is None or not self.min_tokens <= len(prompt_ids) <= self.max_tokens:
            return False
        if cache.get_seq_length() < len(prompt_ids):
            return False
        kept = _cache_prefix(cache, len(prompt_ids))
        if kept is None:
            return False
        ids = tuple(prompt_ids)
        with self._lock:
            for key, (other, _) in list(self._entries.items()):
                if key[0] == scope and len(other) <= len(ids) and ids[: len(other)] == other:
                    del self._entries[key]
            self._entries[(scope, ids)] = (ids, kept)
            while (len(self._entries) > self.capacity
                   or sum(len(other) for other, _ in self._entries.values()) > self.max_tokens):
                self._entries.popitem(last=False)
        return True


def _common_prefix(a, b) -> int:
    length = min(len(a), len(b))
    for index in range(length):
        if a[index] != b[index]:
            return index
    return length
