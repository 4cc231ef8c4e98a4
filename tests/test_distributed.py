"""torch.distributed on CPU (gloo, 2 spawned processes): the one trainer's data-parallel (DDP) and
feature-sharded strategies equal 1-rank runs, resume across ranks (same and different world size), training
from a model stream over 2 ranks, data-parallel harvesting equals a single-process harvest. All 2-rank work
happens in one spawned job (module fixture) to pay the process start-up once; the assertions compare its
artifacts with 1-rank runs made in this process."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from monoscope.distributed import init_rows, merge_checkpoint, read_checkpoint_manifest, shard_range
from monoscope.sae.config import SAEConfig
from monoscope.sae.trainer import TrainConfig, Trainer

D, N, K, B, STEPS = 16, 64, 4, 64, 30
HOOKS = "resid_post.1"


def _cfgs():
    tc = TrainConfig(steps=STEPS, batch_size=B, lr=2e-3, progress=False, log_every=5, checkpoint_every=0,
                     dead_tokens=4 * B,                     # latents silent for 4 steps are dead: AuxK runs
                     keep_first_token=True)                 # synthetic rows: no attention-sink first token
    return {
        "dp_topk": ("dp", SAEConfig("topk", d_in=D, n_latents=N, k=K), tc),
        "fs_topk": ("fs", SAEConfig("topk", d_in=D, n_latents=N, k=K), tc),
        "fs_relu": ("fs", SAEConfig("relu", d_in=D, n_latents=N, l1_coeff=1.0), tc),
        "dp_relu": ("dp", SAEConfig("relu", d_in=D, n_latents=N, l1_coeff=1.0), tc),
    }


def _make_store(path: Path):
    from monoscope.scaling.demo import write_synthetic_store

    return write_synthetic_store(path, n_tokens=8192, d=D, n_features=128, mean_active=4.0, shard_tokens=1024,
                                 context_len=64)


def _harvest_args(base: Path) -> dict:
    return dict(hooks=HOOKS, corpus=str(base / "corpus.jsonl"), n_tokens=1500, context_len=32, batch_size=4,
                shard_tokens=256, progress=False)


def _worker(rank: int, world: int, base: str) -> None:
    """One rank of the 2-rank job (spawned; must be importable at module level)."""
    from dataclasses import replace

    from monoscope import comm
    from monoscope.distributed.harvest import harvest_distributed
    from monoscope.store import ActivationStore

    torch.set_num_threads(1)
    base = Path(base)
    comm.init_with_file(rank, world, str(base / "rdv"))
    try:
        store = ActivationStore(base / "store")
        for name, (mode, cfg, tc) in _cfgs().items():
            Trainer(store, cfg, tc, base / name, strategy=mode).run()
        # resume: stop after 15 steps (a checkpoint), keep a copy, then continue to the end
        for mode in ("fs", "dp"):
            _, cfg, tc = _cfgs()[f"{mode}_topk"]
            out = base / f"{mode}_resume"
            Trainer(store, cfg, replace(tc, checkpoint_every=5), out, strategy=mode).run(stop_after=15,
                                                                                              gather=False)
            comm.barrier()
            if rank == 0:
                shutil.copytree(out, base / f"{mode}_half")
            comm.barrier()
            Trainer(store, cfg, replace(tc, checkpoint_every=5), out, strategy=mode, resume=True).run()
        harvest_distributed(str(base / "model"), base / "hstore", **_harvest_args(base))
        # training straight from the model over 2 ranks: fs (rank 0 forwards and broadcasts) and dp (each rank
        # forwards its own contexts), the dp run also killed at step 7 and resumed
        st = _stream(base)
        for mode in ("fs", "dp"):
            Trainer(st, _stream_cfg(st), _stream_tc(), base / f"{mode}_stream", strategy=mode).run()
        Trainer(st, _stream_cfg(st), _stream_tc(), base / "dp_stream_resume", strategy="dp").run(stop_after=7)
        Trainer(st, _stream_cfg(st), _stream_tc(), base / "dp_stream_resume", strategy="dp", resume=True).run()
    finally:
        comm.shutdown()


def _stream(base: Path):
    from monoscope.sae import ActivationStream

    return ActivationStream(str(base / "model"), str(base / "corpus.jsonl"), hooks="resid_pre.1,resid_post.1",
                            context_len=32, model_batch=4, buffer_tokens=512, norm_tokens=256, device="cpu")


def _stream_cfg(st):
    return [SAEConfig("topk", d_in=st.d_in, n_latents=N, k=K, hook=h) for h in st.hooks]


def _stream_tc():
    return TrainConfig(steps=16, batch_size=B, lr=2e-3, progress=False, log_every=4, checkpoint_every=4,
                       dead_tokens=4 * B)


@pytest.fixture(scope="module")
def job(tmp_path_factory, tiny_lm):
    import torch.multiprocessing as mp

    base = tmp_path_factory.mktemp("dist")
    _make_store(base / "store")
    tiny_lm.model.save_pretrained(base / "model")
    tiny_lm.tokenizer.save_pretrained(base / "model")
    from tests.conftest import TEXT

    words = TEXT.split()
    with open(base / "corpus.jsonl", "w") as f:
        for i in range(80):
            f.write(json.dumps({"text": " ".join(words[(i * 7 + j) % len(words)] for j in range(20 + i % 30))}) + "\n")
    env = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS",)}
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        # fork (like DataLoader workers; each worker runs single-threaded and the parent holds no process
        # group) saves re-importing torch and transformers in both workers; spawn is the portable fallback
        method = os.environ.get("MONOSCOPE_TEST_START") or ("fork" if hasattr(os, "fork") else "spawn")
        mp.start_processes(_worker, args=(2, str(base)), nprocs=2, join=True, start_method=method)
    finally:
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return base


def _state(path: Path) -> dict[str, torch.Tensor]:
    return merge_checkpoint(path, export=False).state_dict()


def _reference(store, name: str) -> dict[str, torch.Tensor]:
    mode, cfg, tc = _cfgs()[name]
    tr = Trainer(store, cfg, tc)
    tr.run()
    return tr.sae.state_dict(), tr


def _close(a: dict, b: dict, atol: float) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=atol, msg=lambda m: f"{k}: {m}")


@pytest.mark.parametrize("name", ["dp_topk", "fs_topk", "fs_relu", "dp_relu"])
def test_two_ranks_equal_one_rank(job, name):
    from monoscope.store import ActivationStore

    store = ActivationStore(job / "store")
    ref, tr = _reference(store, name)
    two = _state(job / name)
    _close(two, ref, atol=2e-5)
    # the run really trained, and the top-k runs exercised AuxK (dead latents existed)
    summ = json.loads((job / name / "summary.json").read_text())
    assert summ["world_size"] == 2 and summ["steps"] == STEPS and summ["backend"] == "gloo"
    first, last = tr.history[0]["loss"], tr.history[-1]["loss"]
    assert last < 0.8 * first
    if "topk" in name:
        assert max(h["dead_frac"] for h in tr.history) > 0
        assert any(h["aux"] > 0 for h in tr.history)
    metrics = [json.loads(line) for line in (job / name / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["loss"] == pytest.approx(tr.history[-1]["loss"], rel=1e-4)


def test_feature_sharded_checkpoint_has_one_shard_per_rank(job):
    ckpt = job / "fs_topk" / "checkpoints"
    man = read_checkpoint_manifest(ckpt / (ckpt / "LATEST").read_text().strip())
    assert man["world_size"] == 2 and man["mode"] == "fs"
    assert [(s["lo"], s["hi"]) for s in man["shards"]] == [shard_range(N, 2, 0), shard_range(N, 2, 1)]
    # the exported SAE written by rank 0 is the merged checkpoint, exported
    from monoscope.sae.formats import load_native

    sae = load_native(job / "fs_topk")
    x = torch.randn(32, D)
    ref = merge_checkpoint(job / "fs_topk")
    torch.testing.assert_close(sae.encode(x), ref.encode(x))


@pytest.mark.parametrize("mode", ["fs", "dp"])
def test_resume_same_world_is_exact(job, mode):
    a, b = _state(job / f"{mode}_resume"), _state(job / f"{mode}_topk")
    for k in a:
        assert torch.equal(a[k], b[k]), k
    man = read_checkpoint_manifest(next((job / f"{mode}_half" / "checkpoints").glob("step_000000015")))
    assert man["step"] == 15 and man["data_pos"] == 15


@pytest.mark.parametrize("mode", ["fs", "dp"])
def test_resume_two_rank_checkpoint_on_one_rank(job, mode, tmp_path):
    """Elastic resume: the 2-rank checkpoint at step 15, continued by 1 process, equals a 1-rank run."""
    from monoscope.store import ActivationStore

    store = ActivationStore(job / "store")
    out = tmp_path / "r"
    shutil.copytree(job / f"{mode}_half", out)
    _, cfg, tc = _cfgs()[f"{mode}_topk"]
    with pytest.warns(UserWarning, match="re-cut"):
        tr = Trainer(store, cfg, tc, out, strategy=mode, resume=True)
    assert tr.resumed_from == 15
    tr.run()
    ref, _ = _reference(store, f"{mode}_topk")
    _close(_state(out), ref, atol=2e-5)


def test_feature_sharded_stream_equals_one_process(job):
    """fs from the model: rank 0's forward, broadcast, equals the one-process stream run (2 hooks)."""
    st = _stream(job)
    tr = Trainer(st, _stream_cfg(st), _stream_tc())
    tr.run()
    for m in tr.members:
        _close(merge_checkpoint(job / "fs_stream", export=False, name=m.name).state_dict(), m.module.state_dict(),
               atol=2e-5)


