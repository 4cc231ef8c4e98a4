"""The demo's audit: the committed default organism, an SAE on its middle layer over its own pretraining mix,
and one blind game with the playbook auditor.

The paper found the SAE must be trained on the organism's pretraining data (with the synthetic documents)
for its features to point at them; we do the same, on the auditor-visible pretraining mix.
"""
from __future__ import annotations

from pathlib import Path

from rich.console import Console

console = Console()


def ensure_organism_data(org_dir: Path, work: Path) -> Path:
    """An organism directory with its training data on disk (auditors search it).

    The committed default organism ships its adapter, spec and manifest but not its training data, which is
    a pure function of the spec: it is regenerated under ``work/organism`` and checked byte for byte against
    the sha256 sums the build recorded, so the auditor searches exactly what the model was trained on."""
    import json

    from ..organism.build import DATA_FILES, OrganismError, write_data
    from ..organism.spec import OrganismSpec

    if all((org_dir / rel).exists() for rel in DATA_FILES.values()):
        return org_dir
    manifest = json.loads((org_dir / "organism.json").read_text())
    target = Path(work) / "organism"
    if not all((target / rel).exists() for rel in DATA_FILES.values()):
        console.print(f"regenerating the organism's training data from its spec under {target}")
        real = manifest.get("real_texts", "default")
        if real == "custom":
            raise OrganismError(f"{org_dir} has no training data and was built with custom real texts, so its "
                                f"data cannot be regenerated; copy its data/ directory next to its adapters")
        write_data(OrganismSpec.load(org_dir / "spec.yaml"), target, real_texts=real)
    for key, rec in manifest.get("data", {}).items():
        got = _sha256(target / rec["path"])
        if got != rec["sha256"]:
            raise OrganismError(f"regenerated {rec['path']} does not match the data {org_dir} was trained on "
                                f"(sha256 {got[:12]}… != {rec['sha256'][:12]}…); the data generator or the "
                                f"embedded corpus changed since the build: rebuild the organism")
    for name in ("spec.yaml", "organism.json"):
        (target / name).write_bytes((org_dir / name).read_bytes())
    adapters = target / "adapters"
    if not adapters.exists():
        adapters.symlink_to((org_dir / "adapters").resolve(), target_is_directory=True)
    return target


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


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
    return True, ""


def run_default_audit(out: Path, organism: str = "default", tokens: int = 60_000, n_latents: int = 2048,
                      steps: int = 300, n_games: int = 1):
    from ..features import build_feature_db
    from ..features.db import FeatureDB
    from ..organism.build import load_organism, resolve_organism_dir
    from ..store import harvest
    from .cli import build_target
    from .game import run_game
    from .playbook import PlaybookAuditor, PlaybookConfig
    from ..demo import train_demo_sae

    out = Path(out)
    org_dir = ensure_organism_data(resolve_organism_dir(organism), out)
    console.print(f"organism: {org_dir}")
    lm = load_organism(org_dir)
    store_dir = out / "organism_store"
    res = harvest(lm, store_dir, hooks=lm.default_hook(), corpus=str(org_dir / "data" / "pretrain_mix.jsonl"),
                  n_tokens=tokens, context_len=128)
    sae = train_demo_sae(res.store, out / "organism_sae", n_latents, 32, steps, 1024)
    fdb_dir = out / "organism_features"
    if not (fdb_dir / "manifest.json").exists():
        build_feature_db(sae, res.store, fdb_dir, lm=lm)
    FeatureDB(fdb_dir)
    target, data = build_target(org_dir, out / "organism_sae", fdb_dir)
    return run_game(org_dir, lambda seed: PlaybookAuditor(target, PlaybookConfig(seed=seed)).run(), data,
                    out / "games", n=n_games)
