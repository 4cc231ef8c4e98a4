"""A compact SAE: top-k and ReLU (April-2024 recipe) architectures, a trainer with exact resume, native format.

One module on purpose: the encoder, decoder, loss, schedules and trainer are small enough to read in one
sitting, in the spirit of nanoGPT. Exported SAEs act on raw activations (the normalisation scalar is folded
in), which is what steering and feature indexing expect.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm


class SAEError(ValueError):
    """Bad SAE input: wrong width, unreadable file, checkpoint of another architecture."""


@dataclass
class SAEConfig:
    d_in: int
    n_latents: int
    architecture: str = "topk"      # "topk" or "relu"
    k: int = 32
    l1_coeff: float = 5.0           # relu: final λ
    hook: str = ""
    model: str = ""
    norm_scalar: float = 1.0        # multiply raw activations by this before encoding
    dec_init_norm: float = 0.1

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)


class SAE(torch.nn.Module):
    def __init__(self, cfg: SAEConfig, seed: int = 0):
        super().__init__()
        if cfg.architecture not in ("topk", "relu"):
            raise SAEError(f"unknown architecture {cfg.architecture!r}; choose topk or relu")
        self.cfg = cfg
        g = torch.Generator().manual_seed(seed)
        W = torch.randn(cfg.n_latents, cfg.d_in, generator=g)
        W = W / W.norm(dim=1, keepdim=True) * (cfg.dec_init_norm if cfg.architecture == "relu" else 1.0)
        self.W_dec = torch.nn.Parameter(W)
        self.W_enc = torch.nn.Parameter(W.T.clone())
        self.b_enc = torch.nn.Parameter(torch.zeros(cfg.n_latents))
        self.b_dec = torch.nn.Parameter(torch.zeros(cfg.d_in))

    def pre(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.W_enc + self.b_enc

    def encode_normalized(self, x: torch.Tensor) -> torch.Tensor:
        z = self.pre(x)
        if self.cfg.architecture == "topk":
            v, i = z.topk(self.cfg.k, dim=-1)
            return torch.zeros_like(z).scatter(-1, i, v.relu())
        return z.relu()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latents of raw activations."""
        self._check(x)
        return self.encode_normalized(x.to(self.W_enc.dtype) * self.cfg.norm_scalar)

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return (f @ self.W_dec + self.b_dec) / self.cfg.norm_scalar

    def _check(self, x: torch.Tensor) -> None:
        if x.shape[-1] != self.cfg.d_in:
            raise SAEError(f"activations have width {x.shape[-1]}, but this SAE expects d_in={self.cfg.d_in}")

    def save(self, out: str | Path) -> Path:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / "sae.safetensors.tmp"
        save_file({k: v.detach().contiguous() for k, v in self.state_dict().items()}, str(tmp))
        os.replace(tmp, out / "sae.safetensors")
        (out / "cfg.json.tmp").write_text(self.cfg.to_json())
        os.replace(out / "cfg.json.tmp", out / "cfg.json")
        return out


def fold_norm_scalar(sae: SAE) -> SAE:
    """Make the SAE act on raw activations: W_e·s, W_d/s, b_d/s, scalar 1 (latents are unchanged)."""
    s = sae.cfg.norm_scalar
    with torch.no_grad():
        sae.W_enc.mul_(s)
        sae.W_dec.div_(s)
        sae.b_dec.div_(s)
    sae.cfg.norm_scalar = 1.0
    return sae


def load(path: str | Path, device: str = "cpu") -> SAE:
    path = Path(path)
    if not (path / "cfg.json").exists() or not (path / "sae.safetensors").exists():
        raise SAEError(f"{path} is not an SAE directory (needs sae.safetensors + cfg.json)")
    try:
        cfg = SAEConfig(**json.loads((path / "cfg.json").read_text()))
    except (TypeError, json.JSONDecodeError) as e:
        raise SAEError(f"{path}/cfg.json is not a monoscope SAE config: {e}") from e
    sae = SAE(cfg)
    sae.load_state_dict(load_file(str(path / "sae.safetensors")))
    return sae.to(device)


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 4096
    lr: float = 5e-4
    seed: int = 0
    warmup_frac: float = 0.05       # relu λ warm-up
    decay_frac: float = 0.2         # lr linear decay over the last 20%
    clip: float = 1.0
    checkpoint_every: int = 200
    dead_tokens: int = 1_000_000
    aux_coeff: float = 1 / 32


