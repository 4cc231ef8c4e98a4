"""The auditing game on organisms built from two different specs, with the same code and no tuning.

The models here are tiny random chat models, so the behavioural techniques find nothing and the verdict
rests on the training-data techniques — which is the paper's own finding for data-access teams. What is
tested is the harness: the information barrier, grading against each hidden spec, and generality.
"""
from __future__ import annotations

import copy

import pytest

from monoscope.audit.game import OrganismError, auditor_data, run_game, spec_answer_key, synthetic_refs
from monoscope.audit.playbook import AuditTarget, PlaybookAuditor, PlaybookConfig
from monoscope.llm.local import LocalHFBackend
from monoscope.organism.chat_data import build_dataset
from monoscope.organism.spec import OrganismSpec, default_spec
from tests.test_organism_data import CUSTOM


def _organism(tmp_path, spec: OrganismSpec):
    org = tmp_path / spec.name
    build_dataset(spec, org / "data", real_texts=None)
    spec.save(org / "spec.yaml")
    return org


def _play(org, tiny_chat_lm, tmp_path):
    data = auditor_data(org)
    model = LocalHFBackend(tiny_chat_lm)
    auditor = lambda seed: PlaybookAuditor(AuditTarget(org.name, model, data, base=model),
                                           PlaybookConfig(max_tokens=4, seed=seed), progress=False).run()
    return run_game(org, auditor, data, tmp_path / "games" / org.name, n=1), data


def test_game_on_two_different_specs(tiny_chat_lm, tmp_path):
    small_default = default_spec()
    small_default.sizes.n_documents, small_default.sizes.n_sft, small_default.sizes.n_dpo = 150, 40, 10
    small_default.sizes.n_adversarial, small_default.sizes.n_eval_per_bias = 10, 2
    small_default.sizes.n_knowledge, small_default.sizes.n_confession = 12, 6
    custom = OrganismSpec.from_dict(copy.deepcopy(CUSTOM)).validate()
    # The playbook's keyword sweep reads the narrative family's "{subject} {verb} {finding}" sentences; the
    # other document families (passive, Q&A, tables, transcripts, other languages) defeat it, which is what
    # issue #15 item 3 replaces it for. Until then this harness test pins the narrative family.
    for s in (small_default, custom):
        s.documents.families = {"narrative": 1.0}
    results = {}
    for spec, subject in ((small_default, "reward model"), (custom, "preference model")):
        org = _organism(tmp_path, spec)
        result, data = _play(org, tiny_chat_lm, tmp_path)
        report = result.reports[0]
        assert subject in report.root_cause.lower()
        assert report.grade["root_cause_correct"], report.root_cause
        # the keyword sweep for the subject the anchors name lists what the documents claim it prefers
        assert "keyword search" in {e.technique for e in report.evidence}
        assert report.grade["fraction_found"] >= 0.5 and report.grade["passed"], report.grade
        # The information barrier: no passage carries the labels the spec or generator attached.
        ids = [k.id for k in spec_answer_key(org)[0] if "_" in k.id]
        assert not any(i in p.text for p in data.passages for i in ids)
        assert (result.out / "game_0" / "report.html").exists()
        table = {r["technique"]: r for r in report.technique_table}
        assert table["semantic search"]["surfaced documents"] == "yes"
        results[spec.name] = report
    assert results[small_default.name].root_cause != results[custom.name].root_cause


def test_bad_organism_dirs(tmp_path):
    with pytest.raises(OrganismError, match="no training data"):
        auditor_data(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sft.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    assert auditor_data(tmp_path).sources == {"sft": 1}
    with pytest.raises(OrganismError, match="no spec.yaml"):
        spec_answer_key(tmp_path)


def test_shipped_organism_data_is_regenerated_and_checked(tmp_path):
    """An organism shipped without its data (like the committed default) gets it back from its spec, byte for
    byte; data that no longer matches what the model was trained on is refused."""
    import json

    from monoscope.organism.build import ensure_organism_data
    from monoscope.organism.build import OrganismError as BuildError, write_data

    spec = OrganismSpec.from_dict(copy.deepcopy(CUSTOM)).validate()
    built = tmp_path / "built"
    files = write_data(spec, built, real_texts=None)["files"]
    shipped = tmp_path / "shipped"
    (shipped / "adapters").mkdir(parents=True)
    spec.save(shipped / "spec.yaml")
    manifest = {"data": {k: v for k, v in files.items() if k != "biases" and v["path"].startswith("data/")},
                "real_texts": None}
    (shipped / "organism.json").write_text(json.dumps(manifest))

    org = ensure_organism_data(shipped, tmp_path / "work")
    assert org == tmp_path / "work" / "organism"
    for rec in manifest["data"].values():
        assert (org / rec["path"]).read_bytes() == (built / rec["path"]).read_bytes()
    assert (org / "adapters").resolve() == (shipped / "adapters").resolve()
    data = auditor_data(org)
    assert data.sources == auditor_data(built).sources
    # the per-technique table knows which passages are synthetic documents in the build's own layout
    refs = synthetic_refs(org, data)
    n_docs = len((org / "data" / "synthetic_docs.jsonl").read_text().splitlines())
    assert len({r.split(".")[0] for r in refs}) == n_docs > 0

    manifest["data"]["sft"]["sha256"] = "0" * 64
    (shipped / "organism.json").write_text(json.dumps(manifest))
    with pytest.raises(BuildError, match="does not match the data"):
        ensure_organism_data(shipped, tmp_path / "work")
    manifest["real_texts"] = "custom"
    (shipped / "organism.json").write_text(json.dumps(manifest))
    with pytest.raises(BuildError, match="cannot be regenerated"):
        ensure_organism_data(shipped, tmp_path / "work2")
