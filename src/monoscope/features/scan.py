"""Contexts for explaining and scoring units (SAE features or MLP neurons), read from the activation store.

The feature database keeps a handful of examples per feature for people to look at; scoring an explanation
needs many more, chosen with care: activating contexts across activation quantiles, non-activating
contexts (half of them *hard* negatives, where a decoder neighbour fires and the unit does not), and
single tokens at every activation level including zero. So the scorers scan the store again, for the few
units being explained only:

1. a seeded sample of the store's contexts is split in two halves: the explainer sees examples from the
   *explain* half only, the scorers judge contexts from the *score* half only;
2. one pass computes, per context and unit, the context's maximum activation and where it peaks
   (`Scan.cmax`, `Scan.carg`; special tokens such as BOS excluded, as in training and the index);
3. the windows finally shown to an LLM are re-read (tokens and per-token activations) for the chosen
   contexts only, so memory is bounded by units × contexts, not by tokens.

Units come from a `UnitSource`: `FeatureSource` encodes stored activations with the SAE; `NeuronSource`
runs the model on the stored tokens and reads the MLP's hidden units (the input of its output projection),
the paper's "neurons" baseline. Both give the same kind of scan, so features and neurons are scored by
the same code.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np
import torch

from ..errors import UserError
from ..models.neurons import hook_layer, mlp_neuron_module  # noqa: F401 (scan reads neurons through them)


class ScanError(UserError):
    """A scan that cannot be made (no contexts, a model without MLP neurons, a unit out of range)."""


class UnitSource(Protocol):
    """Activations of a fixed list of units on whole store contexts."""

    kind: str                 # "feature" or "neuron"
    units: list[int]

    def activations(self, contexts: np.ndarray) -> torch.Tensor:
        """[len(contexts), context_len, len(units)] float32 activations; special tokens are 0."""

    def neighbours(self, unit: int, k: int) -> list[int]:
        """The k units whose output directions are most similar to `unit`'s (hard-negative donors)."""


def _store_rows(store, name: str, rows: np.ndarray) -> np.ndarray:
    """`name` ("tokens", "special", ...) at global rows, read shard by shard (store rows are contiguous)."""
    offsets = np.cumsum([0] + [s.n_tokens for s in store.manifest.shards])
    shard = np.searchsorted(offsets, rows, side="right") - 1
    out = None
    for s in np.unique(shard):
        sel = np.nonzero(shard == s)[0]
        arr = np.asarray(store.shard_array(int(s), name)[rows[sel] - offsets[s]])
        if out is None:
            out = np.empty(len(rows), dtype=arr.dtype)
        out[sel] = arr
    return out if out is not None else np.empty(0, dtype=np.int64)


def context_rows(store, contexts: np.ndarray) -> np.ndarray:
    L = store.manifest.config.context_len
    return (np.asarray(contexts, dtype=np.int64)[:, None] * L + np.arange(L)[None]).reshape(-1)


class FeatureSource:
    """SAE features: the SAE's encoder on the stored activations at its hook point."""

    kind = "feature"

    def __init__(self, sae, store, units: Sequence[int], hook: str | None = None, device: str = "cpu"):
        self.sae, self.store = sae, store
        self.hook = hook or getattr(getattr(sae, "cfg", None), "hook", None) or store.hooks[0]
        n = int(sae.W_dec.shape[0])
        bad = [u for u in units if not 0 <= int(u) < n]
        if bad:
            raise ScanError(f"feature(s) {bad[:5]} out of range: this SAE has features 0..{n - 1}")
        self.units = [int(u) for u in units]
        self.device = torch.device(device)
        self._cols = torch.tensor(self.units, dtype=torch.long)

    def activations(self, contexts: np.ndarray) -> torch.Tensor:
        L = self.store.manifest.config.context_len
        rows = context_rows(self.store, contexts)
        x = self.store.get(self.hook, rows).to(self.device)
        with torch.no_grad():
            f = self.sae.encode(x).float()[:, self._cols.to(x.device)].cpu()
        special = torch.from_numpy(_store_rows(self.store, "special", rows).astype(bool))
        f[special] = 0.0
        return f.view(len(contexts), L, len(self.units))

    def neighbours(self, unit: int, k: int) -> list[int]:
        from .index import decoder_neighbours

        W = self.sae.W_dec.detach().float().cpu()
        ids, _ = decoder_neighbours(W[unit:unit + 1], k=k + 1, other=W)
        return [int(i) for i in ids[0] if int(i) != unit][:k]


