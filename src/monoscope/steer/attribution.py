"""Which features cause a prediction: gradient attribution vs true zero-ablation, and their agreement.

Attribution of feature i = Σ_t f_i,t · (∇ₓ metric_t · d_i): the linear estimate of what zeroing the
feature (keeping the SAE error term) would do, from a single backward pass. Ablation runs the model with
the feature actually zeroed. The paper reports corr(attribution, ablation) ≈ 0.81 vs ≈ 0.12 for raw
activation; `attribute` measures both on your prompt so the claim can be checked, not assumed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .interventions import Intervention
from .splice import Steerer

Metric = Callable[[torch.Tensor], torch.Tensor]  # logits [B, T, V] -> [B]


def logit_diff(tokenizer, good: str, bad: str, position: int = -1) -> Metric:
    """logit(good) − logit(bad) at a position, using each string's first token."""
    g = tokenizer(good, add_special_tokens=False).input_ids[0]
    b = tokenizer(bad, add_special_tokens=False).input_ids[0]
    return lambda logits: logits[:, position, g] - logits[:, position, b]


def completion_logprob(prompt_len: int, completion_ids: torch.Tensor) -> Metric:
    """Σ log p(completion tokens | prefix), for inputs that are prompt + completion."""
    def metric(logits: torch.Tensor) -> torch.Tensor:
        lp = torch.log_softmax(logits[:, prompt_len - 1:-1].float(), dim=-1)
        ids = completion_ids.to(logits.device).expand(logits.shape[0], -1)
        return lp.gather(-1, ids[..., None]).squeeze(-1).sum(-1)
    return metric


@dataclass
class AttributionResult:
    features: np.ndarray        # feature ids, sorted by |attribution|
    attribution: np.ndarray
    activation: np.ndarray      # summed activation over positions
    ablation: np.ndarray | None  # metric(ablated) − metric(clean), for the same features
    metric_clean: float

    n_active: int = 0            # features active anywhere on the prompt
    selection: str = "top"       # how the ablated features were chosen ("top" by |attribution|, "balanced")

    def correlations(self) -> dict[str, float]:
        """Pearson correlation of the ablation effect (metric clean − ablated) with attribution and with
        raw summed activation, over the ablated features (NaN when a side is constant)."""
        if self.ablation is None or len(self.features) < 3:
            return {}
        effect = -self.ablation  # attribution estimates metric(clean) − metric(ablated)

        def corr(a: np.ndarray) -> float:
            if np.std(a) == 0 or np.std(effect) == 0:
                return float("nan")
            return float(np.corrcoef(a, effect)[0, 1])

        return {"attribution": corr(self.attribution), "activation": corr(self.activation)}

    def rows(self, k: int = 20) -> list[dict]:
        out = []
        for j in range(min(k, len(self.features))):
            out.append({"feature": int(self.features[j]), "attribution": float(self.attribution[j]),
                        "activation": float(self.activation[j]),
                        "ablation": None if self.ablation is None else float(self.ablation[j])})
        return out


