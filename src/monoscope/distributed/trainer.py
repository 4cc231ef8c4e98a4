"""Distributed SAE training: data-parallel ("dp") and feature-sharded ("fs"), with sharded checkpoints.

Both modes follow `monoscope.sae.Trainer`'s recipe step for step (same initialisation from the seed, same
global batch sequence, schedules, Adam, clipping at global gradient norm 1, dead-latent counting, AuxK),
so a W-rank run equals a 1-rank run up to floating-point summation order.

* dp: every rank holds the whole SAE and reads a disjoint slice of each global batch (rank r: rows
  [r·B/W, (r+1)·B/W)). Gradients of the local mean loss are all-reduced and divided by W, which is the
  gradient of the global mean loss; every rank then takes the same Adam step, so weights stay identical.
  Architectures whose forward is per token (relu, topk, jumprelu); batchtopk selects across the whole
  batch and is refused.
* fs: every rank reads the whole batch and holds n/W latents (see `sharded.ShardedSAE`): topk, relu.

Checkpoints (`<out>/checkpoints/step_NNNNNNNNN/`):
    manifest.json        format, step, data position, counters, SAE config, train config, mode, world
                         size, and the shard table: rank, latent rows [lo, hi), file, sha256
    shard-RRRRR.safetensors   rows [lo, hi) of W_enc, b_enc, W_dec (+ b_dec), Adam's exp_avg/exp_avg_sq
                         for each, the dead-latent counters of those rows
Every rank writes its shard into a temporary directory, rank 0 writes the manifest last and renames the
directory into place, then replaces `checkpoints/LATEST` atomically: a crash leaves the previous
checkpoint intact. dp checkpoints have one shard (rank 0's; the others are identical). A checkpoint is a
set of row ranges, so it can be resumed with another world size or the other mode (rows are re-cut);
with the same world size and mode, resume continues bit for bit. Checkpoints live on a filesystem every
rank can read (the usual shared /checkpoint volume of a cluster).

The finished SAE is gathered to rank 0 and written in the native format (`sae.safetensors` + `cfg.json`,
exported: norm scalar and decoder norms folded), with `metrics.jsonl` and `summary.json`, the same
directory layout `monoscope.sae.train_sae` writes.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from safetensors import safe_open
from safetensors.torch import save_file

from ..fileio import atomic_write_text, sha256_file
from ..sae.config import SAEConfig, SAEError
from ..sae.formats import build_sae, save_sae
from ..sae.schedules import lr_factor, sparsity_coeff
from ..sae.trainer import CKPT_DIR, TrainConfig, default_lr, latest_checkpoint, truncate_metrics
from . import comm
from .comm import DistEnv, all_reduce_, shard_range
from .data import BatchStream, auto_norm_scalar
from .sharded import SHARDABLE, ShardedSAE

CKPT_FORMAT = "monoscope-dist-checkpoint"
CKPT_VERSION = 1
MODES = ("dp", "fs")
DP_ARCHS = ("relu", "topk", "jumprelu")


@dataclass
class DistTrainResult:
    out_dir: Path | None
    steps: int
    tokens: int
    metrics: dict[str, float]
    seconds: float
    tokens_per_second: float
    world: int
    mode: str
    resumed_from: int | None = None
    sae: Any = None                         # the exported SAE on rank 0 (None elsewhere or when not gathered)
    history: list[dict] = field(default_factory=list)


class DistributedTrainer:
    """Train one SAE over the ranks of the current process group (world size 1 without one)."""

    def __init__(self, data: Any, cfg: SAEConfig, tcfg: TrainConfig, out_dir: str | Path | None = None,
                 mode: str = "dp", resume: bool = False, hook: str | None = None, env: DistEnv | None = None):
        if mode not in MODES:
            raise SAEError(f"mode must be one of {MODES}, got {mode!r}")
        self.env = env or comm.current(comm.pick_device(tcfg.device, int(os.environ.get("LOCAL_RANK", "0"))))
        self.rank, self.world, self.device = self.env.rank, self.env.world, self.env.device
        self.mode, self.tcfg = mode, tcfg
        self.total = tcfg.resolve_steps()
        self.out = Path(out_dir) if out_dir is not None else None
        B = tcfg.batch_size
        if mode == "dp":
            if cfg.architecture not in DP_ARCHS:
                raise SAEError(f"data-parallel training supports {', '.join(DP_ARCHS)}; {cfg.architecture} selects "
                               f"latents across the whole batch, which would differ per rank")
            if B % self.world:
                raise SAEError(f"the batch size {B} must be divisible by the world size {self.world} (each rank "
                               f"takes B/W rows of every batch)")
            lo, hi = self.rank * B // self.world, (self.rank + 1) * B // self.world
        else:
            if cfg.architecture not in SHARDABLE:
                raise SAEError(f"feature sharding supports {', '.join(SHARDABLE)}, not {cfg.architecture!r}")
            if cfg.n_latents < self.world:
                raise SAEError(f"{cfg.n_latents} latents cannot be split over {self.world} ranks")
            lo, hi = 0, B
        self.stream = BatchStream(data, B, hook=hook or cfg.hook, seed=tcfg.seed, lo=lo, hi=hi)
        if self.stream.d_in is not None and self.stream.d_in != cfg.d_in:
            raise SAEError(f"the store's activations have width {self.stream.d_in}, but the SAE config says "
                           f"d_in={cfg.d_in}")
        if self.stream.kind == "store":
            cfg = replace(cfg, hook=self.stream.hook, model=cfg.model or self.stream.model)
        self.cfg = cfg
        self.autocast = tcfg.autocast if tcfg.autocast is not None else self.device.type == "cuda"
        self.lr = tcfg.lr if tcfg.lr is not None else default_lr(cfg)
        self.step = self.data_pos = self.tokens = self.skipped = self.nonfinite = 0
        self.resumed_from: int | None = None
        self.history: list[dict] = []

        ckpt = latest_checkpoint(self.out, "manifest.json")
        if ckpt is not None and not resume:
            raise SAEError(f"{self.out} already holds a training run (checkpoint {ckpt.name}); pass resume=True "
                           f"(--resume) to continue it, or choose another output directory. Nothing was changed.")
        # the latent rows this rank holds
        if mode == "fs":
            self.lo, self.hi = shard_range(cfg.n_latents, self.world, self.rank)
            self.sae = ShardedSAE(cfg, self.lo, self.hi)
        else:
            self.lo, self.hi = 0, cfg.n_latents
            self.sae = build_sae(cfg)
        if ckpt is None:
            if mode == "fs":
                self.sae.init_weights(tcfg.seed)
            else:
                self.sae.init_weights(torch.Generator().manual_seed(tcfg.seed))
        self.sae.to(self.device)
        self.opt = torch.optim.Adam(self.sae.parameters(), lr=self.lr, betas=tuple(tcfg.betas), eps=tcfg.eps,
                                    weight_decay=0.0)
        self.since_fired = torch.zeros(self.hi - self.lo, dtype=torch.long, device=self.device)
        if ckpt is not None:
            self._load_checkpoint(ckpt)
        else:
            self._set_norm_scalar()
            if mode == "dp":
                self._broadcast_params()

    # ---- setup ------------------------------------------------------------------------------------
    def _set_norm_scalar(self) -> None:
        t = self.tcfg
        if self.stream.kind == "store":
            c = float(self.stream.store_norm_scalar)
        elif t.norm_scalar == "auto":
            c = auto_norm_scalar(self.stream.peek_global(8), self.cfg.d_in)
        elif t.norm_scalar is None:
            c = 1.0
        else:
            c = float(t.norm_scalar)
        self.cfg.norm_scalar = float(c)
        self.sae.cfg.norm_scalar = float(c)
        self.input_scale = 1.0 if self.stream.kind == "store" else float(c)

    @torch.no_grad()
    def _broadcast_params(self) -> None:
        if comm.is_initialized() and self.world > 1:
            for p in self.sae.parameters():
                dist.broadcast(p.data, 0)
            for b in self.sae.buffers():
                dist.broadcast(b, 0)

    # ---- checkpoints ------------------------------------------------------------------------------
    def _row_tensors(self) -> dict[str, torch.Tensor]:
        """This rank's rows of everything that is per latent, plus the replicated tensors."""
        sae, opt = self.sae, self.opt
        out: dict[str, torch.Tensor] = {}
        for name, p in sae.named_parameters():
            out[name] = p.detach()
            st = opt.state.get(p, {})
            for key in ("exp_avg", "exp_avg_sq"):
                if key in st:
                    out[f"adam.{key}.{name}"] = st[key]
        for name, b in sae.named_buffers():
            out[f"buffer.{name}"] = b
        out["since_fired"] = self.since_fired
        return {k: v.detach().contiguous().cpu() for k, v in out.items()}

    def _adam_step(self) -> int:
        for p in self.sae.parameters():
            st = self.opt.state.get(p, {})
            if "step" in st:
                return int(st["step"])
        return 0

    def _save_checkpoint(self) -> None:
        if self.out is None:
            return
        root = self.out / CKPT_DIR
        name = f"step_{self.step:09d}"
        final, tmp = root / name, root / f".tmp-{name}"
        if self.rank == 0:
            root.mkdir(parents=True, exist_ok=True)
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir()
        comm.barrier()
        writes = self.mode == "fs" or self.rank == 0
        entry = None
        if writes:
            fname = f"shard-{self.rank:05d}.safetensors"
            save_file(self._row_tensors(), str(tmp / fname), metadata={"format": CKPT_FORMAT})
            entry = {"rank": self.rank, "lo": self.lo, "hi": self.hi, "file": fname, "sha256": sha256_file(tmp / fname)}
        entries = [e for e in comm.all_gather_objects(entry) if e is not None]
        if self.rank == 0:
            manifest = {
                "format": CKPT_FORMAT, "format_version": CKPT_VERSION, "step": self.step,
                "data_pos": self.data_pos, "tokens": self.tokens, "skipped": self.skipped,
                "nonfinite": self.nonfinite, "input_scale": self.input_scale, "norm_scalar": self.cfg.norm_scalar,
                "total_steps": self.total, "adam_step": self._adam_step(), "mode": self.mode,
                "world_size": self.world, "n_latents": self.cfg.n_latents, "sae_config": self.cfg.to_dict(),
                "train_config": json.loads(json.dumps(asdict(self.tcfg), default=str)), "shards": entries,
            }
            atomic_write_text(tmp / "manifest.json", json.dumps(manifest, indent=1))
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            atomic_write_text(root / "LATEST", name)
            ckpts = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step_"))
            for old in ckpts[:-max(1, self.tcfg.keep_checkpoints)]:
                shutil.rmtree(old, ignore_errors=True)
        comm.barrier()

    def _load_checkpoint(self, ckpt: Path) -> None:
        man = read_checkpoint_manifest(ckpt)
        old = SAEConfig.from_dict(man["sae_config"])
        for name in ("architecture", "d_in", "n_latents", "k"):
            if getattr(old, name) != getattr(self.cfg, name):
                raise SAEError(f"the checkpoint in {self.out} has {name}={getattr(old, name)!r}, the requested SAE "
                               f"{name}={getattr(self.cfg, name)!r}; nothing was changed")
        if man["world_size"] != self.world or man["mode"] != self.mode:
            if self.rank == 0:
                warnings.warn(f"resuming a {man['mode']} run of {man['world_size']} rank(s) as a {self.mode} run of "
                              f"{self.world}: rows are re-cut; results equal the original run up to rounding")
        rows = load_rows(ckpt, man, self.lo, self.hi, verify=True)
        sae = self.sae
        with torch.no_grad():
            for name, p in sae.named_parameters():
                p.copy_(rows[name].to(p.dtype))
            for name, b in sae.named_buffers():
                if f"buffer.{name}" in rows:
                    b.copy_(rows[f"buffer.{name}"])
        step_t = man["adam_step"]
        if step_t > 0:
            for name, p in sae.named_parameters():
                if f"adam.exp_avg.{name}" in rows:
                    self.opt.state[p] = {"step": torch.tensor(float(step_t)),
                                         "exp_avg": rows[f"adam.exp_avg.{name}"].to(self.device).clone(),
                                         "exp_avg_sq": rows[f"adam.exp_avg_sq.{name}"].to(self.device).clone()}
        self.since_fired = rows["since_fired"].to(self.device).clone()
        self.step, self.data_pos, self.tokens = man["step"], man["data_pos"], man["tokens"]
        self.skipped, self.nonfinite = man["skipped"], man["nonfinite"]
        self.input_scale = man["input_scale"]
        self.cfg.norm_scalar = self.sae.cfg.norm_scalar = float(man["norm_scalar"])
        if man.get("total_steps") not in (None, self.total) and self.rank == 0:
            warnings.warn(f"resuming a {man['total_steps']}-step run as a {self.total}-step run: the learning-rate "
                          f"and λ schedules change from here on")
        self.resumed_from = self.step
        if self.rank == 0:
            truncate_metrics(self.out, self.step)

    # ---- one step's collectives -------------------------------------------------------------------
    def _global_flag(self, ok: bool) -> bool:
        """True iff `ok` on every rank (dp slices differ; fs ranks see the same batch)."""
        if self.mode == "fs" or self.world == 1:
            return ok
        t = torch.tensor([0.0 if ok else 1.0], device=self.device)
        return float(all_reduce_(t, "max")[0]) == 0.0

    @torch.no_grad()
    def _reduce_grads(self) -> None:
        W = self.world
        if W == 1:
            return
        if self.mode == "dp":
            for p in self.sae.parameters():
                if p.grad is not None:
                    all_reduce_(p.grad, "sum").div_(W)
        else:
            g = self.sae.b_dec.grad
            if g is not None:
                all_reduce_(g, "sum").div_(W)

    @torch.no_grad()
    def _clip(self, max_norm: float) -> torch.Tensor:
        """torch.nn.utils.clip_grad_norm_ over the *global* parameter set."""
        if self.mode == "dp" or self.world == 1:
            return torch.nn.utils.clip_grad_norm_(self.sae.parameters(), max_norm)
        sq = torch.zeros((), dtype=torch.float32, device=self.device)
        for p in self.sae.sharded_parameters():
            if p.grad is not None:
                sq += p.grad.float().pow(2).sum()
        all_reduce_(sq.reshape(1), "sum")
        for p in self.sae.replicated_parameters():
            if p.grad is not None:
                sq += p.grad.float().pow(2).sum()
        total = sq.sqrt()
        coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for p in self.sae.parameters():
            if p.grad is not None:
                p.grad.mul_(coef.to(p.grad.dtype))
        return total

    # ---- training ---------------------------------------------------------------------------------
    def run(self, stop_after: int | None = None, gather: bool = True) -> DistTrainResult:
        """Train to the configured step count (or stop after `stop_after` more steps). With `gather`, the
        finished SAE is assembled on rank 0, exported and (with an output directory) saved."""
        t, cfg, sae, opt = self.tcfg, self.cfg, self.sae, self.opt
        arch = cfg.architecture
        sae.train(True)
        main = self.rank == 0
        metrics_f = None
        if self.out is not None and main:
            self.out.mkdir(parents=True, exist_ok=True)
            metrics_f = open(self.out / "metrics.jsonl", "a")
        bar = None
        if main and t.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.total, initial=self.step, desc=f"train {arch} {self.mode}×{self.world}",
                       unit="step", dynamic_ncols=True)
        B = t.batch_size
        window: torch.Tensor | None = None
        n_window = 0
        bad_run = 0
        t0 = time.perf_counter()
        start_step, start_tokens = self.step, self.tokens
        last: dict = {}
        it = self.stream.iterate(self.data_pos)
        ac = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast)
        stat_names = ("loss", "mse", "fvu", "l0", "sparsity", "aux")
        try:
            while self.step < self.total and (stop_after is None or self.step - start_step < stop_after):
                try:
                    x = next(it)
                except StopIteration:
                    if main:
                        warnings.warn(f"the training data ran out after {self.data_pos} batches at step "
                                      f"{self.step} of {self.total}")
                    break
                self.data_pos += 1
                x = x.to(self.device, non_blocking=True)
                if self.input_scale != 1.0:
                    x = x * self.input_scale
                if not self._global_flag(bool(torch.isfinite(x).all())):
                    self.skipped += 1
                    bad_run += 1
                    if bad_run >= t.max_bad_batches:
                        raise SAEError(f"{bad_run} consecutive batches held NaN/inf values; the activations are "
                                       f"broken")
                    continue
                bad_run = 0
                if self.step == 0 and t.b_dec_init == "mean":
                    with torch.no_grad():
                        s = x.sum(0, dtype=torch.float32)
                        if self.mode == "dp":
                            all_reduce_(s, "sum")
                        sae.b_dec.copy_(s / B)
                lr = self.lr * lr_factor(self.step, self.total, t.lr_warmup_steps, t.lr_decay_frac, t.lr_decay_to)
                for g in opt.param_groups:
                    g["lr"] = lr
                kw: dict[str, Any] = {}
                if arch in ("relu", "jumprelu"):
                    kw["l1_coeff"] = sparsity_coeff(self.step, self.total, cfg.l1_coeff, t.l1_warmup_frac)
                dead = self.since_fired >= t.dead_window(self.total)
                if arch == "topk" and t.aux_coeff > 0:
                    kw.update(dead_mask=dead, aux_k=t.aux_k, aux_coeff=t.aux_coeff)
                    if self.mode == "fs":
                        kw["n_dead"] = int(all_reduce_(dead.sum().reshape(1), "sum")[0])
                with ac:
                    out = sae(x, normalized=True, **kw) if self.mode == "dp" else sae(x, **kw)
                loss = out.loss.float()
                if not self._global_flag(bool(torch.isfinite(loss))):
                    self.nonfinite += 1
                    bad_run += 1
                    if bad_run >= t.max_bad_batches:
                        raise SAEError(f"the loss was NaN/inf {bad_run} times in a row; lower the learning rate")
                    continue
                opt.zero_grad(set_to_none=True)
                loss.backward()
                self._reduce_grads()
                sae.remove_parallel_decoder_grad()
                if t.grad_clip and t.grad_clip > 0:
                    self._clip(t.grad_clip)
                opt.step()
                sae.after_step()
                with torch.no_grad():
                    stats = torch.stack([getattr(out, k).detach().float().reshape(()) for k in stat_names])
                    fired = out.fired
                    if self.mode == "dp" and self.world > 1:
                        packed = all_reduce_(torch.cat([stats, fired.float()]), "sum")
                        stats, fired = packed[:len(stat_names)] / self.world, packed[len(stat_names):] > 0
                    self.since_fired += B
                    self.since_fired.masked_fill_(fired, 0)
                self.step += 1
                self.tokens += B
                window = stats if window is None else window + stats
                n_window += 1
                if bar is not None:
                    bar.update(1)
                if self.step % t.log_every == 0 or self.step == self.total:
                    dead_frac = dead.float().sum()
                    if self.mode == "fs":
                        dead_frac = all_reduce_(dead_frac.reshape(1), "sum")[0]
                    rec = {"step": self.step, "tokens": self.tokens, "lr": lr,
                           **{k: v / n_window for k, v in zip(stat_names, window.tolist())},
                           "dead_frac": float(dead_frac) / cfg.n_latents, "skipped_batches": self.skipped,
                           "elapsed_s": round(time.perf_counter() - t0, 3), "world": self.world, "mode": self.mode}
                    if "l1_coeff" in kw:
                        rec["l1_coeff"] = kw["l1_coeff"]
                    last = rec
                    self.history.append(rec)
                    window, n_window = None, 0
                    if metrics_f is not None:
                        metrics_f.write(json.dumps(rec) + "\n")
                        metrics_f.flush()
                    if bar is not None:
                        bar.set_postfix(L0=f"{rec['l0']:.1f}", FVU=f"{rec['fvu']:.3f}",
                                        dead=f"{100 * rec['dead_frac']:.1f}%")
                if t.checkpoint_every and self.step % t.checkpoint_every == 0 and self.step < self.total:
                    self._save_checkpoint()
        finally:
            if bar is not None:
                bar.close()
            if metrics_f is not None:
                metrics_f.close()
        seconds = time.perf_counter() - t0
        done = self.step >= self.total
        if self.out is not None:
            self._save_checkpoint()
        exported = None
        if gather:
            full = self.gather_full()
            if full is not None:
                exported = full.exported()
                if self.out is not None and done:
                    save_sae(exported, self.out)
        tokens_run = self.tokens - start_tokens
        dead_n = (self.since_fired >= t.dead_window(self.total)).float().sum()
        if self.mode == "fs":
            dead_n = all_reduce_(dead_n.reshape(1), "sum")[0]
        summary = {"steps": self.step, "total_steps": self.total, "tokens": self.tokens,
                   "skipped_batches": self.skipped, "nonfinite_steps": self.nonfinite,
                   "dead_frac": float(dead_n) / cfg.n_latents, "seconds": seconds,
                   "tokens_per_second": tokens_run / max(seconds, 1e-9), "last": last,
                   "data": self.stream.describe(), "norm_scalar": cfg.norm_scalar, "finished": done,
                   "mode": self.mode, "world_size": self.world, "backend": self.env.backend,
                   "device": str(self.device)}
        if self.out is not None and main:
            atomic_write_text(self.out / "summary.json", json.dumps(summary, indent=2, default=str))
        sae.train(False)
        return DistTrainResult(out_dir=self.out, steps=self.step, tokens=self.tokens, metrics=last, seconds=seconds,
                               tokens_per_second=summary["tokens_per_second"], world=self.world, mode=self.mode,
                               resumed_from=self.resumed_from, sae=exported, history=self.history)

    # ---- assembling the whole SAE -----------------------------------------------------------------
    @torch.no_grad()
    def gather_full(self, chunk_rows: int = 1 << 16):
        """The whole SAE (training space, on CPU) on rank 0; None on the other ranks. fs shards are sent to
        rank 0 in row chunks, so no device ever holds more than its shard plus one chunk per rank."""
        if self.mode == "dp" or self.world == 1:
            if self.rank != 0:
                return None
            if self.mode == "dp":
                full = build_sae(self.cfg)
                full.load_state_dict({k: v.detach().cpu() for k, v in self.sae.state_dict().items()})
                return full
        sae = self.sae
        n, d, W = self.cfg.n_latents, self.cfg.d_in, self.world
        ranges = [shard_range(n, W, r) for r in range(W)]
        max_rows = max(h - l for l, h in ranges)
        full_t = {"W_enc": torch.empty(n, d), "b_enc": torch.empty(n), "W_dec": torch.empty(n, d)} \
            if self.rank == 0 else None
        for name in ("W_enc", "b_enc", "W_dec"):
            local = getattr(sae, name).detach()
            for c in range(0, max_rows, chunk_rows):
                m = min(chunk_rows, max_rows - c)
                piece = torch.zeros((m,) + tuple(local.shape[1:]), dtype=local.dtype, device=local.device)
                have = max(0, min(m, local.shape[0] - c))
                if have:
                    piece[:have] = local[c:c + have]
                if W > 1:
                    bucket = [torch.empty_like(piece) for _ in range(W)] if self.rank == 0 else None
                    dist.gather(piece, bucket, dst=0)
                else:
                    bucket = [piece]
                if self.rank == 0:
                    for r, (lo, hi) in enumerate(ranges):
                        take = max(0, min(m, hi - lo - c))
                        if take:
                            full_t[name][lo + c:lo + c + take] = bucket[r][:take].cpu()
        if self.rank != 0:
            return None
        full = build_sae(self.cfg)
        full_t["b_dec"] = sae.b_dec.detach().cpu()
        full.load_state_dict(full_t)
        return full


