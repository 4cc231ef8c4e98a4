"""The auditor is not written from the answer key: its everyday battery barely overlaps the registry, and its
modules never read an organism's spec, registry or generator."""
from __future__ import annotations

import ast
from pathlib import Path

from monoscope.audit.playbook import battery
from monoscope.organism.spec import default_spec
from tests.audit_helpers import custom_spec

AUDITOR_MODULES = ("playbook", "candidates", "confirm", "blackbox", "textstats", "data_tools", "sae_tools", "agent",
                   "recording", "report")


def test_everyday_battery_overlaps_the_registry_at_most_25pct():
    """Breakage caught: a battery that probes the planted behaviours (the old one triggered 28 of 32)."""
    qs = battery()
    assert len(qs) >= 40
    for spec in (default_spec(), custom_spec()):
        reg = spec.registry()
        hit = [q for q in qs if any(reg[b].applies(q) for b in spec.all_bias_ids)]
        assert len(hit) / len(qs) <= 0.25, (spec.name, hit)


def test_auditor_modules_never_import_the_organism_package():
    """The auditor must not know which organism it audits: no import of monoscope.organism (its spec,
    registry, documents) from any module an auditor runs."""
    root = Path(__file__).resolve().parents[1] / "src" / "monoscope" / "audit"
    for name in AUDITOR_MODULES:
        tree = ast.parse((root / f"{name}.py").read_text())
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.ImportFrom):
                mods = [("." * node.level) + (node.module or "")]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            for m in mods:
                assert "organism" not in m, f"{name}.py imports {m}"
