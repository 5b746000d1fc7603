"""JSON-Schema-constrained decoding for local transformers models, with xgrammar (the grammar
engine vLLM and SGLang use): every reply parses and fits the schema, whatever the model.

    decoder = SchemaDecoder.for_tokenizer(tokenizer, vocab_size=model.config.vocab_size)
    ids = decoder.decode(model, prompt_ids, schema, max_new_tokens=160, temperature=0.0)

Each step the grammar matcher gives a bitmask of the tokens that keep the reply a prefix of some
document the schema accepts; the logits of every other token are set to -inf before the argmax
(or the sample). Text the grammar forces ('{"program":[{"op":"' after the first brace) is
*jumped*: appended as tokens in one forward pass instead of one pass per token. A reply that
reaches `max_new_tokens` before the grammar ends is cut, and the caller is told (`complete` False):
a schema-valid document needs the grammar to end.

The KV cache is the model's own (transformers DynamicCache): prompt once, then one token (or one
forced chunk) per forward.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from dataclasses import dataclass

from videothought.graph.optional import require

logger = logging.getLogger(__name__)


@dataclass
class ConstrainedReply:
    token_ids: list[int]
    complete: bool  # the grammar reached its end (the reply is a whole document)
    forward_passes: int  # model calls after the prompt (jumped text costs one per chunk)
    jumped_tokens: int  # tokens appended without sampling: text the grammar forced


class SchemaDecoder:
    """Compiles schemas for one tokenizer (cached) and decodes under them."""

    _by_tokenizer: dict[int, SchemaDecoder] = {}
    _lock = threading.Lock()

    def __init__(self, tokenizer, vocab_size: int):
        xgr = require("xgrammar", extra=None)
        self.xgr = xgr
        self.tokenizer = tokenizer
        self.vocab_size = vocab_size
        self.info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
        self.compiler = xgr.GrammarCompiler(self.info)
        self._compiled: dict[str, object] = {}

    @classmethod
    def for_tokenizer(cls, tokenizer, vocab_size: int) -> SchemaDecoder:
        key = id(tokenizer)
        with cls._lock:
            if key not in cls._by_tokenizer:
                cls._by_tokenizer[key] = cls(tokenizer, vocab_size)
            return cls._by_tokenizer[key]

    def compile(self, schema: dict):
        """The compiled grammar of a JSON Schema (compact JSON: no spaces after ',' and ':')."""
        key = json.dumps(schema)  # property order matters: the grammar writes keys in schema order
        if key not in self._compiled:
            self._compiled[key] = self.compiler.compile_json_schema(
                key, any_whitespace=False, separators=(",", ":"), strict_mode=True)
        return self._compiled[key]

    def decode(self, model, prompt_ids: list[int], schema: dict, *, max_new_tokens: int, temperature: float = 0.0,
               seed: int | None = None, jump_forward: bool = True, on_token=None, cache=None) -> ConstrainedReply:
        """Generate under the schema. `on_token(token_ids_so_far)` is called after each step.
        `cache`: a transformers Cache already holding the KV of the prompt's first
        `cache.get_seq_length()` tokens (a reused prefix: LocalLanguageModel's PrefixCache); only the
        rest of the prompt is fed, and the cache grows in place."""
        import torch

        xgr = self.xgr
        matcher = xgr.GrammarMatcher(self.compile(schema))
        bitmask = xgr.allocate_token_bitmask(1, self.info.vocab_size)
        generator = None
        if temperature > 0:
            generator = torch.Generator().manual_seed(seed if seed is not None else 0)
        device = model.device
        produced: list[int] = []
        passes, jumped = 0, 0
        cached = cache.get_seq_length() if cache is not None else 0
        if cached >= len(prompt_ids):
            raise ValueError(f"the cache holds {cached} tokens of a {len(prompt_ids)}-token prompt; at least the "
                             "last prompt token must be fed")
        start: list[int] = []
        if jump_forward:  # the grammar's opening text ('{"program":[{"op":"'), less its last token
            opening = matcher.find_jump_forward_string()
            start = self._canonical_tail([], opening)[:max_new_tokens] if opening else []
            if start and opening.startswith(self.tokenizer.decode(start)) and \
                    matcher.accept_string(self.tokenizer.decode(start)):
                produced += start
                jumped += len(start)
            else:
                start = []
        feed = torch.tensor([prompt_ids[cached:] + start], device=device)  # (1, P - cached), then each step's
        past = cache
        with torch.inference_mode():
            while len(produced) < max_new_tokens and not matcher.is_terminated():
                # only the last position's logits are read: projecting the prompt's onto the vocabulary is waste
                output = model(input_ids=feed, past_key_values=past, use_cache=True, logits_to_keep=1)
                past = output.past_key_values
                passes += 1
                logits = output.logits[0, -1, :].float()  # (V,)
                if logits.shape[0] > self.info.vocab_size:
                    logits = logits[: self.info.vocab_size]
                matcher.fill_next_token_bitmask(bitmask)
                logits = logits[None]  # (1, V)
                xgr.apply_token_bitmask_inplace(logits, bitmask.to(logits.device))
                if generator is None:
                    token = int(torch.argmax(logits, dim=-1))
                else:
                    probabilities = torch.softmax(logits / temperature, dim=-1)
                    token = int(torch.multinomial(probabilities[0], 1, generator=generator))
                if not matcher.accept_token(token):
                    raise RuntimeError(f"the grammar refused token {token} it allowed")  # an xgrammar bug
                appended = [token]
                if matcher.is_terminated():
                    break  # the stop token ends the reply; it is not part of the text
                produced.append(token)
                if jump_forward and len(produced) < max_new_tokens:
                    forced = matcher.find_jump_forward_string()
                    if forced:
                        forced_ids = self._canonical_tail(produced, forced)[: max_new_tokens - len(produced)]
                        text = self.tokenizer.decode(forced_ids)
                        if forced_ids and forced.startswith(text) and matcher.accept_string(text):
                            produced += forced_ids
                            appended += forced_ids
                            jumped += len(forced_ids)
                if on_token is not None:
                    on_token(produced)
                feed = torch.tensor([appended], device=device)
        return ConstrainedReply(produced, matcher.is_terminated(), passes, jumped)


    def _canonical_tail(self, produced: list[int], forced: str) -> list[int]:
        """The tokens of `forced` as the tokenizer would split the whole reply (reply + forced), less
        the last one, which is left to the model: BPE merges across the boundary ('"' then ',' is one
        token '",' in training text), and a forced split the model never saw pulls it off what it
        learnt (a trained writer then closed every step at once: {"op":"find"}). Nothing is forced
        where the reply's own tokens would split differently."""
        whole = self.tokenizer.encode(self.tokenizer.decode(produced) + forced, add_special_tokens=False)
        if whole[:len(produced)] != produced:
            return []
        return whole[len(produced):-1]

    def decode_batch(self, model, prompts: list[list[int]], schema: dict, *, max_new_tokens: int,
                     temperature: float | list[float] = 0.0, seeds: list[int] | None = None, pad_token_id: int = 0,
                     prefills: list[str] | None = None) -> list[ConstrainedReply]:
        """Several prompts under one schema in lockstep: one forward per step for the whole batch.

            prompts (left-padded)   p p a b c │ t1 t2 t3 ...        attention mask 0 0 1 1 1 │ 1 1 1
                                    d e f g h │ u1 u2 ...                         1 1 1 1 1 │ 1 1

        A decode step costs about as much for 8 rows as for 1 on a CPU (the weights are read once),
        so evaluation and RL rollouts batch their writings. No jump-forward here (rows would append
        different lengths); greedy rows equal `decode(..., jump_forward=False)` up to float rounding.
        `temperature` may be one per row (0: that row is greedy): a greedy program and samples in one pass.
        `prefills`: per row, the reply's opening text, forced (fed with the prompt, split as the tokenizer
        splits it, less its last token, which the model writes itself; see `_canonical_tail`). A prefill
        the grammar refuses is a ValueError."""
        import torch

        xgr = self.xgr
        batch = len(prompts)
        compiled = self.compile(schema)
        matchers = [xgr.GrammarMatcher(compiled) for _ in prompts]
        forced: list[list[int]] = [[] for _ in prompts]
        if prefills is not None:
            if len(prefills) != batch:
                raise ValueError(f"{len(prefills)} prefills for {batch} prompts")
            for row, text in enumerate(prefills):
                forced[row] = self._canonical_tail([], text) if text else []
                if forced[row] and not matchers[row].accept_string(self.tokenizer.decode(forced[row])):
                    raise ValueError(f"prefill {row} does not fit the schema: {text[:80]!r}")
            prompts = [list(p) + f for p, f in zip(prompts, forced)]
        bitmask = xgr.allocate_token_bitmask(batch, self.info.vocab_size)
        temperatures = list(temperature) if isinstance(temperature, (list, tuple)) else [float(temperature)] * batch
        if len(temperatures) != batch or any(t < 0 for t in temperatures):
            raise ValueError(f"temperature: one value >= 0 per prompt, got {temperature!r}")
        generators = None
        if any(t > 0 for t in temperatures):
            seeds = list(seeds) if seeds is not None else list(range(batch))
            generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        width = max(len(p) for p in prompts)
        device = model.device
        ids = torch.tensor([[pad_token_id] * (width - len(p)) + list(p) for p in prompts], device=device)  # (B, P)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)  # (B, P)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # (B, P): each row counts from its first real token
        produced: list[list[int]] = [list(f) for f in forced]
        done = [False] * batch
        passes = 0
        past = None
        feed, feed_positions = ids, positions
        with torch.inference_mode():
            while not all(done) and passes < max_new_tokens:
                output = model(input_ids=feed, attention_mask=mask, position_ids=feed_positions, past_key_values=past,
                               use_cache=True, logits_to_keep=1)
                past = output.past_key_values
                passes += 1
                logits = output.logits[:, -1, : self.info.vocab_size].float()  # (B, V)
                for row, matcher in enumerate(matchers):
                    if not done[row]:
                        matcher.fill_next_token_bitmask(bitmask, row)
                xgr.apply_token_bitmask_inplace(logits, bitmask.to(logits.device))
                tokens = torch.argmax(logits, dim=-1).tolist()
                if generators is not None:
                    for row in range(batch):
                        if temperatures[row] > 0 and not done[row]:
                            probabilities = torch.softmax(logits[row] / temperatures[row], dim=-1)  # (V,)
                            tokens[row] = int(torch.multinomial(probabilities, 1, generator=generators[row]))
                for row, token in enumerate(tokens):
                    if done[row]:
                        tokens[row] = pad_token_id  # a finished row idles: its outputs are not read
                        continue
                    if not matchers[row].accept_token(token):
                        raise RuntimeError(f"the grammar refused token {token} it allowed")
                    if matchers[row].is_terminated():
                        done[row] = True
                    else:
                        produced[row].append(token)
                feed = torch.tensor(tokens, device=device)[:, None]  # (B, 1)
                mask = torch.cat([mask, torch.ones((batch, 1), dtype=mask.dtype, device=device)], dim=1)
                feed_positions = feed_positions[:, -1:] + 1  # (B, 1)
        return [ConstrainedReply(p, m.is_terminated(), passes, len(f)) for p, m, f in zip(produced, matchers, forced)]


@functools.lru_cache(maxsize=1)
def xgrammar_available() -> bool:
    from videothought.graph.optional import available

    return available("xgrammar")