class NeuronSource:
    """MLP neurons of one layer (the hidden units entering its output projection), from the stored tokens."""

    kind = "neuron"

    def __init__(self, lm, store, layer: int, units: Sequence[int], batch_contexts: int = 8):
        self.lm, self.store, self.layer = lm, store, int(layer)
        if not 0 <= self.layer < lm.n_layers:
            raise ScanError(f"layer {layer} out of range: {lm.name} has layers 0..{lm.n_layers - 1}")
        self.module = mlp_neuron_module(lm, self.layer)
        w = self.module.weight
        self.n_neurons = int(w.shape[1] if hasattr(self.module, "in_features") else w.shape[0])
        bad = [u for u in units if not 0 <= int(u) < self.n_neurons]
        if bad:
            raise ScanError(f"neuron(s) {bad[:5]} out of range: layer {layer} has neurons 0..{self.n_neurons - 1}")
        self.units = [int(u) for u in units]
        self.batch_contexts = batch_contexts

    def hidden(self, ids: torch.Tensor) -> torch.Tensor:
        """All neurons of the layer on token ids [B, L] → [B, L, n_neurons] (float32, on CPU)."""
        got: list[torch.Tensor] = []

        def grab(mod, args):
            got.append(args[0].detach().float().cpu())

        h = self.module.register_forward_pre_hook(grab)
        try:
            with torch.no_grad():
                self.lm.model(input_ids=ids.to(self.lm.device), use_cache=False) if self.lm.kind == "causal" \
                    else self.lm.model(input_ids=ids.to(self.lm.device))
        finally:
            h.remove()
        return got[0]

    def activations(self, contexts: np.ndarray) -> torch.Tensor:
        L = self.store.manifest.config.context_len
        cols = torch.tensor(self.units, dtype=torch.long)
        out = []
        for s in range(0, len(contexts), self.batch_contexts):
            rows = context_rows(self.store, contexts[s:s + self.batch_contexts])
            ids = torch.from_numpy(_store_rows(self.store, "tokens", rows).astype(np.int64)).view(-1, L)
            a = self.hidden(ids)[..., cols]
            special = torch.from_numpy(_store_rows(self.store, "special", rows).astype(bool)).view(-1, L)
            a[special] = 0.0
            out.append(a)
        return torch.cat(out) if out else torch.zeros(0, L, len(self.units))

    def neighbours(self, unit: int, k: int) -> list[int]:
        w = self.module.weight.detach().float().cpu()
        cols = w.T if hasattr(self.module, "in_features") else w          # [n_neurons, d_model]
        cols = cols / cols.norm(dim=1, keepdim=True).clamp_min(1e-12)
        sim = cols @ cols[unit]
        sim[unit] = -float("inf")
        return [int(i) for i in sim.topk(min(k, len(sim) - 1)).indices]


@dataclass
class Window:
    """A stretch of one context shown to an LLM: token ids, one unit's per-token activations, and which
    position is the one of interest (the peak, or the token a specificity judgement is about)."""

    context: int
    start: int            # position of ids[0] in its context
    ids: list[int]
    acts: list[float]
    pos: int              # index into ids

    @property
    def act(self) -> float:
        return float(self.acts[self.pos])


