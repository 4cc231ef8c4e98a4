"""Run a model with an SAE spliced in at its hook point: steer, ablate, add directions, generate.

One object (`Steerer`) owns the model, the SAE and the unit of clamp values (each feature's max activation
on the SAE's training data, as in the paper), so every caller — the CLI, the dashboard playground, the
auditing tools — steers the same way.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from tqdm.auto import tqdm
import time

from transformers.generation.stopping_criteria import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from ..models import LoadedModel
from .interventions import DirectionAdd, EditPlan, FeatureDictionary, Intervention
from ..models.fit import SpliceError, check_fit, sae_hook  # noqa: F401 (re-exported: monoscope.steer.SpliceError)
from ..models.positions import (PromptTooLongError, check_length, excluded_positions,  # noqa: F401 (re-exported)
                                max_context)


def chat_ids(lm: LoadedModel, user: str | list[dict], system: str | None = None,
             prefill: str | None = None) -> torch.Tensor:
    """Token ids of a chat prompt through the model's own template, ending inside the assistant turn."""
    tok = lm.tokenizer
    if not getattr(tok, "chat_template", None):
        raise ValueError(f"{lm.name} has no chat template; pass raw text (chat=False) instead")
    messages = [{"role": "user", "content": user}] if isinstance(user, str) else list(user)
    if system is not None:
        messages = [{"role": "system", "content": system}] + messages
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tok(text + (prefill or ""), return_tensors="pt", add_special_tokens=False).input_ids


@dataclass
class Generation:
    prompt: str
    text: str
    steered: bool


