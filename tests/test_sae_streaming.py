"""Training straight from the model: the mixing buffer, exact resume, several SAEs per forward pass, the
`monoscope train --model` command, and its one-line refusals. Tiny random Llama, CPU."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from monoscope.errors import UserError
from monoscope.models import HookPointError
from monoscope.sae import ActivationStream, SAEConfig, SAESpec, TrainConfig, Trainer, load_sae

pytestmark = pytest.mark.usefixtures("one_thread")

HOOKS = "resid_pre.1,resid_post.1"
L = 32


def stream(lm, corpus, **kw):
    args = dict(hooks=HOOKS, context_len=L, model_batch=4, buffer_tokens=512, norm_tokens=256)
    args.update(kw)
    return ActivationStream(lm, str(corpus), **args)


def tcfg(**kw):
    base = dict(steps=30, batch_size=64, lr=2e-3, progress=False, log_every=5, checkpoint_every=10, dead_tokens=512)
    base.update(kw)
    return TrainConfig(**base)


def specs(st, widths=(64, 128)):
    return [SAEConfig("topk", st.d_in, n, k=4, hook=h) for h in st.hooks for n in widths]


def _rows(it, n=None):
    """Positions of every batch an iterator emits."""
    out = []
    for _ in range(n or 10 ** 9):
        try:
            next(it)
        except StopIteration:
            break
        out.append(it.last_positions.copy())
    return out


# ---- the mixing buffer ----------------------------------------------------------------------------
def test_buffer_emits_every_kept_row_once_and_mixes_many_contexts(tiny_lm, text_corpus):
    """Every kept row of the stream leaves the buffer exactly once; each batch draws on many contexts, while a
    buffer of one context (the control) gives batches of 2–3 neighbouring contexts. A buffer that emitted rows
    in arrival order, or lost or repeated rows, fails."""
    st = stream(tiny_lm, text_corpus, buffer_tokens=1024)
    batches = _rows(st.open(None, 64))
    pos = np.concatenate(batches)
    assert len(np.unique(pos)) == len(pos)                          # nothing twice
    from monoscope.corpus import iter_contexts, iter_documents

    ctxs = list(iter_contexts(iter_documents(str(text_corpus)), tiny_lm.tokenizer, L))
    kept = {c * L + j for c, ctx in enumerate(ctxs) for j in range(1, L) if not ctx.special[j]}
    assert set(pos.tolist()) <= kept and len(kept) - len(pos) < 64   # everything but the last partial batch
    mixed = np.median([len(np.unique(b // L)) for b in batches])
    control = np.median([len(np.unique(b // L)) for b in _rows(stream(tiny_lm, text_corpus, buffer_tokens=L,
                                                                      norm_tokens=L).open(None, 64))])
    assert mixed >= 15 and control <= 4, (mixed, control)


def test_emission_order_does_not_depend_on_forward_batching(tiny_lm, text_corpus):
    """The order is a pure function of the stream and the seed (what makes resume exact); the seed changes it."""
    a = _rows(stream(tiny_lm, text_corpus, model_batch=2).open(None, 64), 12)
    b = _rows(stream(tiny_lm, text_corpus, model_batch=5).open(None, 64), 12)
    c = _rows(stream(tiny_lm, text_corpus, model_batch=2).open(None, 64, seed=1), 12)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_first_tokens_and_special_tokens_stay_out_unless_kept(tiny_lm, text_corpus):
    st = stream(tiny_lm, text_corpus)
    pos = np.concatenate(_rows(st.open(None, 64), 8))
    assert not (pos % L == 0).any()
    kept = np.concatenate(_rows(st.open(None, 64, skip_first=False, skip_special=False), 8))
    assert (kept % L == 0).any()


# ---- training ---------------------------------------------------------------------------------------
def test_resumed_stream_run_equals_uninterrupted(tiny_lm, text_corpus, tmp_path):
    """Two hooks × two widths from one forward pass; a run killed at step 17 and resumed reaches bit-identical
    weights (the buffer is rebuilt by replaying the stream from its cursor). A resume that restarted the stream
    or mis-placed the cursor would train on other rows and differ."""
    st = stream(tiny_lm, text_corpus)
    full = Trainer(st, specs(st), tcfg(), tmp_path / "a").run()
    assert len(full.all) == 4 and all(r.steps == 30 for r in full.all.values())
    Trainer(st, specs(st), tcfg(), tmp_path / "b").run(stop_after=17)
    data = json.loads((tmp_path / "b" / "checkpoints" / "step_000000017" / "data.json").read_text())
    assert data["states"][0]["batches"] == 17 and data["states"][0]["cursor"] is not None
    res = Trainer(st, specs(st), tcfg(), tmp_path / "b", resume=True).run()
    assert res.resumed_from == 17
    for name, r in full.all.items():
        a, b = r.sae.state_dict(), res.all[name].sae.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
        steps = [json.loads(x)["step"] for x in (tmp_path / "b" / name / "metrics.jsonl").read_text().splitlines()]
        assert steps == [5, 10, 15, 20, 25, 30]
    # the run really trained, from the normalised stream, and says what it skipped
    sae = load_sae(tmp_path / "a" / "resid_post.1-topk-128-k4")
    td = sae.cfg.metadata["training_data"]
    assert td["kind"] == "stream" and "first token of every context" in " ".join(td["excluded"])
    assert "first 256 training tokens" in td["norm_scalar_from"] and sae.cfg.hook == "resid_post.1"
    hist = full.all["resid_post.1-topk-128-k4"].history
    assert hist[-1]["fvu"] < 0.8 * hist[0]["fvu"]


def test_several_saes_per_pass_equal_separate_runs(tiny_lm, text_corpus):
    """An SAE trained beside others from the same forward passes is the SAE trained alone: nothing leaks
    between them (per-SAE optimizer, counters, schedules)."""
    st = stream(tiny_lm, text_corpus)
    both = Trainer(st, [SAESpec(c, lr=lr) for c, lr in zip(specs(st, (64,)), (2e-3, 5e-3))], tcfg(), None).run()
    for spec, lr in zip(specs(st, (64,)), (2e-3, 5e-3)):
        alone = Trainer(st, spec, tcfg(lr=lr), None).run()
        together = both.all[f"{spec.hook}-topk-64-k4-lr{lr:g}"]
        assert all(torch.equal(alone.sae.state_dict()[k], v) for k, v in together.sae.state_dict().items())


def test_norm_scalar_is_estimated_on_the_stated_warmup_tokens(tiny_lm, text_corpus):
    """c = sqrt(d / E‖x‖²) over the first `norm_tokens` kept rows, recomputed here from a plain forward."""
    st = stream(tiny_lm, text_corpus, hooks="resid_post.1", norm_tokens=100)
    tr = Trainer(st, SAEConfig("topk", st.d_in, 64, k=4), tcfg(steps=1), None)
    from monoscope.corpus import iter_contexts, iter_documents

    rows = []
    for ctx in iter_contexts(iter_documents(str(text_corpus)), tiny_lm.tokenizer, L):
        x = tiny_lm.hooked.run_to("resid_post.1", input_ids=torch.as_tensor(ctx.tokens[None], dtype=torch.long))
        keep = ~np.asarray(ctx.special)
        keep[0] = False
        rows.append(x["resid_post.1"][0][torch.from_numpy(keep)])
        if sum(len(r) for r in rows) >= 100:
            break
    x = torch.cat(rows)[:100].double()
    assert tr.cfg.norm_scalar == pytest.approx(math.sqrt(st.d_in / float(x.pow(2).sum(-1).mean())), rel=1e-9)


# ---- refusals: one line each, nothing changed ---------------------------------------------------------
def test_bad_input_is_one_clear_line(tiny_lm, text_corpus, tmp_path):
    with pytest.raises(HookPointError, match=r"unknown hook point 'resid_post\.7'.*valid points.*resid_post\.1"):
        stream(tiny_lm, text_corpus, hooks="resid_post.7")
    st = stream(tiny_lm, text_corpus, buffer_tokens=10 ** 13, norm_tokens=10)
    with pytest.raises(UserError, match=r"the mixing buffer needs [\d.,]+ [TP]B .* but only .* free .*--buffer-tokens"):
        Trainer(st, specs(st), tcfg(), tmp_path / "x")
    assert not (tmp_path / "x").exists()
    with pytest.raises(UserError, match="--tokens N or --steps N"):
        from monoscope.sae.run import train_run

        train_run(tmp_path / "y", model="whatever")


def test_resume_with_other_corpus_or_model_is_refused_and_changes_nothing(tiny_lm, tiny_chat_lm, text_corpus,
                                                                             tmp_path):
    st = stream(tiny_lm, text_corpus, hooks="resid_post.1")
    out = tmp_path / "run"
    Trainer(st, specs(st, (64,)), tcfg(steps=12), out).run(stop_after=6)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"text": "The quick brown fox jumps over the lazy dog . " * 40}) + "\n")
    with pytest.raises(UserError, match=r"refusing to resume .*corpus=.*corpus.jsonl.*other\.jsonl.*nothing was changed"):
        Trainer(stream(tiny_lm, other, hooks="resid_post.1"), specs(st, (64,)), tcfg(steps=12), out, resume=True)
    chat = stream(tiny_chat_lm, text_corpus, hooks="resid_post.1")
    with pytest.raises(UserError, match=r"refusing to resume .*model='tiny-llama'.*model='tiny-chat'"):
        Trainer(chat, specs(chat, (64,)), tcfg(steps=12), out, resume=True)
    assert before == {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}


# ---- the command --------------------------------------------------------------------------------------
def test_train_command_streams_two_hooks_two_widths_and_resumes(tiny_lm, text_corpus, tmp_path, capsys):
    from monoscope.cli import main

    tiny_lm.model.save_pretrained(tmp_path / "model")
    tiny_lm.tokenizer.save_pretrained(tmp_path / "model")
    out = tmp_path / "run"
    args = ["train", "--model", str(tmp_path / "model"), "--corpus", str(text_corpus), "--hooks", HOOKS,
            "--latents", "64,128", "--k", "4", "--tokens", "1280", "--batch-size", "64", "--context-len", str(L),
            "--buffer-tokens", "512", "--norm-tokens", "256", "--checkpoint-every", "5", "--device", "cpu",
            "--out", str(out)]
    with pytest.raises(SystemExit) as e:
        main(args + ["--no-progress"])
    assert e.value.code == 0
    names = sorted(p.name for p in out.iterdir() if (p / "sae.safetensors").exists())
    assert names == ["resid_post.1-topk-128-k4", "resid_post.1-topk-64-k4", "resid_pre.1-topk-128-k4",
                     "resid_pre.1-topk-64-k4"]
    assert json.loads((out / "resid_pre.1-topk-64-k4" / "summary.json").read_text())["steps"] == 20
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:                        # the same command again: refused, one line
        main(args + ["--no-progress"])
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error")]   # (model-loading bars aside)
    assert e.value.code == 2 and len(err) == 1 and "already holds" in err[0]
    with pytest.raises(SystemExit) as e:
        main(args[:-2] + ["--buffer-tokens", str(10 ** 13), "--out", str(tmp_path / "big"), "--no-progress"])
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error")]
    assert e.value.code == 2 and len(err) == 1 and "mixing buffer needs" in err[0]
    assert not (tmp_path / "big").exists()


def test_prefetching_changes_no_bit(tiny_lm, text_corpus):
    """The background forward thread hands out the same batches and cursor as the plain iterator."""
    plain = stream(tiny_lm, text_corpus, prefetch=0)
    ahead = stream(tiny_lm, text_corpus, prefetch=3)
    a = plain.open(None, 64)
    first = [(next(a), a.state()) for _ in range(12)]       # one model, so not while the other thread runs it
    b = ahead.open(None, 64)
    assert type(b).__name__ == "Prefetcher"
    for x, state in first:
        y = next(b)
        assert all(torch.equal(x[h], y[h]) for h in x) and state == b.state()
    del b                                                     # its thread stops
    ra = Trainer(plain, specs(plain, (64,)), tcfg(steps=12), None).run()
    rb = Trainer(ahead, specs(ahead, (64,)), tcfg(steps=12), None).run()
    for name in ra.all:
        assert all(torch.equal(v, rb.all[name].sae.state_dict()[k]) for k, v in ra.all[name].sae.state_dict().items())


def test_buffer_and_warmup_are_sized_to_the_run():
    """A short run does not forward more tokens to fill its buffer than it trains on; a long one gets 2¹⁸."""
    from monoscope.sae.run import stream_sizes

    assert stream_sizes(200_000, 4096) == (50_000, 25_000)
    assert stream_sizes(10 ** 9, 4096) == (1 << 18, 1 << 16)
    assert stream_sizes(1000, 256) == (1024, 512)                   # at least 4 batches
    assert stream_sizes(10 ** 9, 4096, buffer_tokens=4096, norm_tokens=100) == (4096, 100)   # given: kept
