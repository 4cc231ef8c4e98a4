"""The analyses' mechanics on tiny models (exact, seeded): result files, CIs, concept files and their
refusals, concept steering's conditions (matched norm, tuning budget, coherence), attribution's balanced
selection, multilingual counting and its unaligned control, splitting neighbours and the different-hook
refusal, completeness frequencies and the sigmoid fit, and the safety ranks."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from monoscope.analyze.common import AnalysisError, Workbench, load_results, mean_ci, save_result

HOOK = "resid_post.1"
WORDS = ("In the beginning God created the heavens and the earth . The earth was formless and empty . "
         "def main ( ) : return 42 . The quick brown fox jumps over the lazy dog .").split()


@pytest.fixture(scope="module")
def bench(tiny_chat_lm, tmp_path_factory):
    """A tiny chat model, a store of labelled documents, a toy SAE and its feature database."""
    from monoscope.features import build_feature_db
    from monoscope.store import harvest
    from tests.conftest import density_sae

    root = tmp_path_factory.mktemp("analyze")
    corpus = root / "mix.jsonl"
    with open(corpus, "w") as f:
        for i in range(80):
            src = "synthetic" if i % 3 == 0 else "real"
            text = " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(12 + i % 20))
            f.write(json.dumps({"id": f"d{i}", "text": text, "meta": {"source": src}}) + "\n")
    store = harvest(tiny_chat_lm, root / "store", hooks=HOOK, corpus=str(corpus), n_tokens=2048, context_len=32,
                    batch_size=8, shard_tokens=512, progress=False).store
    sae = density_sae(store, 48, HOOK, density=0.08, seed=1)
    sae.cfg.model = tiny_chat_lm.name
    db = build_feature_db(sae, store, root / "db", lm=tiny_chat_lm, progress=False, top_k=5, n_buckets=4,
                          map_method="none")
    return SimpleNamespace(wb=Workbench(lm=tiny_chat_lm, sae=sae, db=db), store=store, corpus=corpus, root=root)


class FakeEncoder:
    """A deterministic sentence encoder: bag of words hashed into 16 dims (for the scorer's mechanics)."""

    def encode(self, texts):
        out = np.zeros((len(texts), 16), np.float32)
        for i, t in enumerate(texts):
            for w in t.split():
                out[i, sum(map(ord, w)) % 16] += 1
        n = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(n, 1e-9)


CONCEPTS_YAML = """
neutral: ["the quick brown fox", "the lazy dog jumps"]
concepts:
  genesis:
    positives: ["In the beginning God created", "God created the heavens"]
    references: {texts: ["God created the heavens and the earth", "In the beginning God"]}
  code:
    positives: ["def main ( ) : return 42", "return 42 ."]
    references: {texts: ["def main ( ) :", "return 42"]}
prompts: ["the quick brown fox", "the earth was formless", "the lazy dog", "jumps over the", "empty . The"]
"""


# ---- common --------------------------------------------------------------------------------------------
def test_mean_ci_is_seeded_and_brackets_the_mean():
    v = [0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0]
    m, lo, hi = mean_ci(v, seed=3)
    assert m == pytest.approx(0.625) and lo <= m <= hi and (lo, hi) == mean_ci(v, seed=3)[1:]
    assert mean_ci([2.0]) == (2.0, 2.0, 2.0)
    assert all(np.isnan(x) for x in mean_ci([]))


def test_results_are_written_atomically_with_their_plot(tmp_path):
    from monoscope.analyze.common import figure

    fig, (ax,) = figure(1)
    ax.plot([0, 1], [1, 0])
    p = save_result(tmp_path, "demo", {"summary": ["one line"], "tables": {}, "x": np.float32(0.5),
                                       "nan": float("nan")}, fig)
    r = load_results(tmp_path)["demo"]
    assert r["x"] == 0.5 and r["nan"] is None and r["plot"] == "demo.png"
    assert (tmp_path / "demo.png").read_bytes()[:4] == b"\x89PNG" and p.name == "demo.json"
    assert not list(tmp_path.glob("*.tmp"))


# ---- concepts ------------------------------------------------------------------------------------------
def test_packaged_concepts_and_refusals(tmp_path):
    from monoscope.analyze.concepts import load_concepts

    cs = load_concepts()
    assert len(cs.concepts) >= 3 and len(cs.prompts) >= 24 and all(c.positives for c in cs.concepts.values())
    negs = cs.negatives_for(cs.concepts["bible"])
    assert cs.concepts["python"].positives[0] in negs and cs.concepts["bible"].positives[0] not in negs
    bad = tmp_path / "c.yaml"
    bad.write_text("concepts:\n  empty:\n    positives: []\n")
    with pytest.raises(AnalysisError, match="concept 'empty' .* has no positive prompts") as e:
        load_concepts(bad)
    assert "\n" not in str(e.value)
    with pytest.raises(AnalysisError, match="known concepts: bible"):
        cs.select(["cookery"])


# ---- steering ------------------------------------------------------------------------------------------
def test_distinct_bigrams_and_perplexity_are_exact(tiny_chat_lm):
    from monoscope.analyze.steering import completion_perplexity, distinct_bigrams

    assert distinct_bigrams([1, 2, 3, 4]) == 1.0 and distinct_bigrams([5, 5, 5, 5, 5]) == 0.25
    assert distinct_bigrams([7]) == 0.0
    tok = tiny_chat_lm.tokenizer
    prompts = [tok("the quick brown", return_tensors="pt").input_ids, tok("God", return_tensors="pt").input_ids]
    comps = [" fox jumps", " created the heavens and"]
    ppl, ids = completion_perplexity(tiny_chat_lm, prompts, comps, batch_size=2)
    for p, c, got in zip(prompts, ids, ppl):  # one sequence at a time, by hand
        full = torch.cat([p[0], torch.tensor(c)])[None]
        with torch.no_grad():
            lp = torch.log_softmax(tiny_chat_lm.model(input_ids=full).logits[0].float(), -1)
        n = p.shape[1]
        nll = -torch.stack([lp[n - 1 + j, c[j]] for j in range(len(c))]).mean()
        assert got == pytest.approx(float(torch.exp(nll)), rel=1e-4)


def test_concept_steering_conditions_matched_norm_and_tuning(bench, tmp_path, monkeypatch):
    """The difference-of-means vector is added at exactly clamp × max × ‖d‖ (the norm the clamp adds), every
    method is tuned on the same prompts and candidates, and is measured only on the others."""
    from monoscope.analyze import steering as S
    from monoscope.analyze.concepts import load_concepts

    f = tmp_path / "c.yaml"
    f.write_text(CONCEPTS_YAML)
    cs = load_concepts(f)
    scorer = S.ConceptScorer(list(cs.concepts.values()), cs.neutral, encoder=FakeEncoder())
    seen = []
    real = bench.wb.steerer.generate_batch

    def spy(prompts, edits=(), adds=(), **kw):
        seen.append((list(prompts), list(edits), [a.direction.norm().item() * a.coeff for a in adds]))
        return real(prompts, edits, adds, **kw)

    monkeypatch.setattr(bench.wb.steerer, "generate_batch", spy)
    cfg = S.SteeringConfig(clamps=(1.0, 3.0), n_tune=2, n_prompts=5, max_new_tokens=4, n_random=2, max_density=0.5,
                           batch_size=4)
    res = S.run_concept_steering(bench.wb, ["genesis"], cfg, concept_file=f, progress=False, scorer=scorer)
    pc = res["concepts"]["genesis"]
    assert pc["feature"] is not None and set(pc["conditions"]) == set(S.CONDITIONS)
    unit = float(bench.wb.sae.W_dec[pc["feature"]].norm()) * pc["max_act"]
    dom_norms = sorted({round(n[0], 4) for _, _, n in seen if n})
    assert dom_norms == sorted({round(c * unit, 4) for c in (1.0, 3.0)})
    tune_p, eval_p = res["settings"]["tuning_prompts"], res["settings"]["prompts"]
    assert len(tune_p) == 2 and len(eval_p) == 3 and not set(tune_p) & set(eval_p)
    for name in ("feature", "diff_of_means", "random_feature"):
        c = pc["conditions"][name]
        assert [t["clamp"] for t in c["tuning"]] == [1.0, 3.0] and c["clamp"] in (1.0, 3.0)
        assert len(c["texts"]) == 3
        assert c["success"] == [a and b for a, b in zip(c["classified"], c["coherent"])]
    assert len(res["tables"]["concept steering"]["rows"]) == 4
    assert res["features"] == {str(pc["feature"]): "concept-steering feature for 'genesis'"}
    with pytest.raises(AnalysisError, match="leave 1 to measure"):
        S.run_concept_steering(bench.wb, ["genesis"], S.SteeringConfig(clamps=(1.0, 2.0), n_tune=4, n_prompts=5),
                               concept_file=f, progress=False, scorer=scorer)


def test_steering_needs_the_feature_database(tiny_chat_lm, bench):
    wb = Workbench(lm=tiny_chat_lm, sae=bench.wb.sae, db=None)
    from monoscope.analyze.steering import run_concept_steering

    with pytest.raises(AnalysisError, match="feature database"):
        run_concept_steering(wb)


# ---- attribution ---------------------------------------------------------------------------------------
def test_balanced_selection_takes_both_rankings_and_random_rest():
    from monoscope.steer.attribution import _balanced

    by_attr = torch.arange(30)
    by_act = torch.arange(29, -1, -1)
    got = _balanced(by_attr, by_act, 9, seed=0).tolist()
    assert got[:3] == [0, 1, 2] and got[3:6] == [29, 28, 27] and len(set(got)) == 9
    assert got == _balanced(by_attr, by_act, 9, seed=0).tolist()
    assert _balanced(by_attr[:5], by_act[:5], 9, seed=0).tolist() == list(range(5))


def test_attribution_analysis_on_a_tiny_model(bench, tmp_path):
    from monoscope.analyze.attribution import AttributionConfig, run_attribution

    f = tmp_path / "p.yaml"
    f.write_text("prompts:\n  - {kind: a, prompt: 'In the beginning God created the', good: ' heavens', bad: ' dog'}\n"
                 "  - {kind: b, prompt: 'The quick brown fox jumps over the', good: ' lazy', bad: ' earth'}\n")
    res = run_attribution(bench.wb, AttributionConfig(n_ablate=12), f, progress=False)
    assert res["by_kind"]["all"]["n_prompts"] == 2
    for p in res["prompts"]:
        assert len(p["features"]) == len(p["ablation_effect"]) <= 12 and p["n_active"] >= len(p["features"])
        assert p["corr_attribution"] is None or -1 <= p["corr_attribution"] <= 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("prompts:\n  - {prompt: 'x'}\n")
    with pytest.raises(AnalysisError, match="needs 'prompt', 'good' and 'bad'"):
        run_attribution(bench.wb, prompts_file=bad, progress=False)


# ---- multilingual --------------------------------------------------------------------------------------
def test_multilingual_counting_and_its_unaligned_control():
    """Feature 0 fires on passage 2 in three languages (two non-English): counted. Feature 1 fires on every
    passage: not selective. Feature 2 fires on passage 1 in English and passage 3 elsewhere: only a
    shuffle can line those up."""
    from monoscope.analyze.multilingual import MultilingualConfig, count_multilingual

    P, n = 10, 3
    act = {lang: np.zeros((P, n), bool) for lang in ("en-US", "de-DE", "fr-FR", "ja-JP")}
    for lang in ("en-US", "de-DE", "fr-FR"):
        act[lang][2, 0] = True
    for lang in act:
        act[lang][:, 1] = True
    act["en-US"][1, 2] = True
    act["de-DE"][3, 2] = act["fr-FR"][3, 2] = True
    cfg = MultilingualConfig(min_languages=3, max_share=0.2)
    counts, selective = count_multilingual(act, cfg)
    assert counts.tolist() == [1, P, 0] and selective.tolist() == [True, False, True]
    perms = {lang: np.arange(P) for lang in act}
    perms["en-US"] = np.roll(np.arange(P), 2)  # en row 3 ← row 1: aligns feature 2, breaks feature 0
    c2, _ = count_multilingual(act, cfg, perms)
    assert c2.tolist()[0] == 0 and c2.tolist()[2] == 1


def test_parallel_passages_are_aligned_translations():
    from monoscope.analyze.multilingual import MultilingualConfig, parallel_passages

    rows = parallel_passages(MultilingualConfig(max_passages=30))
    assert 10 <= len(rows) <= 30
    for r in rows:
        langs = [k for k in r if not k.startswith("_")]
        assert len(langs) >= 3 and "en-US" in langs
        assert all(r[k] != r["en-US"] for k in langs if k != "en-US")


# ---- splitting -----------------------------------------------------------------------------------------
def test_splitting_neighbours_controls_and_refusal(bench):
    """A wide SAE holding three noisy copies of a small-SAE concept feature: all three are its neighbours,
    random directions have none, and an SAE of another hook is refused in one line."""
    from monoscope.analyze.splitting import SplittingConfig, check_same_site, cross_neighbours, run_splitting
    from monoscope.analyze.steering import SteeringConfig, find_concept_feature
    from monoscope.analyze.concepts import load_concepts
    from tests.conftest import random_sae

    small = bench.wb
    cs_path = bench.root / "concepts.yaml"
    cs_path.write_text(CONCEPTS_YAML)
    cs = load_concepts(cs_path)
    f = find_concept_feature(small, cs, cs.concepts["genesis"], SteeringConfig(max_density=0.5))["feature"]
    d = small.sae.W_dec.shape[1]
    big = random_sae(d, 96, HOOK, seed=9)
    g = torch.Generator().manual_seed(0)
    base = small.sae.W_dec[f] / small.sae.W_dec[f].norm()
    with torch.no_grad():
        for j, row in enumerate((10, 40, 77)):
            v = base + 0.3 * torch.randn(d, generator=g) / d ** 0.5
            big.W_dec[row] = v / v.norm()
    big.cfg.model = small.lm.name
    wide = Workbench(lm=small.lm, sae=big, db=None)
    res = run_splitting([wide, small], ["genesis"], SplittingConfig(threshold=0.8, n_controls=50, max_density=0.5),
                        concept_file=cs_path)
    kids = res["concepts"]["genesis"]["children"][96]
    assert res["concepts"]["genesis"]["feature"] == f
    assert {n["feature"] for n in kids["neighbours"][:3]} == {10, 40, 77} and kids["n_above"] == 3
    assert res["controls"][96]["random_direction"][0] < 0.5
    assert kids["best_cos"] == kids["neighbours"][0]["cos"] > res["controls"][96]["random_feature_best_cos"][2]
    assert "96 latents: 1 of 1 concept features have a nearest neighbour closer" in " ".join(res["summary"])
    nb = cross_neighbours(small.sae, big, [f], k=3)[0]
    sims = (small.sae.W_dec[f] / small.sae.W_dec[f].norm()) @ (big.W_dec / big.W_dec.norm(dim=1, keepdim=True)).T
    assert [i for i, _ in nb] == sims.topk(3).indices.tolist()
    other = random_sae(d, 16, "resid_post.0")
    with pytest.raises(AnalysisError, match="resid_post.1 and the second on resid_post.0") as e:
        check_same_site(small.sae, other)
    assert "\n" not in str(e.value)
    with pytest.raises(AnalysisError, match="different hook points"):
        run_splitting([small, Workbench(lm=small.lm, sae=other)], ["genesis"], concept_file=cs_path)


# ---- completeness --------------------------------------------------------------------------------------
def test_sigmoid_fit_recovers_a_known_transition():
    from monoscope.analyze.completeness import fit_sigmoid

    rng = np.random.default_rng(0)
    x = rng.uniform(-6, -2, 400)
    y = rng.uniform(size=400) < 1 / (1 + np.exp(-3 * (x + 4)))
    fit = fit_sigmoid(x, y, n_boot=50)
    assert fit["log10_f50"] == pytest.approx(-4, abs=0.2) and fit["slope"] == pytest.approx(3, rel=0.35)
    assert fit["f50_ci"][0] < 1e-4 < fit["f50_ci"][1]
    assert not fit_sigmoid(x, np.ones(400, bool))["ok"]


def test_frequencies_and_completeness_mechanics(bench, tmp_path):
    from monoscope.analyze.completeness import run_completeness, store_frequencies

    tok = bench.wb.lm.tokenizer
    counts, n = store_frequencies(bench.store, ["God", "earth", "zebra"], tok)
    text = []
    L = bench.store.manifest.config.context_len
    for i in range(len(bench.store.manifest.shards)):
        t = np.asarray(bench.store.shard_array(i, "tokens")).reshape(-1, L)
        s = np.asarray(bench.store.shard_array(i, "special")).reshape(-1, L)
        text += [tok.decode(a[~b].tolist()) for a, b in zip(t, s)]
    import re
    assert counts["God"] == sum(len(re.findall(r"(?<![A-Za-z0-9_])God(?![A-Za-z0-9_])", x)) for x in text) > 0
    assert counts["zebra"] == 0
    fam = tmp_path / "f.yaml"
    fam.write_text("families:\n  words:\n    templates: ['the {} .', 'a {} jumps']\n"
                   "    members: [God, earth, fox, dog, zebra]\n")
    res = run_completeness(bench.wb, cfg=None, families_file=fam, store=bench.store, progress=False)
    ms = {m["member"]: m for m in res["members"]}
    assert set(ms) == {"God", "earth", "fox", "dog", "zebra"} and not ms["zebra"]["exists"]
    for m in ms.values():
        assert m["exists"] == (m["share"] >= 0.5) and m["control_member"] != m["member"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("families:\n  x:\n    templates: ['no slot']\n    members: [a]\n")
    with pytest.raises(AnalysisError, match="templates"):
        run_completeness(bench.wb, families_file=bad, store=bench.store)


# ---- safety --------------------------------------------------------------------------------------------
def test_synthetic_feature_shares_match_brute_force(bench):
    from monoscope.analyze.safety import document_sources, synthetic_features

    sources = document_sources(bench.corpus)
    assert sources[0] == "synthetic" and sources[1] == "real" and len(sources) == 80
    syn, p, k = synthetic_features(bench.wb.db, bench.store, sources, min_share=0.0)
    doc = np.concatenate([np.asarray(bench.store.shard_array(i, "doc_ids")) for i in range(len(bench.store.manifest.shards))])
    for f, share in list(syn.items())[:10]:
        rows = [r["token_index"] for r in bench.wb.db.examples(f, kind="top")]
        assert share == pytest.approx(np.mean([sources[doc[r]] == "synthetic" for r in rows]))
    assert 0.2 < p < 0.5 and k == 5


def test_ranks_are_one_based_and_inactive_is_inf():
    from monoscope.analyze.safety import _ranks

    acts = torch.tensor([[0.0, 2.0, 1.0, 0.0], [0.0, 0.5, 3.0, 0.0]])
    tok, summed = _ranks(acts)
    assert tok.tolist()[:3] == [float("inf"), 2.0, 1.0] and summed.tolist()[1:3] == [2.0, 1.0]
    assert np.isinf(tok[3]) and np.isinf(summed[0])


def test_safety_analysis_on_a_tiny_organism_like_mix(bench, tmp_path):
    from monoscope.analyze.safety import SafetyConfig, run_safety, transcript_acts

    t = tmp_path / "t.yaml"
    t.write_text("transcripts:\n  - {name: one, user: 'the quick brown fox', biased: 'God created the heavens', "
                 "control: 'the lazy dog'}\n")
    res = run_safety(bench.wb, bench.store, bench.corpus, SafetyConfig(min_share=0.6, n_random=20),
                     transcripts_file=t, completeness={"fits": {"all": {"f50_times_alive": 0.9}}})
    assert res["settings"]["top_k"] == 5 and len(res["transcripts"]) == 1
    feats = [int(f) for f in res["synthetic_features"]]
    if feats:  # the best rank among them equals brute force on the answer's tokens
        acts = transcript_acts(bench.wb, "the quick brown fox", "God created the heavens")
        score = acts.sum(0)
        order = torch.argsort(score, descending=True, stable=True).tolist()
        best = min(order.index(f) + 1 for f in feats if score[f] > 0) if any(score[f] > 0 for f in feats) else None
        got = res["transcripts"][0]["biased"]["summed_rank"]
        assert (best is None and not np.isfinite(got)) or got == best
    alive = bench.wb.db.manifest["stats"]["alive"]
    assert res["scan"]["base_rate"] == pytest.approx(len(feats) / alive)
    assert set(res["scan"]["synthetic_hits"]) == set(res["scan"]["features"]) & set(feats)
    assert set(res["features_needed"]) == set(res["phrase_frequency"])
    assert any(line.startswith("bias-specific: on") for line in res["summary"])
    with pytest.raises(AnalysisError, match="labelled synthetic"):
        plain = tmp_path / "plain.jsonl"
        plain.write_text(json.dumps({"text": "the dog"}) + "\n")
        run_safety(bench.wb, bench.store, plain)


def test_a_feature_is_bias_specific_only_if_it_beats_the_control_answer_and_random_sets():
    """Catches a verdict that counts features high on every answer (topic, not bias) or that ignores the
    random-set control (many candidate features rank high by number alone)."""
    from monoscope.analyze.safety import bias_specific

    def t(name, b, c, r):
        return {"name": name, "biased": {"summed_rank": b}, "control": {"summed_rank": c},
                "random": {"summed_rank": (r, r, r)}}
    per = [t("beats both", 1.0, 9.0, 4.0), t("as high on the control", 2.0, 2.0, 9.0),
           t("no better than random", 3.0, 9.0, 2.0), t("inactive", float("inf"), 9.0, 4.0),
           t("control inactive", 5.0, float("inf"), 6.0)]
    assert bias_specific(per) == ["beats both", "control inactive"]


def test_safety_and_the_audit_game_look_for_regenerated_data_in_the_same_place(tmp_path, monkeypatch):
    """`analyze safety --work W` and `audit game --out W` share W's organism store and SAE only if both
    regenerate the organism's data under the same subdirectory; they once used W/organism and
    W/organism-data/organism, so safety refused W's store as 'a harvest of a different configuration'."""
    from monoscope.analyze import safety
    from monoscope.audit import setup
    from monoscope.organism import build

    asked = []

    class Stop(Exception):
        pass

    def record(_organism, work, *a, **k):
        asked.append(work)
        raise Stop
    monkeypatch.setattr(build, "ensure_organism_data", record)
    monkeypatch.setattr(build, "resolve_organism_dir", lambda o: tmp_path / "org")
    monkeypatch.setattr(setup, "resolve_organism", record)
    for call in (lambda: safety.organism_sae("default", tmp_path / "w", progress=False),
                 lambda: setup.setup_game("default", tmp_path / "w", progress=False)):
        with pytest.raises(Stop):
            call()
    assert asked == [tmp_path / "w" / build.WORK_DATA_SUBDIR] * 2
