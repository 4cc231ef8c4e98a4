"""`monoscope serve`: the feature dashboard (FastAPI, server-rendered pages, no JavaScript).

Pages: summary (`/`), feature pages (`/feature/{id}`), search (`/search`: explanations, tokens, prompts
with contrast), the feature map (`/map`), the prompt inspector (`/inspect`: per-token activations of chosen
features) and the steering playground (`/steer`: clamp a feature in units of its max activation, side by
side with the unsteered generation). JSON twins live under `/api/...`.

Untrusted text (corpus tokens, explanations, prompts, generations) reaches the page only through Jinja
autoescape, there is no script on any page, and every response carries a Content-Security-Policy that
forbids scripts — so a corpus containing `<script>` shows as text. Bad input (a feature id out of range, a
prompt for a dashboard started without a model, an unreachable LLM) gets an error page; the server stays up.
Binds 127.0.0.1 by default: it runs models on request and is not meant to face a network.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from fastapi import Request  # module level: endpoint annotations are resolved from module globals
from tqdm.auto import tqdm

from .limits import GENERATE_MAX_S, BusyError, check_prompt, clamp_value, limits_line, model_turn
from .render import (CSP, STATIC, density_svg, environment, example_view, feature_context, fmt_num, map_svg,
                     token_spans)


INSPECT_MAX_DENSITY = 0.1  # the inspector's automatic choice skips features on more than 10% of tokens


class DashboardError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class Dashboard:
    """The state behind the app: the database, and optionally the model + SAE (prompts, steering) and an
    LLM backend (on-demand explanations)."""

    def __init__(self, db, lm=None, sae=None, llm: Any = None, allow_mismatch: bool = False,
                 compare: list[tuple[str, Any, Any]] | None = None):
        from ..features import FeatureDB

        self.db = db if isinstance(db, FeatureDB) else FeatureDB(db)
        self.cross = None
        self.lm, self.sae, self.llm_spec = lm, sae, llm
        self.search = None
        self.steerer = None
        self.lock = threading.Lock()
        if sae is not None:
            self.db.check_sae(sae)  # a database of another SAE: refuse at startup, by name
            if lm is None:
                raise ValueError("an SAE needs its model (lm=...) for the prompt tools")
            from ..features.search import FeatureSearch
            from ..steer import Steerer

            self.search = FeatureSearch(lm, sae, self.db, allow_mismatch=allow_mismatch)
            self.steerer = Steerer(lm, sae, hook=self.search.hook, max_acts=self.db.max_acts().float(),
                                   allow_mismatch=allow_mismatch)
        if compare:
            if sae is None:
                raise ValueError("cross-SAE neighbours (compare=...) need this database's SAE (sae=...)")
            from .analyses import CrossSAE

            self.cross = CrossSAE(sae, list(compare))  # SAEs of another hook: refused here, by name

    @property
    def has_model(self) -> bool:
        return self.search is not None

    def need_model(self) -> None:
        if not self.has_model:
            raise DashboardError("this dashboard was started without a model and SAE, so prompts cannot be run. "
                                 "Restart with `monoscope serve DB --sae SAE_DIR` (the model comes from the "
                                 "database) to enable search by prompt, the inspector and steering.", 409)


def _int(value: str | None, name: str, default: int | None = None, lo: int | None = None,
         hi: int | None = None) -> int | None:
    if value is None or str(value).strip() == "":
        return default
    try:
        v = int(str(value).strip())
    except ValueError:
        raise DashboardError(f"{name} must be an integer, got {value!r}") from None
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise DashboardError(f"{name} must be in [{lo}, {hi}], got {v}")
    return v


def _float(value: str | None, name: str, default: float) -> float:
    if value is None or str(value).strip() == "":
        return default
    try:
        return float(str(value).strip())
    except ValueError:
        raise DashboardError(f"{name} must be a number, got {value!r}") from None


def _features(value: str | None, db) -> list[int]:
    if not value:
        return []
    out = []
    for part in str(value).replace(",", " ").split():
        out.append(db.check_feature(_int(part, "feature")))
    return out[:32]


def create_app(db, lm=None, sae=None, llm: Any = None, allow_mismatch: bool = False,
               compare: list[tuple[str, Any, Any]] | None = None):
    """The FastAPI app over a feature database (path or FeatureDB); `lm` + `sae` enable prompts/steering,
    `llm` (a backend spec or object) enables the "explain" button, `compare` — (label, SAE, its database or
    None) of other SAEs on the same hook — adds cross-SAE decoder neighbours to feature pages."""
    from fastapi import FastAPI
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

    from ..features.index import FeatureDBError
    from ..llm import LLMError
    from . import analyses

    dash = db if isinstance(db, Dashboard) else Dashboard(db, lm, sae, llm, allow_mismatch, compare)
    env = environment()
    app = FastAPI(title="monoscope", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.dashboard = dash

    def base_ctx() -> dict:
        m = dash.db.manifest
        return {"static": False, "has_model": dash.has_model, "has_llm": dash.llm_spec is not None,
                "title_sae": f"{m['sae'].get('n_latents')} features · {m.get('hook')} · {m['model']['name']}",
                "css": (STATIC / "style.css").read_text(), "url": lambda f: f"/feature/{int(f)}",
                "limits": limits_line()}

    def page(name: str, status: int = 200, **ctx) -> HTMLResponse:
        html = env.get_template(name).render(**base_ctx(), **ctx)
        return HTMLResponse(html, status_code=status)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        resp = await call_next(request)
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        return resp

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    @app.exception_handler(DashboardError)
    async def dash_error(request: Request, exc: DashboardError):
        if wants_json(request):
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        return page("error.html", status=exc.status, message=str(exc))

    @app.exception_handler(FeatureDBError)
    async def db_error(request: Request, exc: FeatureDBError):
        status = 404 if "out of range" in str(exc) else 400
        if wants_json(request):
            return JSONResponse({"error": str(exc)}, status_code=status)
        return page("error.html", status=status, message=str(exc))

    @app.exception_handler(LLMError)
    async def llm_error(request: Request, exc: LLMError):
        msg = f"the LLM backend failed: {type(exc).__name__}: {exc}"
        if wants_json(request):
            return JSONResponse({"error": msg}, status_code=502)
        return page("error.html", status=502, message=msg)

    @app.exception_handler(BusyError)
    async def busy_error(request: Request, exc: BusyError):
        if wants_json(request):
            return JSONResponse({"error": str(exc)}, status_code=503)
        return page("error.html", status=503, message=str(exc))

    @app.exception_handler(ValueError)
    async def value_error(request: Request, exc: ValueError):
        if wants_json(request):
            return JSONResponse({"error": str(exc)}, status_code=400)
        return page("error.html", status=400, message=str(exc))

    @app.exception_handler(Exception)
    async def any_error(request: Request, exc: Exception):  # the server stays up and says what happened
        msg = f"internal error: {type(exc).__name__}: {exc}"
        if wants_json(request):
            return JSONResponse({"error": msg}, status_code=500)
        return page("error.html", status=500, message=msg)

    # ---- pages ----------------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse)
    def index(order: str = "density", offset: str | None = None):
        off = _int(offset, "offset", 0, 0)
        return page("index.html", **summary_context(dash.db, order, off, 100), analyses=analyses.listing(dash.db))

    @app.get("/feature/{feature}", response_class=HTMLResponse)
    def feature_page(feature: str):
        f = dash.db.check_feature(_int(feature, "feature id"))
        return page("feature.html", **feature_context(dash.db, f), **feature_extras(f))

    @app.get("/analyses", response_class=HTMLResponse)
    def analyses_page():
        return page("analyses.html", analyses=analyses.listing(dash.db))

    @app.get("/analyses/{name}", response_class=HTMLResponse)
    def analysis_page(name: str):
        return page("analysis.html", **analyses.page_context(dash.db, name))

    @app.get("/analysis-plot/{name}.png")
    def analysis_plot(name: str):
        ctx = analyses.page_context(dash.db, name)
        if not ctx["has_plot"]:
            raise DashboardError(f"the {name} analysis has no plot", 404)
        return FileResponse(analyses.results_dir(dash.db) / ctx["r"]["plot"], media_type="image/png")

    @app.get("/api/analyses")
    def api_analyses():
        return JSONResponse(_jsonable({n: r for n, r in analyses.load(dash.db).items()}))

    @app.get("/plot/{feature}.png")
    def plot(feature: str):
        f = dash.db.check_feature(_int(feature, "feature id"))
        p = dash.db.path / "plots" / f"specificity_{f}.png"
        if not p.exists():
            raise DashboardError(f"feature {f} has no specificity plot (run `monoscope explain`)", 404)
        return FileResponse(p, media_type="image/png")

    @app.post("/feature/{feature}/explain", response_class=HTMLResponse)
    def explain_now(feature: str):
        f = dash.db.check_feature(_int(feature, "feature id"))
        if dash.llm_spec is None:
            raise DashboardError("no LLM backend configured: restart with `monoscope serve DB --llm SPEC`", 409)
        from ..features.explain import explain

        with dash.lock:
            explain(dash.db, [f], backend=dash.llm_spec, force=True, progress=False, sae=dash.sae)
        return page("feature.html", **feature_context(dash.db, f), notice="explained and scored just now")

    @app.get("/search", response_class=HTMLResponse)
    def search(q: str = "", prompt: str = "", negatives: str = "", mode: str = "summed", require_all: str = "",
               side: str = "input", k: str | None = None,
               max_density: str = "", skip_first: str = ""):
        return page("search.html", **search_context(q, prompt, negatives, mode, bool(require_all), side,
                                                     _int(k, "k", 30, 1, 500), max_density, skip_first))

    @app.get("/map", response_class=HTMLResponse)
    def feature_map(highlight: str | None = None):
        hl = _int(highlight, "highlight")
        return page("map.html", map=map_svg(dash.db.map_points(), highlight=hl),
                    method=dash.db.manifest.get("map"))

    @app.get("/inspect", response_class=HTMLResponse)
    def inspect(prompt: str = "", features: str = "", chat: str = "", keep_first: str = ""):
        ctx: dict[str, Any] = {"prompt": prompt, "features_arg": features, "chat": bool(chat), "rows": None,
                               "keep_first": bool(keep_first)}
        if prompt:
            dash.need_model()
            ctx["rows"] = inspect_rows(prompt, _features(features, dash.db), bool(chat), bool(keep_first))
        return page("inspect.html", **ctx)

    @app.get("/steer", response_class=HTMLResponse)
    def steer_form(feature: str = "", value: str = "", prompt: str = ""):
        return page("steer.html", prompt=prompt, feature_arg=feature, value_arg=value or "5", result=None,
                    max_new_tokens=40, chat=True)

    @app.post("/steer", response_class=HTMLResponse)
    async def steer_run(request: Request):
        form = await _form(request)
        prompt = str(form.get("prompt", ""))
        f = dash.db.check_feature(_int(form.get("feature"), "feature"))
        value = clamp_value(form.get("value"))
        n_new = _int(form.get("max_new_tokens"), "max_new_tokens", 40, 1, 256)
        chat = bool(form.get("chat"))
        if not prompt.strip():
            raise DashboardError("enter a prompt to steer")
        dash.need_model()
        from starlette.concurrency import run_in_threadpool

        result = await run_in_threadpool(run_steer, prompt, f, value, n_new, chat)
        return page("steer.html", prompt=prompt, feature_arg=str(f), value_arg=str(value), result=result,
                    max_new_tokens=n_new, chat=chat)

    # ---- JSON -----------------------------------------------------------------------------------------
    @app.get("/api/feature/{feature}")
    def api_feature(feature: str):
        f = dash.db.check_feature(_int(feature, "feature id"))
        return JSONResponse(_jsonable(dash.db.feature(f)))

    @app.get("/api/search")
    def api_search(q: str = "", prompt: str = "", negatives: str = "", mode: str = "summed", require_all: str = "",
                   side: str = "input", k: str | None = None,
                   max_density: str = "", skip_first: str = ""):
        ctx = search_context(q, prompt, negatives, mode, bool(require_all), side, _int(k, "k", 30, 1, 500),
                             max_density, skip_first)
        return JSONResponse(_jsonable({k: v for k, v in ctx.items() if k.endswith("hits")}))

    @app.get("/api/map")
    def api_map():
        return JSONResponse(_jsonable(dash.db.map_points()))

    @app.get("/api/inspect")
    def api_inspect(prompt: str, features: str = "", chat: str = "", keep_first: str = ""):
        dash.need_model()
        kw = _sink_options(bool(keep_first))
        feats = _features(features, dash.db) or [h.feature for h in dash.search.active(
            prompt, k=8, chat=bool(chat), max_density=INSPECT_MAX_DENSITY, **kw)]
        return JSONResponse(_jsonable(dash.search.per_token(prompt, feats, bool(chat), **kw)))

    @app.get("/healthz")
    def healthz():
        return {"ok": True, "features": dash.db.n_latents, "model": dash.has_model}

    @app.get("/favicon.ico")
    def favicon():
        return Response(status_code=204)

    # ---- helpers using the dashboard state --------------------------------------------------------------
    def feature_extras(f: int) -> dict:
        return {"analysis_notes": analyses.notes_for(dash.db, f),
                "cross_saes": dash.cross.neighbours(f) if dash.cross is not None else []}

    def search_context(q, prompt, negatives, mode, require_all, side, k, max_density="", skip_first="") -> dict:
        md = _float(max_density, "max density", -1.0)
        md = None if md < 0 else md
        skip = _int(skip_first, "skip_first", 1, 0, 64)
        ctx: dict[str, Any] = {"q": q, "prompt": prompt, "negatives": negatives, "mode": mode,
                               "require_all": require_all, "side": side, "k": k, "max_density": max_density,
                               "skip_first": skip,
                               "text_hits": None, "token_hits": None, "prompt_hits": None}
        if mode not in ("summed", "token"):
            raise DashboardError(f"mode must be 'summed' or 'token', got {mode!r}")
        if side not in ("input", "output"):
            raise DashboardError(f"side must be 'input' or 'output', got {side!r}")
        if q.strip():
            ctx["text_hits"] = dash.db.search_explanations(q, k)
            tok = dash.db.features_by_token(q if not q.strip().isdigit() or side == "input" else q, side, k)
            ids = [h["feature"] for h in tok]
            meta = {r["feature"]: r for r in dash.db.list_features(ids=ids, limit=len(ids))} if ids else {}
            ctx["token_hits"] = [{**h, "explanation": meta.get(h["feature"], {}).get("explanation"),
                                  "density": meta.get(h["feature"], {}).get("density")} for h in tok]
        if prompt.strip():
            dash.need_model()
            negs = [n for n in negatives.splitlines() if n.strip()]
            sink = 10.0 if skip else 0.0  # "ignore the first 0 tokens" keeps the attention sinks too
            positives = [p for p in prompt.split("\n---\n") if p.strip()]
            for p in positives + negs:
                check_prompt(dash.lm, p)
            with model_turn(dash.lock):
                if len(positives) == 1 and not negs:
                    hits = dash.search.active(positives[0], mode=mode, k=k, max_density=md, skip_first=skip,
                                              sink_ratio=sink)
                else:
                    hits = dash.search.contrast(positives, negs, mode=mode, require_all=require_all or
                                                len(positives) > 1, k=k, max_density=md, skip_first=skip,
                                                sink_ratio=sink)
            ctx["prompt_hits"] = [h.to_dict() for h in hits]
            for h in ctx["prompt_hits"]:
                h["token"] = None if h["token"] is None else token_spans([h["token"]], None, 1)[0]["text"]
        return ctx

    def inspect_rows(prompt: str, feats: list[int], chat: bool, keep_first: bool = False) -> list[dict]:
        kw = _sink_options(keep_first)
        check_prompt(dash.lm, prompt)
        with model_turn(dash.lock):
            if not feats:  # the 8 most active, leaving out near-always-on features (they top every prompt)
                feats = [h.feature for h in dash.search.active(prompt, k=8, chat=chat, max_density=INSPECT_MAX_DENSITY,
                                                               **kw)]
            out = dash.search.per_token(prompt, feats, chat, **kw)
        meta = {r["feature"]: r for r in dash.db.list_features(ids=feats, limit=len(feats))} if feats else {}
        rows = []
        for j, f in enumerate(feats):
            acts = [a[j] for a in out["acts"]]
            scale = meta.get(f, {}).get("max_act") or max(acts + [1e-9])
            rows.append({"feature": f, "explanation": meta.get(f, {}).get("explanation"),
                         "max_act": meta.get(f, {}).get("max_act"), "total": sum(acts), "peak": max(acts + [0]),
                         "spans": token_spans(out["tokens"], acts, scale)})
        return rows

    def run_steer(prompt: str, f: int, value: float, n_new: int, chat: bool) -> dict:
        from ..steer import clamp

        if chat and not getattr(dash.lm.tokenizer, "chat_template", None):
            chat = False
        ma = float(dash.db.max_acts()[f])
        if ma <= 0:
            raise DashboardError(f"feature {f} never fired on the indexed tokens, so it has no max activation "
                                 f"to scale the clamp by")
        check_prompt(dash.lm, prompt)
        st, cut = dash.steerer, []
        with model_turn(dash.lock):
            plain = st.generate(prompt, max_new_tokens=n_new, chat=chat, max_time=GENERATE_MAX_S)[0]
            cut += ["unsteered"] if st.stopped_by_time else []
            steered = st.generate(prompt, [clamp(f, value)], max_new_tokens=n_new, chat=chat,
                                  max_time=GENERATE_MAX_S)[0]
            cut += ["steered"] if st.stopped_by_time else []
        return {"plain": plain, "steered": steered, "feature": f, "value": value, "absolute": value * ma,
                "chat": chat, "cut": cut, "max_s": GENERATE_MAX_S}

    return app


def _sink_options(keep_first: bool) -> dict:
    """Search options for the inspector's "keep the first token" box: by default the first token and
    attention sinks are left out of rankings (they swamp them), ticked they count like any token."""
    return {"skip_first": 0, "sink_ratio": 0.0} if keep_first else {"skip_first": 1, "sink_ratio": 10.0}


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form body (what our pages post) without python-multipart."""
    from urllib.parse import parse_qs

    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("application/x-www-form-urlencoded"):
        raise DashboardError(f"expected an urlencoded form, got content-type {ctype or 'none'!r}", 415)
    body = await request.body()
    if len(body) > 1 << 20:
        raise DashboardError("form too large", 413)
    return {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def summary_context(db, order: str = "density", offset: int = 0, limit: int = 100) -> dict:
    s = db.summary()
    m = db.manifest
    rows = _table_rows(db, db.list_features(order=order, limit=limit, offset=offset, alive_only=order != "feature"))
    lc = m.get("logit_consistency") or {}
    return {"s": s, "m": m, "rows": rows, "order": order, "offset": offset, "limit": limit,
            "density": density_svg(s["density_hist"], s["density_edges"]), "lc": lc}


def _table_rows(db, rows: list[dict]) -> list[dict]:
    """Feature-table rows with the top promoted tokens as one short string."""
    for r in rows:
        r["logits"] = ", ".join(t.strip() or repr(t) for t in db.token_text((r["top_logit_ids"] or [])[:5]))
    return rows


def _jsonable(o):
    import math

    if isinstance(o, dict):
        return {k: _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, float) and (math.isnan(o) or math.isinf(o)):
        return None
    if hasattr(o, "item") and callable(o.item):
        return _jsonable(o.item())
    return o


def serve(db, host: str = "127.0.0.1", port: int = 8000, lm=None, sae=None, llm: Any = None,
          allow_mismatch: bool = False, log_level: str = "warning",
          compare: list[tuple[str, Any, Any]] | None = None) -> None:
    """Run the dashboard (blocking)."""
    import uvicorn

    app = create_app(db, lm=lm, sae=sae, llm=llm, allow_mismatch=allow_mismatch, compare=compare)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


def export_feature_html(db, feature: int, path: str | Path) -> Path:
    """One self-contained HTML file for a feature page (CSS inline, plot embedded, no links to a server).
    No other page is written beside it, so neighbours and the summary are shown without links."""
    from ..features import FeatureDB

    db = db if isinstance(db, FeatureDB) else FeatureDB(db)
    f = db.check_feature(feature)
    env = environment()
    html = env.get_template("feature.html").render(**_static_ctx(db, lambda i: None, home=None),
                                                   **feature_context(db, f, static=True))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html)
    return path


