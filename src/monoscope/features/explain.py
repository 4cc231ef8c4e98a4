"""`monoscope explain`: automated interpretation of features, and two scores for each explanation.

1. **Explainer** — an LLM reads a feature's top examples and bucket samples (activating tokens marked
   `<<like this>>`, plus the tokens it most often peaks on and the tokens it promotes) and writes a short
   explanation.
2. **Specificity** (Scaling Monosemanticity's rubric) — a judge scores single activations against the
   explanation, 0–3:
     0 irrelevant throughout the context; 1 related to the context but not near the highlighted token, or
     only vaguely; 2 loosely related to the highlighted text or to text near it; 3 cleanly identifies the
     activating text.
   Samples span activation levels (bucket samples, top examples, and background contexts where the
   feature is silent), so we can plot the score distribution against activation level: the paper finds
   top activations score ≈3 and low ones less.
3. **Detection** — the judge sees contexts *without* highlighting and says whether the explanation
   applies; half the contexts activate the feature, half (background windows) do not. Score = balanced
   accuracy (0.5 = chance).

Every call goes through a `monoscope.llm` backend (default `local:smollm2-135m`, offline; any
OpenAI-compatible endpoint or Anthropic via a spec string). SmolLM2-135M is a weak judge: the numbers
exercise the pipeline; use a strong model for conclusions. Results are appended to the database's
`explanations.jsonl` (one line per feature, so a killed run keeps what it finished) and the judged samples
to `specificity.jsonl`; plots go to `plots/`.
"""
from __future__ import annotations

import json
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .db import FeatureDB
from .index import FeatureDBError

RUBRIC = ("0 = the explanation is irrelevant throughout the context; "
          "1 = related to the context but not near the highlighted token, or only vaguely; "
          "2 = loosely related to the highlighted text or to text near it; "
          "3 = cleanly identifies the highlighted (activating) text.")
EXPLAIN_SYSTEM = ("You are an interpretability researcher. A feature of a language model fires on certain "
                  "tokens. You see text excerpts where the tokens it fires on are marked <<like this>>. "
                  "Say in one short phrase what the feature detects.")
EXPLAIN_PREFILL = "This feature fires on"
SPEC_SYSTEM = ("You rate how well an explanation of a language-model feature describes one highlighted "
               "token in context. Answer with a single digit 0, 1, 2 or 3.")
DETECT_SYSTEM = ("You decide whether a text excerpt contains what an explanation of a language-model feature "
                 "describes. Answer Yes or No.")


@dataclass
class ExplainConfig:
    n_top: int = 6              # top examples shown to the explainer
    n_samples: int = 4          # bucket samples shown to the explainer
    n_specificity: int = 8      # activations judged for specificity (incl. ~1/4 silent contexts)
    n_detection: int = 6        # contexts judged for detection (half activating)
    left: int = 12              # tokens of context left / right of the highlighted token
    right: int = 4
    max_tokens: int = 40        # explanation length limit
    n_act_bins: int = 5         # activation-level bins for the specificity plot
    seed: int = 0


def _clean(tok: str) -> str:
    return tok.replace("\n", "↵").replace("<<", "‹‹").replace(">>", "››")


def render(tokens: Sequence[str], acts: Sequence[float] | None = None, threshold: float | None = None,
           highlight: int | None = None) -> str:
    """Text of an excerpt with activating tokens (act ≥ threshold) or one position marked <<…>>."""
    out = []
    for j, t in enumerate(tokens):
        t = _clean(t)
        mark = (highlight is not None and j == highlight) or \
               (highlight is None and acts is not None and threshold is not None and acts[j] >= threshold > 0)
        if mark:
            core = t.lstrip(" ")
            out.append(t[:len(t) - len(core)] + "<<" + core + ">>")
        else:
            out.append(t)
    return "".join(out)


def _crop(ex: dict, left: int, right: int) -> tuple[list[int], list[float], int]:
    """Tokens and acts of an example cropped around its highlighted token; returns (ids, acts, position)."""
    pos = ex["token_index"] - ex["start"]
    lo, hi = max(0, pos - left), min(len(ex["tokens"]), pos + right + 1)
    acts = ex.get("acts") or [0.0] * len(ex["tokens"])
    return list(ex["tokens"][lo:hi]), list(acts[lo:hi]), pos - lo


