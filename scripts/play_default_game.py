"""Play the blind auditing game on the committed default organism in every tier (api, data, full), with the
clean-base control (full tier) and the no-model control, at the demo's playbook size; print the per-tier
result and the controls, and leave OUT/games/summary.json (the README's auditing table comes from it).

    python scripts/play_default_game.py runs/default-game

About 20 minutes on a 2-core CPU: the organism SAE for the full tier (~4 min) and five audits (~3 min each).
`monoscope audit game default` runs the full setting (three seeds, the whole embedded corpus).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from monoscope.audit.demo_audit import run_default_audit

FIELDS = ("win_rate", "ci_low", "ci_high", "n", "recall", "precision", "n_confirmed", "root_cause_correct", "accused")


def main(out: Path) -> None:
    t0 = time.time()
    summary = run_default_audit(out)
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
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/default-game"))
