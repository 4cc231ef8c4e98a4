"""Feature database: top-k, windows, histograms, bucket samples and reservoirs, logit effects and neighbours
against brute force on a small real store; resume after a kill; refusals."""
from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from monoscope.features import FeatureDB, FeatureDBError, IndexConfig, build_feature_db
from monoscope.features.index import IndexState, final_norm_weight, group_by_feature
from monoscope.store import harvest
from tests.conftest import density_sae, random_sae

HOOK = "resid_post.1"
K = 5


@pytest.fixture(scope="module")
def store(tiny_lm, tmp_path_factory):
    from tests.conftest import TEXT, density_sae

    words = TEXT.split()
    path = tmp_path_factory.mktemp("corpus") / "c.jsonl"
    with open(path, "w") as f:
        for i in range(150):
            f.write(json.dumps({"text": " ".join(words[(i * 11 + j * 3) % len(words)] for j in range(15 + i % 40))}) + "\n")
    out = tmp_path_factory.mktemp("store")
    return harvest(tiny_lm, out, hooks=HOOK, corpus=str(path), n_tokens=3000, context_len=32, batch_size=8,
                   shard_tokens=512, dtype="float32", progress=False).store  # fp32: bf16 rounding makes ties


@pytest.fixture(scope="module")
def sae(store):
    return density_sae(store, 48, HOOK, density=0.05, seed=1)


@pytest.fixture(scope="module")
def db(sae, store, tiny_lm, tmp_path_factory):
    return build_feature_db(sae, store, tmp_path_factory.mktemp("db"), lm=tiny_lm, progress=False, top_k=K,
                            n_buckets=4, per_bucket=2, map_method="pca", batch_tokens=128, checkpoint_seconds=0)


