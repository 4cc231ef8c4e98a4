"""`monoscope train` / `monoscope eval` on a real harvested store (commands registered on a local app)."""
from __future__ import annotations

import json

import pytest
import torch
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
    # eval: the same labelled figures as train, over a stated horizon within the tokens trained (12 × 128)
    r = runner.invoke(app(), ["eval", "--sae", str(out), "--store", str(store_dir), "--tokens", "600",
                              "--spliced-contexts", "0", "--no-neurons", "--json", str(tmp_path / "m.json")])
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "m.json").read_text())["reconstruction"]
    assert m["n_tokens"] == 600 and m["l0"] <= 4 + 1e-6
    assert m["mse_normalized"] == pytest.approx(m["mse"] * store.norm_scalar("resid_post.1") ** 2, rel=1e-5)
    assert {"mse", "nmse", "dead_frac", "dense_frac"} <= set(m)
    for words in ("FVU", "raw activation units", "normalised units", "never fired in these 600 tokens"):
        assert words in r.output
    # a horizon longer than the tokens trained, or than the store: refused in one line
    short = tmp_path / "short"
    r = runner.invoke(app(), ["train", "--store", str(store_dir), "--out", str(short), "--latents", "64", "--k", "4",
                              "--steps", "5", "--batch-size", "128", "--no-progress"])
    assert r.exit_code == 0 and "on 640 tokens of the training store" in r.output, r.output
    r = runner.invoke(app(), ["eval", "--sae", str(short), "--store", str(store_dir), "--tokens", "641"])
    assert r.exit_code != 0 and "longer than the 640 tokens the SAE was trained on" in str(r.exception)
    r = runner.invoke(app(), ["eval", "--sae", str(out), "--store", str(store_dir), "--tokens", "99999"])
    assert r.exit_code != 0 and "longer than the store" in str(r.exception)


def test_trained_sae_beats_its_untrained_init_and_eval_reports_heldout_figures(store_dir, tmp_path, tiny_lm,
                                                                              monkeypatch):
    """Catches a trainer that does not learn (or an eval scoring the wrong reconstruction): the trained SAE's
    FVU must be well below its own initialisation's and below 1 (predicting the mean); and `eval` reports
    held-out spliced CE (ΔCE = CE_sae − CE_clean, documents after the store's) and the feature–neuron
    figure with its control."""
    from monoscope.sae import SAEConfig, build_sae
    from monoscope.sae.evaluate import evaluate_sae

    runner = CliRunner()
    out = tmp_path / "sae"
    r = runner.invoke(app(), ["train", "--store", str(store_dir), "--out", str(out), "--latents", "64", "--k", "4",
                              "--steps", "60", "--batch-size", "128", "--lr", "3e-3", "--no-progress"])
    assert r.exit_code == 0, r.output
    store = ActivationStore(store_dir)
    trained = evaluate_sae(load_sae(out), store, n_tokens=1024, batch_size=256)
    init = build_sae(SAEConfig("topk", d_in=store.d_model, n_latents=64, k=4, hook="resid_post.1"))
    init.init_weights(torch.Generator().manual_seed(0))
    init.cfg.norm_scalar = store.norm_scalar("resid_post.1")
    untrained = evaluate_sae(init, store, n_tokens=1024, batch_size=256)
    assert trained.fvu < 0.6 * untrained.fvu and trained.fvu < 0.8, (trained.fvu, untrained.fvu)
    tiny_lm.model.save_pretrained(tmp_path / "tiny-llama")         # the name the store (and SAE) record
    tiny_lm.tokenizer.save_pretrained(tmp_path / "tiny-llama")
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app(), ["eval", "--sae", str(out), "--store", str(store_dir), "--spliced-contexts", "8",
                              "--model", "tiny-llama", "--json", str(tmp_path / "m.json")])
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["reconstruction"]["n_tokens"] == min(store.n_rows(True), 60 * 128)
    sp = m["spliced"]
    assert "held out: documents" in sp["source"] and sp["n_contexts"] == 8
    assert sp["delta_ce"] == pytest.approx(sp["ce_sae"] - sp["ce_clean"]) and sp["kl_sae"] > 0
    fn = m["features_vs_neurons"]
    assert fn["n_features"] > 0 and 0 <= fn["frac_below"] <= 1 and 0 <= fn["control_frac_below"] <= 1
    assert "ΔCE" in r.output and "features vs neurons" in r.output


