"""Auto-interpretation whose numbers can fail: scorers on balanced sets, a control in the same run, and the
"judge uninformative" verdict.

Fixture with known answers: a corpus of topical documents (each topic its own words, so a word occurs in
few contexts), a tiny random Llama with a word-level tokenizer, and a `monoscope.sae` ReLU SAE built so that
feature i detects one word (`word_sae`). Judges are scripted `ChatBackend`s — honest ones that check the
explanation against the text, and constant ones — served through `monoscope serve-llm`'s app where the
test is about HTTP.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from monoscope.features import build_feature_db
from monoscope.features.explain import ExplainConfig, explain, parse_explanation, render, summary_lines
from monoscope.features.scoring import ScoreConfig, parse_digit, parse_list, parse_yes_no
from monoscope.llm import BackendUnavailable, ChatBackend, Completion, LLMError

HOOK = "resid_post.0"
TOPICS = [[f"{t}{i}" for i in range(6)] for t in ("ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen",
                                                   "ibis", "jay", "kiwi", "lark")]
pytestmark = pytest.mark.usefixtures("one_thread")


def _corpus(n_docs: int = 500, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(n_docs):
        words = TOPICS[int(rng.integers(len(TOPICS)))]
        docs.append(" ".join(str(words[int(j)]) if rng.random() < 0.7 else str(rng.choice(["the", "and", "."]))
                             for j in rng.integers(0, len(words), 28)))
    return docs


def word_sae(store, tokenizer, words: list[str]):
    """A `monoscope.sae` ReLU SAE whose feature i detects the token " words[i]" (known answers): its encoder
    row is that token's mean residual (unit), its bias halfway between the token's lowest projection and the
    highest projection of any other token, its decoder row the same direction."""
    from monoscope.sae import SAEConfig, build_sae

    rows = np.arange(store.n_tokens)
    x = store.get(HOOK, rows)
    toks = store.tokens(rows)
    W, b = [], []
    for w in words:
        tid = tokenizer.convert_tokens_to_ids(" " + w)
        on = torch.from_numpy(toks == tid)
        u = x[on].mean(0)
        u = u / u.norm()
        proj = x @ u
        W.append(u)
        b.append(-float(proj[on].min() + proj[~on].max()) / 2)
    sae = build_sae(SAEConfig("relu", d_in=store.d_model, n_latents=len(words), hook=HOOK,
                              model=store.manifest.config.model))
    with torch.no_grad():
        sae.W_enc.copy_(torch.stack(W))
        sae.W_dec.copy_(torch.stack(W))
        sae.b_enc.copy_(torch.tensor(b))
    return sae.eval().requires_grad_(False)


WORDS = [w for topic in TOPICS[:8] for w in topic[:4]]       # 32 word features, 4 per topic


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from monoscope.models import from_model
    from monoscope.store import harvest
    from tests.conftest import make_tiny_llama

    docs = _corpus()
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(" ", "merged_with_next")   # tokens keep their space: " fox5"
    tok.train_from_iterator(docs, trainers.WordLevelTrainer(special_tokens=["<unk>", "<bos>", "<eos>", "<pad>"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<bos>",
                                        eos_token="<eos>", pad_token="<pad>")
    lm = from_model(make_tiny_llama(len(tokenizer), seed=2, layers=1, hidden=64), tokenizer, name="topic-llama")
    root = tmp_path_factory.mktemp("explain")
    corpus = root / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    store = harvest(lm, root / "store", hooks=HOOK, corpus=str(corpus), n_tokens=14336, context_len=32,
                    batch_size=16, shard_tokens=1024, progress=False).store
    sae = word_sae(store, tokenizer, WORDS)
    db = build_feature_db(sae, store, root / "db", lm=lm, progress=False, top_k=5, n_buckets=4,
                          map_method="none")
    return lm, sae, store, db


class HonestJudge(ChatBackend):
    """Explains a feature as "the word 'X'" (X: the token it peaks on most) and judges by string matching,
    one item or a numbered batch: detection — is X in the text; fuzzing — is a marked token X;
    specificity — 3 if the highlighted token is X, 1 if X is elsewhere in the text, else 0."""

    name = "honest"

    def __init__(self):
        self.calls = 0

    def generate_chat(self, messages, *, max_tokens, temperature, stop, seed, prefill, n, top_p=1.0):
        self.calls += 1
        system, user = messages[0].content, messages[-1].content
        if "interpretability researcher" in system:
            peak = re.search(r"Tokens it fires on most: '([^']*)'", user).group(1)
            return [Completion(f" the word '{peak}'", prompt_tokens=len(user.split()), completion_tokens=4)] * n
        word = re.search(r"Explanation: the word '([^']*)'", user).group(1)
        if "\nTexts:\n" in user:
            texts = re.findall(r"(?m)^\d+\. (.*)$", user.split("\nTexts:\n")[1])
        else:
            texts = [user.split("\nText: ")[1].split("\n\n")[0]]
        answers = [self.judge(system, word, t) for t in texts]
        text = answers[0] if len(texts) == 1 else "\n".join(f"{j + 1}: {a}" for j, a in enumerate(answers))
        return [Completion(text, prompt_tokens=len(user.split()), completion_tokens=len(texts))] * n

    @staticmethod
    def judge(system: str, word: str, text: str) -> str:
        marked = [m.strip() for m in re.findall(r"<<([^>]*)>>", text)]
        plain = re.sub(r"<<|>>", " ", text).split()
        if "single digit" in system:
            return "3" if marked and marked[0] == word else ("1" if word in plain else "0")
        if "marked" in system:
            return "Yes" if word in marked else "No"
        return "Yes" if word in plain else "No"


class ConstantJudge(HonestJudge):
    """Explains honestly, then answers every judging question the same way."""

    name = "constant"

    def generate_chat(self, messages, **kw):
        if "interpretability researcher" in messages[0].content:
            return super().generate_chat(messages, **kw)
        return [Completion("3" if "digit" in messages[0].content else "Yes")] * kw["n"]


CFG = ExplainConfig(n_scan_contexts=0, score=ScoreConfig(n_detection=8, n_fuzzing=8, n_specificity=16, n_boot=400))


def _features(db, k: int = 5) -> list[int]:
    """Word features of k different topics."""
    rows = db.query("SELECT feature FROM features WHERE alive ORDER BY feature")
    return [r["feature"] for r in rows[:k * 4:4]]                 # one word per topic


def test_render_and_parse():
    assert render(["The", " Golden", " Gate"], [0.0, 2.0, 1.0], 1.5) == "The <<Golden>> Gate"
    assert render(["a", " b<<", "\n"], highlight=1) == "a <<b‹‹>>↵"
    assert parse_explanation("This feature fires on the word 'God'. More text\nsecond") == "the word 'God'"
    assert parse_explanation("Explanation: code tokens") == "code tokens"
    assert parse_explanation("") == "(no explanation)"
    assert parse_digit("Score: 2") == 2 and parse_digit("Score:3\n") == 3
    assert parse_digit("The explanation is irrelevant throughout the context") == 0
    assert parse_digit("It loosely relates, not cleanly") == 2 and parse_digit("no idea") is None
    assert parse_yes_no("Answer: Yes.") is True and parse_yes_no("no") is False and parse_yes_no("maybe") is None
    assert parse_list("1: Yes\n2: No\n3: yes", 3, parse_yes_no) == [True, False, True]
    assert parse_list("Yes, no, no", 3, parse_yes_no) == [True, False, False]
    assert parse_list("1: 3\n2: 0", 3, parse_digit) == [3, 0, None]


def test_honest_judge_beats_the_control_and_records_controlled_scores(env):
    """Catches scorers that cannot tell real from control: a judge that checks the explanation against the
    text must score the real explanation above another feature's on the same items, for every scorer, with
    n and an interval; the database then holds those scores, their controls and n."""
    lm, sae, store, db = env
    feats = _features(db)
    assert len(feats) >= 3
    judge = HonestJudge()
    recs = explain(db, feats, backend=judge, cfg=CFG, progress=False, sae=sae, store=store, force=True)
    assert [r["feature"] for r in recs] == feats
    informative = {s: 0 for s in ("detection", "fuzzing", "specificity")}
    for r in recs:
        assert r["explanation"].startswith("the word '") and r["control_explanation"] != r["explanation"]
        for s in informative:
            rec = r[s]
            assert "score" not in rec or not rec["uninformative"]
            if "score" in rec:
                informative[s] += 1
                lo, hi = rec["ci"]
                assert lo <= rec["score"] <= hi and rec["score"] > rec["control"]["score"]
                assert rec["difference_ci"][0] > 0
                assert rec["n"] == (2 * 8 if s == "detection" else 8 if s == "fuzzing" else 16)
        assert r["usage"]["prompt_tokens"] > 0
        page = db.feature(r["feature"])
        assert page["explanation"] == r["explanation"]
        for s in informative:
            want = r[s].get("score")
            assert (page[s] is None) if want is None else page[s] == pytest.approx(want)
            assert page[f"{s}_control"] == pytest.approx(r[s]["control"]["score"])
    assert all(v >= 2 for v in informative.values()), (informative, [summary_lines([r]) for r in recs])
    det = [r["detection"] for r in recs if "score" in r["detection"]]
    assert all(d["n_hard"] >= 1 for d in det)          # hard negatives from decoder neighbours were used
    spec = next(r["specificity"] for r in recs if "score" in r["specificity"])
    assert spec["n_zero"] >= 1 and spec["zero"] < spec["score"] and len(spec["by_level"]) == 6
    assert (db.path / recs[0]["plot"]).stat().st_size > 1000 and (db.path / "plots" / "specificity.png").exists()
    n_calls = judge.calls
    assert explain(db, feats, backend=judge, cfg=CFG, progress=False, sae=sae, store=store) == []   # done: skipped
    assert judge.calls == n_calls


def test_constant_judge_is_flagged_and_never_sorted_by(env):
    """Catches a verdict that trusts a judge without variance: always 'Yes' / '3' must be reported as
    uninformative for every scorer, with no score written, so the dashboard cannot sort by it."""
    lm, sae, store, db = env
    feats = _features(db, 3)
    recs = explain(db, feats, backend=ConstantJudge(), cfg=CFG, progress=False, sae=sae, store=store, force=True)
    for r in recs:
        for s in ("detection", "fuzzing", "specificity"):
            assert r[s]["uninformative"] is True and "score" not in r[s], r[s]
            assert "same answer" in r[s]["reason"] and r[s]["control"]["not_run"]
        page = db.feature(r["feature"])
        assert page["specificity"] is None and page["specificity_uninformative"] is True
    assert any("judge uninformative" in line for line in summary_lines(recs))
    ranked = db.list_features(order="specificity", limit=db.n_latents)
    assert all(r["specificity"] is None for r in ranked if r["feature"] in feats)


def test_batched_prompts_through_serve_llm_count_tokens_and_cost(env):
    """The same honest judge behind `monoscope serve-llm`'s OpenAI-compatible app, five items per prompt:
    the scores stay informative, and tokens and cost per feature are reported."""
    from monoscope.llm.server import create_app, serve_in_thread

    lm, sae, store, db = env
    feats = _features(db, 3)
    cfg = ExplainConfig(n_scan_contexts=0, price_in=2.0, price_out=8.0,
                        score=ScoreConfig(n_detection=8, n_fuzzing=8, n_specificity=16, n_boot=400,
                                          items_per_prompt=5))
    judge = HonestJudge()
    with serve_in_thread(create_app(judge, model_id="honest")) as url:
        recs = explain(db, feats, backend=f"openai:{url}/v1#honest", cfg=cfg, progress=False, sae=sae,
                       store=store, force=True)
    assert judge.calls <= len(feats) * (1 + 2 * (4 + 2 + 4)) + 1     # explainer + batched judge prompts
    assert sum("score" in r[s] for r in recs for s in ("detection", "fuzzing", "specificity")) >= 4
    for r in recs:
        u = r["usage"]
        assert u["prompt_tokens"] > 0 and u["completion_tokens"] > 0
        assert u["cost_usd"] == pytest.approx(u["prompt_tokens"] * 2e-6 + u["completion_tokens"] * 8e-6, rel=1e-4)


def test_too_few_activating_contexts_says_so(env):
    """A scorer whose set cannot be filled reports why and writes no score."""
    lm, sae, store, db = env
    f = _features(db, 1)[0]
    cfg = ExplainConfig(n_scan_contexts=0, score=ScoreConfig(n_detection=500, n_fuzzing=500, n_specificity=16,
                                                             n_boot=200))
    rec = explain(db, [f], backend=HonestJudge(), cfg=cfg, progress=False, sae=sae, store=store, force=True)[0]
    for s in ("detection", "fuzzing"):
        assert rec[s]["insufficient"] is True and "score" not in rec[s]
        assert re.match(r"only \d+ activating contexts among the \d+ scored contexts \(\w+ needs 500\)",
                        rec[s]["reason"]), rec[s]["reason"]
    assert db.feature(f)["detection"] is None and db.feature(f)["detection_uninformative"] is True


def test_unreachable_endpoint_is_a_clear_error(env):
    lm, sae, store, db = env
    with pytest.raises(LLMError) as e:
        explain(db, _features(db, 1), backend="openai:http://127.0.0.1:9/v1#nobody?timeout=0.5&max_retries=0",
                cfg=CFG, progress=False, force=True, sae=sae, store=store)
    assert isinstance(e.value, BackendUnavailable) and "127.0.0.1:9" in str(e.value)


def test_missing_sae_is_a_clear_error(env):
    from monoscope.features import FeatureDBError

    lm, sae, store, db = env
    with pytest.raises(FeatureDBError, match="needs the SAE this database was built from"):
        explain(db, _features(db, 1), backend=HonestJudge(), cfg=CFG, progress=False, force=True)


def test_local_backend_is_uninformative_and_says_so(env):
    """A real local HF backend (tiny random chat model): the whole path runs, and a judge that knows
    nothing gets no score (whatever it answers, it cannot beat the control with confidence)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from monoscope.llm.local import LocalHFBackend
    from tests.conftest import make_chat_tokenizer

    lm, sae, store, db = env
    tok = make_chat_tokenizer()
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
                                         max_position_embeddings=4096, bos_token_id=1, eos_token_id=2,
                                         pad_token_id=0)).eval()
    backend = LocalHFBackend((model, tok), name="tiny-chat")
    cfg = ExplainConfig(n_scan_contexts=0, max_tokens=8, score=ScoreConfig(n_detection=6, n_fuzzing=6,
                                                                           n_specificity=10, n_boot=200))
    recs = explain(db, _features(db, 2), backend=backend, cfg=cfg, progress=False, force=True, sae=sae,
                   store=store)
    assert len(recs) == 2 and all(isinstance(r["explanation"], str) and r["explanation"] for r in recs)
    for r in recs:
        for s in ("detection", "fuzzing", "specificity"):
            assert r[s].get("uninformative") or r[s].get("insufficient"), r[s]