class Scan:
    """Per-context max activation of each unit over a seeded sample of store contexts, split explain/score."""

    def __init__(self, source: UnitSource, store, n_contexts: int = 4096, seed: int = 0,
                 batch_contexts: int = 16, progress: bool = False):
        from tqdm.auto import tqdm

        self.source, self.store = source, store
        m = store.manifest
        self.L = m.config.context_len
        total = m.n_tokens // self.L
        if total < 2:
            raise ScanError(f"store {store.path} holds {total} context(s); scoring needs at least 2 "
                            f"(one to explain from, one to score on)")
        rng = np.random.default_rng([seed, 0x5CA7])
        n = total if not n_contexts or n_contexts >= total else int(n_contexts)
        self.contexts = np.sort(rng.choice(total, size=n, replace=False)).astype(np.int64)
        half = rng.permutation(n) < n // 2
        self.explain_mask = half                      # contexts the explainer may see
        self.score_mask = ~half                       # contexts the scorers judge
        U = len(source.units)
        self.cmax = np.zeros((n, U), dtype=np.float32)
        self.carg = np.zeros((n, U), dtype=np.int32)
        for s in tqdm(range(0, n, batch_contexts), desc=f"scan {source.kind}s", disable=not progress):
            a = source.activations(self.contexts[s:s + batch_contexts])      # [c, L, U]
            v, i = a.max(dim=1)
            self.cmax[s:s + len(a)] = v.numpy()
            self.carg[s:s + len(a)] = i.numpy().astype(np.int32)
        self.col = {u: j for j, u in enumerate(source.units)}
        self._cache: dict[int, torch.Tensor] = {}

    @property
    def n_contexts(self) -> int:
        return len(self.contexts)

    def active(self, unit: int, half: str) -> np.ndarray:
        """Indices (into `contexts`) of the `half` ("explain" or "score") contexts where `unit` fires."""
        mask = self.explain_mask if half == "explain" else self.score_mask
        return np.nonzero(mask & (self.cmax[:, self.col[unit]] > 0))[0]

    def silent(self, unit: int, half: str) -> np.ndarray:
        mask = self.explain_mask if half == "explain" else self.score_mask
        return np.nonzero(mask & (self.cmax[:, self.col[unit]] <= 0))[0]

    def fetch(self, idx: Sequence[int]) -> None:
        """Read (and keep) the per-token activations of these contexts for all units."""
        need = sorted({int(i) for i in idx} - set(self._cache))
        for s in range(0, len(need), 16):
            chunk = need[s:s + 16]
            a = self.source.activations(self.contexts[chunk])
            for j, i in enumerate(chunk):
                self._cache[i] = a[j]

    def window(self, idx: int, unit: int, center: int | None = None, left: int = 16, right: int = 6) -> Window:
        """Window of context `idx` around `center` (default: where `unit` peaks), with `unit`'s activations."""
        self.fetch([idx])
        c = int(self.carg[idx, self.col[unit]]) if center is None else int(center)
        lo, hi = max(1, c - left), min(self.L, c + right + 1)        # position 0 is BOS: never shown
        lo = min(lo, c)
        rows = context_rows(self.store, self.contexts[[idx]])[lo:hi]
        ids = _store_rows(self.store, "tokens", rows).astype(np.int64).tolist()
        acts = self._cache[idx][lo:hi, self.col[unit]].tolist()
        return Window(int(self.contexts[idx]), lo, ids, acts, c - lo)

    def token_acts(self, idx: int, unit: int) -> np.ndarray:
        self.fetch([idx])
        return self._cache[idx][:, self.col[unit]].numpy()


def quantile_sample(values: np.ndarray, n: int, n_quantiles: int, rng: np.random.Generator) -> np.ndarray:
    """Up to `n` indices into `values`, spread evenly over its `n_quantiles` equal-count quantile groups
    (a group with too few members gives all it has; the shortfall is drawn from the others)."""
    order = np.argsort(values, kind="stable")
    groups = [g for g in np.array_split(order, n_quantiles) if len(g)]
    want = [n // len(groups) + (1 if j < n % len(groups) else 0) for j in range(len(groups))] if groups else []
    picked, left_over = [], []
    for g, w in zip(groups, want):
        perm = rng.permutation(g)
        picked.extend(perm[:w].tolist())
        left_over.extend(perm[w:].tolist())
    short = n - len(picked)
    if short > 0 and left_over:
        picked.extend(rng.permutation(left_over)[:short].tolist())
    return np.asarray(picked[:n], dtype=np.int64)
