"""A small ReLU SAE with a realistic sparsity, for tests, benchmarks and trying the feature tools before an
SAE has been trained. Not a trained dictionary: its features are random directions whose biases are set
from the store so that each fires on about `density` of tokens.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch


class ToyReluSAE(torch.nn.Module):
    """f(x) = ReLU(x W_e + b_e) on raw activations, W_dec = unit W_eᵀ rows (the SAE interface the tools use)."""

    def __init__(self, d_in: int, n_latents: int, hook: str | None = None, model: str | None = None, seed: int = 0,
                 bias: float = 0.0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        W = torch.randn(d_in, n_latents, generator=g)
        self.W_enc = torch.nn.Parameter(W / W.norm(dim=0, keepdim=True), requires_grad=False)
        self.b_enc = torch.nn.Parameter(torch.full((n_latents,), float(bias)), requires_grad=False)
        self._W_dec = torch.nn.Parameter(self.W_enc.detach().T.clone(), requires_grad=False)
        self.cfg = SimpleNamespace(hook=hook, model=model, n_latents=n_latents, d_in=d_in, architecture="relu")

    @property
    def W_dec(self) -> torch.Tensor:
        return self._W_dec

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x.to(self.W_enc.dtype) @ self.W_enc + self.b_enc)

    @classmethod
    def for_store(cls, store, n_latents: int, hook: str | None = None, density: float = 0.01, seed: int = 0,
                  sample_rows: int = 4096) -> "ToyReluSAE":
        """Set each feature's bias so it is active on ≈ `density` of a sample of the store's rows."""
        hook = hook or store.hooks[0]
        sae = cls(store.d_model, n_latents, hook=hook, model=store.manifest.config.model, seed=seed)
        rng = np.random.default_rng(seed)
        special = np.concatenate([np.asarray(store.shard_array(i, "special")) for i in range(len(store.manifest.shards))])
        rows = np.nonzero(~special)[0]
        rows = np.sort(rng.choice(rows, size=min(sample_rows, len(rows)), replace=False))
        x = store.get(hook, rows)
        with torch.no_grad():
            pre = x @ sae.W_enc
            k = min(pre.shape[0], max(1, int(round((1 - density) * pre.shape[0]))))
            thr = pre.kthvalue(k, dim=0).values
            sae.b_enc.copy_(-thr)
        return sae
