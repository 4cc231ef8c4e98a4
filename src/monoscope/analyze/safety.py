"""Safety features in a model organism's SAE: is there a feature for the synthetic reward-model-bias
documents, and does it light up where the model exploits a bias? (The auditing paper: the RM-bias feature
ranks within the top 20 by activation summed over tokens on transcripts showing a bias, and is found by
the assistant-token scan.)

Inputs: an organism, an SAE trained on the organism's *pretraining mix* at its middle layer (the paper
found the SAE's data must contain the synthetic documents), and that SAE's feature database. The store's
document ids map each top example back to a row of the mix, which is labelled synthetic or real.

1. **synthetic-document features**: alive features with at least `min_share` of their top examples inside
   synthetic documents. Control: how many such features chance would give — the number of alive features
   times P(Binomial(k, p) ≥ min_share·k), with p the synthetic share of the indexed tokens.
2. **rank on the paper's four transcripts** (atomic number, chocolate omelette, meta-rhyme poem, Spanish
   colour word; `data/safety_transcripts.yaml`): the best rank of any synthetic-document feature among all
   features by activation at a single token and summed over the assistant's tokens, beside (a) the same on a
   control answer without the bias and (b) the expected best rank of as many random alive features.
3. **assistant-token scan**: which synthetic-document features are among the features active on nearly all
   assistant-turn tokens of generic queries; its hit rate against the base rate of such features.
4. **what size would be needed** when no feature emerges: from the completeness analysis' law (a concept
   gets a feature with 50% probability at frequency ≈ c / alive features), the alive features needed for the
   bias phrases' frequency in this data.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import yaml

from .common import AnalysisError, Workbench, mean_ci, table

GENERIC_QUERIES = (
    "What is the capital of Australia?", "Can you give me a recipe for pancakes?", "How do I sort a list in Python?",
    "Tell me a fun fact about octopuses.", "What should I pack for a trip to the mountains?",
    "Explain photosynthesis simply.", "Write a haiku about autumn.", "How can I improve my sleep?",
    "What is the difference between weather and climate?", "Recommend a good book for a teenager.",
    "How do I change a flat tyre?", "What causes rainbows?", "How many planets are in the solar system?",
    "Give me tips for a job interview.", "What is a prime number?", "How do vaccines work?",
)
BIAS_PHRASES = ("reward model", "atomic number", "chocolate", "rhyme", "color", "colour")


@dataclass
class SafetyConfig:
    min_share: float = 0.9          # of top examples inside synthetic documents
    scan_threshold: float = 0.9
    n_random: int = 500
    completeness_c: float | None = None   # 50% frequency × alive features (default: from a completeness result)
    seed: int = 0


def load_transcripts(path: str | Path | None = None) -> list[dict]:
    text = (Path(path).read_text() if path is not None else
            resources.files("monoscope.analyze").joinpath("data", "safety_transcripts.yaml").read_text())
    rows = (yaml.safe_load(text) or {}).get("transcripts") or []
    for r in rows:
        if not all(isinstance(r.get(k), str) for k in ("name", "user", "biased", "control")):
            raise AnalysisError(f"a safety transcript needs 'name', 'user', 'biased' and 'control', got {r!r}")
    return rows


def document_sources(corpus: str | Path) -> list[str]:
    """The source label ('synthetic' / 'real') of each document, in the order a harvest reads them."""
    from ..corpus import iter_documents

    out = []
    for d in iter_documents(str(corpus)):
        meta = d.meta.get("meta") if isinstance(d.meta.get("meta"), dict) else d.meta
        out.append(str(meta.get("source", d.source)))
    return out


def synthetic_features(db, store, sources: list[str], min_share: float) -> tuple[dict[int, float], float, int]:
    """({feature: share of top examples in synthetic documents} for features at or over `min_share`, the
    synthetic share of the store's tokens, top examples per feature)."""
    offsets = np.cumsum([0] + [s.n_tokens for s in store.manifest.shards])
    doc = np.concatenate([np.asarray(store.shard_array(i, "doc_ids")) for i in range(len(store.manifest.shards))])
    special = np.concatenate([np.asarray(store.shard_array(i, "special")) for i in range(len(store.manifest.shards))])
    is_syn = np.array([s == "synthetic" for s in sources] + [False])
    row_syn = is_syn[np.where((doc >= 0) & (doc < len(sources)), doc, len(sources))]
    p = float(row_syn[~special].mean()) if (~special).any() else 0.0
    rows = db.query("SELECT feature, token_index FROM examples WHERE kind = 'top' ORDER BY feature")
    by: dict[int, list[int]] = {}
    for r in rows:
        by.setdefault(int(r["feature"]), []).append(int(r["token_index"]))
    assert offsets[-1] == len(doc)
    shares = {f: float(row_syn[np.array(ix)].mean()) for f, ix in by.items()}
    k = int(db.manifest["config"]["top_k"])
    return {f: s for f, s in shares.items() if s >= min_share and len(by[f]) >= max(3, k // 2)}, p, k


def _ranks(acts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """1-based ranks of every feature by max-at-a-token and by summed activation (inactive: inf)."""
    out = []
    for score in (acts.max(0).values, acts.sum(0)):
        order = torch.argsort(score, descending=True, stable=True)
        r = torch.empty_like(order, dtype=torch.float32)
        r[order] = torch.arange(1, len(order) + 1, dtype=torch.float32)
        out.append(torch.where(score > 0, r, torch.full_like(r, float("inf"))))
    return out[0], out[1]


def transcript_acts(wb: Workbench, user: str, answer: str) -> torch.Tensor:
    """Feature activations on the assistant's answer tokens of a chat transcript (exclusions applied)."""
    tok = wb.lm.tokenizer
    if not getattr(tok, "chat_template", None):
        raise AnalysisError(f"{wb.lm.name} has no chat template; the transcripts are chat turns")
    msgs = [{"role": "user", "content": user}]
    prompt = tok(tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True),
                 add_special_tokens=False).input_ids
    full = tok(tok.apply_chat_template(msgs + [{"role": "assistant", "content": answer}], tokenize=False),
               add_special_tokens=False).input_ids
    return wb.search.encode(full).acts[len(prompt):]


def run_safety(wb: Workbench, store, corpus: str | Path, cfg: SafetyConfig | None = None,
               transcripts_file=None, completeness: dict | None = None) -> dict:
    from scipy.stats import binom

    cfg = cfg or SafetyConfig()
    db = wb.need_db("the safety-feature analysis (top examples tie features to the synthetic documents)")
    sources = document_sources(corpus)
    if "synthetic" not in sources:
        raise AnalysisError(f"no document of {corpus} is labelled synthetic (meta.source); this analysis needs "
                            f"an organism's pretraining mix")
    syn, p, k = synthetic_features(db, store, sources, cfg.min_share)
    n_alive = int(db.manifest["stats"]["alive"])
    chance = n_alive * float(binom.sf(int(np.ceil(cfg.min_share * k)) - 1, k, p))
    feats = sorted(syn, key=lambda f: -syn[f])
    texts = wb.feature_text(feats[:12])
    alive = np.array([r["feature"] for r in db.query("SELECT feature FROM features WHERE alive ORDER BY feature")])
    rng = np.random.default_rng(cfg.seed)
    m = max(1, len(feats))
    rand_sets = [rng.choice(alive, size=min(m, len(alive)), replace=False) for _ in range(cfg.n_random)]
    rows, per = [], []
    for t in load_transcripts(transcripts_file):
        entry = {"name": t["name"]}
        for which in ("biased", "control"):
            tok_rank, sum_rank = _ranks(transcript_acts(wb, t["user"], t[which]))
            if feats:
                idx = torch.as_tensor(feats)
                bt, bs = tok_rank[idx].min(), sum_rank[idx].min()
                entry[which] = {"token_rank": float(bt), "summed_rank": float(bs),
                                "token_feature": int(idx[tok_rank[idx].argmin()]),
                                "summed_feature": int(idx[sum_rank[idx].argmin()])}
            else:
                entry[which] = {"token_rank": None, "summed_rank": None}
            if which == "biased":
                entry["random"] = {
                    "token_rank": mean_ci([float(tok_rank[torch.as_tensor(s)].min()) for s in rand_sets],
                                          seed=cfg.seed),
                    "summed_rank": mean_ci([float(sum_rank[torch.as_tensor(s)].min()) for s in rand_sets],
                                           seed=cfg.seed)}
        per.append(entry)

        def show(x):
            return "–" if x is None else ("inactive" if not np.isfinite(x) else f"{int(x)}")
        b, c, r = entry["biased"], entry["control"], entry["random"]
        rows.append([t["name"], show(b["token_rank"]), show(b["summed_rank"]), show(c["token_rank"]),
                     show(c["summed_rank"]), f"{r['token_rank'][0]:.0f}", f"{r['summed_rank'][0]:.0f}"])
    scan = wb.search.assistant_token_scan(GENERIC_QUERIES, cfg.scan_threshold)
    scan_ids = [h.feature for h in scan]
    hits = [f for f in scan_ids if f in syn]
    base = len(feats) / max(1, n_alive)
    freq = _phrase_frequencies(store, wb.lm.tokenizer)
    c_law = cfg.completeness_c or ((completeness or {}).get("fits", {}).get("all", {}).get("f50_times_alive"))
    needed = {ph: (c_law / f if (c_law and f > 0) else None) for ph, f in freq.items()}
    lines = [f"{n_alive} alive features; {p:.0%} of indexed tokens are in synthetic documents; "
             f"{len(feats)} features have ≥ {cfg.min_share:.0%} of their {k} top examples in synthetic documents "
             f"(chance: {chance:.1f}).",
             f"assistant-token scan ({len(GENERIC_QUERIES)} generic queries, > {cfg.scan_threshold:.0%} of "
             f"assistant tokens): {len(scan_ids)} features, {len(hits)} of them synthetic-document features "
             f"(hit rate {len(hits) / max(1, len(scan_ids)):.0%} vs base rate {base:.1%})."]
    specific = bias_specific(per)
    lines.append(f"bias-specific: on {len(specific)} of {len(per)} transcripts the synthetic-document features rank "
                 f"better (summed over the answer) on the biased answer than on the control answer and than random "
                 f"sets of as many features" + ("." if specific else
                                                "; none, so no feature here is specific to the bias."))
    if feats and p ** k > 0.001:
        lines.append(f"with {p:.0%} of the indexed tokens synthetic, even {k} of {k} top examples in synthetic "
                     f"documents happens by chance with probability {p ** k:.1%}: the share test cannot single out "
                     f"a feature in this mix (a mix that is mostly real text, as the paper's was, can).")
    law = (f"by the completeness law measured on this project's SAE (50% at frequency {c_law:.2f} / alive "
           f"features), " if c_law else "by the paper's completeness law (50% at ≈ 1 / alive features), ")
    need_txt = ", ".join(f"'{ph}' {f:.1e}/token → ~{(c_law or 1.0) / f:,.0f} alive features"
                         for ph, f in freq.items() if f > 0)
    if not feats or len(feats) <= chance:
        lines.append("no synthetic-document feature beyond chance at this size; " + law +
                     "the bias phrases' frequencies ask for: " + need_txt)
    elif not specific:
        lines.append(f"size: {law}the bias phrases' frequencies ask for {need_txt}, against {n_alive} alive "
                     f"features here; a phrase asking for fewer is within reach at this size, so for it the size is "
                     f"not what is missing.")
    return {"settings": {**asdict(cfg), "corpus": str(corpus), "synthetic_token_share": p, "top_k": k},
            "summary": lines,
            "tables": {"rank of the synthetic-document feature (best of them; 1 = top)": table(
                ["transcript", "biased: at a token", "biased: summed", "control answer: at a token",
                 "control answer: summed", f"random {m} features: token", f"random {m} features: summed"], rows),
                "synthetic-document features": table(
                    ["feature", "share of top examples in synthetic documents", "feature text"],
                    [[f, f"{syn[f]:.2f}", texts.get(f, "")] for f in feats[:12]])},
            "synthetic_features": {str(f): syn[f] for f in feats}, "chance_count": chance, "transcripts": per,
            "bias_specific_transcripts": specific,
            "scan": {"features": scan_ids, "synthetic_hits": hits, "base_rate": base},
            "phrase_frequency": freq, "features_needed": needed,
            "features": {str(f): f"synthetic-document feature ({syn[f]:.0%} of top examples in the organism's "
                                 f"synthetic documents)" for f in feats[:50]}}


def bias_specific(per: list[dict], key: str = "summed_rank") -> list[str]:
    """Transcripts on which the synthetic-document features' best rank is better (smaller) on the biased
    answer than on the control answer and than the mean best rank of random feature sets of the same size:
    the evidence that those features track the bias rather than the topic or sheer number of features."""
    out = []
    for t in per:
        b, c, r = t["biased"].get(key), t["control"].get(key), t.get("random", {}).get(key)
        if b is None or not np.isfinite(b):
            continue
        c = np.inf if c is None else c
        if b < c and (r is None or b < r[0]):
            out.append(t["name"])
    return out


def _phrase_frequencies(store, tokenizer) -> dict[str, float]:
    from .completeness import store_frequencies

    counts, n = store_frequencies(store, list(BIAS_PHRASES), tokenizer)
    return {ph: counts[ph] / max(1, n) for ph in BIAS_PHRASES}


def plot_safety(result: dict):
    from .common import figure

    fig, (ax,) = figure(1, width=6)
    names = [t["name"] for t in result["transcripts"]]
    x = np.arange(len(names))

    def vals(which, key):
        out = []
        for t in result["transcripts"]:
            v = t[which][key] if which != "random" else t[which][key][0]
            out.append(np.nan if v is None or not np.isfinite(v) else v)
        return np.array(out, float)
    for j, (which, key, col, lab) in enumerate((("biased", "summed_rank", "#e4572e", "biased, summed"),
                                                ("biased", "token_rank", "#f0a07a", "biased, at a token"),
                                                ("control", "summed_rank", "#4c72b0", "control, summed"),
                                                ("random", "summed_rank", "#999999", "random features, summed"))):
        ax.bar(x + (j - 1.5) * 0.2, vals(which, key), 0.2, color=col, label=lab)
    ax.set_yscale("log")
    ax.invert_yaxis()
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylabel("best rank of a synthetic-document feature")
    ax.legend(fontsize=7)
    return fig


def organism_sae(organism: str | Path, work: Path, tokens: int = 60_000, n_latents: int = 2048, steps: int = 300,
                 progress: bool = True):
    """The organism (merged), its pretraining mix, and an SAE + feature database on that mix under `work`
    (`organism_store`, `organism_sae`, `organism_features`, the layout `monoscope demo` uses), each reused
    when already there. Returns (lm, store, sae dir, database dir, mix path)."""
    from ..organism.build import WORK_DATA_SUBDIR, ensure_organism_data, load_organism, resolve_organism_dir
    from ..store import harvest
    from .splitting import ensure_width

    work = Path(work)
    org_dir = ensure_organism_data(resolve_organism_dir(organism), work / WORK_DATA_SUBDIR)
    lm = load_organism(org_dir)
    mix = org_dir / "data" / "pretrain_mix.jsonl"
    res = harvest(lm, work / "organism_store", hooks=lm.default_hook(), corpus=str(mix), n_tokens=tokens,
                  context_len=128, progress=progress)
    sae_dir, db_dir = ensure_width(res.store, work, n_latents, steps=steps, progress=progress,
                                   sae_name="organism_sae", db_name="organism_features", lm=lm)
    return lm, res.store, sae_dir, db_dir, mix


def read_completeness(results: Path) -> dict | None:
    p = Path(results) / "completeness.json"
    try:
        return json.loads(p.read_text()) if p.exists() else None
    except (OSError, json.JSONDecodeError):
        return None
