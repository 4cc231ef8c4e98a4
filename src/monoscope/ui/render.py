"""Turning database rows into what templates draw: highlighted tokens, histogram and map geometry.

Nothing here produces HTML. Templates receive plain data (strings, numbers) and Jinja's autoescape escapes
every string, so model and corpus text (tokens, explanations, generations) is always rendered as text.
Only numbers computed here go into style attributes and SVG coordinates.
"""
from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from jinja2 import Environment, FileSystemLoader

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["num"] = fmt_num
    env.filters["pct"] = lambda x: "–" if x is None else f"{100 * x:.3g}%"
    return env


def fmt_num(x: Any, digits: int = 3) -> str:
    if x is None:
        return "–"
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(x):
        return "–"
    if x == 0:
        return "0"
    if abs(x) >= 1e4 or abs(x) < 1e-3:
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def show_token(text: str) -> str:
    """Make whitespace-only and control tokens visible (the template escapes the result)."""
    if text == "":
        return "∅"
    text = text.replace("\n", "↵").replace("\t", "⇥").replace("\r", "␍")
    return text if text.strip() else text.replace(" ", "·")


def token_spans(texts: Sequence[str], acts: Sequence[float] | None, scale: float,
                peak: int | None = None) -> list[dict]:
    """[{text, act, alpha, peak}] for a highlighted excerpt; alpha = act / scale in [0, 1]."""
    out = []
    scale = scale if scale and scale > 0 else 1.0
    for j, t in enumerate(texts):
        a = float(acts[j]) if acts is not None and j < len(acts) else 0.0
        out.append({"text": show_token(t), "act": a, "alpha": round(max(0.0, min(1.0, a / scale)), 3),
                    "peak": peak is not None and j == peak})
    return out


def example_view(db, ex: dict, scale: float) -> dict:
    pos = ex["token_index"] - ex["start"]
    return {**{k: ex[k] for k in ("kind", "bucket", "rank", "act", "token_index")},
            "spans": token_spans(db.token_text(ex["tokens"]), ex["acts"], scale, pos)}


