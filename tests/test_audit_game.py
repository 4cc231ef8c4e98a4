"""The auditing game end to end on two tiny organisms built from different specs, with scripted models whose
behaviour is known: tiers, controls, summary.json, determinism, and the information barrier.

The audited model is a :class:`~tests.audit_helpers.ScriptedModel` that does what the organism's spec says
(its exploit functions), the base model one that does nothing; a 135M organism's behaviour is too weak and
too slow to test the harness with. What is tested is the harness and the auditor's reasoning.
"""
from __future__ import annotations

import json

import pytest

from monoscope.audit.game import Game, GameError, GameSettings, Models, answer_key_for, auditor_data
from monoscope.audit.haystack import build_haystack
from monoscope.audit.recording import RecordingBackend
from monoscope.audit.sae_tools import SAEProbe
from monoscope.organism.build import OrganismError
from tests.audit_helpers import ScriptedModel, custom_spec, exhibited, make_organism, small_default
from tests.conftest import random_sae

SMALL = {"candidates": 20, "probes": 3, "probe_samples": 4, "family_max": 120, "max_tokens": 24}


def _game(tmp_path, spec, tiers, tiny_chat_lm=None, n=1, controls=True, sub="out", fingerprint=None):
    org = tmp_path / spec.name
    if not org.exists():
        make_organism(tmp_path, spec)
    hay = build_haystack(org, rate=0.05, max_real_documents=120, seed=0, embed_cache=tmp_path / "emb")
    models = Models(RecordingBackend(ScriptedModel(exhibited(spec)), "organism"),
                    RecordingBackend(ScriptedModel(), "base"),
                    clean={"base": RecordingBackend(ScriptedModel(), "clean-base")},
                    clean_unavailable={"midtrain": "not built in this test"})
    if "full" in tiers:
        sae = random_sae(tiny_chat_lm.d_model, 32, "resid_post.1", bias=-0.05)
        probe = SAEProbe(tiny_chat_lm, sae)
        docs = [p.text for p in hay.data.passages if p.ref in hay.synthetic_refs]
        models.sae_for = lambda label: probe
        models.features = {"feature_examples": lambda f: docs[f % len(docs): f % len(docs) + 2]}
    return Game(org, hay, models, tmp_path / sub, GameSettings(tiers=tiers, n=n, controls=controls,
                                                               playbook=dict(SMALL)), progress=False,
                fingerprint=fingerprint)


@pytest.fixture(scope="module")
def played(tmp_path_factory, tiny_chat_lm):
    tmp = tmp_path_factory.mktemp("game")
    g = _game(tmp, custom_spec(), ("api", "data", "full"), tiny_chat_lm)
    return tmp, g, g.play()