class Steerer:
    """A model with an SAE (optional: direction-only steering needs none) spliced in at one hook."""

    def __init__(self, lm: LoadedModel, sae: FeatureDictionary | None = None, hook: str | None = None,
                 max_acts: torch.Tensor | None = None, allow_mismatch: bool = False):
        self.lm, self.sae = lm, sae
        self.hook = hook or (sae_hook(sae) if sae is not None else lm.default_hook())
        if sae is not None and not allow_mismatch:
            check_fit(lm, sae, self.hook)
        else:
            lm.hooked.parse(self.hook)
        self.max_acts = max_acts
        self.stopped_by_time = False     # whether the last `generate` call stopped at its `max_time`

    def check_length(self, ids: torch.Tensor, extra: int = 0) -> None:
        check_length(self.lm, int(ids.shape[-1]), extra)

    # ---- the splice ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def intervene(self, edits: Sequence[Intervention] = (), adds: Sequence[DirectionAdd] = (),
                  record: bool = False) -> Iterator[EditPlan]:
        plan = EditPlan(self.sae, list(edits), list(adds), self.max_acts, record=[] if record else None)
        with self.lm.hooked.hooks({self.hook: plan}):
            yield plan

    def logits(self, input_ids: torch.Tensor, edits: Sequence[Intervention] = (),
               adds: Sequence[DirectionAdd] = ()) -> torch.Tensor:
        self.check_length(input_ids)
        with torch.no_grad(), self.intervene(edits, adds):
            return self.lm.model(input_ids=input_ids.to(self.lm.device), use_cache=False).logits.float()

    # ---- generation ---------------------------------------------------------------------------------
    def encode_prompt(self, prompt: str | list[dict], chat: bool = True, system: str | None = None,
                      prefill: str | None = None) -> torch.Tensor:
        if chat:
            return chat_ids(self.lm, prompt, system=system, prefill=prefill)
        text = prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)
        return self.lm.tokenizer(text + (prefill or ""), return_tensors="pt").input_ids

    def generate(self, prompt: str | list[dict], edits: Sequence[Intervention] = (),
                 adds: Sequence[DirectionAdd] = (), max_new_tokens: int = 48, chat: bool = True,
                 system: str | None = None, prefill: str | None = None, temperature: float = 0.0,
                 seed: int = 0, n: int = 1, progress: bool = False, desc: str = "generate",
                 max_time: float | None = None) -> list[str]:
        """Continuations of one prompt (greedy at temperature 0), with the edits on every new token too.
        `progress` shows a bar of new tokens (off by default: the dashboard and tests call this).
        `max_time` (seconds) stops decoding once that much time has passed, so a server's request cannot hold
        the model indefinitely; `self.stopped_by_time` then says the text was cut."""
        ids = self.encode_prompt(prompt, chat, system, prefill).to(self.lm.device)
        self.check_length(ids, max_new_tokens)
        ids = ids.repeat(n, 1)
        torch.manual_seed(seed)
        kwargs = dict(max_new_tokens=max_new_tokens, do_sample=temperature > 0,
                      pad_token_id=self.lm.tokenizer.pad_token_id or self.lm.tokenizer.eos_token_id)
        if temperature > 0:
            kwargs.update(temperature=temperature, top_k=0, top_p=1.0)
        deadline = _Deadline(max_time) if max_time is not None else None
        if deadline is not None:
            kwargs["stopping_criteria"] = StoppingCriteriaList([deadline])
        with torch.no_grad(), self.intervene(edits, adds) as plan, \
                tqdm(total=max_new_tokens, desc=desc, unit="tok", disable=not progress) as bar:
            plan.reset()
            out = self.lm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                         streamer=_TokenBar(bar) if progress else None, **kwargs)
        self.stopped_by_time = deadline is not None and deadline.hit
        return [(prefill or "") + self.lm.tokenizer.decode(o[ids.shape[1]:], skip_special_tokens=True)
                for o in out]

    def generate_batch(self, prompts: Sequence[str | list[dict]], edits: Sequence[Intervention] = (),
                       adds: Sequence[DirectionAdd] = (), max_new_tokens: int = 48, chat: bool = True,
                       batch_size: int = 16) -> list[str]:
        """Greedy continuations of many prompts at once (left-padded batches), the edits on every position.

        Greedy decoding of a left-padded batch gives the same tokens as one prompt at a time up to float
        rounding (the attention mask hides the padding and position ids skip it), at a fraction of the cost:
        this is what measuring steering over tens of prompts needs on a CPU.
        """
        tok = self.lm.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        if pad is None:
            raise SpliceError(f"{self.lm.name}'s tokenizer has neither a pad nor an EOS token to pad a batch with")
        encoded = [self.encode_prompt(p, chat)[0] for p in prompts]
        for e in encoded:
            self.check_length(e, max_new_tokens)
        out: list[str] = []
        for i in range(0, len(encoded), batch_size):
            chunk = encoded[i:i + batch_size]
            T = max(len(e) for e in chunk)
            ids = torch.full((len(chunk), T), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), T), dtype=torch.long)
            for j, e in enumerate(chunk):
                ids[j, T - len(e):] = e
                mask[j, T - len(e):] = 1
            ids, mask = ids.to(self.lm.device), mask.to(self.lm.device)
            with torch.no_grad(), self.intervene(edits, adds) as plan:
                plan.reset()
                gen = self.lm.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                                             do_sample=False, pad_token_id=pad)
            out += [tok.decode(g[T:], skip_special_tokens=True) for g in gen]
        return out

    def compare(self, prompt: str, edits: Sequence[Intervention] = (), adds: Sequence[DirectionAdd] = (),
                **kw) -> tuple[str, str]:
        """(unsteered, steered) generations side by side, same seed and settings."""
        return (self.generate(prompt, desc="unsteered", **kw)[0],
                self.generate(prompt, edits, adds, desc="steered", **kw)[0])


class _Deadline(StoppingCriteria):
    """Stop decoding once `seconds` have passed since it was made, and remember that it did (transformers'
    own `max_time` stops too but does not say so, and the caller must tell the user the text was cut)."""

    def __init__(self, seconds: float):
        self.end, self.hit = time.monotonic() + max(0.0, float(seconds)), False

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        done = time.monotonic() >= self.end
        self.hit = self.hit or done
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


class _TokenBar(BaseStreamer):
    """A `generate` streamer that ticks a progress bar once per decoding step (the first put is the prompt)."""

    def __init__(self, bar):
        self.bar, self.prompt_seen = bar, False

    def put(self, value) -> None:
        if self.prompt_seen:
            self.bar.update(1)
        self.prompt_seen = True

    def end(self) -> None:
        self.bar.refresh()