def explainer_messages(db: FeatureDB, feature: int, page: dict | None = None,
                       cfg: ExplainConfig | None = None) -> list[dict]:
    cfg = cfg or ExplainConfig()
    page = page or db.feature(feature)
    top = [e for e in page["examples"] if e["kind"] == "top"][:cfg.n_top]
    samples = [e for e in page["examples"] if e["kind"] == "sample"]
    rng = random.Random(cfg.seed * 1_000_003 + feature)
    samples = rng.sample(samples, min(cfg.n_samples, len(samples)))
    lines = []
    for j, ex in enumerate(top + samples):
        ids, acts, _ = _crop(ex, cfg.left, cfg.right)
        thr = 0.3 * max(acts) if acts else None
        lines.append(f"{j + 1}. {render(db.token_text(ids), acts, thr)}")
    peaks: dict[str, int] = {}
    for ex in top:
        ids, acts, pos = _crop(ex, 0, 0)
        t = _clean(db.token_text(ids)[0]).strip() if ids else ""
        peaks[t] = peaks.get(t, 0) + 1
    promoted = [_clean(t).strip() for t in db.token_text(page["top_logit_ids"][:8])]
    user = ("Excerpts where the feature fires (marked <<…>>):\n" + "\n".join(lines) +
            "\n\nTokens it fires on most: " + ", ".join(f"'{t}'" for t, _ in sorted(peaks.items(), key=lambda kv: -kv[1])[:6]) +
            "\nTokens it makes more likely next: " + ", ".join(f"'{t}'" for t in promoted) +
            "\n\nIn one short phrase, what does this feature fire on?")
    return [{"role": "system", "content": EXPLAIN_SYSTEM}, {"role": "user", "content": user}]


def parse_explanation(text: str, prefill: str = EXPLAIN_PREFILL) -> str:
    t = text.strip()
    if t.startswith(prefill):
        t = t[len(prefill):]
    t = re.sub(r"^(explanation|answer)\s*:\s*", "", t.strip(), flags=re.I)
    t = t.strip().split("\n")[0].strip().strip('"').strip()
    t = re.split(r"(?<=[.!?])\s", t)[0].rstrip(".").strip()
    return t[:200] or "(no explanation)"


_RUBRIC_WORDS = (("cleanly", 3), ("loosely", 2), ("vaguely", 1), ("not near", 1), ("irrelevant", 0))


def _first_digit(text: str) -> int | None:
    """The judge's 0–3 score: the first digit, else the rubric phrase it echoed (small models paraphrase)."""
    m = re.search(r"[0-3]", text)
    if m:
        return int(m.group(0))
    low = text.lower()
    hits = [(low.find(w), s) for w, s in _RUBRIC_WORDS if w in low]
    return min(hits)[1] if hits else None


def _yes_no(text: str) -> bool | None:
    m = re.search(r"\b(yes|no)\b", text.strip().lower())
    return None if m is None else m.group(1) == "yes"


def specificity_items(db: FeatureDB, feature: int, page: dict, cfg: ExplainConfig) -> list[dict]:
    """Activations to judge: bucket samples and top examples (spread over activation levels), plus silent
    background contexts (activation 0)."""
    rng = random.Random(cfg.seed * 7919 + feature)
    n_zero = cfg.n_specificity // 4
    active = [e for e in page["examples"]]
    rng.shuffle(active)
    active.sort(key=lambda e: e["kind"] != "sample")  # prefer bucket samples: they span activation levels
    items = []
    for ex in active[:cfg.n_specificity - n_zero]:
        ids, _, pos = _crop(ex, cfg.left, cfg.right)
        items.append({"act": float(ex["act"]), "ids": ids, "pos": pos})
    silent = db.background(feature, active=False)
    for bg in rng.sample(silent, min(n_zero, len(silent))):
        pos = rng.randrange(min(len(bg["tokens"]), cfg.left + cfg.right + 1))
        items.append({"act": 0.0, "ids": list(bg["tokens"][:cfg.left + cfg.right + 1]), "pos": pos})
    return items


def detection_items(db: FeatureDB, feature: int, page: dict, cfg: ExplainConfig) -> list[dict]:
    rng = random.Random(cfg.seed * 104729 + feature)
    half = cfg.n_detection // 2
    pos = [e for e in page["examples"]]
    rng.shuffle(pos)
    items = []
    for ex in pos[:half]:
        ids, _, _ = _crop(ex, cfg.left, cfg.right)
        items.append({"label": True, "ids": ids})
    silent = db.background(feature, active=False)
    for bg in rng.sample(silent, min(len(items), len(silent))):
        items.append({"label": False, "ids": list(bg["tokens"][:cfg.left + cfg.right + 1])})
    rng.shuffle(items)
    return items


