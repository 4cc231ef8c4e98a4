"""The function behind `monoscope train`: data from a store or a model, a grid of SAEs, one trainer.

    train_run("runs/multi", model="smollm2-135m", hooks=["resid_post.10", "resid_post.20"],
              latents=[4608, 9216], tokens=200_000)

trains hooks × architectures × widths × k × learning rates from one forward pass per batch (see
`monoscope.sae.trainer`). With one SAE, `out` is the SAE's directory; with several, each gets a
sub-directory named like `resid_post.10-topk-4608-k32`.
"""
from __future__ import annotations

from itertools import product
from pathlib import Path
from typing import Sequence

from .config import TOPK_FAMILY, SAEConfig, SAEError
from .trainer import SAESpec, TrainConfig, TrainResult, Trainer, spec_name


def grid_specs(hooks: Sequence[str], d_in: int, archs: Sequence[str] = ("topk",), latents: Sequence[int] = (),
               ks: Sequence[int] = (32,), lrs: Sequence[float] = (), l1: float | None = None,
               model: str | None = None) -> list[SAESpec]:
    """Every combination of hook × architecture × width × k (architectures that take one) × lr."""
    specs = []
    for h, a, n, lr in product(hooks, archs or ("topk",), latents or (16 * d_in,), lrs or (None,)):
        for k in (ks or (32,)) if a in TOPK_FAMILY else (None,):
            cfg = SAEConfig(a, d_in=d_in, n_latents=int(n), k=k, l1_coeff=l1, hook=h, model=model)
            specs.append(SAESpec(cfg, lr=lr))
    if len(specs) > 1:
        for s in specs:
            s.name = spec_name(s.cfg, s.lr if len(lrs) > 1 else None)
    return specs


def stream_sizes(total_tokens: int, batch_size: int, buffer_tokens: int = 0, norm_tokens: int = 0) -> tuple[int, int]:
    """Mixing window and warm-up for a run of `total_tokens` (0 = choose): the window is a quarter of the run,
    at least 4 batches and at most 2¹⁸ tokens (a longer run pays nothing for the maximum, a short one would
    otherwise forward more tokens to fill the buffer than it trains on); the normalisation warm-up is half the
    window, at most 2¹⁶ tokens."""
    if not buffer_tokens:
        buffer_tokens = int(min(1 << 18, max(4 * batch_size, total_tokens // 4)))
    if not norm_tokens:
        norm_tokens = int(min(1 << 16, max(1, buffer_tokens // 2)))
    return buffer_tokens, norm_tokens


def train_run(out: str | Path, *, store: str | Path | None = None, model: str = "", corpus: str = "default",
              hooks: Sequence[str] = (), archs: Sequence[str] = ("topk",), latents: Sequence[int] = (),
              ks: Sequence[int] = (32,), l1: float | None = None, lrs: Sequence[float] = (), steps: int = 0,
              tokens: int = 0, batch_size: int = 4096, context_len: int = 128, model_batch: int = 16,
              buffer_tokens: int = 0, buffer_dtype: str = "bfloat16", norm_tokens: int = 0,
              keep_first_token: bool = False,
              keep_special: bool = False, strategy: str = "local", resume: bool = False, device: str = "auto",
              seed: int = 0, checkpoint_every: int = 1000, log_every: int = 10, loggers: tuple[str, ...] = (),
              progress: bool = True) -> dict[str, TrainResult]:
    """Train the grid on `store` or straight from `model`; returns {SAE name: result} ("" for one SAE)."""
    from .strategy import make_strategy

    strat = make_strategy(strategy, device)
    if store is not None:
        from ..store import ActivationStore

        data = ActivationStore(store)
        hooks = list(hooks) or (data.hooks if len(data.hooks) == 1 else [])
        if not hooks:
            raise SAEError(f"the store holds several hooks ({', '.join(data.hooks)}); pass --hooks")
        d_in, model_name = data.d_model, data.manifest.config.model
        if not steps and not tokens:
            tokens = data.n_tokens
    else:
        from .streaming import ActivationStream

        if not steps and not tokens:
            raise SAEError("say how long to train from the model: --tokens N or --steps N")
        buffer_tokens, norm_tokens = stream_sizes(steps * batch_size if steps else tokens, batch_size, buffer_tokens,
                                                  norm_tokens)
        data = ActivationStream(model, corpus, hooks=list(hooks) or None, context_len=context_len,
                                model_batch=model_batch, buffer_tokens=buffer_tokens, buffer_dtype=buffer_dtype,
                                norm_tokens=norm_tokens, device=str(strat.device), text_key="text")
        hooks, d_in, model_name = data.hooks, data.d_in, data.model
    specs = grid_specs(hooks, d_in, archs, latents, ks, lrs, l1, model_name)
    tcfg = TrainConfig(steps=steps or None, tokens=tokens or None, batch_size=batch_size,
                       device=str(strat.device), seed=seed, checkpoint_every=checkpoint_every, log_every=log_every,
                       loggers=tuple(loggers), progress=progress, keep_first_token=keep_first_token,
                       keep_special=keep_special)
    res = Trainer(data, specs, tcfg, out, resume=resume, strategy=strat).run()
    return res.all


def train_or_reload(store, out: Path, n_latents: int, k: int, steps: int, batch_size: int):
    """A top-k SAE on the store's first hook; reloaded if already trained, resumed if interrupted (the demo's
    and the demo audit's SAE)."""
    from .formats import load_sae
    from .trainer import train_sae

    if (out / "sae.safetensors").exists() and (out / "cfg.json").exists():
        return load_sae(out)
    hook = store.hooks[0]
    cfg = SAEConfig(architecture="topk", d_in=store.d_model, n_latents=n_latents, k=k, hook=hook,
                    model=store.manifest.config.model)
    return train_sae(store, cfg, out, resume=True, hook=hook, steps=steps, batch_size=batch_size).sae