def test_data_parallel_stream_resumes_exactly_and_trains(job):
    """dp from the model: each rank forwards its own contexts into its own buffer; killed and resumed on 2 ranks
    it equals the uninterrupted 2-rank run bit for bit, and both learned."""
    for name in ("resid_pre.1-topk-64-k4", "resid_post.1-topk-64-k4"):
        a = merge_checkpoint(job / "dp_stream", export=False, name=name).state_dict()
        b = merge_checkpoint(job / "dp_stream_resume", export=False, name=name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
        m = [json.loads(x) for x in (job / "dp_stream" / name / "metrics.jsonl").read_text().splitlines()]
        assert m[-1]["step"] == 16 and m[-1]["fvu"] < 0.9 * m[0]["fvu"] and m[-1]["world"] == 2
    ck = job / "dp_stream" / "checkpoints"
    data = json.loads((ck / (ck / "LATEST").read_text() / "data.json").read_text())
    assert len(data["states"]) == 2 and data["states"][0]["cursor"] != data["states"][1]["cursor"]


def test_data_parallel_harvest_equals_single_process(job, tmp_path):
    from monoscope.models import load
    from monoscope.store import ActivationStore, harvest

    single = harvest(load(str(job / "model")), tmp_path / "one", **_harvest_args(job)).store
    two = ActivationStore(job / "hstore")
    m1, m2 = single.manifest, two.manifest
    assert m2.complete and m2.n_tokens == m1.n_tokens
    assert [(s.name, s.first_context, s.n_contexts, s.files) for s in m1.shards] == \
           [(s.name, s.first_context, s.n_contexts, s.files) for s in m2.shards]      # byte-identical shards
    assert m2.sq_norm_sum == m1.sq_norm_sum and m2.norm_count == m1.norm_count
    assert not (job / "hstore" / ".dist").exists()


# ---- single-process pieces --------------------------------------------------------------------------
def test_store_slices_are_slices_of_store_batches(tmp_path):
    store = _make_store(tmp_path / "s")
    hook = store.hooks[0]
    full = list(store.batches(hook, 96, seed=3, epoch=1, start_batch=2, buffer_tokens=3000))
    for lo, hi in [(0, 32), (32, 64), (64, 96), (10, 11)]:
        part = list(store.batches(hook, 96, seed=3, epoch=1, start_batch=2, buffer_tokens=3000, part=(lo, hi)))
        assert len(part) == len(full)
        for a, b in zip(part, full):
            assert torch.equal(a, b[lo:hi])


@pytest.mark.parametrize("n,d,lo,hi", [(100, 7, 0, 100), (100, 7, 33, 67), (1000, 33, 999, 1000), (64, 16, 32, 64)])
def test_init_rows_match_one_full_draw(n, d, lo, hi):
    full = torch.randn(n, d, generator=torch.Generator().manual_seed(5))
    assert torch.equal(init_rows(n, d, lo, hi, seed=5, chunk_elems=64), full[lo:hi])


def test_shard_range_covers_exactly():
    for n, w in [(64, 2), (10, 3), (7, 7), (1 << 20, 6)]:
        r = [shard_range(n, w, i) for i in range(w)]
        assert r[0][0] == 0 and r[-1][1] == n and all(a[1] == b[0] for a, b in zip(r, r[1:]))
        assert max(h - l for l, h in r) - min(h - l for l, h in r) <= 1


def test_one_rank_matches_reference_trainer_on_synthetic_factory():
    """The 1-process path of both modes is the reference trainer's algorithm (bitwise for dp)."""
    from monoscope.evals.synthetic import SyntheticConfig, SyntheticData

    data = SyntheticData(SyntheticConfig(d=D, n_features=128, mean_active=4))
    tc = TrainConfig(steps=12, batch_size=B, lr=2e-3, progress=False, dead_tokens=2 * B, b_dec_init="mean")
    cfg = SAEConfig("topk", d_in=D, n_latents=N, k=K)
    ref = Trainer(data.factory(B), cfg, tc)
    ref.run()
    for mode, atol in (("dp", 0.0), ("fs", 1e-6)):
        tr = Trainer(data.factory(B), SAEConfig("topk", d_in=D, n_latents=N, k=K), tc, strategy=mode)
        tr.run()
        _close(tr.strategy.gather_full(tr.sae, tr.cfg).state_dict(), ref.sae.state_dict(), atol=atol)


def test_refusals(tmp_path):
    from monoscope.sae.config import SAEError

    store = _make_store(tmp_path / "s")
    tc = TrainConfig(steps=2, batch_size=B, progress=False)
    with pytest.raises(SAEError, match="batchtopk"):
        Trainer(store, SAEConfig("batchtopk", d_in=D, n_latents=N, k=K), tc, strategy="dp")
    with pytest.raises(SAEError, match="unknown strategy 'tp'.*local, dp, fs"):
        Trainer(store, SAEConfig("topk", d_in=D, n_latents=N, k=K), tc, strategy="tp")
    with pytest.raises(SAEError, match="feature sharding"):
        Trainer(store, SAEConfig("jumprelu", d_in=D, n_latents=N), tc, strategy="fs")
    Trainer(store, SAEConfig("topk", d_in=D, n_latents=N, k=K), tc, tmp_path / "o", strategy="fs").run()
    with pytest.raises(SAEError, match="already holds"):
        Trainer(store, SAEConfig("topk", d_in=D, n_latents=N, k=K), tc, tmp_path / "o", strategy="fs")
    with pytest.raises(SAEError, match="n_latents=32"):
        Trainer(store, SAEConfig("topk", d_in=D, n_latents=32, k=K), tc, tmp_path / "o", strategy="fs",
                           resume=True)


def test_resume_in_the_other_mode(tmp_path):
    """A checkpoint is a table of row ranges: an fs checkpoint continues as dp (and back) in one process."""
    from dataclasses import replace

    store = _make_store(tmp_path / "s")
    _, cfg, tc = _cfgs()["fs_topk"]
    out = tmp_path / "o"
    Trainer(store, cfg, replace(tc, checkpoint_every=5), out, strategy="fs").run(stop_after=10, gather=False)
    with pytest.warns(UserWarning, match="re-cut"):
        tr = Trainer(store, SAEConfig("topk", d_in=D, n_latents=N, k=K), tc, out, strategy="dp", resume=True)
    tr.run()
    ref, _ = _reference(store, "fs_topk")
    _close(_state(out), ref, atol=2e-5)


def _cli():
    import typer

    from monoscope.distributed.cli import register

    app = typer.Typer()
    register(app)
    return app


def test_cli_builds_torchrun_commands():
    from typer.testing import CliRunner

    app = _cli()
    r = CliRunner().invoke(app, ["train-distributed", "--store", "S", "--out", "O", "--latents", "1048576",
                                 "--strategy", "fs", "--steps", "10", "--nproc-per-node", "8", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "torch.distributed.run --nproc-per-node=8 --standalone -m monoscope train --store S" in r.output
    assert "--strategy fs" in r.output and "--latents 1048576" in r.output and "--steps 10" in r.output
    r = CliRunner().invoke(app, ["train-distributed", "--model", "M", "--hooks", "resid_post.3", "--out", "O",
                                 "--nnodes", "2", "--node-rank", "1", "--master-addr", "node0", "--dry-run"])
    assert "--nnodes=2 --node-rank=1 --master-addr=node0 --master-port=29500" in r.output
    assert "-m monoscope train --model M --hooks resid_post.3 --out O" in r.output
    r = CliRunner().invoke(app, ["harvest-distributed", "--out", "S", "--nproc-per-node", "2", "--hooks",
                                 "resid_post.3", "--dry-run"])
    assert r.exit_code == 0 and "-m monoscope.distributed.harvest" in r.output and "--hooks resid_post.3" in r.output
    r = CliRunner().invoke(app, ["train-distributed", "--store", "S", "--out", "O", "--nnodes", "2", "--dry-run"])
    assert r.exit_code != 0


@pytest.mark.slow
def test_torchrun_launch_through_the_cli(tmp_path):
    """`monoscope train-distributed` really starts torchrun (2 CPU processes) and the run finishes."""
    from typer.testing import CliRunner

    _make_store(tmp_path / "s")
    os.environ["OMP_NUM_THREADS"] = "1"
    r = CliRunner().invoke(_cli(), ["train-distributed", "--store", str(tmp_path / "s"), "--out", str(tmp_path / "o"),
                                    "--latents", "64", "--k", "4", "--strategy", "fs", "--steps", "20", "--batch-size",
                                    "64", "--device", "cpu", "--nproc-per-node", "2", "--no-progress"])
    assert r.exit_code == 0, r.output
    summ = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summ["world_size"] == 2 and summ["finished"] and (tmp_path / "o" / "sae.safetensors").exists()
