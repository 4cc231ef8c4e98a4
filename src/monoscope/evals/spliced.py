"""Cross-entropy with an SAE spliced in at its hook, on text the SAE never saw.

MSE says how close x̂ is to x; it does not say whether the model *cares* about what was lost. Replacing x by
x̂ and measuring cross-entropy answers that. We report, per token and in nats:

    ΔCE        CE_sae − CE_clean                       (what splicing the SAE costs)
    KL         KL(p_clean ‖ p_sae)
    recovered  (CE_zero − CE_sae) / (CE_zero − CE_clean)     the paper's "fraction of CE loss recovered"
    recovered_vs_mean  the same against mean-ablation (x replaced by its mean over the evaluated tokens),
               a far stronger baseline than zero-ablation, which wrecks the residual stream

Contexts come from `heldout_contexts`: documents of the store's corpus *after* the last document the store
holds, so no evaluated token was harvested, trained on, or indexed. (`store_contexts` samples the store
itself: the SAE's training data; use it only to compare with the held-out figure.)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import islice

import numpy as np
import torch
from tqdm.auto import tqdm

from ..corpus.sources import CorpusError
from ..models import LoadedModel
from ..models.fit import check_fit, sae_hook


@dataclass
class SplicedLoss:
    n_tokens: int
    ce_clean: float
    ce_sae: float
    ce_zero: float
    kl_sae: float          # mean KL(clean ‖ spliced) per token, nats
    loss_recovered: float  # vs zero-ablation
    delta_ce: float = float("nan")          # CE_sae − CE_clean, nats per token
    ce_mean: float = float("nan")           # mean-ablation
    recovered_vs_mean: float = float("nan")
    n_contexts: int = 0
    source: str = ""                        # where the contexts came from

    def to_dict(self) -> dict:
        return asdict(self)


def _reconstruct(sae, x: torch.Tensor) -> torch.Tensor:
    return sae.decode(sae.encode(x.float())).to(x.dtype)


def _frac(zero: float, sae: float, clean: float) -> float:
    denom = zero - clean
    return (zero - sae) / denom if abs(denom) > 1e-9 else float("nan")


def spliced_loss(lm: LoadedModel, sae, contexts: torch.Tensor, batch_size: int = 8, skip_first: int = 1,
                 progress: bool = True, source: str = "") -> SplicedLoss:
    """CE (and KL) over `contexts` [N, L] of token ids: clean, SAE-spliced, zero- and mean-ablated at the hook.

    The first `skip_first` positions (BOS) are excluded from the loss, as their huge-norm activations are
    not what the SAE was trained on. The mean for mean-ablation is taken over the evaluated positions.
    """
    hook = sae_hook(sae)
    check_fit(lm, sae, hook)
    if len(contexts) == 0:
        raise CorpusError("no contexts to evaluate the spliced loss on")
    # the mean activation at the hook over the evaluated positions (one clean pass, for mean-ablation)
    total, count = None, 0
    for i in range(0, len(contexts), batch_size):
        ids = contexts[i:i + batch_size].to(lm.device)
        x = lm.hooked.run_to([hook], input_ids=ids)[hook][:, skip_first:].float()
        s = x.sum((0, 1))
        total = s if total is None else total + s
        count += x.shape[0] * x.shape[1]
    mean = (total / max(count, 1))
    sums = {"clean": 0.0, "sae": 0.0, "zero": 0.0, "mean": 0.0, "kl": 0.0}
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
            with lm.hooked.hooks({hook: lambda x: mean.to(x.dtype).expand_as(x).clone()}):
                logits["mean"] = lm.model(input_ids=ids, use_cache=False).logits
        logp = {k: torch.log_softmax(v[:, skip_first:-1].float(), -1) for k, v in logits.items()}
        for k in ("clean", "sae", "zero", "mean"):
            sums[k] += float(-logp[k].gather(-1, targets[..., None]).sum())
        sums["kl"] += float((logp["clean"].exp() * (logp["clean"] - logp["sae"])).sum())
        n += targets.numel()
    ce = {k: v / max(n, 1) for k, v in sums.items()}
    return SplicedLoss(n, ce["clean"], ce["sae"], ce["zero"], ce["kl"], _frac(ce["zero"], ce["sae"], ce["clean"]),
                       delta_ce=ce["sae"] - ce["clean"], ce_mean=ce["mean"],
                       recovered_vs_mean=_frac(ce["mean"], ce["sae"], ce["clean"]), n_contexts=len(contexts),
                       source=source)


def last_document(store) -> int:
    """Index (in the corpus's document order) of the last document any stored token came from."""
    last = -1
    for i in range(len(store.manifest.shards)):
        d = np.asarray(store.shard_array(i, "doc_ids"))
        if d.size:
            last = max(last, int(d.max()))
    return last


def heldout_contexts(store, tokenizer, n_contexts: int, corpus: str | None = None) -> tuple[torch.Tensor, str]:
    """`n_contexts` contexts the store's SAE never saw, and a description of where they come from.

    With the store's own corpus (the default), whole documents after the last one the store holds
    (documents are read in the corpus's fixed order, so these were never harvested); with another
    `corpus`, its first documents. Contexts are packed exactly as the store's were (length, BOS).
    """
    from ..corpus import iter_contexts, iter_documents

    cfg = store.manifest.config
    same = corpus is None or corpus == cfg.corpus
    spec = cfg.corpus if corpus is None else corpus
    skip = last_document(store) + 1 if same else 0
    docs = islice(iter_documents(spec, text_key=cfg.text_key), skip, None)
    rows = [np.asarray(c.tokens, dtype=np.int64)
            for c in islice(iter_contexts(docs, tokenizer, cfg.context_len, add_bos=cfg.add_bos), n_contexts)]
    where = (f"documents {skip:,}+ of corpus {spec!r} (the store holds documents 0–{skip - 1:,})" if same
             else f"corpus {spec!r}")
    if len(rows) < n_contexts:
        raise CorpusError(f"{where} hold only {len(rows)} contexts of {cfg.context_len} tokens, {n_contexts} were "
                          f"asked for: evaluate on fewer contexts, name another corpus for held-out text "
                          f"(--heldout-corpus), or harvest a smaller store")
    return torch.from_numpy(np.stack(rows)), where


def store_contexts(store, n_contexts: int, seed: int = 0) -> torch.Tensor:
    """A seeded sample of whole contexts (token ids) from a store — the SAE's *training* data."""
    L = store.manifest.config.context_len
    per_shard = [s.n_contexts for s in store.manifest.shards]
    total = sum(per_shard)
    if total == 0:
        raise CorpusError(f"store {store.path} holds no contexts")
    pick = np.sort(np.random.default_rng(seed).choice(total, size=min(n_contexts, total), replace=False))
    offsets = np.cumsum([0] + per_shard)
    rows = []
    for c in pick:
        s = int(np.searchsorted(offsets, c, side="right") - 1)
        local = int(c - offsets[s])
        rows.append(np.asarray(store.shard_array(s, "tokens")[local * L:(local + 1) * L], dtype=np.int64))
    return torch.from_numpy(np.stack(rows))


def heldout_spliced_loss(lm: LoadedModel, sae, store, n_contexts: int = 64, corpus: str | None = None,
                         batch_size: int = 8, progress: bool = True) -> SplicedLoss:
    """`spliced_loss` on `heldout_contexts`: the figure to report (the demo and `monoscope eval` do)."""
    ctx, where = heldout_contexts(store, lm.tokenizer, n_contexts, corpus)
    return spliced_loss(lm, sae, ctx, batch_size=batch_size, progress=progress, source=f"held out: {where}")