# ---- checkpoint reading (also usable offline, without a process group) ------------------------------
def read_checkpoint_manifest(ckpt: str | Path) -> dict:
    ckpt = Path(ckpt)
    try:
        man = json.loads((ckpt / "manifest.json").read_text())
    except FileNotFoundError:
        raise SAEError(f"{ckpt} has no manifest.json: not a distributed checkpoint") from None
    except json.JSONDecodeError as e:
        raise SAEError(f"{ckpt}/manifest.json is not valid JSON ({e})") from None
    if man.get("format") != CKPT_FORMAT:
        raise SAEError(f"{ckpt}/manifest.json is a {man.get('format')!r} file, not {CKPT_FORMAT!r}")
    if int(man.get("format_version", 0)) > CKPT_VERSION:
        raise SAEError(f"{ckpt} has checkpoint format_version {man['format_version']}; upgrade monoscope")
    return man


def load_rows(ckpt: str | Path, man: dict, lo: int, hi: int, verify: bool = True) -> dict[str, torch.Tensor]:
    """Rows [lo, hi) of every per-latent tensor in a checkpoint, cut from whichever shards hold them;
    replicated tensors (b_dec) come from the first shard."""
    ckpt = Path(ckpt)
    n = man["n_latents"]
    covered = sorted((s["lo"], s["hi"]) for s in man["shards"])
    pos = 0
    for a, b in covered:
        if a > pos:
            break
        pos = max(pos, b)
    if pos < n:
        raise SAEError(f"checkpoint {ckpt} does not cover all {n} latents (shards: {covered})")
    parts: dict[str, list[torch.Tensor]] = {}
    replicated: dict[str, torch.Tensor] = {}
    for s in sorted(man["shards"], key=lambda s: s["lo"]):
        path = ckpt / s["file"]
        if not path.exists():
            raise SAEError(f"checkpoint {ckpt} lacks {s['file']} (rank {s['rank']}'s shard)")
        a, b = max(lo, s["lo"]), min(hi, s["hi"])
        if a >= b and replicated:
            continue
        if verify and sha256_file(path) != s["sha256"]:
            raise SAEError(f"checkpoint shard {path} fails its checksum; the file is corrupt")
        rows = s["hi"] - s["lo"]
        with safe_open(str(path), framework="pt") as f:          # read only the rows we need
            for k in f.keys():
                sl = f.get_slice(k)
                shape = sl.get_shape()
                if len(shape) >= 1 and shape[0] == rows and not k.endswith("b_dec"):
                    if a < b:
                        parts.setdefault(k, []).append(sl[a - s["lo"]:b - s["lo"]])
                elif k not in replicated:
                    replicated[k] = f.get_tensor(k)
    out = {k: torch.cat(v) for k, v in parts.items()}
    out.update({k: v for k, v in replicated.items() if k not in out})
    return out


