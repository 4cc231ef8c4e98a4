"""A backend over a local Hugging Face causal LM: the offline default (``local:smollm2-135m``).

* Chat goes through the tokenizer's chat template; ``prefill`` is appended after the generation prompt and
  the model continues it. A model without a chat template can still ``complete()`` and score logprobs.
* Prompts are batched with left padding (``batch_size`` rows per forward; ``n`` samples of one prompt are
  rows of the same batch).
* ``temperature == 0`` is greedy; otherwise pure sampling (no top-k) with optional ``top_p``. ``seed``
  seeds a private RNG scope (``torch.random.fork_rng``), so global RNG state is untouched and a call
  with the same inputs and seed repeats. Samples depend on batch composition, so the same prompt in a
  different batch may sample differently.
* Stop strings end a row as soon as its decoded continuation contains one; the text is cut before it.
* Thread-safe: one lock serialises use of the model (the HTTP server relies on this).
"""
from __future__ import annotations

import threading
from typing import Any, Mapping, Sequence

import torch
from transformers import StoppingCriteria

from .base import (ChatBackend, Completion, LLMError, Message, UnsupportedFeature, as_messages,
                   completion_logprob)


class NoChatTemplateError(UnsupportedFeature):
    """chat() was called on a model whose tokenizer has no chat template."""


