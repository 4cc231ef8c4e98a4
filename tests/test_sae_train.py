"""SAE trainer: planted-feature recovery, exact resume, bad inputs, checkpoints, store input, evaluation."""
from __future__ import annotations

import json
import math

import pytest
import torch

from monoscope.evals import SyntheticConfig, SyntheticData, evaluate_recovery
from monoscope.sae import SAEConfig, SAEError, TrainConfig, Trainer, load_sae, train_sae
from monoscope.sae.evaluate import evaluate_sae


pytestmark = pytest.mark.usefixtures("one_thread")


SMALL = SyntheticData(SyntheticConfig(d=16, n_features=32, mean_active=3, seed=1))


def small_cfg(arch="topk", **kw):
    if arch in ("topk", "batchtopk"):
        kw.setdefault("k", 4)
    return SAEConfig(arch, d_in=16, n_latents=48, **kw)


def small_train(**kw):
    base = dict(steps=30, batch_size=64, lr=2e-3, progress=False, dead_tokens=256, checkpoint_every=10,
                log_every=5)
    base.update(kw)
    return TrainConfig(**base)


def test_recovers_planted_features_on_an_easy_problem():
    data = SyntheticData(SyntheticConfig(d=32, n_features=64, mean_active=3, seed=0))
    cfg = SAEConfig("topk", d_in=32, n_latents=128, k=4)
    res = train_sae(data.factory(256), cfg, None, steps=100, batch_size=256, lr=2e-2, betas=(0.5, 0.99),
                    progress=False, dead_tokens=2048, b_dec_init="mean")
    rec = evaluate_recovery(res.sae, data, n_eval=2048, batch_size=1024)
    assert rec.frac_recovered > 0.8, rec           # planted directions found (cos > 0.9) without seeing them
    assert rec.fvu < 0.15, rec
    # an untrained SAE recovers nothing: the check has teeth
    from monoscope.sae import build_sae

    fresh = build_sae(cfg).init_weights(torch.Generator().manual_seed(0))
    assert evaluate_recovery(fresh, data, n_eval=1024, batch_size=1024).frac_recovered < 0.1


@pytest.mark.parametrize("arch", ["topk", "relu", "batchtopk", "jumprelu"])
def test_resumed_run_is_bit_identical(tmp_path, arch):
    cfg = small_cfg(arch, l1_coeff=1.0 if arch == "relu" else 0.01)
    tc = small_train(b_dec_init="mean" if arch != "relu" else "zeros")
    full = Trainer(SMALL.factory(64), cfg, tc, tmp_path / "a").run()
    first = Trainer(SMALL.factory(64), cfg, tc, tmp_path / "b")
    first.run(stop_after=17)                                  # "crash" after 17 steps (checkpoint at 17)
    resumed = Trainer(SMALL.factory(64), cfg, tc, tmp_path / "b", resume=True).run()
    assert resumed.resumed_from == 17 and resumed.steps == full.steps == 30
    for k, v in full.sae.state_dict().items():
        assert torch.equal(resumed.sae.state_dict()[k], v), k
    a = load_sae(tmp_path / "a")
    b = load_sae(tmp_path / "b")
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 30


def test_resume_with_plain_list_and_nan_batches(tmp_path):
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(32, 16, generator=g) for _ in range(12)]
    batches[3][0, 0] = float("nan")
    batches[7][5, 2] = float("inf")
    tc = small_train(steps=20, batch_size=32, norm_scalar="auto")
    full = Trainer(batches, small_cfg(), tc, tmp_path / "a").run()
    assert full.skipped_batches > 0
    t = Trainer(batches, small_cfg(), tc, tmp_path / "b")
    t.run(stop_after=9)
    res = Trainer(batches, small_cfg(), tc, tmp_path / "b", resume=True).run()
    assert res.skipped_batches == full.skipped_batches
    assert all(torch.equal(res.sae.state_dict()[k], v) for k, v in full.sae.state_dict().items())
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["skipped_batches"] == full.skipped_batches and summary["finished"]


def test_nan_only_data_is_a_clear_error():
    bad = [torch.full((8, 16), float("nan"))] * 5
    with pytest.raises(SAEError, match="NaN/inf"):
        train_sae(bad, small_cfg(), None, small_train(max_bad_batches=3, norm_scalar=1.0))


def test_wrong_width_is_a_clear_error():
    with pytest.raises(SAEError, match="width 12.*d_in=16"):
        train_sae([torch.randn(8, 12)] * 3, small_cfg(), None, small_train(norm_scalar=1.0))
    with pytest.raises(SAEError, match="width 12.*d_in=16"):
        train_sae([torch.randn(8, 12)] * 3, small_cfg(), None, small_train())   # while estimating the scalar


