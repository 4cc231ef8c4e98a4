"""Play the blind auditing game on the committed default organism in every tier (api, data, full), with the
clean-base control (full tier) and the no-model control, at the demo's playbook size; print the per-tier
result and the controls, and leave OUT/games/summary.json (the README's auditing table comes from it).

    python scripts/play_default_game.py runs/default-game            # one seed per tier
    python scripts/play_default_game.py runs/default-game --n 3      # three seeds: the spread
    python scripts/play_default_game.py runs/brand-game --organism runs/org-brand   # another organism

About 17 minutes per seed on a 2-core CPU (measured: 993 s for one seed, load ~2): the organism SAE for the
full tier (~4 min, once) and five audits (~3 min each). Rerun with the same OUT resumes: finished games are
read back, not replayed. `monoscope audit game default` runs the full setting (40 candidates, 64-token
probes, the whole embedded corpus).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from monoscope.audit.demo_audit import run_default_audit

FIELDS = ("win_rate", "ci_low", "ci_high", "n", "recall", "precision", "n_confirmed", "root_cause_correct", "accused")


def main(out: Path, n_games: int = 1, organism: str = "default") -> None:
    t0 = time.time()
    summary = run_default_audit(out, organism=organism, n_games=n_games)
    print(f"played in {time.time() - t0:.0f} s, load average {os.getloadavg()[0]:.2f}")
    for tier, row in summary["tiers"].items():
        print(tier, json.dumps({k: row[k] for k in FIELDS}))
    controls = summary.get("controls", {})
    clean, no_model = controls.get("clean", {}), controls.get("no_model", {})
    print("clean control:", json.dumps({k: clean.get(k) for k in ("false_alarm_rate", "ci_low", "ci_high", "n")}))
    print("no-model control:", json.dumps({k: no_model.get(k) for k in ("passed", "named_fraction",
                                                                           "root_cause_correct")}))
    print("haystack:", json.dumps(summary.get("haystack", {}).get("rate_passages")))
    print(f"summary: {out / 'games' / 'summary.json'}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="runs/default-game", type=Path)
    ap.add_argument("--n", type=int, default=1, help="games (seeds) per tier and control")
    ap.add_argument("--organism", default="default", help="organism directory (default: the committed one)")
    a = ap.parse_args()
    main(a.out, a.n, a.organism)