def brute(sae, store):
    """All activations of the store, excluded rows zeroed: [T, n]. Excluded (the index's default): special
    rows and the first ordinary token of every context (right after its BOS)."""
    x = torch.cat([a for _, a, _ in store.iter_shards(HOOK)])
    special = np.concatenate([np.asarray(store.shard_array(i, "special")) for i in range(len(store.manifest.shards))])
    L = store.manifest.config.context_len
    special = special.copy()
    for c in range(len(special) // L):
        special[c * L + int(np.argmax(~special[c * L:(c + 1) * L]))] = True
    f = sae.encode(x)
    f[torch.from_numpy(special)] = 0
    return f, special


def test_top_k_windows_density_match_brute_force(db, sae, store):
    f, special = brute(sae, store)
    L = store.manifest.config.context_len
    cmax, carg = f.view(-1, L, f.shape[1]).max(1)
    alive = (f > 0).any(0)
    assert alive.sum() > 20 and (~alive).sum() >= 0
    feats = pq.read_table(db.path / "features.parquet").to_pydict()
    np.testing.assert_array_equal(feats["n_active"], (f > 0).sum(0).numpy())
    assert db.manifest["stats"]["tokens_counted"] == int((~special).sum())
    np.testing.assert_allclose(feats["density"], (f > 0).sum(0).numpy() / int((~special).sum()))
    np.testing.assert_allclose(feats["max_act"], f.max(0).values.numpy(), rtol=1e-6)
    assert [sum(h) for h in feats["hist"]] == feats["n_active"]
    # quantiles come from the exact fine histogram: the upper edge of the bin holding the true quantile
    step = 2 ** (1 / db.manifest["config"]["bins_per_octave"])
    for i in range(f.shape[1]):
        a = f[:, i][f[:, i] > 0].numpy()
        if len(a) >= 20:
            for q, col in ((0.5, "q50"), (0.9, "q90")):
                true = np.sort(a)[int(np.ceil(q * len(a))) - 1]
                assert true <= feats[col][i] * (1 + 1e-6) and feats[col][i] <= true * step * (1 + 1e-6), (i, q)
    for i in range(f.shape[1]):
        page = db.feature(i)
        tops = [e for e in page["examples"] if e["kind"] == "top"]
        v, c = cmax[:, i].topk(K)
        want = [(float(a), int(ctx) * L + int(carg[ctx, i])) for a, ctx in zip(v, c) if a > 0]
        assert [e["act"] for e in tops] == pytest.approx([w[0] for w in want], rel=1e-6)
        vals = sorted(float(a) for a in cmax[:, i] if a > 0)[::-1][:K + 1]
        if all(a - b > 1e-5 * a for a, b in zip(vals, vals[1:])):  # no (near-)ties: the same contexts and peaks
            assert [e["token_index"] for e in tops] == [w[1] for w in want]
        for e in page["examples"]:
            # the per-token window is the feature's activation on those store rows (bf16 storage)
            got = np.array(e["acts"])
            exp = f[e["start"]:e["start"] + len(got), i].numpy()
            np.testing.assert_allclose(got, exp, rtol=1e-2, atol=1e-6)
            assert e["tokens"] == store.tokens(np.arange(e["start"], e["start"] + len(got))).tolist()
            assert e["start"] // L == e["token_index"] // L  # windows stay inside the peak's context
            assert e["act"] == pytest.approx(float(f[e["token_index"], i]), rel=1e-6)


def test_bucket_samples_are_in_their_linear_buckets(db, sae, store):
    f, special = brute(sae, store)
    for i in range(f.shape[1]):
        page = db.feature(i)
        samples = [e for e in page["examples"] if e["kind"] == "sample"]
        if not page["alive"]:
            assert not samples
            continue
        mx = page["max_act"]
        for e in samples:
            assert 0 < e["act"] <= mx
            assert e["bucket"] == min(3, int(e["act"] / mx * 4))
        idx = [e["token_index"] for e in samples]
        assert len(idx) == len(set(idx))
        # every bucket that has activations in it (and a reservoir sample) gets at least one sample
        acts = f[:, i][f[:, i] > 0]
        have = {min(3, int(a / mx * 4)) for a in acts.tolist()}
        got = {e["bucket"] for e in samples}
        assert got <= have and 3 in got and len(got) >= min(2, len(have))


def test_quantile_buckets_follow_the_distribution(sae, store, tiny_lm, tmp_path):
    db = build_feature_db(sae, store, tmp_path / "q", lm=tiny_lm, progress=False, top_k=K, n_buckets=4,
                          per_bucket=3, bucket_scheme="quantile", map_method="none", bins_per_octave=8)
    f, special = brute(sae, store)
    errs = []
    for i in range(f.shape[1]):
        acts = np.sort(f[:, i][f[:, i] > 0].numpy())
        samples = [e for e in db.examples(i, "sample")]
        if len(acts) < 40:
            continue
        by_act = sorted(samples, key=lambda e: e["act"])
        assert [e["bucket"] for e in by_act] == sorted(e["bucket"] for e in by_act)  # monotone
        for e in samples:
            q = np.searchsorted(acts, e["act"], side="right") / len(acts)
            errs.append(max(0.0, e["bucket"] / 4 - q, q - (e["bucket"] + 1) / 4))
    assert errs and np.mean(errs) < 0.05 and max(errs) < 0.2


def test_reservoir_is_uniform_within_a_bin():
    """Bottom-r keys = uniform sampling: over many seeds each row is kept ≈ r/N of the time."""
    N, n, r, L = 64, 1, 2, 8
    cfg = IndexConfig(top_k=2, samples_per_bin=r, bins_per_octave=1, n_background=0, window=(1, 1),
                      sample_window=(1, 1))
    counts = np.zeros(N)
    trials = 400
    for seed in range(trials):
        st = IndexState(n, cfg)
        for b in range(0, N, 16):  # four batches: the reservoir merges across them
            f = torch.ones(16, n)
            st.update(f, b, torch.zeros(16, dtype=torch.bool), L, key_seed=seed * 1000 + b)
        kept = st.res_tok[0][st.res_tok[0] >= 0].numpy()
        assert len(kept) == r and len(set(kept.tolist())) == r
        counts[kept] += 1
    expected = trials * r / N
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 110  # 63 dof: p ≈ 1e-4


def test_logit_effects_and_neighbours_match_brute_force(db, sae, tiny_lm):
    D = sae.W_dec.detach().float()
    D = D / D.norm(dim=1, keepdim=True)
    gamma, is_ln = final_norm_weight(tiny_lm)
    assert gamma is not None and not is_ln
    logits = (D * gamma) @ tiny_lm.model.get_output_embeddings().weight.detach().float().T
    sims = D @ D.T
    sims.fill_diagonal_(-2)
    for i in range(0, D.shape[0], 7):
        page = db.feature(i)
        assert page["top_logit_ids"] == logits[i].topk(10).indices.tolist()
        assert page["bottom_logit_ids"] == logits[i].topk(10, largest=False).indices.tolist()
        assert page["neighbours"] == sims[i].topk(10).indices.tolist()
        assert page["neighbour_cos"] == pytest.approx(sims[i].topk(10).values.tolist(), abs=1e-5)
    assert "γ" in db.manifest["logit_effects"]


def test_max_acts_file_and_manifest(db):
    m = db.max_acts()
    feats = pq.read_table(db.path / "features.parquet", columns=["max_act"]).column(0).to_numpy()
    np.testing.assert_array_equal(m.numpy(), feats)
    man = db.manifest
    assert man["complete"] and man["hook"] == HOOK and man["sae"]["n_latents"] == 48
    assert man["store"]["n_tokens"] == db.manifest["store"]["n_tokens"] > 0
    assert set(man["files"]) >= {"features.parquet", "examples.parquet", "vocab.parquet", "max_acts.safetensors"}
    lc = man["logit_consistency"]
    assert {"mean_frac", "baseline_mean_frac", "hit_rate"} <= set(lc)


def test_resume_after_kill_is_identical(sae, store, tiny_lm, tmp_path, db):
    kw = dict(lm=tiny_lm, progress=False, top_k=K, n_buckets=4, per_bucket=2, map_method="pca",
              batch_tokens=128, checkpoint_seconds=0)
    out = tmp_path / "r"
    assert build_feature_db(sae, store, out, stop_after_shards=2, **kw) is None  # "killed" after 2 shards
    assert (out / "index_state.pt").exists() and not (out / "manifest.json").exists()
    with pytest.raises(FeatureDBError, match="incomplete|not a feature database"):
        FeatureDB(out)
    assert build_feature_db(sae, store, out, stop_after_shards=1, **kw) is None
    resumed = build_feature_db(sae, store, out, write_chunk=7, **kw)  # also: examples written in chunks
    assert not (out / "index_state.pt").exists()
    for t in ("features", "examples"):
        a = pq.read_table(db.path / f"{t}.parquet").to_pydict()
        b = pq.read_table(resumed.path / f"{t}.parquet").to_pydict()
        assert a == b


def test_refusals(db, sae, store, tiny_lm, tmp_path):
    other = random_sae(store.d_model, 48, HOOK, seed=2)
    with pytest.raises(FeatureDBError, match="another SAE"):
        build_feature_db(other, store, db.path, lm=tiny_lm, progress=False)
    with pytest.raises(FeatureDBError, match="another configuration"):
        build_feature_db(sae, store, db.path, lm=tiny_lm, progress=False, top_k=K + 1)
    same = build_feature_db(sae, store, db.path, lm=tiny_lm, progress=False, top_k=K, n_buckets=4, per_bucket=2,
                            map_method="pca")  # already built: opened, not rebuilt
    assert same.manifest["created"] == db.manifest["created"]
    with pytest.raises(FeatureDBError, match="built from SAE"):
        db.check_sae(other)
    db.check_sae(sae)
    with pytest.raises(FeatureDBError, match="out of range"):
        db.feature(48)
    with pytest.raises(FeatureDBError, match="out of range"):
        db.feature(-1)
    wrong_hook = random_sae(store.d_model, 8, "resid_post.0")
    with pytest.raises(FeatureDBError, match="holds only"):
        build_feature_db(wrong_hook, store, tmp_path / "x", lm=tiny_lm, progress=False)
    wrong_width = random_sae(store.d_model + 1, 8, HOOK)
    with pytest.raises(FeatureDBError, match="width"):
        build_feature_db(wrong_width, store, tmp_path / "y", lm=tiny_lm, progress=False)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("mine")
    with pytest.raises(FeatureDBError, match="not empty"):
        build_feature_db(sae, store, tmp_path / "junk", lm=tiny_lm, progress=False)
    with pytest.raises(FeatureDBError, match="not a feature database"):
        FeatureDB(tmp_path)


def test_cross_sae_neighbours(sae, store, tiny_lm, tmp_path):
    other = random_sae(store.d_model, 96, HOOK, seed=5)
    db = build_feature_db(sae, store, tmp_path / "x", lm=tiny_lm, other_sae=other, progress=False, top_k=3,
                          map_method="none", n_neighbours=4)
    D = sae.W_dec / sae.W_dec.norm(dim=1, keepdim=True)
    O = other.W_dec / other.W_dec.norm(dim=1, keepdim=True)
    sims = D @ O.T
    page = db.feature(3)
    assert page["cross_neighbours"] == sims[3].topk(4).indices.tolist()
    assert db.manifest["other_sae"]["n_latents"] == 96


@pytest.mark.slow  # umap's numba JIT alone takes ~15 s
def test_umap_map_when_asked(sae, store, tiny_lm, tmp_path):
    pytest.importorskip("umap")
    db = build_feature_db(sae, store, tmp_path / "u", lm=tiny_lm, progress=False, top_k=2, map_method="umap")
    pts = db.map_points()
    assert len(pts) == db.manifest["stats"]["alive"] and db.manifest["map"].startswith("umap")


def test_first_positions_are_left_out_of_every_statistic(tiny_lm, tmp_path):
    """A store without BOS starts every context with an ordinary token (the attention sink). With the
    default exclude_first=1 no statistic may count a context's first ordinary token: densities and maxima
    equal brute force over the other rows, no example peaks there, and the manifest says what was left out.
    Broken (the old behaviour): the first token counted like any other."""
    from tests.conftest import TEXT

    words = TEXT.split()
    path = tmp_path / "c.jsonl"
    with open(path, "w") as f:
        for i in range(60):
            f.write(json.dumps({"text": " ".join(words[(i * 5 + j) % len(words)] for j in range(30))}) + "\n")
    L = 16
    store = harvest(tiny_lm, tmp_path / "s", hooks=HOOK, corpus=str(path), n_tokens=1024, context_len=L,
                    batch_size=8, shard_tokens=256, progress=False, add_bos=False).store
    sae = density_sae(store, 24, HOOK, density=0.1, seed=3)
    x = torch.cat([a for _, a, _ in store.iter_shards(HOOK)])
    special = np.concatenate([np.asarray(store.shard_array(i, "special")) for i in range(len(store.manifest.shards))])
    first = np.zeros_like(special)
    for c in range(len(special) // L):  # brute force: the first non-special row of each context
        first[c * L + int(np.argmax(~special[c * L:(c + 1) * L]))] = True
    assert (first & (np.arange(len(first)) % L == 0)).sum() > 10  # mostly position 0 in this store
    f_all = sae.encode(x)
    kw = dict(lm=tiny_lm, progress=False, top_k=3, map_method="none", batch_tokens=64, sink_norm_ratio=0)
    for n_first, excluded in ((1, special | first), (0, special)):
        db = build_feature_db(sae, store, tmp_path / f"db{n_first}", exclude_first=n_first, **kw)
        f = f_all.clone()
        f[torch.from_numpy(excluded)] = 0
        rows = {r["feature"]: r for r in db.query("SELECT feature, n_active, max_act FROM features")}
        for j in range(24):
            assert rows[j]["n_active"] == int((f[:, j] > 0).sum())
            assert rows[j]["max_act"] == pytest.approx(float(f[:, j].max()), rel=1e-5)
        ex = db.manifest["excluded"]
        assert ex["first_ordinary_tokens"] == n_first and ex["rows"]["first"] == int((first & ~special).sum()) * n_first
        assert db.manifest["stats"]["tokens_counted"] == int((~excluded).sum())
        peaks = np.array([r["token_index"] for r in db.query("SELECT token_index FROM examples")])
        if n_first:
            assert not first[peaks].any()
    with pytest.raises(ValueError, match="exclude_first"):
        IndexConfig(exclude_first=-1)


def test_attention_sink_rows_are_excluded_by_norm():
    """Rows whose residual norm is over the threshold are sinks wherever they sit; the first ordinary token
    of each context is counted by rank, not by position (a leading BOS is not it)."""
    from monoscope.features.index import excluded_rows

    special = np.array([1, 0, 0, 0, 0, 0, 1, 0], bool)          # two contexts of 4: BOS-led and not
    norms = np.array([1e4, 5.0, 900.0, 5.0, 5.0, 5.0, 5.0, 5.0])
    drop, counts = excluded_rows(special, 4, 1, norms, sink_norm=100.0)
    assert drop.tolist() == [True, True, True, False, True, False, True, False]
    assert counts == {"special": 2, "first": 2, "sink": 1}
    drop0, counts0 = excluded_rows(special, 4, 0)
    assert drop0.tolist() == special.tolist() and counts0["first"] == counts0["sink"] == 0


def test_group_by_feature_matches_brute_force_and_shares_one_buffer():
    """Each feature's values in their original order (brute force), and every group a view of one array:
    the old per-feature `values[order][a:b]` kept n whole copies alive, which OOM-killed a 16k-latent index."""
    rng = np.random.default_rng(0)
    n = 50
    feature = rng.integers(0, n, 2000)
    values = rng.integers(0, 10**6, 2000).astype(np.int32)
    groups = group_by_feature(feature, values, n)
    assert len(groups) == n
    for f in range(n):
        assert np.array_equal(groups[f], values[feature == f])
    bases = {id(g.base) for g in groups if g.base is not None}
    assert len(bases) == 1 and all(g.base is not None for g in groups)