def test_train_config_defaults_are_the_shipped_recipe():
    """The recipe the package documents is the one it trains with (catches a default changed in code only)."""
    from dataclasses import fields

    from monoscope.sae import TrainConfig
    from monoscope.sae.trainer import load_recipe

    recipe = load_recipe()
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    per_architecture = recipe.pop("architectures")
    for k, v in recipe.items():
        # a field left None defers to the recipe per architecture; any other default is the recipe's value
        assert defaults[k] is None or defaults[k] == (tuple(v) if isinstance(v, list) else v), k
    assert "topk" in per_architecture
    tc = TrainConfig()
    for arch in ("topk", "relu", "jumprelu", "batchtopk"):
        for k in ("betas", "grad_clip", "b_dec_init"):
            assert tc.setting(k, arch) == per_architecture.get(arch, {}).get(k, recipe[k]), (arch, k)


def test_the_topk_recipe_reaches_the_optimizer_and_leaves_other_architectures_alone():
    """What the trainer builds, not what the config says: a top-k SAE gets the recipe's Adam betas, no clipping,
    a mean-initialised b_dec and the recipe's rate scaled to its width; JumpReLU keeps Gemma Scope's β1 = 0 and
    the recipe-wide clip; an explicit setting wins (catches a recipe that is read but not applied)."""
    import math

    from monoscope.sae import SAEConfig, TrainConfig, default_lr
    from monoscope.sae.trainer import RECIPE, SAESpec, Trainer

    top = RECIPE["architectures"]["topk"]

    def shifted(seed: int):                                             # activations with mean ≈ 3, not 0
        g = torch.Generator().manual_seed(seed)
        while True:
            yield torch.randn(64, 16, generator=g) + 3.0

    specs = [SAESpec(SAEConfig("topk", d_in=16, n_latents=64, k=4), name="t"),
             SAESpec(SAEConfig("jumprelu", d_in=16, n_latents=64), name="j")]
    tr = Trainer(shifted, specs, TrainConfig(steps=1, batch_size=64, progress=False, checkpoint_every=0))
    t, j = tr.members
    assert t.opt.param_groups[0]["betas"] == tuple(top["betas"]) and t.grad_clip == top["grad_clip"] == 0.0
    assert t.b_dec_init == "mean" and t.lr == pytest.approx(top["lr"] * math.sqrt(top["lr_latents"] / 64))
    assert j.opt.param_groups[0]["betas"] == (0.0, 0.999) and j.grad_clip == RECIPE["grad_clip"] == 1.0
    assert j.b_dec_init == "zeros" and j.lr == default_lr(specs[1].cfg) == 7e-5
    tr.run()
    # b_dec starts at the (normalised) batch mean, ≈ 3·c ≈ 0.95, for top-k; JumpReLU's starts at 0 and moves ≤ lr
    assert float(t.module.b_dec.detach().min()) > 0.5 and float(j.module.b_dec.detach().abs().max()) < 0.01
    mine = Trainer(shifted, specs[:1], TrainConfig(steps=1, batch_size=64, progress=False, checkpoint_every=0, betas=(0.9, 0.99),
                               grad_clip=2.0, b_dec_init="zeros"))
    m = mine.members[0]
    assert m.opt.param_groups[0]["betas"] == (0.9, 0.99) and m.grad_clip == 2.0 and m.b_dec_init == "zeros"
