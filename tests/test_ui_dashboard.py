"""Dashboard over HTTP (in-process client): every page, the prompt tools, errors that keep the server up,
escaping of a hostile corpus and hostile explanations, and static exports."""
from __future__ import annotations

import json
import re

import pytest
import torch

HOSTILE = ['<script>window.__pwned=1</script>', '<img src=x onerror="window.__pwned=2">',
           '"><svg onload=window.__pwned=3>', "javascript:window.__pwned=4", "</textarea><script>window.__pwned=5</script>"]
HOOK = "resid_post.1"


def _hostile_tokenizer(texts):
    """Byte-level BPE trained on the hostile corpus, so whole tags like `<script>` become single tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    special = ["<|pad|>", "<|bos|>", "<|eos|>", "<|user|>", "<|assistant|>"]
    tok.train_from_iterator(texts * 20, trainers.BpeTrainer(vocab_size=1000, special_tokens=special,
                                                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|bos|>", eos_token="<|eos|>", pad_token="<|pad|>")
    fast.chat_template = ("{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{{ eos_token }}"
                          "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")
    return fast


def build_hostile_env(root):
    """A tiny model whose corpus, vocabulary and explanations are full of HTML/JS injection attempts."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from monoscope.features import build_feature_db
    from monoscope.models import from_model
    from monoscope.store import harvest

    plain = ["The bridge over the bay is red and tall .", "Fog rolls in over the hills every evening .",
             "def add ( a , b ) : return a + b"]
    docs = [f"{plain[i % 3]} {HOSTILE[i % len(HOSTILE)]} {plain[(i + 1) % 3]} {HOSTILE[(i + 2) % len(HOSTILE)]}"
            for i in range(60)]
    tok = _hostile_tokenizer(docs)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                         max_position_embeddings=512, bos_token_id=1, eos_token_id=2,
                                         pad_token_id=0)).eval()
    lm = from_model(model, tok, name="hostile-llama")
    corpus = root / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    store = harvest(lm, root / "store", hooks=HOOK, corpus=str(corpus), n_tokens=2500, context_len=32,
                    batch_size=8, shard_tokens=512, progress=False).store
    from tests.conftest import density_sae

    sae = density_sae(store, 40, HOOK, density=0.08, seed=3)
    sae.cfg.model = lm.name
    db = build_feature_db(sae, store, root / "db", lm=lm, progress=False, top_k=6, n_buckets=4,
                          map_method="pca")
    db.add_explanations([{"feature": i, "explanation": f"fires on {HOSTILE[i % len(HOSTILE)]} tags",
                          "explainer": HOSTILE[0], "specificity": 2.0} for i in range(0, 40, 2)])
    return lm, sae, db


def hostile_feature(db) -> int:
    """A feature whose top examples contain a token with a raw tag in it."""
    for r in db.query("SELECT feature, tokens FROM examples WHERE kind = 'top'"):
        if any(re.search(r"<(script|img|svg)", db.vocab[t]) for t in r["tokens"]):
            return int(r["feature"])
    raise AssertionError("no feature with a hostile token in its examples")


_ENV: dict = {}