def histogram_svg(hist: Sequence[int], lo: float, bins_per_octave: int, max_act: float, width: int = 520,
                  height: int = 120) -> dict:
    """Bars of the fine log-binned activation histogram, trimmed to the non-empty range."""
    h = np.asarray(hist, dtype=float)
    nz = np.nonzero(h)[0]
    if not len(nz) or lo <= 0:
        return {"bars": [], "width": width, "height": height, "ticks": []}
    a, b = nz[0], nz[-1] + 1
    h = h[a:b]
    bw = width / len(h)
    top = h.max()
    bars = [{"x": round(i * bw, 2), "w": round(max(bw - 1, 1), 2), "h": round(v / top * (height - 14), 2),
             "y": round(height - 14 - v / top * (height - 14), 2), "n": int(v),
             "lo": fmt_num(lo * 2 ** ((a + i) / bins_per_octave)),
             "hi": fmt_num(lo * 2 ** ((a + i + 1) / bins_per_octave))} for i, v in enumerate(h)]
    ticks = [{"x": round(i * bw, 2), "label": fmt_num(lo * 2 ** ((a + i) / bins_per_octave), 2)}
             for i in range(0, len(h) + 1, max(1, len(h) // 5))]
    return {"bars": bars, "width": width, "height": height, "ticks": ticks}


def density_svg(counts: Sequence[int], edges: Sequence[float], width: int = 420, height: int = 110) -> dict:
    c = np.asarray(counts, dtype=float)
    if not len(c) or c.max() == 0:
        return {"bars": [], "width": width, "height": height, "ticks": []}
    bw = width / len(c)
    bars = [{"x": round(i * bw, 2), "w": round(bw - 1, 2), "h": round(v / c.max() * (height - 14), 2),
             "y": round(height - 14 - v / c.max() * (height - 14), 2), "n": int(v),
             "lo": f"1e{edges[i]:g}", "hi": f"1e{edges[i + 1]:g}"} for i, v in enumerate(c)]
    ticks = [{"x": round(i * bw, 2), "label": f"1e{edges[i]:g}"} for i in range(0, len(c) + 1, 2)]
    return {"bars": bars, "width": width, "height": height, "ticks": ticks}


def map_svg(points: list[dict], width: int = 900, height: int = 640, max_points: int = 20000,
            highlight: int | None = None) -> dict:
    """Scatter geometry of the feature map (colour: log density); at most `max_points` (seeded subsample)."""
    if not points:
        return {"points": [], "width": width, "height": height}
    if len(points) > max_points:
        rng = np.random.default_rng(0)
        keep = set(rng.choice(len(points), size=max_points, replace=False).tolist())
        points = [p for i, p in enumerate(points) if i in keep or p["feature"] == highlight]
    xs = np.array([p["x"] for p in points], dtype=float)
    ys = np.array([p["y"] for p in points], dtype=float)
    span_x = (xs.max() - xs.min()) or 1.0
    span_y = (ys.max() - ys.min()) or 1.0
    ld = np.log10(np.maximum([p["density"] or 1e-9 for p in points], 1e-9))
    lo, hi = np.percentile(ld, 2), np.percentile(ld, 98)
    t = np.clip((ld - lo) / ((hi - lo) or 1.0), 0, 1)
    out = []
    for p, x, y, c in zip(points, xs, ys, t):
        out.append({"feature": int(p["feature"]), "explanation": p.get("explanation") or "",
                    "cx": round(8 + (x - xs.min()) / span_x * (width - 16), 1),
                    "cy": round(8 + (y - ys.min()) / span_y * (height - 16), 1),
                    "color": f"hsl({int(240 - 200 * c)},70%,{int(35 + 20 * c)}%)",
                    "density": p["density"], "hl": p["feature"] == highlight})
    return {"points": out, "width": width, "height": height}


def png_data_uri(path: Path) -> str | None:
    if not path.exists():
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def feature_context(db, feature: int, static: bool = False) -> dict:
    """Everything the feature page template needs, from one database query."""
    page = db.feature(feature)
    scale = page["max_act"] or 1.0
    tops = [example_view(db, e, scale) for e in page["examples"] if e["kind"] == "top"]
    buckets: dict[int, list] = {}
    for e in page["examples"]:
        if e["kind"] == "sample":
            buckets.setdefault(int(e["bucket"]), []).append(example_view(db, e, scale))
    cfg = db.manifest["config"]
    n_b = cfg["n_buckets"]
    scheme = cfg.get("bucket_scheme", "linear")
    bucket_rows = []
    for b in sorted(buckets, reverse=True):
        if scheme == "linear":
            label = f"{fmt_num(b / n_b * scale)} – {fmt_num((b + 1) / n_b * scale)}"
        else:
            label = f"quantile {b / n_b:.2f} – {(b + 1) / n_b:.2f}"
        bucket_rows.append({"bucket": b, "label": label, "examples": buckets[b]})
    logits = {"top": list(zip(db.token_text(page["top_logit_ids"]), page["top_logit_vals"])),
              "bottom": list(zip(db.token_text(page["bottom_logit_ids"]), page["bottom_logit_vals"]))}
    logits = {k: [{"text": show_token(t), "value": v} for t, v in vs] for k, vs in logits.items()}
    nb_ids = list(page["neighbours"] or [])
    expl = {r["feature"]: r.get("explanation") for r in db.list_features(ids=nb_ids, limit=len(nb_ids))} if nb_ids else {}
    neighbours = [{"feature": i, "cos": c, "explanation": expl.get(i)} for i, c in zip(nb_ids, page["neighbour_cos"])]
    cross = [{"feature": i, "cos": c} for i, c in zip(page.get("cross_neighbours") or [], page.get("cross_cos") or [])]
    plot = None
    if page.get("plot"):
        p = db.path / page["plot"]
        plot = png_data_uri(p) if static else (f"/plot/{feature}.png" if p.exists() else None)
    hist = histogram_svg(page["hist"], page["hist_lo"], db.manifest["bins"]["bins_per_octave"], page["max_act"])
    return {"f": page, "feature": feature, "tops": tops, "buckets": bucket_rows, "logits": logits,
            "neighbours": neighbours, "cross": cross, "hist": hist, "plot": plot,
            "bucket_scheme": scheme, "other_sae": db.manifest.get("other_sae")}