def _records(db_path) -> dict[int, dict]:
    """The explanation records of a database by feature (the last wins), without their creation time."""
    out = {}
    for line in (db_path / "explanations.jsonl").read_text().splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        r.pop("created")
        out[r["feature"]] = r
    return out


def test_kill_9_during_explain_then_resume_equals_an_uninterrupted_run(env, tmp_path):
    """SIGKILL while the third feature's record is half written: the same call keeps the two finished
    features, explains the rest, and every record and judged sample equals an uninterrupted run's (the
    resumed run draws controls from the whole requested set). Fails if the torn line swallows the next record,
    a finished feature is judged again, or the remaining features get other controls than they would have."""
    import shutil

    from monoscope.features.db import FeatureDB
    from monoscope.sae import save_sae
    from tests.test_faults import _run_killed

    lm, sae, store, db = env
    save_sae(sae, tmp_path / "sae")
    for name in ("ref", "db"):
        shutil.copytree(db.path, tmp_path / name, ignore=shutil.ignore_patterns("explanations.jsonl",
                                                                                 "specificity.jsonl", "plots"))
    feats = _features(db)
    kw = dict(cfg=CFG, progress=False, sae=str(tmp_path / "sae"), store=str(store.path))
    explain(FeatureDB(tmp_path / "ref"), feats, backend=HonestJudge(), **kw)
    _run_killed(f"""
        import os, signal
        from monoscope.features.db import FeatureDB
        from monoscope.features.explain import explain
        from tests.test_features_explain import CFG, HonestJudge
        real, calls = FeatureDB.add_explanations, []
        def add(self, records):
            calls.append(1)
            if len(calls) == 3:
                with open(self.path / "explanations.jsonl", "a") as f:
                    f.write('{{"feature": {feats[2]}, "explanation": "the wo')
                os.kill(os.getpid(), signal.SIGKILL)
            real(self, records)
        FeatureDB.add_explanations = add
        explain(FeatureDB({str(tmp_path / 'db')!r}), {feats!r}, backend=HonestJudge(), cfg=CFG, progress=False,
                sae={str(tmp_path / 'sae')!r}, store={str(store.path)!r})
        """, tmp_path)
    assert sorted(_records(tmp_path / "db")) == sorted(feats[:2])
    judge = HonestJudge()
    resumed = explain(FeatureDB(tmp_path / "db"), feats, backend=judge, **kw)
    assert [r["feature"] for r in resumed] == feats[2:]
    assert _records(tmp_path / "db") == _records(tmp_path / "ref")
    spec = lambda p: sorted((p / "specificity.jsonl").read_text().splitlines())
    assert spec(tmp_path / "db") == spec(tmp_path / "ref")
