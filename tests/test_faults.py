"""Fault tests: kill -9 during harvest and during training, then resume, compared with an uninterrupted run
(bit-identical on CPU); a flipped byte in an SAE, a store or a feature database is found by the next command
that reads it. Each test runs tiny models for a few seconds."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

HARVEST = dict(hooks="resid_post.1,resid_pre.0", n_tokens=2000, context_len=32, batch_size=4, shard_tokens=256,
               progress=False)


# Preludes for `_run_killed`: SIGKILL the process when the trainer starts writing its step-20 checkpoint.
KILL_AT_STEP_20_CHECKPOINT = """
    import os, signal, torch
    torch.set_num_threads(1)
    import monoscope.sae.checkpoint as ck
    real = ck.write_shard
    def write_shard(d, *a, **k):
        if "step_000000020" in str(d):
            os.kill(os.getpid(), signal.SIGKILL)
        return real(d, *a, **k)
    ck.write_shard = write_shard
    """


def _run_killed(code: str, tmp_path: Path, prelude: str = "") -> None:
    """Run `prelude` then `code` in a fresh interpreter that SIGKILLs itself at the point the code chooses."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "OMP_NUM_THREADS": "1"}
    source = textwrap.dedent(prelude) + textwrap.dedent(code)
    proc = subprocess.run([sys.executable, "-c", source], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr[-3000:])


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("where", ["after_shard", "mid_shard"])
def test_kill_9_during_harvest_then_resume_equals_an_uninterrupted_harvest(tiny_lm, text_corpus, tmp_path, where):
    """SIGKILL after the third shard is recorded, or while the fourth shard's files are half written: the
    same command resumes, and every file of the store (manifest included) equals an uninterrupted harvest's.
    Fails if a half-written shard is kept, a shard is written twice, or the totals count one twice."""
    from monoscope.store import harvest

    ref = harvest(tiny_lm, tmp_path / "ref", corpus=str(text_corpus), **HARVEST).store
    trigger = {"after_shard": """
        real = M.StoreManifest.save
        def save(self, d):
            real(self, d)
            if len(self.shards) == 3:
                os.kill(os.getpid(), signal.SIGKILL)
        M.StoreManifest.save = save
        """, "mid_shard": """
        real = np.save
        calls = []
        def save(path, arr, *a, **k):
            real(path, arr, *a, **k)
            calls.append(path)
            if len(calls) == 3 * 5 + 2:        # 5 files a shard: two files into the fourth shard
                os.kill(os.getpid(), signal.SIGKILL)
        H.np.save = save
        """}[where]
    _run_killed(f"""
        import os, signal
        import numpy as np
        from tests.conftest import make_tokenizer, make_tiny_llama
        from monoscope.models import from_model
        import monoscope.store.manifest as M
        import importlib
        H = importlib.import_module("monoscope.store.harvest")   # the package's `harvest` is the function
        {textwrap.indent(textwrap.dedent(trigger), ' ' * 8).strip()}
        tok = make_tokenizer()
        lm = from_model(make_tiny_llama(len(tok)), tok, name="tiny-llama")
        H.harvest(lm, {str(tmp_path / 's')!r}, corpus={str(text_corpus)!r}, **{HARVEST!r})
        """, tmp_path)
    part = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert len(part["shards"]) == 3 and not part["complete"]
    if where == "mid_shard":
        assert list((tmp_path / "s" / "shards").glob("*.tmp"))            # the half-written shard is there
    res = harvest(tiny_lm, tmp_path / "s", corpus=str(text_corpus), **HARVEST)
    assert res.resumed_from == 3 * 8 * 32 and res.store.manifest.complete
    assert _files(tmp_path / "s") == _files(ref.path)