def attribute(steerer: Steerer, input_ids: torch.Tensor, metric: Metric, top: int = 50,
              ablate_top: int | None = None, batch_size: int = 16,
              positions: Sequence[int] | None = None, selection: str = "top", seed: int = 0,
              skip_first: int = 1, sink_ratio: float = 10.0, sink_norm: float | None = None) -> AttributionResult:
    """Attribution for every active feature in one backward pass; true ablation for `top` of them.

    selection="top": the `top` features by |attribution| (what a user reading the table wants).
    selection="balanced": a third by |attribution|, a third by activation, the rest at random among the
    active features — a set not chosen by either score, so the two correlations with the ablation effect
    are compared fairly (choosing by attribution alone would favour attribution).
    Without `positions`, every position counts except those feature rankings leave out (special tokens,
    the first `skip_first` ordinary tokens, attention sinks: `splice.excluded_positions`); ablation then
    zeroes the feature on those same positions.

    Works in any model dtype and on any device: the residual is taken as an fp32 leaf (so the gradient is
    exact enough to rank features), handed back to the model in the model's own dtype, and every result is
    moved to the CPU before it becomes numpy.
    """
    sae, lm = steerer.sae, steerer.lm
    if sae is None:
        raise ValueError("attribution needs an SAE")
    ids = input_ids.to(lm.device)[:1]
    steerer.check_length(ids)
    store: dict[str, torch.Tensor] = {}

    def leaf(x: torch.Tensor) -> torch.Tensor:
        xf = x.detach().float().requires_grad_(True)
        store["x"] = xf
        return xf.to(x.dtype)  # the model continues in its own dtype (bf16 models); the leaf keeps fp32

    with torch.enable_grad(), lm.hooked.hooks({steerer.hook: leaf}):
        m = metric(lm.model(input_ids=ids, use_cache=False).logits.float()).sum()
        m.backward()
    x, g = store["x"].detach()[0], store["x"].grad[0].float()     # [T, d]
    if positions is None:
        from .splice import excluded_positions

        ex = excluded_positions(ids[0].tolist(), x.norm(dim=-1), lm.tokenizer.all_special_ids, skip_first,
                                sink_ratio, sink_norm)
        positions = [j for j, e in enumerate(ex) if not e]
    with torch.no_grad():
        f = sae.encode(x).float()                                  # [T, n]
        if positions is not None:
            keep = torch.zeros(f.shape[0], dtype=torch.bool, device=f.device)
            keep[torch.as_tensor(list(positions), dtype=torch.long, device=f.device)] = True
            f = f * keep[:, None]
        W = sae.W_dec.detach().to(device=g.device, dtype=torch.float32)
        attr = (f * (g @ W.T)).sum(0)                              # [n]
        act = f.sum(0)
    active = torch.nonzero(act > 0, as_tuple=True)[0]
    by_attr = active[torch.argsort(attr[active].abs(), descending=True)]
    if selection == "top":
        order = by_attr[:top]
    elif selection == "balanced":
        order = _balanced(by_attr, active[torch.argsort(act[active], descending=True)], top, seed)
        order = order[torch.argsort(attr[order].abs(), descending=True)]
    else:
        raise ValueError(f"selection must be 'top' or 'balanced', got {selection!r}")
    clean = float(m.detach())
    result = AttributionResult(order.cpu().numpy(), attr[order].cpu().numpy(), act[order].cpu().numpy(), None,
                               clean, n_active=len(active), selection=selection)
    n_ablate = len(order) if ablate_top is None else min(ablate_top, len(order))
    if n_ablate:
        result.ablation = ablation_effects(steerer, ids, metric, order[:n_ablate].tolist(), batch_size,
                                           positions, clean)
        if n_ablate < len(order):
            result.features, result.attribution, result.activation = (
                result.features[:n_ablate], result.attribution[:n_ablate], result.activation[:n_ablate])
    return result


def _balanced(by_attr: torch.Tensor, by_act: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    if len(by_attr) <= n:
        return by_attr
    k = n // 3
    chosen = list(dict.fromkeys(by_attr[:k].tolist() + by_act[:k].tolist()))
    rest = [f for f in by_attr.tolist() if f not in set(chosen)]
    rng = np.random.default_rng(seed)
    chosen += [int(x) for x in rng.choice(rest, size=min(n - len(chosen), len(rest)), replace=False)]
    return torch.as_tensor(chosen, dtype=torch.long, device=by_attr.device)


def ablation_effects(steerer: Steerer, ids: torch.Tensor, metric: Metric, features: list[int],
                     batch_size: int = 16, positions: Sequence[int] | None = None,
                     clean: float | None = None) -> np.ndarray:
    """metric(feature zeroed, error term kept) − metric(clean), one batch row per feature."""
    if clean is None:
        clean = float(metric(steerer.logits(ids)).sum())
    out = []
    for i in range(0, len(features), batch_size):
        chunk = features[i:i + batch_size]
        batch = ids.expand(len(chunk), -1)
        edit = Intervention(chunk, value=0.0, positions=positions, per_row=True)
        out.append(metric(steerer.logits(batch, [edit])).float().cpu().numpy() - clean)
    return np.concatenate(out) if out else np.zeros(0)
