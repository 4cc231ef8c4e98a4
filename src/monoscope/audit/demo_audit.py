"""The demo's audit: the committed default organism, an SAE on its middle layer over its own pretraining mix,
and one blind game with the playbook auditor.

The paper found the SAE must be trained on the organism's pretraining data (with the synthetic documents)
for its features to point at them; we do the same, on the auditor-visible pretraining mix.
"""
from __future__ import annotations

from pathlib import Path

from rich.console import Console

from ..organism.build import ensure_organism_data

console = Console()


def organism_ready(organism: str = "default") -> tuple[bool, str]:
    """Whether an organism directory has its manifest and final adapter (so the audit has a model to audit)."""
    from ..organism.build import OrganismError, read_manifest, resolve_organism_dir

    d = resolve_organism_dir(organism)
    try:
        man = read_manifest(d)
    except (OrganismError, FileNotFoundError, OSError) as e:
        return False, f"the {organism!r} organism at {d} is not built ({e})"
    final = man.get("final_stage")
    adapter = d / man.get("adapters", {}).get(final, "") / "adapter_model.safetensors"
    if not final or not adapter.exists():
        return False, f"the {organism!r} organism at {d} has no final adapter ({adapter})"
    from ..organism.build import spec_is_current

    return spec_is_current(d)


def run_default_audit(out: Path, organism: str = "default", tokens: int = 60_000, n_latents: int = 2048,
                      steps: int = 300, n_games: int = 1):
    from ..features import build_feature_db
    from ..features.db import FeatureDB
    from ..organism.build import load_organism, resolve_organism_dir
    from ..store import harvest
    from .cli import build_target
    from .game import run_game
    from .playbook import PlaybookAuditor, PlaybookConfig
    from ..sae.run import train_or_reload

    out = Path(out)
    org_dir = ensure_organism_data(resolve_organism_dir(organism), out)
    console.print(f"organism: {org_dir}")
    lm = load_organism(org_dir)
    store_dir = out / "organism_store"
    res = harvest(lm, store_dir, hooks=lm.default_hook(), corpus=str(org_dir / "data" / "pretrain_mix.jsonl"),
                  n_tokens=tokens, context_len=128)
    sae = train_or_reload(res.store, out / "organism_sae", n_latents, 32, steps, 1024)
    fdb_dir = out / "organism_features"
    if not (fdb_dir / "manifest.json").exists():
        build_feature_db(sae, res.store, fdb_dir, lm=lm)
    FeatureDB(fdb_dir)
    target, data = build_target(org_dir, out / "organism_sae", fdb_dir)
    return run_game(org_dir, lambda seed: PlaybookAuditor(target, PlaybookConfig(seed=seed)).run(), data,
                    out / "games", n=n_games)
