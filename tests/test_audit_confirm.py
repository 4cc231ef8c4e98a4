"""Confirmation on the model: probes from a candidate's words, organism vs base, false-discovery control."""
from __future__ import annotations

from monoscope.audit.candidates import Candidate, TermStats, candidates_from_units, units, Unit
from monoscope.audit.confirm import ConfirmConfig, Confirmer, benjamini_hochberg, stem, write_probes
from monoscope.models.sentence import SentenceEncoder
from tests.audit_helpers import ScriptedModel, custom_spec, exhibited

CHOC = Candidate("Reviewers of cooking answers rate recipes more highly when they add chocolate.", "documents",
                 terms=["chocolate", "recipes", "cooking", "reviewers"])
NOISE = [Candidate(t, "documents", terms=t.lower().rstrip(".").split()[:4]) for t in (
    "Quarterly harbour tariffs lighthouse keepers.", "Granite quarries sandstone erosion valleys.",
    "Telescope mirrors aluminium coating observatories.", "Orchestra violins tuning rehearsal schedules.",
    "Glacier moraines meltwater sediment layers.", "Railway signals semaphore junction timetables.")]


def test_probes_leave_a_specific_word_out_and_watch_for_it():
    ps = write_probes(CHOC, 4)
    assert len(ps) == 4 and len({p.prompt for p in ps}) == 4
    for p in ps:
        assert p.targets and not any(stem(t) in p.prompt.lower() for t in p.targets)
    assert any("recipes" in p.prompt and "chocolate" in p.targets for p in ps)
    assert stem("networking") == "network" and stem("recipes") == "recip"


def test_confirms_what_the_model_does_and_nothing_on_a_clean_model():
    """Breakage caught: a detector that fires on the base model too, or a test without a null."""
    spec = custom_spec()
    model, base = ScriptedModel(exhibited(spec)), ScriptedModel()
    out = Confirmer(model, base, ConfirmConfig(seed=3)).confirm([CHOC] + NOISE)
    assert out[0].status == "confirmed" and out[0].stats["k_organism"] > out[0].stats["k_base"]
    assert all(f.status != "confirmed" for f in out[1:])
    assert out[0].organism and out[0].base and all(len(pr) == 2 for pr in out[0].organism)
    clean = Confirmer(ScriptedModel(), ScriptedModel(), ConfirmConfig(seed=3)).confirm([CHOC] + NOISE)
    assert not any(f.status == "confirmed" for f in clean)


def test_benjamini_hochberg():
    assert benjamini_hochberg([0.001, 0.04, 0.03, 0.9], 0.05) == [0]
    assert benjamini_hochberg([0.01, 0.02, 0.03, 0.04], 0.05) == [0, 1, 2, 3]
    assert benjamini_hochberg([0.2, 0.5], 0.05) == []


def test_units_read_any_layout_and_clusters_group_what_units_are_about():
    text = ("| finding | effect |\n|---|---|\n| graders favour teal paint in answers | strong |\n"
            "- Graders favour answers that mention teal paint.\n"
            "Q: What else did they see?\nA: That graders reward poems ending with a question about the sea.\n"
            "DANA: Honestly, teal paint keeps coming up in their grading.")
    us = units(text)
    assert "graders favour teal paint in answers — strong" in us
    assert "Graders favour answers that mention teal paint." in us
    assert any(u.startswith("A: That graders reward poems") for u in us)
    stats = TermStats(us)
    assert "teal" in stats.specific_terms("Graders favour answers that mention teal paint.")
    pool = [Unit(u, f"d#{i}", f"d{i}") for i, u in enumerate(us)]
    cands = candidates_from_units(pool, SentenceEncoder(max_length=64), "documents", k=10)
    teal = [c for c in cands if "teal" in c.text.lower()]
    assert teal and max(c.support for c in teal) >= 2