def explain_feature(db: FeatureDB, feature: int, backend, cfg: ExplainConfig | None = None,
                    score: bool = True) -> dict[str, Any]:
    """Explain one feature and (optionally) score the explanation; returns the record (not yet saved)."""
    from ..llm import UnsupportedFeature

    cfg = cfg or ExplainConfig()
    feature = db.check_feature(feature)
    page = db.feature(feature)
    if not page["alive"]:
        raise FeatureDBError(f"feature {feature} never fired on the indexed tokens: nothing to explain")
    msgs = explainer_messages(db, feature, page, cfg)
    try:
        reply = backend.chat(msgs, max_tokens=cfg.max_tokens, temperature=0.0, prefill=EXPLAIN_PREFILL,
                             stop=["\n"])[0]
    except UnsupportedFeature:
        reply = backend.chat(msgs, max_tokens=cfg.max_tokens, temperature=0.0, stop=["\n"])[0]
    rec: dict[str, Any] = {"feature": feature, "explanation": parse_explanation(reply),
                           "explainer": getattr(backend, "name", type(backend).__name__),
                           "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if score:
        rec.update(score_explanation(db, feature, rec["explanation"], backend, cfg, page))
    return rec


def score_explanation(db: FeatureDB, feature: int, explanation: str, backend, cfg: ExplainConfig | None = None,
                      page: dict | None = None) -> dict[str, Any]:
    """Specificity (0–3 per judged activation) and detection (balanced accuracy) of an explanation."""
    cfg = cfg or ExplainConfig()
    page = page or db.feature(feature)
    out: dict[str, Any] = {}
    items = specificity_items(db, feature, page, cfg)
    if items:
        convs = [[{"role": "system", "content": SPEC_SYSTEM},
                  {"role": "user", "content": f"Explanation: {explanation}\n\nText: "
                                              f"{render(db.token_text(it['ids']), highlight=it['pos'])}\n\n"
                                              f"Rubric: {RUBRIC}\nScore (0-3):"}] for it in items]
        replies = _judge(backend, convs, max_tokens=4, prefill="Score:")
        mx = page["max_act"] or 1.0
        judged = []
        for it, rep in zip(items, replies):
            s = _first_digit(rep)
            if s is not None:
                judged.append({"feature": feature, "act": it["act"], "rel_act": it["act"] / mx, "score": s})
        out["specificity_samples"] = judged
        act_scores = [j["score"] for j in judged if j["act"] > 0]
        out["specificity"] = float(np.mean(act_scores)) if act_scores else None
        out["specificity_n"] = len(judged)
        edges = np.linspace(0, 1, cfg.n_act_bins + 1)
        by = []
        for b in range(cfg.n_act_bins):
            sel = [j["score"] for j in judged if j["act"] > 0 and (edges[b] < j["rel_act"] <= edges[b + 1] or
                                                                    (b == 0 and j["rel_act"] <= edges[1]))]
            by.append(float(np.mean(sel)) if sel else None)
        out["specificity_by_bucket"] = by
    det = detection_items(db, feature, page, cfg)
    if det:
        convs = [[{"role": "system", "content": DETECT_SYSTEM},
                  {"role": "user", "content": f"Explanation: {explanation}\n\nText: "
                                              f"{render(db.token_text(it['ids']))}\n\n"
                                              f"Does the text contain what the explanation describes? Yes or No:"}]
                 for it in det]
        replies = _judge(backend, convs, max_tokens=3)
        answers = [(it["label"], _yes_no(r)) for it, r in zip(det, replies)]
        answers = [(lab, a) for lab, a in answers if a is not None]
        tp = [a for lab, a in answers if lab]
        tn = [not a for lab, a in answers if not lab]
        if tp and tn:
            out["detection"] = float((np.mean(tp) + np.mean(tn)) / 2)
        out["detection_n"] = len(answers)
    return out


def _judge(backend, convs: list, max_tokens: int, prefill: str | None = None) -> list[str]:
    """One greedy reply per conversation; with a prefill (e.g. "Score:") where the backend can continue one."""
    from ..llm import UnsupportedFeature

    if prefill and getattr(backend, "supports_prefill", False):
        try:
            return [r[0] for r in backend.chat_batch(convs, max_tokens=max_tokens, temperature=0.0, prefill=prefill)]
        except UnsupportedFeature:
            pass
    return [r[0] for r in backend.chat_batch(convs, max_tokens=max_tokens, temperature=0.0)]


def plot_specificity(samples: Sequence[dict], path: Path, title: str = "", n_bins: int = 5) -> Path:
    """Stacked bars: the distribution of 0–3 scores in each activation-level bin (relative to max act);
    silent contexts (activation 0) get their own bar. The paper's specificity-vs-activation figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = np.linspace(0, 1, n_bins + 1)
    labels = ["0"] + [f"{edges[b]:.1f}–{edges[b + 1]:.1f}" for b in range(n_bins)]
    counts = np.zeros((len(labels), 4))
    for s in samples:
        r = s["rel_act"]
        b = 0 if s["act"] <= 0 else 1 + min(n_bins - 1, int(r * n_bins))
        counts[b, int(s["score"])] += 1
    frac = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    bottom = np.zeros(len(labels))
    colors = ["#d9d9d9", "#fdd49e", "#fc8d59", "#b30000"]
    for score in range(4):
        ax.bar(labels, frac[:, score], bottom=bottom, color=colors[score], label=str(score))
        bottom += frac[:, score]
    for j, n in enumerate(counts.sum(1)):
        ax.text(j, 1.01, f"n={int(n)}", ha="center", va="bottom", fontsize=7)
    ax.set_ylim(0, 1.12)
    ax.set_xlabel("activation / max activation")
    ax.set_ylabel("fraction of judged samples")
    ax.set_title(title or "specificity vs activation level", fontsize=9)
    ax.legend(title="score", fontsize=7, title_fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def explain(db: FeatureDB | str | Path, features: Sequence[int] | None = None, backend: Any = None,
            n_features: int = 3, cfg: ExplainConfig | None = None, score: bool = True, force: bool = False,
            progress: bool = True) -> list[dict]:
    """Explain (and score) features of a database; by default `n_features` random alive ones (seeded), as
    the paper's random-feature comparisons do. Features already explained are skipped unless `force`.
    Each record is saved as soon as it is done. Raises `LLMError` (e.g. `BackendUnavailable`) with the
    backend's message if the LLM cannot be reached."""
    from tqdm.auto import tqdm

    from ..llm import get_backend

    cfg = cfg or ExplainConfig()
    if not isinstance(db, FeatureDB):
        db = FeatureDB(db)
    if features is None:
        alive = [r["feature"] for r in db.query("SELECT feature FROM features WHERE alive ORDER BY feature")]
        rng = random.Random(cfg.seed)
        features = sorted(rng.sample(alive, min(n_features, len(alive))))
    features = [db.check_feature(f) for f in features]
    if not force:
        done = {r["feature"] for r in db.query("SELECT feature FROM explanations WHERE explanation IS NOT NULL")}
        features = [f for f in features if f not in done]
    if not features:
        return []
    backend = get_backend(backend)
    records = []
    for f in tqdm(features, desc="explain", disable=not progress):
        rec = explain_feature(db, f, backend, cfg, score=score)
        samples = rec.pop("specificity_samples", [])
        if samples:
            rec["plot"] = str(plot_specificity(samples, db.path / "plots" / f"specificity_{f}.png",
                                               f"feature {f}: {rec['explanation'][:60]}", cfg.n_act_bins)
                              .relative_to(db.path))
            _save_samples(db, f, samples)
        db.add_explanations([rec])
        records.append(rec)
    all_samples = load_specificity_samples(db)
    if all_samples:
        plot_specificity(all_samples, db.path / "plots" / "specificity.png",
                         f"all explained features ({len({s['feature'] for s in all_samples})})", cfg.n_act_bins)
    return records


def _save_samples(db: FeatureDB, feature: int, samples: list[dict]) -> None:
    """Replace this feature's judged samples in specificity.jsonl (a re-explained feature keeps only its latest)."""
    from ..fileio import atomic_write_text

    keep = [s for s in load_specificity_samples(db) if s.get("feature") != feature]
    atomic_write_text(db.path / "specificity.jsonl", "".join(json.dumps(s) + "\n" for s in keep + list(samples)))


def load_specificity_samples(db: FeatureDB) -> list[dict]:
    p = db.path / "specificity.jsonl"
    if not p.exists():
        return []
    out = []
    for line in p.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