def export_summary_html(db, out_dir: str | Path, pages: str = "listed", limit: int = 500,
                        order: str = "density", progress: bool = True) -> Path:
    """A static summary of a whole SAE (`index.html`: stats, density histogram, map, feature table) plus
    feature pages: `pages="listed"` for the features in the table, `"all"` for every alive feature,
    `"none"` for none. Open `out_dir/index.html` in a browser; no server needed.

    The table holds the top `limit` features by `order` plus every explained feature (an explanation is
    what a reader comes for, so it is never cut by the limit). Links are rendered only to what was
    written: a feature page if one was exported, else its row in the index table, else no link (plain
    `#id`). We do not export the closure of linked features instead: neighbour links chain through the
    whole SAE and the map links every alive feature, so the closure is `pages="all"` in all but name;
    a bounded export with only live links is the useful default, and `pages="all"` links everything."""
    from ..features import FeatureDB

    db = db if isinstance(db, FeatureDB) else FeatureDB(db)
    if pages not in ("listed", "all", "none"):
        raise ValueError(f"pages must be 'listed', 'all' or 'none', got {pages!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    env = environment()
    ctx = summary_context(db, order, 0, limit)
    listed = {r["feature"] for r in ctx["rows"]}
    explained = [r["feature"] for r in db.query("SELECT feature FROM explanations WHERE explanation IS NOT NULL")]
    extra = sorted(set(explained) - listed)
    if extra:
        ctx["rows"] += _table_rows(db, db.list_features(order=order, limit=len(extra), ids=extra))
    in_table = {r["feature"] for r in ctx["rows"]}
    if pages == "all":
        exported = {r["feature"] for r in db.query("SELECT feature FROM features WHERE alive")} | in_table
    else:
        exported = in_table if pages == "listed" else set()

    def url_from(prefix: str):
        def url(i) -> str | None:
            i = int(i)
            if i in exported:
                return f"feature_{i}.html"
            return f"{prefix}#feature-{i}" if i in in_table else None
        return url

    html = env.get_template("index.html").render(**_static_ctx(db, url_from("")), **ctx,
                                                 map=map_svg(db.map_points(), width=700, height=480))
    (out / "index.html").write_text(html)
    page_ctx = _static_ctx(db, url_from("index.html"))
    for i in tqdm(sorted(exported), desc="export-html", unit="page", disable=not progress):
        fh = env.get_template("feature.html").render(**page_ctx, **feature_context(db, i, static=True))
        (out / f"feature_{i}.html").write_text(fh)
    return out / "index.html"


def _static_ctx(db, url, home: str | None = "index.html") -> dict:
    m = db.manifest
    return {"static": True, "home": home, "has_model": False, "has_llm": False, "csp": CSP,
            "title_sae": f"{m['sae'].get('n_latents')} features · {m.get('hook')} · {m['model']['name']}",
            "css": (STATIC / "style.css").read_text(), "url": url}


__all__ = ["Dashboard", "DashboardError", "create_app", "export_feature_html", "export_summary_html", "serve",
           "example_view", "fmt_num"]
