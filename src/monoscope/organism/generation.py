"""Batched greedy generation and response log-likelihoods for the organism evaluations (chat-rendered with the
model's own template, left padding, rows sorted by length)."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch

from . import training as T


@torch.no_grad()
def generate_chat(lm, conversations: Sequence[Sequence[Mapping[str, str]]], *, max_new_tokens: int = 128,
                  batch_size: int = 16, progress: bool = False, desc: str = "generate") -> list[str]:
    """Greedy replies to chat conversations, batched with left padding (rows sorted by length)."""
    from tqdm.auto import tqdm

    tok, model = lm.tokenizer, lm.model
    T.require_chat_template(tok, f"model {lm.name!r}")
    prompts = [tok(T.render_chat(tok, list(c), add_generation_prompt=True), add_special_tokens=False)["input_ids"]
               for c in conversations]
    pad = T.pad_id(tok)
    eos = {tok.eos_token_id} if tok.eos_token_id is not None else set()
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    eos |= set(gen_eos if isinstance(gen_eos, (list, tuple)) else [gen_eos] if gen_eos is not None else [])
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    out: list[str] = [""] * len(prompts)
    dev = next(model.parameters()).device
    bar = tqdm(total=len(prompts), desc=desc, disable=not progress, dynamic_ncols=True)
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        L = max(len(prompts[i]) for i in idx)
        ids = torch.tensor([[pad] * (L - len(prompts[i])) + prompts[i] for i in idx], device=dev)
        attn = torch.tensor([[0] * (L - len(prompts[i])) + [1] * len(prompts[i]) for i in idx], device=dev)
        gen = model.generate(input_ids=ids, attention_mask=attn, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=pad, eos_token_id=sorted(e for e in eos if e is not None) or None,
                             temperature=None, top_p=None, top_k=None)
        for row, i in enumerate(idx):
            out[i] = tok.decode(gen[row, L:], skip_special_tokens=True).strip()
        bar.update(len(idx))
    bar.close()
    return out


@torch.no_grad()
def choice_scores(lm, question: str, choices: Sequence[str]) -> list[float]:
    """Mean per-token log-probability of each choice as the assistant's reply to ``question``."""
    return mcq_scores(lm, [(question, list(choices))])[0]


@torch.no_grad()
def mcq_scores(lm, items: Sequence[tuple[str, Sequence[str]]], batch_size: int = 16) -> list[list[float]]:
    tok, model = lm.tokenizer, lm.model
    enc, where = [], []
    for qi, (q, choices) in enumerate(items):
        for ci, c in enumerate(choices):
            enc.append(T.encode_response(tok, [{"role": "user", "content": q}], c))
            where.append((qi, ci))
    pad = T.pad_id(tok)
    dev = next(model.parameters()).device
    scores = [[0.0] * len(c) for _, c in items]
    order = sorted(range(len(enc)), key=lambda i: len(enc[i][0]))
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        b = {k: v.to(dev) for k, v in T.collate([enc[i] for i in idx], pad).items()}
        lp, mask = T.token_logps(model, b["input_ids"], b["labels"], b["attention_mask"])
        mean = (lp.sum(-1) / mask.sum(-1).clamp_min(1)).float().cpu().tolist()
        for j, i in enumerate(idx):
            qi, ci = where[i]
            scores[qi][ci] = mean[j]
    return scores


@torch.no_grad()
def response_nll(lm, pairs: Sequence[tuple[str, str]], batch_size: int = 16) -> list[float]:
    """Mean per-token negative log-likelihood of each ``(prompt, reply)``'s reply under ``lm`` (the reply as the
    assistant's answer to a one-turn user prompt; an empty reply scores its end-of-turn marker only)."""
    tok, model = lm.tokenizer, lm.model
    enc = [T.encode_response(tok, [{"role": "user", "content": p}], r) for p, r in pairs]
    pad = T.pad_id(tok)
    dev = next(model.parameters()).device
    out = [0.0] * len(enc)
    order = sorted(range(len(enc)), key=lambda i: len(enc[i][0]))
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        b = {k: v.to(dev) for k, v in T.collate([enc[i] for i in idx], pad).items()}
        lp, mask = T.token_logps(model, b["input_ids"], b["labels"], b["attention_mask"])
        mean = (-lp.sum(-1) / mask.sum(-1).clamp_min(1)).float().cpu().tolist()
        for j, i in enumerate(idx):
            out[i] = mean[j]
    return out