class _StopOnStrings(StoppingCriteria):
    """Per-row stopping criterion: a row is done once its decoded new text contains a stop string."""

    def __init__(self, tokenizer, prompt_len: int, stops: list[str]):
        super().__init__()
        self.tok, self.start, self.stops = tokenizer, prompt_len, stops
        # a token decodes to at least one character almost always; keep a little slack
        self.window = max(len(s) for s in stops) + 4

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        new = input_ids[:, self.start:]
        tail = new[:, -self.window:].tolist()
        done = [any(s in self.tok.decode(row, skip_special_tokens=True) for s in self.stops) for row in tail]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class LocalHFBackend(ChatBackend):
    """Chat, completion, text-protocol tool calls and logprob scoring with a local HF model."""

    supports_prefill = True
    supports_complete = True
    supports_logprobs = True
    native_tools = False

    def __init__(self, model: Any = "smollm2-135m", *, device: str | torch.device | None = None,
                 dtype: torch.dtype | str | None = None, batch_size: int = 16, name: str | None = None):
        """``model``: an embedded name, a model directory or hub id (loaded with
        :func:`monoscope.models.load`), a :class:`~monoscope.models.LoadedModel`, or a
        ``(PreTrainedModel, tokenizer)`` pair."""
        from ..models import LoadedModel, from_model, load

        if isinstance(model, str):
            device = device or ("cuda" if torch.cuda.is_available() else "cpu")
            if dtype is None and torch.device(device).type == "cpu":
                dtype = torch.float32  # bf16 matmuls are several times slower than fp32 on most CPUs
            loaded = load(model, dtype=dtype, device=device, kind="causal")
        elif isinstance(model, LoadedModel):
            loaded = model
        elif isinstance(model, tuple) and len(model) == 2:
            loaded = from_model(model[0], model[1], name=name or "custom")
        else:
            raise TypeError(f"LocalHFBackend needs a model name, a LoadedModel or (model, tokenizer); "
                            f"got {type(model).__name__}")
        if loaded.kind != "causal":
            raise ValueError(f"{loaded.name!r} is an {loaded.kind} model; a chat backend needs a causal LM")
        if device is not None and not isinstance(model, str):
            loaded.model.to(device)
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.batch_size = int(batch_size)
        self.name = name or f"local:{loaded.name}"
        self.model_id = loaded.name
        self._lock = threading.RLock()
        tok = self.tokenizer
        eos = set()
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for e in (gen_eos if isinstance(gen_eos, (list, tuple)) else [gen_eos]) + [tok.eos_token_id]:
            if e is not None:
                eos.add(int(e))
        self.eos_ids = sorted(eos)
        pad = tok.pad_token_id if tok.pad_token_id is not None else (self.eos_ids[0] if self.eos_ids else 0)
        self.pad_id = int(pad)
        self.max_context = int(getattr(self.model.config, "max_position_embeddings", 0) or 0) or None

    # ---- prompt rendering --------------------------------------------------------------------------------
    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def render_chat(self, messages: "str | Sequence[Message | Mapping[str, Any]]", prefill: str | None = None,
                    add_generation_prompt: bool = True) -> str:
        """The exact prompt text the model sees for ``messages`` (+ the assistant prefill)."""
        if not self.has_chat_template:
            raise NoChatTemplateError(
                f"model {self.model_id!r} has no chat template, so chat() cannot format a conversation; "
                f"use complete() with a raw prompt, use a chat model (e.g. local:smollm2-135m), or set "
                f"tokenizer.chat_template")
        msgs = as_messages(messages)
        if any(m.role == "tool" or m.tool_calls for m in msgs):
            from .tools import render_for_text_tools
            msgs = render_for_text_tools(msgs, None)
        plain = [{"role": m.role, "content": m.content} for m in msgs]
        try:
            text = self.tokenizer.apply_chat_template(plain, tokenize=False,
                                                      add_generation_prompt=add_generation_prompt)
        except Exception as e:  # some templates reject a system role: fold it into the first user turn
            if plain and plain[0]["role"] == "system" and len(plain) > 1 and plain[1]["role"] == "user":
                merged = [{"role": "user", "content": plain[0]["content"] + "\n\n" + plain[1]["content"]}]
                text = self.tokenizer.apply_chat_template(merged + plain[2:], tokenize=False,
                                                          add_generation_prompt=add_generation_prompt)
            else:
                raise LLMError(f"the chat template of {self.model_id!r} failed: {e}") from e
        return text + (prefill or "")

    def _encode(self, text: str, add_special_tokens: bool) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]
        if not ids:  # an empty raw prompt: start from BOS (or EOS as a document separator)
            start = self.tokenizer.bos_token_id
            start = start if start is not None else (self.eos_ids[0] if self.eos_ids else self.pad_id)
            ids = [int(start)]
        return list(ids)

    # ---- generation ---------------------------------------------------------------------------------------
    def generate_chat(self, messages, *, max_tokens, temperature, stop, seed, prefill, n, top_p=1.0):
        return self.generate_chat_batch([as_messages(messages)], prefills=[prefill], max_tokens=max_tokens,
                                        temperature=temperature, stop=stop, seed=seed, n=n, top_p=top_p)[0]

    def generate_chat_batch(self, conversations, *, prefills, max_tokens, temperature, stop, seed, n,
                            top_p=1.0):
        with self._lock:  # tokenizers are not safe to share across threads mid-call
            return self._generate_chat_batch(conversations, prefills, max_tokens=max_tokens,
                                             temperature=temperature, stop=stop, seed=seed, n=n, top_p=top_p)

    def _generate_chat_batch(self, conversations, prefills, *, max_tokens, temperature, stop, seed, n, top_p):
        texts = [self.render_chat(c, prefill=p) for c, p in zip(conversations, prefills)]
        # the template writes its own special tokens (BOS etc.), so none are added here
        ids = [self._encode(t, add_special_tokens=False) for t in texts]
        return self._generate(ids, max_tokens=max_tokens, temperature=temperature, stop=stop, seed=seed,
                              n=n, top_p=top_p)

    def generate_completion(self, prompts, *, max_tokens, temperature, stop, seed, n, top_p=1.0):
        with self._lock:
            ids = [self._encode(p, add_special_tokens=True) for p in prompts]
            return self._generate(ids, max_tokens=max_tokens, temperature=temperature, stop=stop, seed=seed,
                                  n=n, top_p=top_p)

    def _decode_new(self, prompt_ids: list[int], new_ids: list[int]) -> str:
        """Decode generated ids as they read after the prompt (keeps leading spaces that tokenizers
        drop when a token is decoded on its own)."""
        if not new_ids:
            return ""
        anchor = prompt_ids[-1:]
        a = self.tokenizer.decode(anchor, skip_special_tokens=True)
        full = self.tokenizer.decode(anchor + new_ids, skip_special_tokens=True)
        if a and full.startswith(a):
            return full[len(a):]
        return self.tokenizer.decode(new_ids, skip_special_tokens=True)

    def _check_length(self, ids: list[int], max_tokens: int) -> None:
        if self.max_context and len(ids) + max_tokens > self.max_context:
            raise LLMError(f"prompt of {len(ids)} tokens + max_tokens={max_tokens} exceeds the context of "
                           f"{self.model_id!r} ({self.max_context} tokens); shorten the prompt")

    def _generate(self, prompt_ids: list[list[int]], *, max_tokens: int, temperature: float, stop: list[str],
                  seed: int | None, n: int, top_p: float) -> list[list[Completion]]:
        for ids in prompt_ids:
            self._check_length(ids, max_tokens)
        results: list[list[Completion | None]] = [[None] * n for _ in prompt_ids]
        greedy = temperature == 0
        reps = 1 if greedy else n
        rows = [(i, j) for i in range(len(prompt_ids)) for j in range(reps)]
        if max_tokens == 0:
            for i, ids in enumerate(prompt_ids):
                results[i] = [Completion("", "length", len(ids), 0) for _ in range(n)]
            return results  # type: ignore[return-value]
        # longest first, so batches hold similar lengths (and the order is deterministic)
        rows.sort(key=lambda r: (-len(prompt_ids[r[0]]), r))
        with self._lock, torch.random.fork_rng(devices=self._rng_devices()):
            if seed is not None:
                torch.manual_seed(int(seed))
            for b in range(0, len(rows), self.batch_size):
                chunk = rows[b:b + self.batch_size]
                outs = self._generate_rows([prompt_ids[i] for i, _ in chunk], max_tokens=max_tokens,
                                           temperature=temperature, stop=stop, top_p=top_p)
                for (i, j), c in zip(chunk, outs):
                    results[i][j] = c
        if greedy and n > 1:
            for r in results:
                r[1:] = [Completion(r[0].text, r[0].finish_reason, r[0].prompt_tokens,
                                    r[0].completion_tokens) for _ in range(n - 1)]
        return results  # type: ignore[return-value]

    def _rng_devices(self) -> list:
        dev = self.loaded.device
        return [dev] if dev.type == "cuda" else []

    @torch.inference_mode()
    def _generate_rows(self, batch: list[list[int]], *, max_tokens: int, temperature: float, stop: list[str],
                       top_p: float) -> list[Completion]:
        from transformers import GenerationConfig, StoppingCriteriaList

        dev = self.loaded.device
        width = max(len(x) for x in batch)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, ids in enumerate(batch):
            input_ids[r, width - len(ids):] = torch.tensor(ids)
            mask[r, width - len(ids):] = 1
        kw: dict[str, Any] = dict(max_new_tokens=max_tokens, pad_token_id=self.pad_id,
                                  eos_token_id=self.eos_ids or None, use_cache=True)
        if temperature == 0:
            cfg = GenerationConfig(do_sample=False, **kw)
        else:
            cfg = GenerationConfig(do_sample=True, temperature=float(temperature), top_k=0,
                                   top_p=float(top_p), **kw)
        criteria = StoppingCriteriaList([_StopOnStrings(self.tokenizer, width, stop)]) if stop else None
        out = self.model.generate(input_ids=input_ids.to(dev), attention_mask=mask.to(dev),
                                  generation_config=cfg, stopping_criteria=criteria)
        new = out[:, width:].tolist()
        eos = set(self.eos_ids)
        comps = []
        for ids, toks in zip(batch, new):
            finish = "length"
            for k, t in enumerate(toks):
                if t in eos:
                    toks, finish = toks[:k], "stop"
                    break
            text = self._decode_new(ids, toks)
            if stop:
                cuts = [text.find(s) for s in stop if s in text]
                if cuts:
                    text, finish = text[:min(cuts)], "stop"
            comps.append(Completion(text, finish, len(ids), len(toks)))
        return comps

    # ---- scoring ------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def _token_logprobs(self, ids_batch: list[list[int]]) -> list[list[float | None]]:
        """Per-token log-probabilities of each sequence (the first token has none)."""
        out: list[list[float | None]] = []
        dev = self.loaded.device
        with self._lock:
            for b in range(0, len(ids_batch), self.batch_size):
                chunk = ids_batch[b:b + self.batch_size]
                width = max(len(x) for x in chunk)
                ids = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for r, x in enumerate(chunk):  # right padding keeps positions of real tokens unchanged
                    ids[r, :len(x)] = torch.tensor(x)
                    mask[r, :len(x)] = 1
                logits = self.model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits.float()
                lp = torch.log_softmax(logits[:, :-1], dim=-1)
                tok_lp = lp.gather(-1, ids[:, 1:].to(dev).unsqueeze(-1)).squeeze(-1).cpu()
                for r, x in enumerate(chunk):
                    out.append([None] + tok_lp[r, :len(x) - 1].tolist())
        return out

    def token_logprobs(self, text: str) -> tuple[list[str], list[float | None], list[int]]:
        """Tokens of ``text`` (with the tokenizer's special tokens), their log-probabilities given the
        tokens before them (``None`` for the first) and their character offsets in ``text``; the shape of
        OpenAI's ``logprobs`` with ``echo``."""
        with self._lock:
            ids, offsets = self._encode_with_offsets(text)
            self._check_length(ids, 0)
            lps = self._token_logprobs([ids])[0]
            tokens = [self.tokenizer.decode([t]) for t in ids]
        return tokens, lps, [o[0] for o in offsets]

    def _encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        try:
            enc = self.tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
            ids, offs = list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
        except (NotImplementedError, TypeError, ValueError):  # slow tokenizer: no offsets
            ids = self._encode(text, add_special_tokens=True)
            offs, pos = [], 0
            for t in ids:
                piece = self.tokenizer.decode([t])
                offs.append((pos, pos + len(piece)))
                pos += len(piece)
        if not ids:
            ids, offs = self._encode(text, add_special_tokens=True), [(0, 0)]
        return ids, offs

    def score_logprobs_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Sum of log-probs of the tokens of ``prompt + completion`` that end inside ``completion`` (a
        token straddling the boundary counts as completion). ``prompt + completion`` is tokenized as one
        text, the same rule the OpenAI-compatible server applies, so scores match over HTTP."""
        with self._lock:
            encs = [self._encode_with_offsets(p + c) for p, c in pairs]
            for ids, _ in encs:
                self._check_length(ids, 0)
            lps = self._token_logprobs([ids for ids, _ in encs])
        return [completion_logprob(lp, [o[1] for o in offs], len(p), len(c))
                for (p, c), (ids, offs), lp in zip(pairs, encs, lps)]

    def score_chat(self, messages, completion: str) -> float:
        """Log-prob of ``completion`` as the start of the assistant reply (chat template applied)."""
        with self._lock:
            prompt = self.render_chat(messages)
            ids = self._encode(prompt, add_special_tokens=False)
            comp = self.tokenizer(completion, add_special_tokens=False)["input_ids"]
            if not comp:
                return 0.0
            self._check_length(ids + comp, 0)
            lp = self._token_logprobs([ids + list(comp)])[0]
        return float(sum(x for x in lp[len(ids):] if x is not None))

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]
        self.loaded = None  # type: ignore[assignment]

