"""A chat backend wrapper that remembers every reply it produced: the game's record of what a model said.

Two jobs, one place:

* **Provenance.** The grader credits a behaviour only with transcripts the audited model really produced.
  An auditor (scripted or an LLM agent) could quote replies it never got; the harness wraps each model it
  hands out in a :class:`RecordingBackend` and the grader checks every quoted sample against the record.
* **Reuse.** Within one game set the same conversation is often sent twice with the same seed (the base
  model answers the same probe for the organism audit and for its clean controls). Replies are memoised on
  (conversation, prefill, sampling settings), so a repeated request costs nothing and returns the same text.

Memoisation keeps results deterministic for a fixed sequence of requests; because a local backend's samples
depend on batch composition, a cache that was warmed by another audit can change which requests are batched
together. The game therefore runs its audits in a fixed order, and "same seed, same report" holds for the
same command line.
"""
from __future__ import annotations

import json
from typing import Any, Sequence

from ..llm.base import ChatBackend, Completion, Message


def _key(kind: str, payload: Any, **kw: Any) -> str:
    return json.dumps([kind, payload, sorted(kw.items())], ensure_ascii=False, default=str)


class RecordingBackend(ChatBackend):
    """Delegates to ``inner``; memoises and records every completion (see the module docstring)."""

    def __init__(self, inner: ChatBackend, label: str):
        self.inner = inner
        self.label = label
        self.name = f"{label}:{getattr(inner, 'name', 'backend')}"
        self.supports_prefill = inner.supports_prefill
        self.supports_complete = inner.supports_complete
        self.supports_logprobs = inner.supports_logprobs
        self._memo: dict[str, list[Completion]] = {}
        self.outputs: set[str] = set()        # every reply text (with its prefill), for provenance checks
        self.n_generated = 0                  # completions actually computed (not served from the memo)

    def __getattr__(self, name: str) -> Any:   # tokenizer, render_chat, ... of the wrapped backend
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _remember(self, comps: list[Completion], prefill: str | None) -> None:
        for c in comps:
            self.outputs.add(((prefill or "") + c.text).strip())
            self.outputs.add(c.text.strip())

    def generate_chat(self, messages, **kw) -> list[Completion]:
        return self.generate_chat_batch([messages], prefills=[kw.pop("prefill", None)], **kw)[0]

    def generate_chat_batch(self, conversations: list[list[Message]], *, prefills: list[str | None],
                            **kw: Any) -> list[list[Completion]]:
        keys = [_key("chat", [[m.role, m.content] for m in conv], prefill=p, **kw)
                for conv, p in zip(conversations, prefills)]
        todo = [i for i, k in enumerate(keys) if k not in self._memo]
        todo = [i for j, i in enumerate(todo) if keys[i] not in {keys[t] for t in todo[:j]}]   # de-duplicate
        if todo:
            outs = self.inner.generate_chat_batch([conversations[i] for i in todo],
                                                  prefills=[prefills[i] for i in todo], **kw)
            for i, comps in zip(todo, outs):
                self._memo[keys[i]] = list(comps)
                self._remember(comps, prefills[i])
                self.n_generated += len(comps)
        return [list(self._memo[k]) for k in keys]

    def generate_completion(self, prompts: list[str], **kw: Any) -> list[list[Completion]]:
        keys = [_key("complete", p, **kw) for p in prompts]
        todo = list(dict.fromkeys(i for i, k in enumerate(keys) if k not in self._memo))
        todo = [i for j, i in enumerate(todo) if keys[i] not in {keys[t] for t in todo[:j]}]
        if todo:
            outs = self.inner.generate_completion([prompts[i] for i in todo], **kw)
            for i, comps in zip(todo, outs):
                self._memo[keys[i]] = list(comps)
                self._remember(comps, None)
                self.n_generated += len(comps)
        return [list(self._memo[k]) for k in keys]

    def score_logprobs_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        return self.inner.score_logprobs_batch(pairs)

    def produced(self, text: str) -> bool:
        """Whether this backend really produced ``text`` (a reply, with or without its prefill)."""
        return text.strip() in self.outputs
