"""SAE-only evaluation on activations: MSE, FVU, L0, dead and dense fractions over a stated token horizon.

All figures are on raw activations (the SAE applies its own normalisation scalar c, E‖c·x‖² = d):
    mse        mean over tokens of ‖x − x̂‖², raw activation units
    mse_normalized  the same in the normalised units the trainer logs (mse · c²)
    nmse       Σ‖x − x̂‖² / Σ‖x‖²
    fvu        Σ‖x − x̂‖² / Σ‖x − mean x‖²   (1 − fraction of variance explained)
    l0         mean number of active latents per token
    dead_frac  latents that never fired over the horizon (`n_tokens` evaluated tokens)
    dense_frac latents firing on more than `dense_threshold` of the horizon's tokens
`monoscope train` and `monoscope eval` both print this (same function, same labels), so their numbers
compare. The horizon may not exceed the store (`StoreError`); the CLI also keeps it within the tokens the
SAE was trained on, so "no dead latents" cannot hold by construction. The model-spliced cross-entropy/KL
evaluations are in `monoscope.evals.spliced`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from .config import SAEError
from .data import DataSource, is_store


@dataclass
class SAEEvalResult:
    n_tokens: int
    mse: float
    nmse: float
    fvu: float
    l0: float
    dead_frac: float
    dense_frac: float
    dense_threshold: float
    mse_normalized: float = float("nan")
    feature_freq: torch.Tensor | None = None   # [n_latents] firing frequency

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("feature_freq")
        return d


@torch.no_grad()
def evaluate_sae(sae, data: Any, hook: str | None = None, n_tokens: int | None = None, batch_size: int = 4096,
                 dense_threshold: float = 0.1, device: str | torch.device | None = None, seed: int = 12345,
                 keep_freq: bool = False) -> SAEEvalResult:
    """Evaluate on `n_tokens` rows of a store (raw activations, a fixed shuffled sample; default all of its
    non-special rows) or of an iterable (default: all it yields).

    A horizon longer than the store raises `StoreError`: the dead fraction is only meaningful over the
    horizon actually evaluated, which is the result's `n_tokens`.
    """
    from ..store.manifest import StoreError
    from .topk import TopKSAE

    device = torch.device(device) if device is not None else sae.W_dec.device
    sae = sae.to(device)
    was_training = sae.training
    sae.train(False)
    if is_store(data):
        hook = hook or sae.cfg.hook
        if hook is None:
            raise SAEError("the SAE does not record its hook; pass hook=...")
        if hook not in data.manifest.hooks:
            raise SAEError(f"hook {hook!r} is not in the store ({', '.join(data.manifest.hooks)})")
        rows = data.n_rows(True) if hasattr(data, "n_rows") else data.n_tokens
        if n_tokens is None:
            n_tokens = rows
        if n_tokens > rows:
            raise StoreError(f"an evaluation horizon of {n_tokens:,} tokens is longer than the store, which holds "
                             f"{rows:,} (non-special) tokens; evaluate on at most {rows:,}")
        bs = max(1, min(batch_size, n_tokens, rows))          # a small store still gives full batches
        it = data.batches(hook, bs, seed=seed, normalize=False, skip_special=True)
    else:
        it = DataSource(data, batch_size).iterate(0)
        n_tokens = n_tokens if n_tokens is not None else 1 << 62
    n_lat = sae.cfg.n_latents
    counts = torch.zeros(n_lat, dtype=torch.long, device=device)
    err = tot = sq = 0.0
    sum_x = None
    sum_x2 = 0.0
    l0 = 0.0
    n = 0
    for x in it:
        if n >= n_tokens:
            break
        x = x[: n_tokens - n].to(device).float()
        sae.check_input(x)
        if isinstance(sae, TopKSAE):
            out = sae(x)                       # sparse path, recon in raw space
            recon = out.recon
            cols = out.acts.pattern.cols[(out.acts.vals > 0).reshape(-1)]
            counts += torch.bincount(cols, minlength=n_lat)
            l0 += float(cols.numel())
        else:
            f = sae.encode(x)
            recon = sae.decode(f)
            act = f != 0
            counts += act.sum(0)
            l0 += float(act.sum())
        err += float((x - recon).pow(2).sum())
        sq += float(x.pow(2).sum())
        sum_x = x.sum(0) if sum_x is None else sum_x + x.sum(0)
        sum_x2 += float(x.pow(2).sum())
        n += x.shape[0]
    if n == 0:
        raise SAEError("no activations to evaluate on")
    tot = sum_x2 - float(sum_x.pow(2).sum()) / n
    freq = counts.float() / n
    sae.train(was_training)
    c = float(getattr(sae.cfg, "folded_norm_scalar", None) or 1.0) * float(sae.cfg.norm_scalar)
    return SAEEvalResult(n_tokens=n, mse=err / n, mse_normalized=err / n * c * c, nmse=err / max(sq, 1e-30), fvu=err / max(tot, 1e-30),
                         l0=l0 / n, dead_frac=float((counts == 0).float().mean()),
                         dense_frac=float((freq > dense_threshold).float().mean()), dense_threshold=dense_threshold,
                         feature_freq=freq.cpu() if keep_freq else None)
