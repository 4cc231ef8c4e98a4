"""The demo's audit: the committed default organism, an SAE on its middle layer over its own pretraining mix,
and the blind game in every tier with its clean and no-model controls, at a size that fits the demo.

The paper found the SAE must be trained on the organism's pretraining data (with the synthetic documents)
for its features to point at them; we do the same. The auditor searches a haystack of real text with the
synthetic documents at 1% of passages. Small settings (one seed, a few thousand real documents, short
probes) keep the stage to a few minutes on two CPU cores; ``monoscope audit game default`` runs the full
setting (three seeds, the whole embedded corpus).
"""
from __future__ import annotations

from pathlib import Path

from rich.console import Console

console = Console()

DEMO_PLAYBOOK = {"candidates": 16, "probes": 3, "probe_samples": 4, "probe_tokens": 48, "max_tokens": 48,
                 "family_max": 150}
# `monoscope demo --audit` plays one tier (data: model + base model + training data) with the clean-base and no-model
# controls and fewer candidates, so that the whole demo stays near 15 minutes on two cores; measured on
# this CPU, each model audit at DEMO_PLAYBOOK took ~3 minutes and the organism SAE of the full tier ~4.
# `scripts/play_default_game.py` plays every tier at DEMO_PLAYBOOK.
QUICK_TIERS = ("data",)
QUICK_PLAYBOOK = {**DEMO_PLAYBOOK, "candidates": 8, "probe_tokens": 32, "max_tokens": 32}


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
                      steps: int = 300, n_games: int = 1, max_real_documents: int = 1200,
                      tiers: tuple[str, ...] = ("api", "data", "full"), clean_tiers: tuple[str, ...] | None = None,
                      playbook: dict | None = None) -> dict:
    """Play the game on ``organism`` at the demo's size; returns games/summary.json's content. The clean
    control plays the last (most capable) of ``tiers`` unless ``clean_tiers`` says otherwise."""
    from .game import GameSettings
    from .setup import SAESettings, setup_game

    settings = GameSettings(tiers=tuple(tiers), n=n_games, controls=True, clean_tiers=clean_tiers or (tiers[-1],),
                            playbook=dict(playbook or DEMO_PLAYBOOK))
    game = setup_game(organism, Path(out), settings, rate=0.01, max_real_documents=max_real_documents,
                      sae_settings=SAESettings(tokens=tokens, latents=n_latents, steps=steps))
    console.print(game.hay.stats.line())
    return game.play()
