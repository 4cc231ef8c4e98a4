"""Training checkpoints: one format for one process and many, one directory per step for the whole run.

    <out>/checkpoints/LATEST                   name of the newest complete checkpoint
    <out>/checkpoints/step_NNNNNNNNN/          after N batches drawn (= optimizer steps unless some were skipped)
        data.json                              where the data stands: per rank, a batch count (stores, lists,
                                               factories) or a stream cursor (training from the model); the
                                               normalisation scalars; the world size
        rng-RRRRR.pt                           each rank's torch / numpy / python RNG states
        [<sae name>/]manifest.json             one per SAE: step, counters, SAE config, train config, strategy,
                                               world size, and the shard table: rank, latent rows [lo, hi),
                                               file, sha256, which tensors are per-latent rows (`row_keys`)
        [<sae name>/]shard-RRRRR.safetensors   rows [lo, hi) of every per-latent tensor (W_enc, b_enc, W_dec,
                                               thresholds …), their Adam moments and dead-latent counters,
                                               plus the replicated tensors (b_dec) in every shard

A run that trains one SAE keeps its files directly in the step directory; a run of several SAEs (several
hooks or widths from one forward pass) gives each its own sub-directory. Every rank writes its shard into a
temporary directory, rank 0 writes the manifests and `data.json` last and renames the directory into place,
then replaces LATEST atomically: a crash leaves the previous checkpoint intact. Because a checkpoint is a
table of row ranges, it can be resumed with another world size or the other distributed strategy (rows are
re-cut); with the same world size and strategy, resume continues bit for bit.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..fileio import atomic_write_text, sha256_file
from .config import SAEConfig, SAEError

CKPT_DIR = "checkpoints"
CKPT_FORMAT = "monoscope-dist-checkpoint"
CKPT_VERSION = 2
MANIFEST = "manifest.json"
DATA_STATE = "data.json"          # written last: its presence marks a complete checkpoint


def step_name(step: int) -> str:
    return f"step_{step:09d}"


def checkpoint_problem(ckpt: Path) -> str | None:
    """What makes a checkpoint unusable (None if intact): its data state, every SAE's manifest, and every
    shard file against its recorded sha256. Reading them costs one pass over the checkpoint: cheap next to
    training from a corrupt one."""
    if not (ckpt / DATA_STATE).exists():
        return f"no {DATA_STATE} (incomplete, or from an older checkpoint format)"
    try:
        json.loads((ckpt / DATA_STATE).read_text())
    except (json.JSONDecodeError, OSError) as e:
        return f"{DATA_STATE} is unreadable ({e})"
    dirs = member_dirs(ckpt)
    if not dirs:
        return f"no SAE {MANIFEST}"
    for name, d in dirs.items():
        try:
            man = read_checkpoint_manifest(d)
        except SAEError as e:
            return str(e)
        for sh in man.get("shards", []):
            path = d / sh["file"]
            if not path.exists():
                return f"{path.relative_to(ckpt)} is missing"
            if sha256_file(path) != sh["sha256"]:
                return f"checksum mismatch in {path.relative_to(ckpt)}"
    return None


def latest_checkpoint(out: Path | None, say=None) -> Path | None:
    """The newest intact checkpoint: the one `out/checkpoints/LATEST` names if it checks out, else the newest
    earlier one that does (each one skipped is reported through `say`, default `warnings.warn`). None when
    there is none at all; an error when checkpoints exist but none is intact (nothing to silently train over)."""
    if out is None:
        return None
    root = Path(out) / CKPT_DIR
    latest = root / "LATEST"
    if not latest.exists():
        return None
    named = root / latest.read_text().strip()
    steps = sorted((p for p in root.iterdir() if p.is_dir() and p.name.startswith("step_")), reverse=True)
    candidates = [named] + [p for p in steps if p != named and p.name < named.name]
    skipped = []
    for p in candidates:
        problem = checkpoint_problem(p) if p.exists() else "it does not exist"
        if problem is None:
            if skipped:
                (say or _warn)(f"checkpoint {skipped[0][0]} is unusable ({skipped[0][1]}); resuming from the newest "
                               f"intact one, {p.name}" + (f" (also skipped: {', '.join(n for n, _ in skipped[1:])})"
                                                          if len(skipped) > 1 else ""))
            return p
        skipped.append((p.name, problem))
    raise SAEError(f"no intact checkpoint in {root}: {skipped[0][0]}: {skipped[0][1]}"
                   + (f"; {len(skipped) - 1} older one(s) also unusable" if len(skipped) > 1 else "")
                   + f". Delete {root} to start over")


def _warn(msg: str) -> None:
    import warnings

    warnings.warn(msg, stacklevel=3)


def truncate_metrics(path: Path, step: int) -> None:
    """On resume, drop metric lines logged after the checkpoint's step, so the log matches one clean run."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
        except json.JSONDecodeError:
            continue
    atomic_write_text(path, "".join(k + "\n" for k in keep))


