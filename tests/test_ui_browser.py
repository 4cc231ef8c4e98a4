"""The dashboard in a real browser: headless Debian Chromium driven by Playwright, against the app served by
uvicorn on 127.0.0.1 (random port). Loads a feature page, runs searches, the inspector and steering, and
checks that a corpus and explanations full of `<script>`/`onerror` never execute or become elements.

Skipped (with the reason) only where no Chromium binary or no playwright package can be found; `make test`
installs both (`apt-get install chromium` when run as root).
"""
from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import pytest

from .test_ui_dashboard import HOSTILE, hostile_feature

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _chromium() -> str | None:
    for cand in (os.environ.get("MONOSCOPE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                 shutil.which("chromium-browser")):
        if cand and os.path.exists(cand):
            return cand
    return None


CHROMIUM = _chromium()
try:
    import playwright.sync_api  # noqa: F401
    HAVE_PLAYWRIGHT = True
except ImportError:
    HAVE_PLAYWRIGHT = False

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (/usr/bin/chromium; `apt-get install chromium` "
                                                "as root, or set MONOSCOPE_CHROMIUM)"),
    pytest.mark.skipif(not HAVE_PLAYWRIGHT, reason="the playwright package is not installed (pip install -e '.[dev]')"),
]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from .test_ui_dashboard import shared_hostile_env

    return shared_hostile_env(tmp_path_factory)


@pytest.fixture(scope="module")
def server(env):
    import uvicorn

    from monoscope.ui import create_app

    lm, sae, db = env
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(db, lm=lm, sae=sae), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page()
        dialogs = []
        pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        pg.dialogs = dialogs
        yield pg
        browser.close()


def _assert_clean(pg) -> None:
    """Nothing hostile ran, and nothing hostile became an element."""
    assert pg.evaluate("typeof window.__pwned") == "undefined"
    assert pg.evaluate("document.querySelectorAll('script').length") == 0
    assert pg.evaluate("document.querySelectorAll('[onerror],[onload],[onclick],iframe,object,embed').length") == 0
    assert pg.evaluate("Array.from(document.images).filter(i => !i.src.startsWith('data:') && "
                       "!i.src.includes('/plot/')).length") == 0
    assert not pg.dialogs


def test_feature_page_shows_hostile_text_as_text(server, page, env):
    lm, sae, db = env
    f = hostile_feature(db)
    page.goto(f"{server}/feature/{f}")
    assert page.locator("#feature-title").inner_text().startswith(f"Feature {f}")
    text = page.locator("#top-examples").inner_text()
    assert any(tag in text for tag in ("<script>", "<img", "<svg")), text[:300]
    assert page.locator("#top-examples .tok").count() > 10
    assert "fires on" in page.locator("#explanation").inner_text() or f % 2 == 1
    _assert_clean(page)
    page.goto(f"{server}/")
    assert "<script>" in page.locator("#feature-table").inner_text()  # hostile explanations, as text
    _assert_clean(page)
    page.goto(f"{server}/map?highlight={f}")
    assert page.locator("svg.map circle").count() == db.manifest["stats"]["alive"]
    _assert_clean(page)


def test_search_inspect_steer(server, page, env):
    lm, sae, db = env
    page.goto(f"{server}/search")
    page.fill("#text-search input[name=q]", "script")
    page.click("#text-search button")
    page.wait_for_selector("#text-hits")
    assert page.locator("#text-hits tr").count() > 1
    assert "<script>" in page.locator("#text-hits").inner_text()
    _assert_clean(page)

    hostile_prompt = "The bridge " + HOSTILE[1] + " fog " + HOSTILE[0]
    page.fill("#prompt-search textarea[name=prompt]", hostile_prompt)
    page.click("#prompt-search button")
    page.wait_for_selector("#prompt-hits")
    rows = page.locator("#prompt-hits tr")
    assert rows.count() > 1
    first = int(rows.nth(1).locator("a").first.inner_text().lstrip("#"))
    _assert_clean(page)

    page.goto(f"{server}/inspect")
    page.fill("#inspect-form textarea[name=prompt]", hostile_prompt)
    page.fill("#inspect-form input[name=features]", str(first))
    page.click("#inspect-form button")
    page.wait_for_selector("#inspect-rows")
    assert "<img" in page.locator("#inspect-rows").inner_text()
    _assert_clean(page)

    page.goto(f"{server}/steer?feature={first}")
    page.fill("#steer-form textarea[name=prompt]", hostile_prompt)
    page.fill("#steer-form input[name=value]", "10")
    page.fill("#steer-form input[name=max_new_tokens]", "8")
    page.click("#steer-form button")
    page.wait_for_selector("#steered")
    assert page.locator("#plain").count() == 1
    _assert_clean(page)


def test_bad_input_in_the_browser(server, page, env):
    lm, sae, db = env
    resp = page.goto(f"{server}/feature/{db.n_latents + 5}")
    assert resp.status == 404 and "out of range" in page.locator("#error").inner_text()
    resp = page.goto(f"{server}/search?q=%3Cscript%3Ewindow.__pwned%3D9%3C%2Fscript%3E")
    assert resp.status == 200
    assert "<script>window.__pwned=9</script>" in page.content().replace("&lt;", "<").replace("&gt;", ">")
    _assert_clean(page)
    assert page.goto(f"{server}/healthz").status == 200  # still up


def test_static_export_in_the_browser(page, env, tmp_path):
    from monoscope.ui import export_summary_html

    lm, sae, db = env
    idx = export_summary_html(db, tmp_path / "site", limit=5)
    page.goto(idx.as_uri())
    assert "<script>" in page.locator("#feature-table").inner_text()
    _assert_clean(page)
    page.locator("#feature-table a").first.click()
    page.wait_for_selector("#top-examples")
    _assert_clean(page)
