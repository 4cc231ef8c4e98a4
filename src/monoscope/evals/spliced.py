"""Downstream evaluation: the model's loss with the SAE's reconstruction spliced in at its hook.

MSE says how close x̂ is to x; it does not say whether the model *cares* about what was lost. Replacing x by
x̂ and measuring cross-entropy answers that, and normalising against zero-ablation gives the paper's
"fraction of cross-entropy loss recovered": (CE_zero − CE_sae) / (CE_zero − CE_clean).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..models import LoadedModel
from ..steer.splice import check_fit, sae_hook


@dataclass
class SplicedLoss:
    n_tokens: int
    ce_clean: float
    ce_sae: float
    ce_zero: float
    kl_sae: float          # mean KL(clean ‖ spliced) per token, nats
    loss_recovered: float

    def to_dict(self) -> dict:
        return asdict(self)


def _reconstruct(sae, x: torch.Tensor) -> torch.Tensor:
    return sae.decode(sae.encode(x.float())).to(x.dtype)


def spliced_loss(lm: LoadedModel, sae, contexts: torch.Tensor, batch_size: int = 8, skip_first: int = 1,
                 progress: bool = True) -> SplicedLoss:
    """CE (and KL) over `contexts` [N, L] of token ids: clean, SAE-spliced and zero-ablated at the hook.

    The first `skip_first` positions (BOS) are excluded from the loss, as their huge-norm activations are
    not what the SAE was trained on.
    """
    hook = sae_hook(sae)
    check_fit(lm, sae, hook)
    sums = {"clean": 0.0, "sae": 0.0, "zero": 0.0, "kl": 0.0}
    n = 0
    for i in tqdm(range(0, len(contexts), batch_size), desc="spliced CE", disable=not progress):
        ids = contexts[i:i + batch_size].to(lm.device)
        targets = ids[:, skip_first + 1:]
        with torch.no_grad():
            logits = {}
            logits["clean"] = lm.model(input_ids=ids, use_cache=False).logits
            with lm.hooked.hooks({hook: lambda x: _reconstruct(sae, x)}):
                logits["sae"] = lm.model(input_ids=ids, use_cache=False).logits
            with lm.hooked.hooks({hook: lambda x: torch.zeros_like(x)}):
                logits["zero"] = lm.model(input_ids=ids, use_cache=False).logits
        logp = {k: torch.log_softmax(v[:, skip_first:-1].float(), -1) for k, v in logits.items()}
        for k in ("clean", "sae", "zero"):
            sums[k] += float(-logp[k].gather(-1, targets[..., None]).sum())
        sums["kl"] += float((logp["clean"].exp() * (logp["clean"] - logp["sae"])).sum())
        n += targets.numel()
    ce = {k: v / max(n, 1) for k, v in sums.items()}
    denom = ce["zero"] - ce["clean"]
    recovered = (ce["zero"] - ce["sae"]) / denom if abs(denom) > 1e-9 else float("nan")
    return SplicedLoss(n, ce["clean"], ce["sae"], ce["zero"], ce["kl"], recovered)


def store_contexts(store, n_contexts: int, seed: int = 0) -> torch.Tensor:
    """A seeded sample of whole contexts (token ids) from a store, for spliced evaluation."""
    L = store.manifest.config.context_len
    per_shard = [s.n_contexts for s in store.manifest.shards]
    total = sum(per_shard)
    if total == 0:
        raise ValueError(f"store {store.path} holds no contexts")
    pick = np.sort(np.random.default_rng(seed).choice(total, size=min(n_contexts, total), replace=False))
    offsets = np.cumsum([0] + per_shard)
    rows = []
    for c in pick:
        s = int(np.searchsorted(offsets, c, side="right") - 1)
        local = int(c - offsets[s])
        rows.append(np.asarray(store.shard_array(s, "tokens")[local * L:(local + 1) * L], dtype=np.int64))
    return torch.from_numpy(np.stack(rows))