def prepare_dir(root: Path, name: str) -> Path:
    """The temporary directory a checkpoint is written into (rank 0 calls this, then all ranks write)."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{name}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    return tmp


def write_shard(directory: Path, rank: int, lo: int, hi: int, tensors: dict[str, torch.Tensor]) -> dict:
    """One rank's rows of one SAE; returns its entry of the manifest's shard table."""
    directory.mkdir(parents=True, exist_ok=True)
    fname = f"shard-{rank:05d}.safetensors"
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(directory / fname),
              metadata={"format": CKPT_FORMAT})
    return {"rank": rank, "lo": lo, "hi": hi, "file": fname, "sha256": sha256_file(directory / fname)}


def finish(root: Path, tmp: Path, name: str, keep: int) -> Path:
    """Rename a written checkpoint into place, point LATEST at it, prune old ones (rank 0)."""
    final = root / name
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    atomic_write_text(root / "LATEST", name)
    ckpts = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step_"))
    for old in ckpts[:-max(1, keep)]:
        shutil.rmtree(old, ignore_errors=True)
    return final


# ---- reading (also usable offline, without a process group) -----------------------------------------
def read_checkpoint_manifest(ckpt: str | Path) -> dict:
    ckpt = Path(ckpt)
    try:
        man = json.loads((ckpt / MANIFEST).read_text())
    except FileNotFoundError:
        raise SAEError(f"{ckpt} has no {MANIFEST}: not an SAE checkpoint") from None
    except json.JSONDecodeError as e:
        raise SAEError(f"{ckpt}/{MANIFEST} is not valid JSON ({e})") from None
    if man.get("format") != CKPT_FORMAT:
        raise SAEError(f"{ckpt}/{MANIFEST} is a {man.get('format')!r} file, not {CKPT_FORMAT!r}")
    if int(man.get("format_version", 0)) > CKPT_VERSION:
        raise SAEError(f"{ckpt} has checkpoint format_version {man['format_version']}; upgrade monoscope")
    return man


def read_data_state(ckpt: Path) -> dict:
    try:
        return json.loads((ckpt / DATA_STATE).read_text())
    except (FileNotFoundError, json.JSONDecodeError) as e:
        raise SAEError(f"{ckpt}/{DATA_STATE} is missing or unreadable ({e}); the checkpoint is corrupt") from None


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
    row_keys = set(man["row_keys"]) if "row_keys" in man else None
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
                per_row = (k in row_keys) if row_keys is not None else \
                    (len(shape) >= 1 and shape[0] == rows and not k.endswith("b_dec"))
                if per_row:
                    if a < b:
                        parts.setdefault(k, []).append(sl[a - s["lo"]:b - s["lo"]])
                elif k not in replicated:
                    replicated[k] = f.get_tensor(k)
    out = {k: torch.cat(v) for k, v in parts.items()}
    out.update({k: v for k, v in replicated.items() if k not in out})
    return out


def member_dirs(ckpt: Path) -> dict[str, Path]:
    """SAE name → its directory inside a checkpoint ("" for a one-SAE run)."""
    if (ckpt / MANIFEST).exists():
        return {"": ckpt}
    return {p.name: p for p in sorted(ckpt.iterdir()) if p.is_dir() and (p / MANIFEST).exists()}


def merge_checkpoint(ckpt: str | Path, out: str | Path | None = None, export: bool = True, name: str | None = None):
    """Assemble a whole SAE from a (sharded) checkpoint without a process group; save it to `out`.

    `ckpt` may be a run directory, its `checkpoints/` directory or one step directory; `name` picks an SAE of
    a several-SAE run."""
    ckpt = Path(ckpt)
    if (ckpt / "LATEST").exists():
        ckpt = ckpt / (ckpt / "LATEST").read_text().strip()
    elif (ckpt / CKPT_DIR / "LATEST").exists():
        ckpt = ckpt / CKPT_DIR / (ckpt / CKPT_DIR / "LATEST").read_text().strip()
    dirs = member_dirs(ckpt)
    if name is None and len(dirs) == 1:
        name = next(iter(dirs))
    if name not in dirs:
        raise SAEError(f"checkpoint {ckpt} holds SAEs {', '.join(map(repr, dirs)) or 'none'}; pick one with name=")
    man = read_checkpoint_manifest(dirs[name])
    cfg = SAEConfig.from_dict(man["sae_config"])
    rows = load_rows(dirs[name], man, 0, cfg.n_latents)
    from .formats import build_sae, save_sae

    sae = build_sae(cfg)
    state = sae.state_dict()
    sae.load_state_dict({k: rows[k] if k in rows else rows[f"buffer.{k}"] for k in state})
    if export:
        sae = sae.exported()
    if out is not None:
        save_sae(sae, out)
    return sae
