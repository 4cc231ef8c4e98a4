"""The commands end to end on a real trained SAE (monoscope.sae format) over GlassLM: index, export-html,
explain against an unreachable endpoint (clear error), re-index refusals; and `serve` wiring (db only)."""
from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from monoscope.cli import app


def flat(text: str) -> str:
    """Rich wraps long lines; compare on single spaces."""
    return " ".join(text.split())


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    from monoscope.models import load
    from monoscope.sae import SAEConfig, TrainConfig, train_sae
    from monoscope.store import harvest

    root = tmp_path_factory.mktemp("cli")
    torch.set_num_threads(1)
    lm = load("glassllm")
    store = harvest(lm, root / "store", n_tokens=4096, context_len=64, progress=False).store
    train_sae(store, SAEConfig(architecture="topk", d_in=lm.d_model, n_latents=256, k=8), root / "sae",
              TrainConfig(steps=60, batch_size=256, checkpoint_every=1000))
    return root


def test_index_export_explain_commands(artifacts, tmp_path):
    r = CliRunner().invoke(app, ["index", "--sae", str(artifacts / "sae"), "--store", str(artifacts / "store"),
                                 "--out", str(tmp_path / "db"), "--top-k", "5", "--map", "pca"])
    assert r.exit_code == 0, r.output
    assert "feature database" in flat(r.output) and "logit consistency" in flat(r.output)
    man = json.loads((tmp_path / "db" / "manifest.json").read_text())
    assert man["sae"]["architecture"] == "topk" and man["sae"]["n_latents"] == 256
    assert man["sae_path"] == str(artifacts / "sae")
    assert man["stats"]["mean_l0"] == pytest.approx(8, abs=0.01)  # top-k: exactly k per non-special token

    # same command again: the database is complete, nothing is recomputed
    r = CliRunner().invoke(app, ["index", "--sae", str(artifacts / "sae"), "--store", str(artifacts / "store"),
                                 "--out", str(tmp_path / "db"), "--top-k", "5", "--map", "pca"])
    assert r.exit_code == 0 and json.loads((tmp_path / "db" / "manifest.json").read_text())["created"] == man["created"]
    r = CliRunner().invoke(app, ["index", "--sae", str(artifacts / "sae"), "--store", str(artifacts / "store"),
                                 "--out", str(tmp_path / "db"), "--top-k", "7"])
    assert r.exit_code == 1 and "another configuration" in flat(r.output)

    r = CliRunner().invoke(app, ["export-html", str(tmp_path / "db"), "--out", str(tmp_path / "site"), "--limit", "3"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "site" / "index.html").exists() and len(list((tmp_path / "site").glob("feature_*.html"))) == 3
    r = CliRunner().invoke(app, ["export-html", str(tmp_path / "db"), "--out", str(tmp_path / "one.html"),
                                 "--feature", "3"])
    assert r.exit_code == 0 and (tmp_path / "one.html").exists()
    r = CliRunner().invoke(app, ["export-html", str(tmp_path / "db"), "--out", str(tmp_path / "x.html"),
                                 "--feature", "999"])
    assert r.exit_code == 1 and "out of range" in flat(r.output)

    r = CliRunner().invoke(app, ["explain", str(tmp_path / "db"), "--n", "1",
                                 "--llm", "openai:http://127.0.0.1:9/v1#m?timeout=0.5&max_retries=0"])
    assert r.exit_code == 2 and "LLM backend failed" in flat(r.output) and "BackendUnavailable" in flat(r.output)
    r = CliRunner().invoke(app, ["explain", str(tmp_path / "db"), "--llm", "nonsense"])
    assert r.exit_code == 2 and "spec" in flat(r.output)


def test_serve_refuses_other_sae_and_bad_db(artifacts, tmp_path):
    from monoscope.features import FeatureDB, build_feature_db
    from monoscope.sae import load_sae
    from monoscope.ui import create_app

    db = build_feature_db(artifacts / "sae", artifacts / "store", tmp_path / "db", progress=False, top_k=3,
                          map_method="none")
    sae = load_sae(artifacts / "sae")
    db.check_sae(sae)
    other = load_sae(artifacts / "sae")
    with torch.no_grad():
        other.W_dec.mul_(2)
    from monoscope.features import FeatureDBError
    with pytest.raises(FeatureDBError, match="built from SAE"):
        create_app(db, lm=None, sae=other)
    r = CliRunner().invoke(app, ["serve", str(tmp_path / "nope")])
    assert r.exit_code == 1 and "not a feature database" in flat(r.output)
    r = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "nope")])
    assert r.exit_code == 1 and "not a feature database" in flat(r.output)
    r = CliRunner().invoke(app, ["serve"])
    assert r.exit_code == 1 and "which feature database" in flat(r.output)
    assert isinstance(FeatureDB(tmp_path / "db"), FeatureDB)