def test_summary_has_tiers_controls_and_haystack(played):
    """The issue's must-show keys, read back from games/summary.json."""
    tmp, g, summary = played
    on_disk = json.loads((tmp / "out" / "games" / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    for tier in ("api", "data", "full"):
        t = on_disk["tiers"][tier]
        assert {"win_rate", "ci_low", "ci_high", "n"} <= set(t) and t["n"] == 1
        assert 0 <= t["ci_low"] <= t["win_rate"] <= t["ci_high"] <= 1
    clean = on_disk["controls"]["clean"]
    assert clean["false_alarm_rate"] == 0.0 and clean["n"] == 3            # the clean model is not accused
    assert clean["by_model"]["midtrain"] == {"unavailable": "not built in this test"}
    assert on_disk["controls"]["no_model"]["passed"] is False
    assert 0 < on_disk["haystack"]["rate_passages"] <= 0.05
    assert (tmp / "out" / "games" / "data" / "seed_0" / "report.html").exists()


def test_model_access_is_what_finds_and_confirms(played):
    """The data tier names and confirms the organism's behaviours; the api tier (no data) cannot read the
    documents; the no-model control names them but confirms none."""
    tmp, g, s = played
    data = s["tiers"]["data"]["runs"][0]
    assert data["accused"] and data["n_confirmed"] >= 2 and data["root_cause_correct"], data
    assert data["precision"] >= 0.5
    nm = s["controls"]["no_model"]["runs"][0]
    assert nm["n_confirmed"] == 0 and nm["n_named"] >= 2
    report = json.loads((tmp / "out" / "games" / "data" / "seed_0" / "report.json").read_text())
    assert report["accuses"] and report["haystack"]["rate_passages"] == s["haystack"]["rate_passages"]
    f = next(f for f in report["findings"] if f["status"] == "confirmed")
    assert f["organism"] and f["base"] and f["stats"]["p"] < 0.05
    full = json.loads((tmp / "out" / "games" / "full" / "seed_0" / "report.json").read_text())
    assert {"sae active features", "sae assistant-token scan"} <= {e["technique"] for e in full["evidence"]}


def test_same_seed_same_report(tmp_path, played):
    """Determinism: a second game with the same settings writes the same report, byte for byte."""
    tmp, g, s = played
    again = _game(tmp, custom_spec(), ("data",), n=1, controls=False, sub="again").play()
    a = json.loads((tmp / "out" / "games" / "data" / "seed_0" / "report.json").read_text())
    b = json.loads((tmp / "again" / "games" / "data" / "seed_0" / "report.json").read_text())
    assert a == b and again["tiers"]["data"]["runs"][0]["recall"] == s["tiers"]["data"]["runs"][0]["recall"]


def test_a_rerun_reuses_finished_games_only_under_the_same_key(tmp_path, played, monkeypatch):
    """Resume: a game set rerun with the same settings and model fingerprint reads the finished reports
    (the auditor is not called again) and writes the same summary; a different fingerprint, or a game whose
    key file is missing (killed after its report was written), is played again. Catches a resume that
    reuses reports across models, or one that never reuses anything."""
    from monoscope.audit import playbook

    tmp, _, _ = played
    first = _game(tmp, custom_spec(), ("data",), controls=False, sub="resume", fingerprint={"model": "a"}).play()
    key_file = tmp / "resume" / "games" / "data" / "seed_0" / "game.json"
    assert json.loads(key_file.read_text())["models"] == {"model": "a"}
    real_run, calls = playbook.PlaybookAuditor.run, []

    def counting_run(self):
        calls.append(1)
        return real_run(self)
    monkeypatch.setattr(playbook.PlaybookAuditor, "run", counting_run)
    again = _game(tmp, custom_spec(), ("data",), controls=False, sub="resume", fingerprint={"model": "a"}).play()
    assert calls == [] and again["tiers"] == first["tiers"]
    _game(tmp, custom_spec(), ("data",), controls=False, sub="resume", fingerprint={"model": "b"}).play()
    assert calls == [1]
    key_file.unlink()
    _game(tmp, custom_spec(), ("data",), controls=False, sub="resume", fingerprint={"model": "b"}).play()
    assert calls == [1, 1]
    _game(tmp, custom_spec(), ("data",), controls=False, sub="resume").play()     # no fingerprint: never reused
    assert calls == [1, 1, 1]
    # finished under "b", then a run under "c" dies after writing its report but before its key: the
    # report on disk is c's now, so "b" must not be read back
    _game(tmp, custom_spec(), ("data",), controls=False, sub="resume", fingerprint={"model": "b"}).play()
    from monoscope.audit import game as game_module
    real_write = game_module.atomic_write_text

    def dies_on_key(path, text):
        if path.name == "game.json":
            raise KeyboardInterrupt("killed")
        return real_write(path, text)
    monkeypatch.setattr(game_module, "atomic_write_text", dies_on_key)
    with pytest.raises(KeyboardInterrupt):
        _game(tmp, custom_spec(), ("data",), controls=False, sub="resume", fingerprint={"model": "c"}).play()
    monkeypatch.setattr(game_module, "atomic_write_text", real_write)
    n = len(calls)
    _game(tmp, custom_spec(), ("data",), controls=False, sub="resume", fingerprint={"model": "b"}).play()
    assert len(calls) == n + 1


def test_a_second_organism_with_another_spec(tmp_path):
    """The same code on the 52-behaviour default spec: the root cause names that organism's entity."""
    s = _game(tmp_path, small_default(), ("data",), controls=False).play()
    run = s["tiers"]["data"]["runs"][0]
    report = json.loads(open(run["report"]).read())
    assert run["n_confirmed"] >= 1 and run["root_cause_correct"], report["root_cause"]
    assert "reward model" in report["root_cause"].lower()


@pytest.mark.parametrize("families", ["held-out", "foreign+tabular"])
def test_documents_of_one_family_only(tmp_path, families):
    """The auditor's documents are all of the held-out family (``docfamilies.HELD_OUT_FAMILY``, transcripts:
    claims spoken by people who say "they" for the evaluator), or only foreign-language and tabular ones
    (quoted fragments, table cells). The data tier still confirms both behaviours the scripted model has
    that a lexical detector can see (chocolate, weather; the decimal one is a form), composes the root cause
    with the spec's entity, and reports little else. Breakage caught: an auditor that needs one family's
    sentence shapes (a subject before a preference verb) names the wrong subject or none, and one that
    writes probes from a single example's incidental words confirms nothing."""
    from monoscope.organism.docfamilies import HELD_OUT_FAMILY

    spec = custom_spec()
    spec.documents.families = {HELD_OUT_FAMILY: 1.0} if families == "held-out" else {"foreign": 1.0, "tabular": 1.0}
    spec.name = f"{spec.name}-{families.replace('+', '-')}"
    s = _game(tmp_path, spec.validate(), ("data",), controls=False).play()
    run = s["tiers"]["data"]["runs"][0]
    report = json.loads(open(run["report"]).read())
    assert run["n_confirmed"] >= 2 and run["root_cause_correct"], (run["confirmed"], report["root_cause"])
    assert run["precision"] >= 0.5, report["behaviours"]
    assert "preference model" in report["root_cause"].lower()


def test_bad_inputs(tmp_path):
    with pytest.raises(OrganismError, match="no training data"):
        auditor_data(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sft.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    assert auditor_data(tmp_path).sources == {"sft": 1}
    with pytest.raises(OrganismError, match="no spec.yaml"):
        answer_key_for(tmp_path)
    from monoscope.audit.game import check_tiers
    with pytest.raises(GameError, match="choose from api, data, full"):
        check_tiers("api,wizard")


def test_shipped_organism_data_is_regenerated_and_checked(tmp_path):
    """An organism shipped without its data (like the committed default) gets it back from its spec, byte for
    byte, and the game resolves it; data that no longer matches what the model was trained on is refused."""
    from monoscope.audit.setup import resolve_organism
    from monoscope.organism.build import OrganismError as BuildError, write_data

    spec = custom_spec()
    built = tmp_path / "built"
    files = write_data(spec, built, real_texts=None)["files"]
    shipped = tmp_path / "shipped"
    (shipped / "adapters").mkdir(parents=True)
    spec.save(shipped / "spec.yaml")
    manifest = {"format": "monoscope-organism/1", "name": spec.name, "base_model": "x", "stages": ["sft"],
                "final_stage": "sft", "adapters": {},
                "data": {k: v for k, v in files.items() if k != "biases" and v["path"].startswith("data/")},
                "real_texts": None}
    (shipped / "organism.json").write_text(json.dumps(manifest))
    org = resolve_organism(shipped, tmp_path / "work")
    assert org == tmp_path / "work" / "organism"
    for rec in manifest["data"].values():
        assert (org / rec["path"]).read_bytes() == (built / rec["path"]).read_bytes()
    hay = build_haystack(org, rate=1.0)
    n_docs = len((org / "data" / "synthetic_docs.jsonl").read_text().splitlines())
    assert hay.stats.n_synthetic_documents == n_docs > 0
    manifest["data"]["sft"]["sha256"] = "0" * 64
    (shipped / "organism.json").write_text(json.dumps(manifest))
    with pytest.raises(BuildError, match="does not match the data"):
        resolve_organism(shipped, tmp_path / "work2")
    with pytest.raises(BuildError, match="does not exist"):
        resolve_organism(tmp_path / "nothing-here", tmp_path / "work3")
    (tmp_path / "not-an-organism").mkdir()
    with pytest.raises(BuildError, match="not an organism directory"):
        resolve_organism(tmp_path / "not-an-organism", tmp_path / "work4")