def test_checkpoint_of_other_architecture_is_refused_and_untouched(tmp_path):
    out = tmp_path / "run"
    Trainer(SMALL.factory(64), small_cfg("topk"), small_train(steps=12), out).run()
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(SAEError, match="'topk' SAE.*'relu'.*nothing was changed"):
        Trainer(SMALL.factory(64), small_cfg("relu"), small_train(steps=12), out, resume=True)
    with pytest.raises(SAEError, match="n_latents"):
        Trainer(SMALL.factory(64), SAEConfig("topk", d_in=16, n_latents=64, k=4), small_train(steps=12), out,
                resume=True)
    with pytest.raises(SAEError, match="already holds a training run"):
        Trainer(SMALL.factory(64), small_cfg("topk"), small_train(steps=12), out)
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert before == after


def test_checkpoints_are_pruned_and_latest_points_at_a_complete_one(tmp_path):
    out = tmp_path / "run"
    Trainer(SMALL.factory(64), small_cfg(), small_train(steps=35, checkpoint_every=5, keep_checkpoints=2), out).run()
    ck = out / "checkpoints"
    names = sorted(p.name for p in ck.iterdir() if p.is_dir())
    assert names == ["step_000000030", "step_000000035"]
    assert (ck / "LATEST").read_text() == "step_000000035"
    assert not list(ck.glob(".tmp-*"))
    exported = load_sae(out)
    assert exported.cfg.decoder_norms_folded and exported.cfg.norm_scalar == 1.0


def test_exported_sae_works_on_raw_activations():
    data = [torch.randn(64, 16) * 40 + 7 for _ in range(4)]          # far from unit scale
    res = train_sae(data, small_cfg(), None, small_train(steps=8))
    assert res.sae.cfg.folded_norm_scalar == pytest.approx(math.sqrt(16 / float(torch.cat(data).pow(2).sum(-1).mean())),
                                                           rel=1e-4)
    x = data[0]
    r = res.sae.reconstruct(x)
    assert r.shape == x.shape and float((x - r).pow(2).sum() / (x - x.mean(0)).pow(2).sum()) < 1.5


class FakeStore:
    """The ActivationStore interface the trainer and evaluator use (the real one is tested in test_store)."""

    def __init__(self, n=2048, d=16, scale=10.0):
        g = torch.Generator().manual_seed(5)
        self.x = torch.randn(n, d, generator=g) * scale
        self.scale = math.sqrt(d / float(self.x.pow(2).sum(-1).mean()))
        self.manifest = type("M", (), {"hooks": ["resid_post.1"], "d_model": d,
                                       "config": type("C", (), {"model": "fake-model"})()})()
        self.n_tokens = n

    def norm_scalar(self, hook):
        return self.scale

    def n_rows(self, skip_special=True):
        return self.n_tokens

    def batches(self, hook, batch_size, seed=0, skip_special=True, normalize=True, start_batch=0, epoch=0, **_):
        perm = torch.randperm(self.n_tokens, generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        for b in range(start_batch, self.n_tokens // batch_size):
            rows = self.x[perm[b * batch_size:(b + 1) * batch_size]]
            yield rows * self.scale if normalize else rows


def test_trains_from_a_store_across_epochs_and_resumes(tmp_path):
    store = FakeStore()
    tc = small_train(steps=70, batch_size=64)                         # 32 batches per epoch: 3 epochs
    full = train_sae(store, small_cfg(), tmp_path / "a", tc)
    assert full.sae.cfg.hook == "resid_post.1" and full.sae.cfg.model == "fake-model"
    assert full.sae.cfg.folded_norm_scalar == pytest.approx(store.scale)
    Trainer(store, small_cfg(), tc, tmp_path / "b").run(stop_after=40)
    res = train_sae(store, small_cfg(), tmp_path / "b", tc, resume=True)
    assert all(torch.equal(res.sae.state_dict()[k], v) for k, v in full.sae.state_dict().items())
    ev = evaluate_sae(res.sae, store, n_tokens=1000, batch_size=256)
    assert ev.n_tokens == 1000 and 0 < ev.fvu < 1.5 and ev.l0 <= 4 + 1e-6
    assert 0 <= ev.dead_frac <= 1 and 0 <= ev.dense_frac <= 1
    with pytest.raises(SAEError, match="width"):
        train_sae(store, SAEConfig("topk", d_in=8, n_latents=16, k=2), None, tc)
