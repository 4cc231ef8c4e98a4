"""Sweep settings from YAML: the file is read, typos are refused with a near match, the command line wins."""
from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from monoscope.errors import UserError
from monoscope.scaling.sweep import SweepConfig, load_sweep_config

YAML = """\
# a 2 × 2 grid, no lr sweep
n_latents: [16, 32]
steps: [8, 16]
k: 4
batch_size: 64
lr: 0.01
lr_levels: 0
eval_batches: 2
architecture: topk
"""


def test_yaml_fields_are_read_and_unknown_keys_refused(tmp_path):
    p = tmp_path / "sweep.yaml"
    p.write_text(YAML)
    cfg = load_sweep_config(p)
    assert cfg.n_latents == [16, 32] and cfg.steps == [8, 16] and cfg.k == 4 and cfg.lr == 0.01
    assert cfg.seed == SweepConfig().seed                                  # unspecified: the default
    assert load_sweep_config('{"k": 2}').k == 2                             # JSON is YAML too
    with pytest.raises(UserError, match=r"unknown sweep config key 'n_latent' \(did you mean 'n_latents'\?\)"):
        load_sweep_config("n_latent: [1, 2]")
    with pytest.raises(UserError, match="not valid YAML"):
        load_sweep_config("k: [1, 2")


def test_sweep_command_runs_from_a_yaml_file(tmp_path):
    from monoscope.scaling import cli
    from monoscope.scaling.demo import write_synthetic_store

    write_synthetic_store(tmp_path / "store", n_tokens=4096, d=8, n_features=64, mean_active=2.0,
                          shard_tokens=1024)
    (tmp_path / "sweep.yaml").write_text(YAML)
    app = typer.Typer()
    cli.register(app)
    r = CliRunner().invoke(app, ["sweep", str(tmp_path / "store"), "--out", str(tmp_path / "out"), "--config",
                                 str(tmp_path / "sweep.yaml"), "--k", "2", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert res["config"]["n_latents"] == [16, 32] and res["config"]["k"] == 2      # the command line wins
    assert res["config"]["lr_levels"] == 0 and len(res["runs"]) == 4
