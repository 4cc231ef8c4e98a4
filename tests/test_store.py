"""Harvest → store → reader: exactness, resume, bounded shuffling, and the documented errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from monoscope.models import HookPointError
from monoscope.store import ActivationStore, StoreError, harvest


def _harvest(lm, corpus, out, **kw):
    args = dict(hooks="resid_post.1,resid_pre.0", corpus=str(corpus), n_tokens=2000, context_len=32,
                batch_size=4, shard_tokens=256, progress=False)
    args.update(kw)
    return harvest(lm, out, **args)


def test_store_rows_equal_model_activations(tiny_lm, text_corpus, tmp_path):
    res = _harvest(tiny_lm, text_corpus, tmp_path / "s", dtype="float32")
    store = res.store
    m = store.manifest
    assert m.complete and m.n_tokens == 2016 and m.hooks == ["resid_pre.0", "resid_post.1"]
    # Recompute the first context directly with output_hidden_states and compare rows exactly.
    ids = torch.from_numpy(np.asarray(store.shard_array(0, "tokens")[:32], dtype=np.int64))[None]
    with torch.no_grad():
        hs = tiny_lm.model(input_ids=ids, output_hidden_states=True).hidden_states
    torch.testing.assert_close(store.get("resid_post.1", np.arange(32)), hs[2][0], rtol=0, atol=1e-6)
    torch.testing.assert_close(store.get("resid_pre.0", np.arange(32)), hs[0][0], rtol=0, atol=1e-6)
    assert store.shard_array(0, "tokens")[0] == tiny_lm.tokenizer.bos_token_id
    assert bool(store.shard_array(0, "special")[0])
    # the default store is bfloat16: the same rows, rounded (half the disk)
    bf = _harvest(tiny_lm, text_corpus, tmp_path / "b").store
    assert bf.manifest.config.dtype == "bfloat16"
    assert torch.equal(bf.get("resid_post.1", np.arange(32)), hs[2][0].to(torch.bfloat16).float())
    act = "act.resid_post.1.npy"
    assert (tmp_path / "b" / "shards" / bf.manifest.shards[0].name / act).stat().st_size < \
        0.6 * (tmp_path / "s" / "shards" / m.shards[0].name / act).stat().st_size


def test_norm_scalar_makes_mean_sq_norm_d(tiny_lm, text_corpus, tmp_path):
    store = _harvest(tiny_lm, text_corpus, tmp_path / "s").store
    rows = torch.cat(list(store.batches("resid_post.1", 64, shuffle=False)))
    assert rows.pow(2).sum(-1).mean().item() == pytest.approx(store.d_model, rel=0.02)


def test_resume_after_kill_is_identical(tiny_lm, text_corpus, tmp_path):
    full = _harvest(tiny_lm, text_corpus, tmp_path / "full").store
    part = tmp_path / "part"
    _harvest(tiny_lm, text_corpus, part, n_tokens=700)          # "killed" after 3 shards' worth
    (part / "shards" / "garbage.tmp").mkdir()                    # a half-written shard left behind
    res = _harvest(tiny_lm, text_corpus, part)                   # same command, larger target: resumes
    assert res.resumed_from == 704 and not (part / "shards" / "garbage.tmp").exists()
    a = torch.cat(list(full.batches("resid_post.1", 32, shuffle=False, normalize=False)))
    b = torch.cat(list(res.store.batches("resid_post.1", 32, shuffle=False, normalize=False)))
    assert torch.equal(a, b)
    assert full.norm_scalar("resid_post.1") == pytest.approx(res.store.norm_scalar("resid_post.1"), rel=1e-9)


def test_shuffled_batches_cover_each_row_once_and_resume_exactly(tiny_lm, text_corpus, tmp_path):
    store = _harvest(tiny_lm, text_corpus, tmp_path / "s", n_tokens=4000).store
    n = store.n_rows(skip_special=True)
    # A buffer of two shards forces several groups; every non-special row appears exactly once per epoch.
    batches = list(store.batches("resid_post.1", 50, seed=3, buffer_tokens=512, normalize=False))
    rows = torch.cat(batches)
    assert len(rows) == (n // 50) * 50
    ordered = torch.cat(list(store.batches("resid_post.1", 1, shuffle=False, normalize=False)))
    # Repeated text gives repeated rows, so compare multisets: each shuffled row is drawn from the store's
    # rows no more often than it occurs there.
    from collections import Counter
    key = lambda t: Counter(map(tuple, t.numpy().round(6).tolist()))
    shuffled, source = key(rows), key(ordered)
    assert all(source[r] >= c for r, c in shuffled.items()) and len(ordered) - len(rows) < 50
    assert not torch.equal(rows[:50], ordered[:50])
    tail = list(store.batches("resid_post.1", 50, seed=3, buffer_tokens=512, normalize=False, start_batch=7))
    assert len(tail) == len(batches) - 7 and all(torch.equal(x, y) for x, y in zip(tail, batches[7:]))
    other_epoch = next(store.batches("resid_post.1", 50, seed=3, buffer_tokens=512, normalize=False, epoch=1))
    assert not torch.equal(other_epoch, batches[0])


def test_bf16_storage_round_trips(tiny_lm, text_corpus, tmp_path):
    f32 = _harvest(tiny_lm, text_corpus, tmp_path / "a", dtype="float32").store
    bf = _harvest(tiny_lm, text_corpus, tmp_path / "b").store
    x, y = f32.get("resid_post.1", np.arange(100)), bf.get("resid_post.1", np.arange(100))
    assert torch.equal(x.to(torch.bfloat16).float(), y)


def test_unknown_hook_lists_valid_ones(tiny_lm, text_corpus, tmp_path):
    with pytest.raises(HookPointError, match=r"resid_post\.0.*valid|valid.*resid_post\.1"):
        _harvest(tiny_lm, text_corpus, tmp_path / "s", hooks="resid_mid.1")
    with pytest.raises(HookPointError, match="0..2"):
        _harvest(tiny_lm, text_corpus, tmp_path / "s", hooks="resid_post.9")


def test_corrupted_shard_is_named(tiny_lm, text_corpus, tmp_path):
    store = _harvest(tiny_lm, text_corpus, tmp_path / "s").store
    victim = store.manifest.shards[2]
    path = tmp_path / "s" / "shards" / victim.name / "act.resid_post.1.npy"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    fresh = ActivationStore(tmp_path / "s")
    with pytest.raises(StoreError, match=f"shard {victim.name}: checksum mismatch in act.resid_post.1.npy"):
        fresh.verify_all()
    with pytest.raises(StoreError, match=victim.name):
        list(fresh.batches("resid_post.1", 16, shuffle=False))


def test_refuses_to_mix_configurations(tiny_lm, text_corpus, tmp_path):
    _harvest(tiny_lm, text_corpus, tmp_path / "s")
    with pytest.raises(StoreError, match="different configuration.*context_len"):
        _harvest(tiny_lm, text_corpus, tmp_path / "s", context_len=16)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not empty"):
        _harvest(tiny_lm, text_corpus, tmp_path / "other")
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_missing_or_bad_manifest(tmp_path):
    with pytest.raises(StoreError, match="no manifest.json"):
        ActivationStore(tmp_path)
    (tmp_path / "manifest.json").write_text("{oops")
    with pytest.raises(StoreError, match="not valid JSON"):
        ActivationStore(tmp_path)


def test_unknown_hook_in_reader(tiny_lm, text_corpus, tmp_path):
    store = _harvest(tiny_lm, text_corpus, tmp_path / "s").store
    with pytest.raises(StoreError, match="holds resid_pre.0, resid_post.1"):
        next(store.batches("mlp_out.1", 8))


def test_first_tokens_and_special_tokens_are_skipped_by_default(tiny_lm, text_corpus, tmp_path):
    """Without a BOS, the first token of a context is an ordinary token (in a trained model, with an
    attention-sink norm many times the others'): the reader skips it (and special tokens) unless asked, the manifest counts what is skipped, and the normalisation
    scalar is taken over the rows training reads. A reader that ignored skip_first would fail the counts."""
    store = _harvest(tiny_lm, text_corpus, tmp_path / "s", add_bos=False, n_tokens=1024, dtype="float32").store
    m, L = store.manifest, 32
    assert m.row_counts["first"] == m.n_contexts and m.row_counts["special"] >= 0
    assert store.n_rows() == m.n_tokens - m.row_counts["excluded"]
    assert store.n_rows(skip_first=False, skip_special=False) == m.n_tokens
    for i in range(len(m.shards)):
        assert not (store.keep_rows(i) % L == 0).any()
        assert (store.keep_rows(i, skip_first=False) % L == 0).any()
    every = torch.cat(list(store.batches("resid_post.1", 1, shuffle=False, normalize=False, skip_first=False,
                                         skip_special=False)))
    default = torch.cat(list(store.batches("resid_post.1", 1, shuffle=False, normalize=False)))
    assert len(default) == store.n_rows() < len(every)
    c = store.norm_scalar("resid_post.1")
    assert (default * c).pow(2).sum(-1).mean().item() == pytest.approx(store.d_model, rel=1e-4)
    assert "first token of every context" in json.loads((tmp_path / "s" / "manifest.json").read_text())["training_rows"]


def test_harvest_larger_than_the_disk_is_refused(tiny_lm, text_corpus, tmp_path):
    from monoscope.errors import UserError

    with pytest.raises(UserError, match=r"refusing to harvest: it needs [\d.,]+ TB .* has [\d.,]+ [GMT]B free"):
        _harvest(tiny_lm, text_corpus, tmp_path / "s", n_tokens=10 ** 11)
    assert not (tmp_path / "s").exists()                          # nothing was written


def test_converting_to_bf16_gives_the_store_a_bf16_harvest_writes(tiny_lm, text_corpus, tmp_path):
    from monoscope.store.convert import convert_store

    f32 = _harvest(tiny_lm, text_corpus, tmp_path / "f", dtype="float32").store
    bf = _harvest(tiny_lm, text_corpus, tmp_path / "b").store
    conv = convert_store(tmp_path / "f", tmp_path / "c", "bfloat16")
    assert [s.files for s in conv.manifest.shards] == [s.files for s in bf.manifest.shards]    # byte-identical
    assert conv.manifest.sq_norm_sum == bf.manifest.sq_norm_sum and conv.manifest.row_counts == bf.manifest.row_counts
    assert f32.manifest.sq_norm_sum != bf.manifest.sq_norm_sum
    with pytest.raises(StoreError, match="not empty"):
        convert_store(tmp_path / "f", tmp_path / "c")


def test_memory_bound_holds_when_one_shard_is_larger_than_the_buffer(tiny_lm, text_corpus, tmp_path, monkeypatch):
    """One shard of 2016 tokens, a buffer of 256: no read may gather more than buffer_tokens rows (the old
    reader gathered the whole shard at once), and the batches are those a large buffer gives."""
    store = _harvest(tiny_lm, text_corpus, tmp_path / "s", shard_tokens=1 << 16).store
    assert len(store.manifest.shards) == 1 and store.n_tokens > 256
    big = list(store.batches("resid_post.1", 32, seed=1, normalize=False))
    sizes = []
    real = store._gather
    monkeypatch.setattr(store, "_gather", lambda h, s, loc: sizes.append(len(loc)) or real(h, s, loc))
    small = list(store.batches("resid_post.1", 32, seed=1, normalize=False, buffer_tokens=256))
    assert sizes and max(sizes) <= 256 and len(sizes) > 1
    assert len(small) == len(big) and all(torch.equal(a, b) for a, b in zip(small, big))
    tail = list(store.batches("resid_post.1", 32, seed=1, normalize=False, buffer_tokens=256, start_batch=11))
    assert all(torch.equal(a, b) for a, b in zip(tail, big[11:])) and len(tail) == len(big) - 11
