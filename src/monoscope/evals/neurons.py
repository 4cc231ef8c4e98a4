"""Features vs neurons: how much does each SAE feature look like one MLP neuron? (Scaling Monosemanticity)

For every alive feature, the Pearson correlation of its activation with every MLP neuron (the hidden units
entering the MLP's output projection) of the layer that last wrote into the SAE's hook point, over the
same tokens; a feature's *best-neuron correlation* is the largest |r|. The paper finds r ≤ 0.3 for 82% of
its features. We report that fraction beside a control measured in the same pass: random directions in
the residual stream sparsified to the SAE's own L0 (top-k of x·u over random unit vectors u), so a
figure that only reflects how sparse features are (sparse codes correlate weakly with dense neurons
whatever they encode) shows up as control ≈ SAE.

Tokens come from held-out contexts (`monoscope.evals.spliced.heldout_contexts`); BOS positions are skipped.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..models.fit import check_fit, sae_hook
from ..models.neurons import hook_layer, mlp_neuron_module


@dataclass
class FeatureNeuronResult:
    n_tokens: int
    layer: int
    n_neurons: int
    n_features: int                 # alive features measured (fired on the evaluated tokens)
    threshold: float
    frac_below: float               # fraction of features with best-neuron |r| ≤ threshold
    median_best_r: float
    control_frac_below: float       # random directions at the SAE's L0
    control_median_best_r: float
    control_k: int
    n_dead: int                     # features silent on every evaluated token (no correlation defined)

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return (f"{100 * self.frac_below:.1f}% of {self.n_features:,} features have best-neuron |r| ≤ "
                f"{self.threshold:g} (median {self.median_best_r:.2f}); control (random directions at L0 "
                f"{self.control_k}): {100 * self.control_frac_below:.1f}% (median {self.control_median_best_r:.2f}); "
                f"{self.n_neurons:,} MLP neurons of layer {self.layer}, {self.n_tokens:,} tokens")


class _Moments:
    """Running sums for Pearson correlations between two sets of variables."""

    def __init__(self, a: int, b: int):
        self.n = 0
        self.sa = torch.zeros(a, dtype=torch.float64)
        self.saa = torch.zeros(a, dtype=torch.float64)
        self.sb = torch.zeros(b, dtype=torch.float64)
        self.sbb = torch.zeros(b, dtype=torch.float64)
        self.sab = torch.zeros(a, b, dtype=torch.float64)

    def add(self, A: torch.Tensor, B: torch.Tensor) -> None:
        A, B = A.double(), B.double()
        self.n += A.shape[0]
        self.sa += A.sum(0)
        self.saa += (A * A).sum(0)
        self.sb += B.sum(0)
        self.sbb += (B * B).sum(0)
        self.sab += A.T @ B

    def best_abs_r(self) -> torch.Tensor:
        n = max(self.n, 1)
        cov = self.sab / n - torch.outer(self.sa / n, self.sb / n)
        va = (self.saa / n - (self.sa / n) ** 2).clamp_min(0)
        vb = (self.sbb / n - (self.sb / n) ** 2).clamp_min(0)
        denom = torch.sqrt(torch.outer(va, vb))
        r = torch.where(denom > 0, cov / denom.clamp_min(1e-30), torch.zeros_like(cov))
        best = r.abs().max(1).values
        best[va <= 0] = float("nan")
        return best


@torch.no_grad()
def feature_neuron_correlation(lm, sae, contexts: torch.Tensor, threshold: float = 0.3, batch_size: int = 8,
                               max_features: int = 4096, seed: int = 0, skip_first: int = 1,
                               progress: bool = False) -> FeatureNeuronResult:
    """Best-neuron |r| per feature over `contexts` [N, L], with the random-direction control (see module)."""
    hook = sae_hook(sae)
    check_fit(lm, sae, hook)
    layer = max(0, hook_layer(hook))
    module = mlp_neuron_module(lm, layer)
    n_lat = int(sae.W_dec.shape[0])
    rng = np.random.default_rng(seed)
    feats = np.sort(rng.choice(n_lat, size=min(max_features, n_lat), replace=False))
    cols = torch.from_numpy(feats)
    d = lm.d_model
    U = torch.randn(len(feats), d, generator=torch.Generator().manual_seed(seed))
    U = U / U.norm(dim=1, keepdim=True)
    got: list[torch.Tensor] = []

    def grab(mod, args):
        got.append(args[0].detach().float().cpu())

    moments = ctrl = None
    l0_sum, n_tok = 0.0, 0
    handle = module.register_forward_pre_hook(grab)
    try:
        for i in tqdm(range(0, len(contexts), batch_size), desc="features vs neurons", disable=not progress):
            ids = contexts[i:i + batch_size].to(lm.device)
            got.clear()
            with lm.hooked.capture([hook]) as cap:
                lm.model(input_ids=ids, **({"use_cache": False} if lm.kind == "causal" else {}))
            x = cap[hook][:, skip_first:].reshape(-1, d).float().cpu()
            h = got[0][:, skip_first:].reshape(x.shape[0], -1)
            f_all = sae.encode(x.to(sae.W_dec.device)).float().cpu()
            l0_sum += float((f_all != 0).sum())
            n_tok += x.shape[0]
            f = f_all[:, cols]
            if moments is None:
                moments = _Moments(len(feats), h.shape[1])
            moments.add(f, h)
            k = max(1, int(round(l0_sum / n_tok)))
            # control: random directions, top-k at the SAE's running L0 (k fixed after the first batch)
            if ctrl is None:
                ctrl_k = k
                ctrl = _Moments(len(feats), h.shape[1])
            proj = x @ U.T
            v, j = proj.topk(min(ctrl_k, proj.shape[1]), dim=1)
            g = torch.zeros_like(proj).scatter_(1, j, v.clamp_min(0))
            ctrl.add(g, h)
    finally:
        handle.remove()
    if moments is None:
        raise ValueError("no contexts to correlate on")
    best = moments.best_abs_r().numpy()
    cbest = ctrl.best_abs_r().numpy()
    alive = ~np.isnan(best)
    calive = ~np.isnan(cbest)
    return FeatureNeuronResult(
        n_tokens=n_tok, layer=layer, n_neurons=int(moments.sb.numel()), n_features=int(alive.sum()),
        threshold=threshold, frac_below=float((best[alive] <= threshold).mean()) if alive.any() else float("nan"),
        median_best_r=float(np.median(best[alive])) if alive.any() else float("nan"),
        control_frac_below=float((cbest[calive] <= threshold).mean()) if calive.any() else float("nan"),
        control_median_best_r=float(np.median(cbest[calive])) if calive.any() else float("nan"),
        control_k=int(ctrl_k), n_dead=int((~alive).sum()))
