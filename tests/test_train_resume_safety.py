"""Resume refuses silent mixing: another store of the same width, a corrupt latest checkpoint (falls back
to the newest intact one, saying so), and NaN activations whose error says how to find the shard."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from monoscope.evals import SyntheticConfig, SyntheticData
from monoscope.sae import SAEConfig, SAEError, TrainConfig, Trainer
from monoscope.store import harvest

pytestmark = pytest.mark.usefixtures("one_thread")
SMALL = SyntheticData(SyntheticConfig(d=16, n_features=32, mean_active=3, seed=1))


def _tc(**kw):
    return TrainConfig(**{**dict(steps=30, batch_size=64, lr=2e-3, progress=False, dead_tokens=256,
                                 checkpoint_every=5, log_every=5, keep_checkpoints=2), **kw})


def _cfg():
    return SAEConfig("topk", d_in=16, n_latents=48, k=4)


def _flip(path, at=-7):
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_corrupt_latest_checkpoint_falls_back_to_the_newest_intact_one(tmp_path):
    """The run resumes from step 10 (not 12, whose shard is corrupt) with a warning naming both, and still
    reaches the uninterrupted run's weights bit for bit. Fails if the corrupt checkpoint is loaded (the
    checksum would raise) or if the fallback silently restarts from scratch (resumed_from would be None)."""
    full = Trainer(SMALL.factory(64), _cfg(), _tc(), tmp_path / "a").run()
    Trainer(SMALL.factory(64), _cfg(), _tc(), tmp_path / "b").run(stop_after=12)
    ck = tmp_path / "b" / "checkpoints"
    assert sorted(p.name for p in ck.iterdir() if p.is_dir()) == ["step_000000010", "step_000000012"]
    _flip(next((ck / "step_000000012").glob("shard-*.safetensors")))
    with pytest.warns(UserWarning, match="step_000000012 is unusable .*checksum.*resuming from .*step_000000010"):
        res = Trainer(SMALL.factory(64), _cfg(), _tc(), tmp_path / "b", resume=True).run()
    assert res.resumed_from == 10
    assert all(torch.equal(res.sae.state_dict()[k], v) for k, v in full.sae.state_dict().items())


def test_no_intact_checkpoint_is_an_error_not_a_fresh_start(tmp_path):
    Trainer(SMALL.factory(64), _cfg(), _tc(), tmp_path / "b").run(stop_after=12)
    ck = tmp_path / "b" / "checkpoints"
    for d in ck.iterdir():
        if d.is_dir():
            (d / "data.json").write_text("{broken")
    with pytest.raises(SAEError, match="no intact checkpoint .*step_000000012.*data.json"):
        Trainer(SMALL.factory(64), _cfg(), _tc(), tmp_path / "b", resume=True)


def test_resume_on_another_store_of_the_same_width_is_refused(tiny_lm, text_corpus, tmp_path):
    """Two harvests of one configuration that differ only in length: the same width and fingerprint, other
    rows. The resume is refused in one line and the run directory is left as it was."""
    kw = dict(hooks="resid_post.1", corpus=str(text_corpus), context_len=32, batch_size=4, shard_tokens=256,
              progress=False)
    a = harvest(tiny_lm, tmp_path / "sa", n_tokens=2000, **kw).store
    b = harvest(tiny_lm, tmp_path / "sb", n_tokens=1500, **kw).store
    cfg = SAEConfig("topk", d_in=a.d_model, n_latents=32, k=4, hook="resid_post.1")
    tc = _tc(batch_size=32, steps=20)
    Trainer(a, cfg, tc, tmp_path / "run").run(stop_after=6)
    before = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}
    with pytest.raises(SAEError, match=r"refusing to resume .*store_id=.*nothing was changed") as e:
        Trainer(b, cfg, tc, tmp_path / "run", resume=True)
    assert "\n" not in str(e.value)
    assert before == {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}
    Trainer(a, cfg, tc, tmp_path / "run", resume=True).run()      # the same store still resumes


def test_nan_activations_in_a_store_point_at_the_verify_that_names_the_shard(tiny_lm, text_corpus, tmp_path):
    from monoscope.fileio import sha256_file
    from monoscope.store import ActivationStore
    from monoscope.store.check import check_store

    store = harvest(tiny_lm, tmp_path / "s", hooks="resid_post.1", corpus=str(text_corpus), n_tokens=1024,
                    context_len=32, batch_size=4, shard_tokens=1024, progress=False, dtype="float32").store
    path = tmp_path / "s" / "shards" / store.manifest.shards[0].name / "act.resid_post.1.npy"
    arr = np.load(path)
    arr[:] = np.nan
    np.save(path, arr)
    m = json.loads((tmp_path / "s" / "manifest.json").read_text())
    m["shards"][0]["files"]["act.resid_post.1.npy"] = sha256_file(path)
    (tmp_path / "s" / "manifest.json").write_text(json.dumps(m))
    cfg = SAEConfig("topk", d_in=store.d_model, n_latents=16, k=2, hook="resid_post.1")
    with pytest.raises(SAEError, match=r"NaN/inf.*store-info .*/s --verify` names the shard"):
        Trainer(ActivationStore(tmp_path / "s"), cfg, _tc(batch_size=16, steps=20, checkpoint_every=0)).run()
    assert any(store.manifest.shards[0].name in p and "non-finite" in p for p in check_store(tmp_path / "s").problems)


def test_a_train_that_fails_before_writing_leaves_no_directory(tmp_path):
    """A missing corpus (training straight from the model) is one error line and no run directory."""
    from typer.testing import CliRunner

    from monoscope.cli import app
    from monoscope.errors import UserError

    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["train", "--model", "glassllm", "--corpus", str(tmp_path / "nope.txt"),
                                 "--out", str(out), "--steps", "5"])
    assert isinstance(r.exception, UserError) and "no such file" in str(r.exception)
    assert not out.exists()