def shared_hostile_env(tmp_path_factory):
    """Built once per test session and shared by the in-process and browser test modules."""
    if "env" not in _ENV:
        _ENV["env"] = build_hostile_env(tmp_path_factory.mktemp("hostile"))
    return _ENV["env"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return shared_hostile_env(tmp_path_factory)


@pytest.fixture(scope="module")
def client(env):
    from fastapi.testclient import TestClient

    from monoscope.ui import create_app

    lm, sae, db = env
    return TestClient(create_app(db, lm=lm, sae=sae), raise_server_exceptions=False)


def _no_raw_injection(html: str, shows_hostile: bool = True) -> None:
    assert "<script" not in html.lower()
    assert not re.search(r"<img[^>]*onerror", html, re.I)
    assert not re.search(r"<svg[^>]*onload", html, re.I)
    if shows_hostile:  # the hostile text is on the page, as text
        assert "&lt;script&gt;" in html or "&lt;img" in html or "&lt;svg" in html


def test_vocabulary_really_contains_tags(env):
    lm, sae, db = env
    assert any("<script>" in v for v in db.vocab) and any("<img" in v for v in db.vocab)


def test_pages_render_and_escape(client, env):
    lm, sae, db = env
    f = hostile_feature(db)
    for url in ["/", f"/feature/{f}", "/feature/0", "/map", "/search?q=script", "/search?q=%3Cscript%3E",
                "/search?q=__pwned&side=output", f"/map?highlight={f}"]:
        r = client.get(url)
        assert r.status_code == 200, (url, r.text[:500])
        assert "script-src" not in r.headers["content-security-policy"]  # default-src 'none' covers scripts
        assert r.headers["content-security-policy"].startswith("default-src 'none'")
        _no_raw_injection(r.text)
    page = client.get(f"/feature/{f}").text
    assert 'id="top-examples"' in page and 'class="tok' in page


def test_prompt_tools(client, env):
    lm, sae, db = env
    prompt = "The bridge " + HOSTILE[0] + " fog"
    r = client.get("/search", params={"prompt": prompt})
    assert r.status_code == 200 and 'id="prompt-hits"' in r.text
    _no_raw_injection(r.text)
    hits = client.get("/api/search", params={"prompt": prompt, "k": 5}).json()["prompt_hits"]
    assert 0 < len(hits) <= 5 and hits == sorted(hits, key=lambda h: -h["score"])
    r = client.get("/search", params={"prompt": prompt + "\n---\nThe bridge over the bay", "negatives": "def add"})
    assert r.status_code == 200
    dens = {r["feature"]: r["density"] for r in db.list_features(limit=100)}
    sparse = client.get("/api/search", params={"prompt": prompt, "max_density": "0.05"}).json()["prompt_hits"]
    assert all(dens[h["feature"]] <= 0.05 for h in sparse)
    assert client.get("/search", params={"prompt": prompt, "max_density": "lots"}).status_code == 400
    assert client.get("/search", params={"prompt": prompt, "skip_first": "2"}).status_code == 200
    assert client.get("/search", params={"prompt": prompt, "skip_first": "-1"}).status_code == 400
    r = client.get("/inspect", params={"prompt": prompt, "features": f"{hits[0]['feature']}, 3"})
    assert r.status_code == 200 and r.text.count('class="ex"') == 2
    _no_raw_injection(r.text)
    api = client.get("/api/inspect", params={"prompt": prompt, "features": "3"}).json()
    assert api["features"] == [3] and len(api["acts"]) == len(api["tokens"])
    r = client.post("/steer", data={"prompt": prompt, "feature": str(hits[0]["feature"]), "value": "8",
                                    "max_new_tokens": "6", "chat": "1"})
    assert r.status_code == 200 and 'id="steered"' in r.text
    _no_raw_injection(r.text)


def test_errors_keep_the_server_up(client, env):
    lm, sae, db = env
    cases = [("/feature/40", 404, "out of range"), ("/feature/-3", 404, "out of range"),
             ("/feature/x", 400, "integer"), ("/api/feature/99999", 404, "out of range"),
             ("/search?mode=bogus&prompt=a", 400, "mode"), ("/?order=nope", 400, "order"),
             ("/inspect?prompt=a&features=1,zz", 400, "integer"), ("/plot/1.png", 404, "specificity plot")]
    for url, status, text in cases:
        r = client.get(url)
        assert r.status_code == status, (url, r.status_code, r.text[:300])
        assert text in r.text
    r = client.post("/steer", data={"prompt": "hi", "feature": "77", "value": "3"})
    assert r.status_code == 404
    r = client.post("/feature/1/explain")
    assert r.status_code == 409 and "no LLM backend" in r.text
    assert client.get("/healthz").json()["ok"]


def test_unreachable_llm_is_reported(env):
    from fastapi.testclient import TestClient

    from monoscope.ui import create_app

    lm, sae, db = env
    c = TestClient(create_app(db, lm=lm, sae=sae, llm="openai:http://127.0.0.1:9/v1#m?timeout=0.5&max_retries=0"),
                   raise_server_exceptions=False)
    r = c.post("/feature/1/explain")
    assert r.status_code == 502 and "BackendUnavailable" in r.text
    assert c.get("/feature/1").status_code == 200


def test_db_only_dashboard_and_mismatched_sae(env):
    from fastapi.testclient import TestClient

    from monoscope.features import FeatureDBError
    from monoscope.ui import create_app

    lm, sae, db = env
    c = TestClient(create_app(db.path), raise_server_exceptions=False)
    assert c.get("/").status_code == 200
    r = c.get("/search", params={"prompt": "hello"})
    assert r.status_code == 409 and "without a model" in r.text
    from tests.conftest import random_sae

    other = random_sae(sae.W_dec.shape[1], 40, HOOK, seed=11)
    with pytest.raises(FeatureDBError, match="built from SAE"):
        create_app(db, lm=lm, sae=other)


def test_static_exports(env, tmp_path):
    from monoscope.ui import export_feature_html, export_summary_html

    lm, sae, db = env
    f = hostile_feature(db)
    p = export_feature_html(db, f, tmp_path / "one.html")
    html = p.read_text()
    _no_raw_injection(html)
    assert 'http-equiv="Content-Security-Policy"' in html and "/feature/" not in html
    idx = export_summary_html(db, tmp_path / "site", limit=10, progress=False)
    files = sorted(x.name for x in (tmp_path / "site").iterdir())
    explained = {r["feature"] for r in db.query("SELECT feature FROM explanations WHERE explanation IS NOT NULL")}
    top = {r["feature"] for r in db.list_features(order="density", limit=10, alive_only=True)}
    assert "index.html" in files and len(files) == 1 + len(top | explained)
    _no_raw_injection(idx.read_text())
    for name in files:
        assert "href=\"/" not in (tmp_path / "site" / name).read_text()  # no links to a server


def _dangling_links(site) -> list[str]:
    """Every href in every HTML file under `site` that does not resolve: a missing file, a missing `#id` in
    its target, or anything that is not a relative link inside the export (a server path, a URL)."""
    from html.parser import HTMLParser
    from urllib.parse import urlsplit

    class Links(HTMLParser):
        def __init__(self):
            super().__init__()
            self.hrefs, self.ids = [], set()

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if a.get("id"):
                self.ids.add(a["id"])
            if tag == "a" and a.get("name"):
                self.ids.add(a["name"])
            if "href" in a:
                self.hrefs.append(a["href"] or "")

    parsed = {}
    for path in sorted(site.glob("*.html")):
        p = Links()
        p.feed(path.read_text())
        parsed[path.name] = p
    bad = []
    for name, p in parsed.items():
        for href in p.hrefs:
            u = urlsplit(href)
            if u.scheme or u.netloc or u.path.startswith("/") or u.query:
                bad.append(f"{name}: {href} (leaves the export)")
                continue
            target = u.path or name
            if target not in parsed:
                bad.append(f"{name}: {href} (no file {target})")
            elif u.fragment and u.fragment not in parsed[target].ids:
                bad.append(f"{name}: {href} (no #{u.fragment} in {target})")
    return bad


@pytest.mark.parametrize("pages", ["listed", "none", "all"])
def test_static_export_has_no_dangling_links(env, tmp_path, pages):
    """Every href/anchor in every exported file resolves, and every explained feature has a page (or, with
    pages="none", a row in the table) even with a limit far below the number explained. Breaks if the map
    or neighbour links point at features that were not exported (the old top-`limit`-only export left map
    circles and neighbours linking to missing `#feature-N` anchors), if explained features are cut by the
    limit, or if a single-page export links to pages it did not write."""
    from monoscope.ui import export_feature_html, export_summary_html

    lm, sae, db = env
    site = tmp_path / "site"
    idx = export_summary_html(db, site, pages=pages, limit=3, progress=False)
    html = idx.read_text()
    n_links = sum(len(_links_in(p.read_text())) for p in site.glob("*.html"))
    assert n_links > 20, "the export should link features (table, map, neighbours)"
    assert _dangling_links(site) == []
    explained = {r["feature"] for r in db.query("SELECT feature FROM explanations WHERE explanation IS NOT NULL")}
    assert len(explained) > 3
    for f in explained:
        if pages == "none":
            assert f'id="feature-{f}"' in html
        else:
            assert (site / f"feature_{f}.html").exists(), f"explained feature {f} has no page"
    if pages == "all":
        alive = {r["feature"] for r in db.query("SELECT feature FROM features WHERE alive")}
        assert {f"feature_{f}.html" for f in alive} <= {p.name for p in site.glob("feature_*.html")}
    one = tmp_path / "one"
    export_feature_html(db, sorted(explained)[0], one / "feature.html")
    assert _dangling_links(one) == []


def _links_in(html: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', html)


def test_analyses_pages_feature_notes_and_cross_sae(env, tmp_path):
    """`monoscope analyze` results beside the database are listed, rendered (escaped) and linked; a result
    computed on another SAE is not shown; feature pages carry the notes and, with compare=, the nearest
    features of a wider SAE on the same hook (a permuted copy: the copy's row at cos 1 must come first);
    an SAE of another hook is refused by name. Breaks if the fingerprint filter, the notes or the
    neighbour ranking are wrong."""
    import shutil

    from fastapi.testclient import TestClient

    from monoscope.analyze.common import AnalysisError, figure, save_result, table
    from monoscope.ui import create_app
    from tests.conftest import random_sae

    lm, sae, db = env
    out = db.path / "analyses"
    try:
        fig, (ax,) = figure()
        ax.plot([0, 1], [0, 1])
        save_result(out, "demo", {"sae": {"fingerprint": db.sae_fingerprint}, "summary": [f"summary {HOSTILE[0]}"],
                                  "tables": {"scores": table(["feature", "score"], [[3, 0.5]])},
                                  "features": {"3": f"fires on passage 1 in de, fr {HOSTILE[1]}"}}, fig)
        save_result(out, "stale", {"sae": {"fingerprint": "not-this-sae"}, "summary": ["old"]})
        d = sae.W_dec.shape[1]
        perm = torch.randperm(sae.W_dec.shape[0], generator=torch.Generator().manual_seed(1))
        wide = random_sae(d, 80, HOOK, seed=5)
        with torch.no_grad():
            wide.W_dec[:40] = (sae.W_dec / sae.W_dec.norm(dim=1, keepdim=True))[perm]
        c = TestClient(create_app(db, lm=lm, sae=sae, compare=[("wide", wide, None)]), raise_server_exceptions=False)
        home = c.get("/").text
        assert 'href="/analyses/demo"' in home and "stale" not in home
        listing = c.get("/analyses")
        assert listing.status_code == 200 and "/analyses/demo" in listing.text and "stale" not in listing.text
        _no_raw_injection(listing.text)
        page = c.get("/analyses/demo")
        assert page.status_code == 200 and 'href="/feature/3"' in page.text and "/analysis-plot/demo.png" in page.text
        _no_raw_injection(page.text)
        png = c.get("/analysis-plot/demo.png")
        assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
        missing = c.get("/analyses/stale")
        assert missing.status_code == 404 and "available: demo" in missing.text
        f3 = c.get("/feature/3").text
        assert "fires on passage 1 in de, fr" in f3 and 'href="/analyses/demo"' in f3
        _no_raw_injection(f3)
        first = int((perm == 3).nonzero()[0])  # the wide row that copies feature 3
        m = re.search(r'class="list cross-sae">.*?<td>#(\d+)</td><td class="num">([0-9.]+)', f3, re.S)
        assert m and int(m.group(1)) == first and float(m.group(2)) > 0.999
        assert "nearest in the 80-feature SAE (wide)" in f3
        api = c.get("/api/analyses").json()
        assert set(api) == {"demo"}
        with pytest.raises(AnalysisError, match="different hook points"):
            create_app(db, lm=lm, sae=sae, compare=[("other", random_sae(d, 16, "resid_post.0"), None)])
    finally:
        shutil.rmtree(out, ignore_errors=True)