def test_kill_9_during_training_then_resume_is_bit_identical(tmp_path):
    """SIGKILL while the step-20 checkpoint is being written (step 15's is complete): --resume continues from
    step 15 and ends with the weights of an uninterrupted run, bit for bit."""
    from monoscope.evals import SyntheticConfig, SyntheticData
    from monoscope.sae import SAEConfig, TrainConfig, Trainer

    data = SyntheticData(SyntheticConfig(d=16, n_features=32, mean_active=3, seed=1))
    cfg = SAEConfig("topk", d_in=16, n_latents=48, k=4)
    tc = dict(steps=30, batch_size=64, lr=2e-3, progress=False, dead_tokens=256, checkpoint_every=5, log_every=5)
    torch.set_num_threads(1)
    full = Trainer(data.factory(64), cfg, TrainConfig(**tc), tmp_path / "full").run()
    _run_killed(f"""
        from monoscope.evals import SyntheticConfig, SyntheticData
        from monoscope.sae import SAEConfig, TrainConfig, Trainer
        data = SyntheticData(SyntheticConfig(d=16, n_features=32, mean_active=3, seed=1))
        Trainer(data.factory(64), SAEConfig("topk", d_in=16, n_latents=48, k=4), TrainConfig(**{tc!r}),
                {str(tmp_path / 'run')!r}).run()
        """, tmp_path, prelude=KILL_AT_STEP_20_CHECKPOINT)
    ck_dir = tmp_path / "run" / "checkpoints"
    assert (ck_dir / "LATEST").read_text() == "step_000000015" and list(ck_dir.glob(".tmp-*"))
    res = Trainer(data.factory(64), cfg, TrainConfig(**tc), tmp_path / "run", resume=True).run()
    assert res.resumed_from == 15
    for k, v in full.sae.state_dict().items():
        assert torch.equal(res.sae.state_dict()[k], v), k
    # the finished run plots its whole log (both parts) beside metrics.jsonl
    assert (tmp_path / "run" / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x10
    path.write_bytes(bytes(data))


def test_a_flipped_byte_in_an_saes_weights_is_found_when_it_is_loaded(tmp_path):
    """The native file carries a digest of its tensors: a flip in the data region (which safetensors itself
    reads without complaint) is an SAEFormatError naming the file."""
    from tests.conftest import random_sae
    from monoscope.sae import SAEFormatError, load_sae, save_sae

    save_sae(random_sae(16, 32, "resid_post.1"), tmp_path / "sae")
    assert load_sae(tmp_path / "sae") is not None
    _flip(tmp_path / "sae" / "sae.safetensors", -9)
    with pytest.raises(SAEFormatError, match="sae.safetensors: checksum mismatch"):
        load_sae(tmp_path / "sae")


def test_a_flipped_byte_in_a_store_is_found_by_the_reader_and_by_verify(tiny_lm, text_corpus, tmp_path):
    from monoscope.store import ActivationStore, StoreError, harvest
    from monoscope.store.check import check_store

    store = harvest(tiny_lm, tmp_path / "s", corpus=str(text_corpus), **HARVEST).store
    shard = store.manifest.shards[1]
    _flip(tmp_path / "s" / "shards" / shard.name / "doc_ids.npy", -3)
    with pytest.raises(StoreError, match=f"shard {shard.name}: checksum mismatch in doc_ids.npy"):
        ActivationStore(tmp_path / "s").shard_array(1, "doc_ids")
    assert check_store(tmp_path / "s").bad_shards == [shard.name]


def test_a_flipped_byte_in_a_feature_database_is_found_when_it_is_opened(tiny_lm, text_corpus, tmp_path):
    from tests.conftest import random_sae
    from monoscope.features import build_feature_db
    from monoscope.features.db import FeatureDB
    from monoscope.features.index import FeatureDBError
    from monoscope.store import harvest

    store = harvest(tiny_lm, tmp_path / "s", corpus=str(text_corpus), **HARVEST).store
    sae = random_sae(store.d_model, 16, "resid_post.1", model=store.manifest.config.model)
    build_feature_db(sae, store, tmp_path / "db", lm=tiny_lm, progress=False)
    FeatureDB(tmp_path / "db")
    victim = tmp_path / "db" / "features.parquet"
    _flip(victim, len(victim.read_bytes()) // 2)
    with pytest.raises(FeatureDBError, match="features.parquet: checksum mismatch"):
        FeatureDB(tmp_path / "db")
    shutil.rmtree(tmp_path / "db")


INDEX = dict(progress=False, top_k=4, n_buckets=4, per_bucket=2, map_method="pca", batch_tokens=128,
             checkpoint_seconds=0)


def _db_files(root: Path) -> dict[str, bytes]:
    """Every file of a feature database, the manifest without what records how the run went rather than what
    it built (creation time, timings, the resumed pass's own token count)."""
    files = _files(root)
    man = json.loads(files.pop("manifest.json"))
    man.pop("created")
    man.pop("index_pass")
    man["stats"].pop("postprocess_seconds")
    return {**files, "manifest.json": json.dumps(man, sort_keys=True).encode()}


@pytest.mark.parametrize("where", ["mid_checkpoint", "mid_write"])
def test_kill_9_during_index_then_resume_equals_an_uninterrupted_index(tiny_lm, text_corpus, tmp_path, where):
    """SIGKILL while the third shard's streaming checkpoint is being saved, or after two of the database's
    parquet files are written (no manifest yet): the same call resumes from the last intact checkpoint and every
    file equals an uninterrupted build's. Fails if a resumed pass folds a shard in twice, or a half-written
    database is opened as complete."""
    from tests.conftest import random_sae
    from monoscope.features import build_feature_db
    from monoscope.features.db import FeatureDB
    from monoscope.features.index import FeatureDBError
    from monoscope.sae import save_sae
    from monoscope.store import harvest

    store = harvest(tiny_lm, tmp_path / "s", corpus=str(text_corpus), **HARVEST).store
    save_sae(random_sae(store.d_model, 24, "resid_post.1", model=store.manifest.config.model, bias=-0.05),
             tmp_path / "sae")
    ref = build_feature_db(tmp_path / "sae", store, tmp_path / "ref", lm=tiny_lm, **INDEX)
    trigger = {"mid_checkpoint": """
        real = I.atomic_torch_save
        calls = []
        def save(obj, path):
            calls.append(path)
            if len(calls) == 3:
                open(str(path) + ".partial", "wb").write(b"half a checkpoint")
                os.kill(os.getpid(), signal.SIGKILL)
            real(obj, path)
        I.atomic_torch_save = save
        """, "mid_write": """
        real = I._write_parquet
        calls = []
        def write(*a, **k):
            out = real(*a, **k)
            calls.append(1)
            if len(calls) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return out
        I._write_parquet = write
        """}[where]
    _run_killed(f"""
        import os, signal, importlib
        from tests.conftest import make_tokenizer, make_tiny_llama
        from monoscope.models import from_model
        from monoscope.features import build_feature_db
        I = importlib.import_module("monoscope.features.index")
        {textwrap.indent(textwrap.dedent(trigger), ' ' * 8).strip()}
        tok = make_tokenizer()
        lm = from_model(make_tiny_llama(len(tok)), tok, name="tiny-llama")
        build_feature_db({str(tmp_path / 'sae')!r}, {str(tmp_path / 's')!r}, {str(tmp_path / 'db')!r}, lm=lm,
                         **{INDEX!r})
        """, tmp_path)
    assert (tmp_path / "db" / "index_state.pt").exists() and not (tmp_path / "db" / "manifest.json").exists()
    with pytest.raises(FeatureDBError):
        FeatureDB(tmp_path / "db")
    resumed = build_feature_db(tmp_path / "sae", store, tmp_path / "db", lm=tiny_lm, **INDEX)
    assert not (tmp_path / "db" / "index_state.pt").exists()
    (tmp_path / "db" / "index_state.pt.partial").unlink(missing_ok=True)
    assert _db_files(resumed.path) == _db_files(ref.path)


def test_kill_9_during_streaming_training_then_resume_is_bit_identical(tiny_lm, text_corpus, tmp_path):
    """Training straight from the model (two hooks × one width, one forward pass), SIGKILLed while the step-20
    checkpoint is written: `resume` replays the stream from step 15's cursor and ends with every SAE's weights
    bit-identical to an uninterrupted run. Fails if the cursor, the mixing buffer or the RNG state is not
    restored exactly (the resumed run would then train on other rows)."""
    from monoscope.sae import ActivationStream, SAEConfig, TrainConfig, Trainer

    stream = dict(hooks="resid_pre.1,resid_post.1", context_len=32, model_batch=4, buffer_tokens=512,
                  norm_tokens=256)
    tc = dict(steps=30, batch_size=64, lr=2e-3, progress=False, log_every=5, checkpoint_every=5, dead_tokens=512)
    torch.set_num_threads(1)

    def run(out, resume=False):
        st = ActivationStream(tiny_lm, str(text_corpus), **stream)
        cfgs = [SAEConfig("topk", st.d_in, 64, k=4, hook=h) for h in st.hooks]
        return Trainer(st, cfgs, TrainConfig(**tc), out, resume=resume).run()

    full = run(tmp_path / "full")
    _run_killed(f"""
        from tests.conftest import make_tokenizer, make_tiny_llama
        from monoscope.models import from_model
        from monoscope.sae import ActivationStream, SAEConfig, TrainConfig, Trainer
        tok = make_tokenizer()
        lm = from_model(make_tiny_llama(len(tok)), tok, name="tiny-llama")
        st = ActivationStream(lm, {str(text_corpus)!r}, **{stream!r})
        cfgs = [SAEConfig("topk", st.d_in, 64, k=4, hook=h) for h in st.hooks]
        Trainer(st, cfgs, TrainConfig(**{tc!r}), {str(tmp_path / 'run')!r}).run()
        """, tmp_path, prelude=KILL_AT_STEP_20_CHECKPOINT)
    assert (tmp_path / "run" / "checkpoints" / "LATEST").read_text() == "step_000000015"
    res = run(tmp_path / "run", resume=True)
    assert res.resumed_from == 15
    for name, r in full.all.items():
        a, b = r.sae.state_dict(), res.all[name].sae.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