def loss_terms(sae: SAE, x: torch.Tensor, lam: float, dead: torch.Tensor | None, tc: TrainConfig):
    z = sae.pre(x)
    if sae.cfg.architecture == "topk":
        v, i = z.topk(sae.cfg.k, dim=-1)
        f = torch.zeros_like(z).scatter(-1, i, v.relu())
    else:
        f = z.relu()
    xh = f @ sae.W_dec + sae.b_dec
    err = x - xh
    mse = err.pow(2).sum(-1).mean()
    loss = mse
    l1 = torch.zeros(())
    if sae.cfg.architecture == "relu":
        l1 = (f * sae.W_dec.norm(dim=1)).sum(-1).mean()
        loss = loss + lam * l1
    aux = torch.zeros(())
    if sae.cfg.architecture == "topk" and dead is not None and dead.any():
        k_aux = min(int(dead.sum()), x.shape[-1] // 2)
        za = torch.where(dead, z, torch.full_like(z, -torch.inf))
        va, ia = za.topk(k_aux, dim=-1)
        fa = torch.zeros_like(z).scatter(-1, ia, va.relu())
        # AuxK target is the residual error only: b_dec is already in x̂, so it is not added again.
        aux = (fa @ sae.W_dec - err.detach()).pow(2).sum(-1).mean()
        loss = loss + tc.aux_coeff * aux
    return loss, mse, l1, aux, f, err


def _schedules(step: int, tc: TrainConfig, cfg: SAEConfig) -> tuple[float, float]:
    frac = step / max(tc.steps, 1)
    lr = tc.lr * (min(1.0, (1 - frac) / tc.decay_frac) if tc.decay_frac > 0 and frac > 1 - tc.decay_frac else 1.0)
    lam = cfg.l1_coeff * (min(1.0, frac / tc.warmup_frac) if tc.warmup_frac > 0 else 1.0)
    return lr, lam


def _store_batches(store, hook: str, tc: TrainConfig) -> Callable[[int, int], Iterator[torch.Tensor]]:
    return lambda epoch, start: store.batches(hook, tc.batch_size, seed=tc.seed, epoch=epoch, start_batch=start)


def train_sae(data, cfg: SAEConfig, out: str | Path, tc: TrainConfig | None = None, hook: str | None = None,
              resume: bool = True, progress: bool = True, log: Callable[[dict], None] | None = None,
              stop_after: int | None = None) -> SAE | None:
    """Train on an ActivationStore (normalised batches) or a factory (epoch, start_batch) -> batches.

    Resumes from `out/checkpoint.pt` when present. `stop_after` ends this call after that many steps (a
    planned preemption: it checkpoints and returns None; call again to continue).
    """
    from ..store import ActivationStore
    from ..store.manifest import atomic_write_text

    tc = tc or TrainConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(data, ActivationStore):
        hook = hook or data.hooks[0]
        if data.d_model != cfg.d_in:
            raise SAEError(f"store width {data.d_model} != SAE d_in {cfg.d_in}")
        cfg.hook, cfg.model = hook, data.manifest.config.model
        cfg.norm_scalar = data.norm_scalar(hook)
        batches = _store_batches(data, hook, tc)
    else:
        batches = data
    torch.manual_seed(tc.seed)
    sae = SAE(cfg, seed=tc.seed)
    if cfg.architecture == "topk":
        with torch.no_grad():
            sae.W_enc.copy_(sae.W_dec.T)
    opt = torch.optim.Adam(sae.parameters(), lr=tc.lr, betas=(0.9, 0.999), weight_decay=0.0)
    since = torch.zeros(cfg.n_latents, dtype=torch.long)
    step, epoch, in_epoch, skipped = 0, 0, 0, 0
    ckpt = out / "checkpoint.pt"
    if resume and ckpt.exists():
        st = torch.load(ckpt, weights_only=False)
        if st["cfg"]["architecture"] != cfg.architecture or st["cfg"]["n_latents"] != cfg.n_latents:
            raise SAEError(f"checkpoint {ckpt} is a {st['cfg']['architecture']} SAE with {st['cfg']['n_latents']} "
                           f"latents; refusing to resume a {cfg.architecture} run with {cfg.n_latents}")
        sae.load_state_dict(st["model"]); opt.load_state_dict(st["opt"])
        since, step, epoch, in_epoch, skipped = st["since"], st["step"], st["epoch"], st["in_epoch"], st["skipped"]
        torch.set_rng_state(st["rng"])
    metrics_path = out / "metrics.jsonl"
    bar = tqdm(total=tc.steps, initial=step, desc=f"train {cfg.architecture} n={cfg.n_latents}", disable=not progress)
    it = batches(epoch, in_epoch)
    stop_at = tc.steps if stop_after is None else min(tc.steps, step + stop_after)
    while step < stop_at:
        x = next(it, None)
        if x is None:
            epoch, in_epoch = epoch + 1, 0
            it = batches(epoch, 0)
            x = next(it, None)
            if x is None:
                raise SAEError("the data yielded no batches (fewer rows than one batch?)")
        in_epoch += 1
        if x.shape[-1] != cfg.d_in:
            raise SAEError(f"batch width {x.shape[-1]} != SAE d_in {cfg.d_in}")
        if not torch.isfinite(x).all():
            skipped += 1
            continue
        lr, lam = _schedules(step, tc, cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        dead = since >= tc.dead_tokens
        loss, mse, l1, aux, f, err = loss_terms(sae, x, lam, dead, tc)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(sae.parameters(), tc.clip)
        opt.step()
        with torch.no_grad():
            fired = (f > 0).any(0)
            since += x.shape[0]
            since[fired] = 0
        step += 1
        bar.update(1)
        if step % 20 == 0 or step == tc.steps:
            with torch.no_grad():
                fvu = float(err.pow(2).sum() / (x - x.mean(0)).pow(2).sum())
                l0 = float((f > 0).float().sum(-1).mean())
                rec = {"step": step, "loss": float(loss), "mse": float(mse), "l1": float(l1), "aux": float(aux),
                       "fvu": fvu, "l0": l0, "dead_frac": float(dead.float().mean()), "lr": lr, "lambda": lam,
                       "skipped_batches": skipped}
            bar.set_postfix(L0=f"{l0:.1f}", FVU=f"{fvu:.3f}", dead=f"{100 * rec['dead_frac']:.1f}%")
            with open(metrics_path, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
            if log:
                log(rec)
        if step % tc.checkpoint_every == 0 or step == stop_at:
            tmp = out / "checkpoint.pt.tmp"
            torch.save({"model": sae.state_dict(), "opt": opt.state_dict(), "since": since, "step": step,
                        "epoch": epoch, "in_epoch": in_epoch, "skipped": skipped, "rng": torch.get_rng_state(),
                        "cfg": asdict(cfg)}, tmp)
            os.replace(tmp, ckpt)
    bar.close()
    if step < tc.steps:
        return None
    fold_norm_scalar(sae)
    sae.save(out)
    atomic_write_text(out / "train.json", json.dumps({"train": asdict(tc), "steps": step, "skipped": skipped}))
    return sae
