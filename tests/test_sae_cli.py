"""`monoscope train` / `monoscope eval` on a real harvested store (commands registered on a local app)."""
from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from monoscope.sae import load_sae
from monoscope.sae import cli as sae_cli
from monoscope.store import ActivationStore, harvest


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def store_dir(tiny_lm, text_corpus, tmp_path):
    harvest(tiny_lm, tmp_path / "store", hooks="resid_post.1", corpus=str(text_corpus), n_tokens=1500,
            context_len=32, batch_size=4, shard_tokens=256, progress=False)
    return tmp_path / "store"


def app():
    a = typer.Typer()
    sae_cli.register(a)
    return a


def test_train_resume_and_eval_commands(store_dir, tmp_path):
    runner = CliRunner()
    out = tmp_path / "sae"
    args = ["train", "--store", str(store_dir), "--out", str(out), "--latents", "64", "--k", "4", "--steps", "12",
            "--batch-size", "128", "--checkpoint-every", "5", "--no-progress"]
    r = runner.invoke(app(), args)
    assert r.exit_code == 0, r.output
    sae = load_sae(out)
    store = ActivationStore(store_dir)
    assert sae.cfg.hook == "resid_post.1" and sae.cfg.d_in == store.d_model
    assert sae.cfg.folded_norm_scalar == pytest.approx(store.norm_scalar("resid_post.1"))
    # same command again without --resume: refused, nothing changed
    before = (out / "sae.safetensors").read_bytes()
    r = runner.invoke(app(), args)
    assert r.exit_code != 0 and "already holds a training run" in str(r.exception)
    assert (out / "sae.safetensors").read_bytes() == before
    # another architecture on the same directory: refused
    r = runner.invoke(app(), [*args[:5], "--arch", "relu", "--latents", "64", "--steps", "12", "--resume", "--batch-size", "128",
                              "--no-progress"])
    assert r.exit_code != 0 and "'topk' SAE" in str(r.exception)
    # eval: SAE-only metrics over a stated token count
    r = runner.invoke(app(), ["eval", "--sae", str(out), "--store", str(store_dir), "--tokens", "600",
                              "--json", str(tmp_path / "m.json")])
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["n_tokens"] == 600 and 0 < m["fvu"] < 2 and m["l0"] <= 4 + 1e-6
    assert {"mse", "nmse", "dead_frac", "dense_frac"} <= set(m)
