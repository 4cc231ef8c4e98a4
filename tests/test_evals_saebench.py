"""SAEBench-style evaluations: corpus tasks, k-sparse probing, first-letter absorption (planted and on a model)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from monoscope.evals.absorption import absorption_from_activations, first_letter_words, run_absorption
from monoscope.evals.probing import k_sparse_accuracy, run_probing
from monoscope.evals.tasks import build_tasks
from monoscope.sae import SAEConfig, build_sae

pytestmark = pytest.mark.usefixtures("one_thread")


def test_tasks_come_from_the_corpus_and_are_balanced():
    tasks = {t.name: t for t in build_tasks(per_class=6)}
    lang = tasks["language"]
    assert lang.classes == ["de", "en", "es", "fr", "ja", "pt-BR", "ru", "zh-CN"]
    assert all(lang.labels.count(c) == 6 for c in lang.classes)
    assert tasks["source"].classes == ["bible", "jargon", "python-docs", "wordnet"]
    code = tasks["code vs prose"]
    codes = [t for t, y in zip(code.texts, code.labels) if y == "code"]
    prose = [t for t, y in zip(code.texts, code.labels) if y == "prose"]
    assert all(any(ch in t for ch in "=()[]:") for t in codes) and not any(">>>" in t for t in prose)


def test_k_sparse_probe_finds_the_informative_input_and_not_noise():
    """Fails if the selection ignores the class-mean difference (k=1 would pick noise) or the probe is not
    trained (accuracy 0.5 on a separable task), or if shuffled labels still score (a leak)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 50))
    y = (rng.random(400) < 0.3).astype(int)
    X[:, 17] += 3.0 * y
    tr, te = slice(0, 200), slice(200, 400)
    assert k_sparse_accuracy(X[tr], y[tr], X[te], y[te], k=1) > 0.9
    assert abs(k_sparse_accuracy(X[tr], rng.permutation(y[tr]), X[te], y[te], k=1) - 0.5) < 0.15


def planted_absorption(frac: float, d=64, letters="abcdefgh", per=60, seed=0):
    """Activations with a direction per first letter, and an SAE whose 'starts with L' latent is silent on a
    `frac` of the L-words, where an absorbing latent (decoder ≈ the letter direction + a marker) fires instead."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g))
    U, m = q[: len(letters)], q[len(letters)]                     # letter directions, shared marker
    X, labels = [], []
    for li, L in enumerate(letters):
        for i in range(per):
            absorbed = i < int(frac * per)
            x = 3.0 * U[li] + 0.3 * torch.randn(d, generator=g) + (2.0 * m if absorbed else 0)
            X.append(x)
            labels.append(L)
    n = 2 * len(letters)
    sae = build_sae(SAEConfig("relu", d_in=d, n_latents=n))
    with torch.no_grad():
        sae.W_enc.zero_(), sae.b_enc.zero_(), sae.W_dec.zero_(), sae.b_dec.zero_()
        for li in range(len(letters)):
            sae.W_enc[li] = U[li] - 2.0 * m                           # main latent: off when the marker is on
            sae.b_enc[li] = -1.5                                      # silent on other letters' words
            sae.W_dec[li] = U[li]
            sae.W_enc[len(letters) + li] = U[li] + m                  # absorber: on only with the marker
            sae.b_enc[len(letters) + li] = -3.5
            sae.W_dec[len(letters) + li] = (U[li] + m) / (U[li] + m).norm()
    return torch.stack(X), np.array(labels), sae.eval()


def test_absorption_measures_the_planted_rate():
    """A quarter of each letter's words absorbed → absorption ≈ 0.25 (fails if absorbed words are not found,
    or if every miss counts); none planted → ≈ 0. Random directions (the control) pass the criterion for
    fewer words: only by the chance sign and cosine of the absorber's decoder."""
    X, letters, sae = planted_absorption(0.25)
    r = absorption_from_activations(X, letters, sae)
    assert r.probe_accuracy > 0.95 and 0.15 < r.absorption < 0.35, r
    assert r.main_latent_f1 > 0.8 and r.absorption_random_dir < 0.7 * r.absorption
    X0, l0, sae0 = planted_absorption(0.0)
    r0 = absorption_from_activations(X0, l0, sae0)
    assert r0.absorption < 0.03 and r0.main_latent_f1 > 0.9


def test_probing_and_absorption_run_on_a_real_model():
    """glassllm (a real tiny LM) with an untrained SAE at resid_post.1: the dense residual probe tells the
    languages apart well above its shuffled-label control; absorption runs on its vocabulary."""
    from monoscope.models import load

    lm = load("glassllm")
    sae = build_sae(SAEConfig("topk", d_in=lm.d_model, n_latents=256, k=16, hook="resid_post.1",
                              model=lm.name)).init_weights(torch.Generator().manual_seed(0)).eval()
    tasks = [t for t in build_tasks(per_class=8) if t.name in ("language", "code vs prose")]
    res = run_probing(lm, sae, tasks=tasks, ks=(5,), progress=False)
    rows = {r.task: r for r in res.rows}
    assert rows["language"].resid_all > rows["language"].shuffled + 0.15
    assert all(0.0 <= v <= 1.0 for r in res.rows for v in (r.sae, r.resid, r.resid_all, r.shuffled))
    assert len(first_letter_words(lm.tokenizer)) > 100
    ab = run_absorption(lm, sae, min_per_letter=5)
    assert ab.n_letters >= 5 and 0.0 <= ab.absorption <= 1.0