def merge_checkpoint(ckpt: str | Path, out: str | Path | None = None, export: bool = True):
    """Assemble a whole SAE from a (sharded) checkpoint without a process group; save it to `out`."""
    ckpt = Path(ckpt)
    if (ckpt / "LATEST").exists():
        ckpt = ckpt / (ckpt / "LATEST").read_text().strip()
    elif (ckpt / CKPT_DIR / "LATEST").exists():
        ckpt = ckpt / CKPT_DIR / (ckpt / CKPT_DIR / "LATEST").read_text().strip()
    man = read_checkpoint_manifest(ckpt)
    cfg = SAEConfig.from_dict(man["sae_config"])
    rows = load_rows(ckpt, man, 0, cfg.n_latents)
    sae = build_sae(cfg)
    sae.load_state_dict({k: rows[k] for k in sae.state_dict()})
    if export:
        sae = sae.exported()
    if out is not None:
        save_sae(sae, out)
    return sae


def train_distributed(data: Any, cfg: SAEConfig, out_dir: str | Path | None = None,
                      train_cfg: TrainConfig | None = None, *, mode: str = "dp", resume: bool = False,
                      hook: str | None = None, **train_overrides) -> DistTrainResult:
    """Train on the current process group (call after `comm.init_from_env()`, e.g. under torchrun)."""
    tcfg = replace(train_cfg or TrainConfig(), **train_overrides)
    return DistributedTrainer(data, cfg, tcfg, out_dir, mode=mode, resume=resume, hook=hook).run()

