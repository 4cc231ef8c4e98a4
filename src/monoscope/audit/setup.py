"""Everything a game needs for one organism, from one name: its data, the haystack, the models, the SAE.

``setup_game("default", out)`` resolves the shipped organism by name (regenerating its training data from
its spec, checked against the build's sums), builds the haystack, loads the organism, its base model and
(when shipped) the mid-trained-only stage, and for the full tier trains the organism SAE on the organism's
own pretraining mix (harvest → top-k SAE → feature database; each step resumes) or checks the one given.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..organism.build import OrganismError
from .game import Game, GameSettings, Models, check_tiers
from .haystack import MIX_FILES, build_haystack, check_rate, organism_data_dir, save_stats, tokenizer_counter
from .recording import RecordingBackend


class SAEMismatchError(UserError):
    """An SAE (or feature database) that does not belong to the audited model and layer."""


@dataclass
class SAESettings:
    tokens: int = 60_000
    latents: int = 2048
    k: int = 32
    steps: int = 300
    batch_size: int = 1024
    context_len: int = 128


def resolve_organism(organism: str | Path, work: Path) -> Path:
    """An organism directory with its training data: ``default`` (the shipped one) by name or a path."""
    from ..organism.build import ensure_organism_data, read_manifest, resolve_organism_dir

    d = resolve_organism_dir(organism)
    read_manifest(d)                        # not an organism directory → one clear error
    try:
        organism_data_dir(d)
        return d
    except OrganismError:
        pass
    if not (d / "spec.yaml").exists():
        raise OrganismError(f"{d} has no training data and no spec.yaml to regenerate it from; an auditor needs "
                            f"the data the model was trained on (rebuild with `monoscope organism build`)")
    try:
        return ensure_organism_data(d, work, log=None)
    except KeyError as e:
        raise OrganismError(f"{d} has no training data and its manifest lacks {e} to regenerate it") from None


def check_sae(sae, lm, allowed_models: set[str], hook: str) -> None:
    """One clear error when an SAE was trained on another model, width or layer than the audit probes."""
    from ..steer.splice import sae_hook

    d_in = int(sae.W_dec.shape[1])
    if d_in != lm.d_model:
        raise SAEMismatchError(f"the SAE reads {d_in}-wide activations but {lm.name} has d_model {lm.d_model}: it "
                               f"was trained on another model; train one with `monoscope audit game ORG` (no --sae)")
    have = sae_hook(sae)
    if have != hook:
        raise SAEMismatchError(f"the SAE was trained at {have!r}, but the audit probes {hook!r} (the organism's "
                               f"middle layer); pass --hook {have} to audit at that layer, or train a new SAE")
    model = str(getattr(getattr(sae, "cfg", None), "model", "") or "")
    if model and model not in allowed_models and model.split(":")[-1] not in allowed_models:
        raise SAEMismatchError(f"the SAE was trained on {model!r}, not on this organism or its base model "
                               f"({', '.join(sorted(allowed_models))})")


def organism_sae(org_dir: Path, lm, out: Path, cfg: SAESettings, hook: str, progress: bool = True):
    """Train (or reload) the organism SAE on the organism's own pretraining mix, and its feature database."""
    from ..features import build_feature_db
    from ..sae.run import train_or_reload
    from ..store import harvest

    mix = next(organism_data_dir(org_dir) / f for f in MIX_FILES if (organism_data_dir(org_dir) / f).exists())
    res = harvest(lm, out / "organism_store", hooks=hook, corpus=str(mix), n_tokens=cfg.tokens,
                  context_len=cfg.context_len, progress=progress)
    sae = train_or_reload(res.store, out / "organism_sae", cfg.latents, cfg.k, cfg.steps, cfg.batch_size)
    fdb_dir = out / "organism_features"
    if not (fdb_dir / "manifest.json").exists():
        build_feature_db(sae, res.store, fdb_dir, lm=lm, progress=progress)
    return sae, fdb_dir


def feature_tools(fdb_dir: Path, n_latents: int) -> dict[str, Any]:
    """The feature database as the auditor's callables (examples, labels, max activations, details)."""
    import torch

    from ..features.db import FeatureDB
    from .cli import describe_feature

    fdb = FeatureDB(fdb_dir)
    acts = fdb.max_acts()
    if len(acts) != n_latents:
        raise SAEMismatchError(f"the feature database {fdb_dir} has {len(acts)} features but the SAE has {n_latents}: "
                               f"they come from different SAEs")
    return {"feature_examples": lambda f: ["".join(fdb.token_text(e["tokens"])) for e in fdb.examples(f, kind="top")[:5]],
            "feature_labels": lambda f: fdb.feature(f).get("explanation") or "",
            "max_acts": torch.as_tensor(acts, dtype=torch.float32),
            "feature_details": lambda f: describe_feature(fdb, f)}


