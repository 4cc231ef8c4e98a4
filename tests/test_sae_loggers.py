"""The experiment loggers mirror metrics.jsonl step for step (each test runs only where its package is
installed: `pip install 'monoscope[loggers]'`)."""
from __future__ import annotations

import json

import pytest

from monoscope.evals import SyntheticConfig, SyntheticData
from monoscope.sae import SAEConfig, TrainConfig, train_sae

pytestmark = pytest.mark.usefixtures("one_thread")

DATA = SyntheticData(SyntheticConfig(d=16, n_features=32, mean_active=3, seed=1))


def _train(out, loggers):
    return train_sae(DATA.factory(64), SAEConfig("topk", d_in=16, n_latents=48, k=4), out,
                     TrainConfig(steps=20, batch_size=64, lr=2e-3, progress=False, log_every=5, checkpoint_every=0,
                                 loggers=loggers))


def _metrics(out):
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]


def test_tensorboard_events_equal_metrics_jsonl(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _train(tmp_path / "run", ("tensorboard",))
    acc = EventAccumulator(str(tmp_path / "run" / "tb"))
    acc.Reload()
    fvu = acc.Scalars("fvu")
    rows = _metrics(tmp_path / "run")
    assert [e.step for e in fvu] == [r["step"] for r in rows] == [5, 10, 15, 20]
    assert [e.value for e in fvu] == pytest.approx([r["fvu"] for r in rows], rel=1e-6)
    assert {"loss", "l0", "dead_frac", "lr"} <= set(acc.Tags()["scalars"])


def test_wandb_offline_run_records_the_steps(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    _train(tmp_path / "run", ("wandb",))
    runs = list((tmp_path / "run").rglob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1, "no offline wandb run was written"
    raw = runs[0].read_bytes()                                  # the run's record log: keys and JSON values
    for rec in _metrics(tmp_path / "run"):
        assert json.dumps(rec["fvu"]).encode() in raw and json.dumps(rec["loss"]).encode() in raw
    assert b"dead_frac" in raw and b"n_latents" in raw          # metrics and the run's config
    assert wandb.run is None                                    # finished, not left open


def test_unknown_logger_warns_and_training_still_logs(tmp_path):
    with pytest.warns(UserWarning, match="unknown logger 'nope'"):
        _train(tmp_path / "run", ("nope",))
    assert len(_metrics(tmp_path / "run")) == 4