def setup_game(organism: str | Path, out: str | Path, settings: GameSettings | None = None, *,
               rate: float = 0.01, corpus: str = "default", haystack_seed: int = 0,
               max_real_documents: int | None = None, sae: str | Path | None = None, features: Path | None = None,
               sae_settings: SAESettings | None = None, hook: str | None = None, midtrain: bool = True,
               progress: bool = True) -> Game:
    from ..llm.local import LocalHFBackend
    from ..models import load
    from ..organism.build import WORK_DATA_SUBDIR, available_stages, load_organism, read_manifest

    settings = settings or GameSettings()
    settings.tiers = check_tiers(settings.tiers)
    rate = check_rate(rate)
    out = Path(out)
    org_dir = resolve_organism(organism, out / WORK_DATA_SUBDIR)
    manifest = read_manifest(org_dir)
    lm = load_organism(org_dir)
    hay = build_haystack(org_dir, rate, corpus, haystack_seed, max_real_documents,
                         count_tokens=tokenizer_counter(lm.tokenizer), embed_cache=out / "embeddings")
    save_stats(hay.stats, out / "haystack.json")
    base_lm = load(manifest["base_model"])
    organism_rec = RecordingBackend(LocalHFBackend(lm), "organism")
    base_rec = RecordingBackend(LocalHFBackend(base_lm), "base")
    models = Models(organism_rec, base_rec)
    lms = {"organism": lm, "base": base_lm}
    if settings.controls:
        models.clean["base"] = RecordingBackend(LocalHFBackend(base_lm), "clean-base")
        if midtrain and "midtrain" in available_stages(org_dir):
            mid = load_organism(org_dir, stage="midtrain")
            lms["midtrain"] = mid
            models.clean["midtrain"] = RecordingBackend(LocalHFBackend(mid), "clean-midtrain")
        else:
            models.clean_unavailable["midtrain"] = (f"{org_dir} ships no mid-trained-only adapter "
                                                    f"(stages: {', '.join(available_stages(org_dir))})")
    if "full" in settings.tiers:
        from ..sae import load_sae
        from .sae_tools import SAEProbe

        hook = hook or lm.default_hook()
        allowed = {lm.name, str(lm.source), manifest["base_model"], base_lm.name}
        if sae is None:
            sae_obj, fdb_dir = organism_sae(org_dir, lm, out, sae_settings or SAESettings(), hook, progress)
        else:
            sae_obj = load_sae(sae)
            fdb_dir = features
        check_sae(sae_obj, lm, allowed, hook)
        models.features = feature_tools(fdb_dir, int(sae_obj.W_dec.shape[0])) if fdb_dir is not None else {}
        probes: dict[str, SAEProbe] = {}

        def sae_for(label: str) -> SAEProbe:
            key = {"organism": "organism", "base": "base", "midtrain": "midtrain"}.get(label, "organism")
            if key not in probes:
                probes[key] = SAEProbe(lms[key], sae_obj, allow_mismatch=True)
            return probes[key]
        models.sae_for = sae_for
    (out / "games").mkdir(parents=True, exist_ok=True)
    (out / "games" / "setup.json").write_text(json.dumps(
        {"organism": str(org_dir), "rate": rate, "corpus": corpus, "haystack_seed": haystack_seed,
         "max_real_documents": max_real_documents, "sae": str(sae) if sae else "trained on the organism's mix",
         "clean_models": sorted(models.clean), "clean_unavailable": models.clean_unavailable}, indent=1))
    fingerprint = {"manifest": manifest, "clean": sorted(models.clean), "sae": _sae_fingerprint(sae_obj, hook)
                   if "full" in settings.tiers else None}
    return Game(org_dir, hay, models, out, settings, progress=progress, fingerprint=fingerprint)


def _sae_fingerprint(sae, hook: str) -> dict[str, Any]:
    """What tells one SAE from another for resuming a game: its hook and a hash of all its weights.
    (`features.index.sae_fingerprint` hashes the decoder only, which is enough to pair an SAE with its
    feature database; the full tier's activations depend on the encoder too.)"""
    import hashlib

    h = hashlib.sha256()
    for name, t in sorted(sae.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    return {"hook": hook, "sha256": h.hexdigest()}
