"""Concept steering, measured: does clamping a concept's feature move generations toward the concept, more
than the paper's baseline (difference of means at the same norm) and a random feature at the same clamp,
without breaking the text?

For each concept (positive texts, negatives; `data/concepts.yaml`):
1. **find** its feature with the tool's own search: `FeatureSearch.contrast` over the positives minus the
   negatives (the neutral texts and every other concept's positives), per-token peak relative to each
   feature's corpus max, dense features (> `max_density` of tokens) left out;
2. **steer** ≥ 20 neutral chat prompts greedily under four conditions: unsteered; the feature clamped to
   `clamp` × its max activation on every position, error term kept (the paper's method); the
   difference-of-means vector (mean last-token residual of positives − negatives, the paper's baseline)
   added on every position at the norm the clamp adds (clamp · max · ‖d‖); random alive features of
   similar density clamped the same way. Each method picks its clamp from the same candidates on the same
   few tuning prompts (a baseline with the feature's tuning budget) and is measured on the other prompts;
3. **score** each generation with an independent scorer: all-MiniLM-L6-v2 (not the steered model) cosine
   similarity to the concept's reference passages (drawn from the corpus, never the search positives), and
   whether the generation's nearest reference centroid, among all concepts and generic text, is this
   concept; and **coherence**: perplexity under the unsteered model and the share of distinct bigrams, so
   a degenerate generation ("2229).1999)…" or one token repeated) is not a success.

A success is a generation classified as the concept that is also coherent. Every number comes with its
bootstrap 95% CI over prompts.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .common import AnalysisError, Workbench, fmt_ci, mean_ci, table
from .concepts import Concept, ConceptSet, load_concepts, reference_texts

CONDITIONS = ("unsteered", "feature", "diff_of_means", "random_feature")
LABELS = {"unsteered": "unsteered", "feature": "concept feature", "diff_of_means": "diff of means (same norm)",
          "random_feature": "random feature (same clamp)"}


@dataclass
class SteeringConfig:
    clamps: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)  # candidates, in units of max activation (tuned per method)
    n_tune: int = 4                # prompts used to pick each method's clamp (not measured on)
    n_prompts: int = 28
    max_new_tokens: int = 32
    max_density: float = 0.02      # features denser than this are not concept candidates (nor random controls)
    min_density: float = 1e-5
    n_random: int = 4              # random control features, rotated over the prompts
    n_references: int = 40
    max_ppl: float = 100.0         # coherent: perplexity under the unsteered model at most this ...
    min_distinct: float = 0.5      # ... and at least this share of distinct bigrams
    batch_size: int = 12
    seed: int = 0


# ---- measuring text -------------------------------------------------------------------------------------
def distinct_bigrams(ids: Sequence[int]) -> float:
    """Share of distinct token bigrams (1.0: no repetition; a token repeated forever → ~0)."""
    pairs = list(zip(ids[:-1], ids[1:]))
    return len(set(pairs)) / len(pairs) if pairs else 0.0


def completion_perplexity(lm, prompt_ids: Sequence[torch.Tensor], completions: Sequence[str],
                          batch_size: int = 16) -> tuple[list[float], list[list[int]]]:
    """Perplexity of each completion given its prompt under `lm` as it is (no edits), and the completion's
    token ids. Right-padded batches: a causal model never looks right, so padding changes nothing."""
    tok = lm.tokenizer
    comp = [tok(c, add_special_tokens=False).input_ids for c in completions]
    seqs = [torch.cat([p.reshape(-1).cpu(), torch.tensor(c, dtype=torch.long)]) for p, c in zip(prompt_ids, comp)]
    ppl: list[float] = []
    for i in range(0, len(seqs), batch_size):
        chunk = seqs[i:i + batch_size]
        T = max(len(s) for s in chunk)
        ids = torch.zeros((len(chunk), T), dtype=torch.long)
        mask = torch.zeros((len(chunk), T), dtype=torch.long)
        for j, s in enumerate(chunk):
            ids[j, :len(s)], mask[j, :len(s)] = s, 1
        with torch.no_grad():
            logits = lm.model(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device),
                              use_cache=False).logits.float().cpu()
        lp = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
        for j in range(len(chunk)):
            n_c, n_p = len(comp[i + j]), len(chunk[j]) - len(comp[i + j])
            if n_c == 0:
                ppl.append(float("nan"))
                continue
            ppl.append(float(torch.exp(-lp[j, n_p - 1:n_p - 1 + n_c].mean())))
    return ppl, comp


class ConceptScorer:
    """MiniLM centroids of each concept's reference passages (and of generic text): similarity of a
    generation to a concept, and which centroid is nearest."""

    def __init__(self, concepts: Sequence[Concept], generic: Sequence[str], n_references: int = 40,
                 seed: int = 0, encoder=None):
        from ..models.sentence import SentenceEncoder

        self.enc = encoder or SentenceEncoder()
        self.names = [c.name for c in concepts] + ["generic"]
        cents = []
        self.references = {}
        for c in concepts:
            refs = reference_texts(c, n_references, seed=seed)
            self.references[c.name] = refs
            cents.append(self._centroid(refs))
        if not generic:
            raise AnalysisError("the concepts file has no 'neutral' texts: the scorer needs generic text to "
                                "tell a concept from ordinary prose")
        cents.append(self._centroid(list(generic)))
        self.centroids = np.stack(cents)

    def _centroid(self, texts: list[str]) -> np.ndarray:
        v = self.enc.encode(texts).mean(0)
        return v / max(np.linalg.norm(v), 1e-12)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """[len(texts), n_concepts + 1] cosine similarities (empty texts score 0 everywhere)."""
        sims = np.zeros((len(texts), len(self.names)), np.float32)
        idx = [i for i, t in enumerate(texts) if t.strip()]
        if idx:
            sims[idx] = self.enc.encode([texts[i] for i in idx]) @ self.centroids.T
        return sims


# ---- finding and steering -----------------------------------------------------------------------------
def find_concept_feature(wb: Workbench, cs: ConceptSet, concept: Concept, cfg: SteeringConfig) -> dict | None:
    """The top feature of `contrast(positives, negatives)` (per-token peak / corpus max), or None."""
    hits = wb.search.contrast(concept.positives, cs.negatives_for(concept), mode="token", normalize=True,
                              require_all=False, k=5, max_density=cfg.max_density)
    if not hits:
        return None
    h = hits[0]
    return {"feature": h.feature, "score": h.score, "runners_up": [x.feature for x in hits[1:]],
            "max_act": float(wb.db.max_acts()[h.feature]), "density": h.density}


def random_features(wb: Workbench, n: int, exclude: set[int], cfg: SteeringConfig) -> list[int]:
    rows = wb.db.query("SELECT feature FROM features WHERE alive AND density <= ? AND density >= ? "
                       "AND max_act > 0 ORDER BY feature", [cfg.max_density, cfg.min_density])
    pool = [r["feature"] for r in rows if r["feature"] not in exclude]
    if not pool:
        raise AnalysisError("no alive feature of ordinary density to serve as the random control")
    rng = np.random.default_rng(cfg.seed + 17)
    return [int(x) for x in rng.choice(pool, size=min(n, len(pool)), replace=False)]


class _Runner:
    """Generations and their scores for one concept: unsteered, or one steering method at one clamp."""

    def __init__(self, wb: Workbench, feat: dict, dom: torch.Tensor, rand: list[int], scorer: ConceptScorer,
                 k: int, cfg: SteeringConfig):
        self.wb, self.feat, self.rand, self.scorer, self.k, self.cfg = wb, feat, rand, scorer, k, cfg
        # what clamping to 1x max adds to the residual where the feature was silent: the unit of the
        # difference-of-means condition, so both push equally hard
        self.unit = float(wb.sae.W_dec[feat["feature"]].detach().float().norm()) * feat["max_act"]
        self.dom = dom / dom.norm().clamp_min(1e-12)

    def generate(self, method: str, clamp_value: float, prompts: list[str]) -> list[str]:
        from ..steer import DirectionAdd, clamp

        st = self.wb.steerer
        kw = dict(max_new_tokens=self.cfg.max_new_tokens, chat=True, batch_size=self.cfg.batch_size)
        if method == "unsteered":
            return st.generate_batch(prompts, **kw)
        if method == "feature":
            return st.generate_batch(prompts, [clamp(self.feat["feature"], clamp_value)], **kw)
        if method == "diff_of_means":
            return st.generate_batch(prompts, adds=[DirectionAdd(self.dom * clamp_value * self.unit)], **kw)
        out = [""] * len(prompts)
        for j, r in enumerate(self.rand):  # random features rotated over the prompts
            idx = list(range(j, len(prompts), len(self.rand)))
            if idx:
                for i, text in zip(idx, st.generate_batch([prompts[i] for i in idx], [clamp(r, clamp_value)], **kw)):
                    out[i] = text
        return out

    def measure(self, prompts: list[str], texts: list[str]) -> dict:
        cfg = self.cfg
        ids = [self.wb.steerer.encode_prompt(p, chat=True) for p in prompts]
        sims = self.scorer.score(texts)
        ppl, comp = completion_perplexity(self.wb.lm, ids, texts, cfg.batch_size)
        distinct = [distinct_bigrams(x) for x in comp]
        classified = sims.argmax(1) == self.k
        coherent = np.array([bool(np.isfinite(p) and p <= cfg.max_ppl and d >= cfg.min_distinct)
                             for p, d in zip(ppl, distinct)], dtype=bool)
        return {"texts": texts, "similarity": sims[:, self.k].tolist(), "classified": classified.tolist(),
                "perplexity": ppl, "distinct_bigrams": distinct, "coherent": coherent.tolist(),
                "success": (classified & coherent).tolist()}

    def tune(self, method: str, prompts: list[str]) -> tuple[float, list[dict]]:
        """The clamp (from cfg.clamps) with the highest success rate on the tuning prompts (ties: higher
        similarity, then the smaller clamp); every method gets the same candidates and prompts."""
        if len(self.cfg.clamps) == 1 or not prompts:
            return float(self.cfg.clamps[0]), []
        trials = []
        for c in self.cfg.clamps:
            m = self.measure(prompts, self.generate(method, c, prompts))
            trials.append({"clamp": c, "success": float(np.mean(m["success"])),
                           "similarity": float(np.mean(m["similarity"])), "coherent": float(np.mean(m["coherent"]))})
        best = max(trials, key=lambda t: (t["success"], t["similarity"], -t["clamp"]))
        return float(best["clamp"]), trials


def run_concept_steering(wb: Workbench, concepts: Sequence[str] | None = None, cfg: SteeringConfig | None = None,
                         concept_file=None, progress: bool = True, scorer: ConceptScorer | None = None) -> dict:
    """The steering table for the chosen concepts (default: all in the file); see the module docstring.

    With several candidate clamps, each method (concept feature, difference of means, random feature) picks
    its clamp on the first `n_tune` prompts — the same candidates and prompts for every method, so the
    baseline gets the tuning budget the feature gets — and is measured on the remaining prompts only."""
    from ..steer import diff_of_means

    cfg = cfg or SteeringConfig()
    wb.need_db("concept steering (clamps are in units of max activation)")
    cs = load_concepts(concept_file)
    chosen = cs.select(list(concepts) if concepts else None)
    prompts = cs.prompts[:cfg.n_prompts]
    tuning = len(cfg.clamps) > 1
    tune_p, eval_p = (prompts[:cfg.n_tune], prompts[cfg.n_tune:]) if tuning else ([], prompts)
    if len(eval_p) < 2:
        raise AnalysisError(f"{len(prompts)} prompts leave {len(eval_p)} to measure on after {len(tune_p)} for "
                            f"tuning the clamp; give more prompts (--prompts) or a single clamp")
    scorer = scorer or ConceptScorer(list(cs.concepts.values()), cs.neutral, cfg.n_references, cfg.seed)
    found = {c.name: find_concept_feature(wb, cs, c, cfg) for c in chosen}
    exclude = {v["feature"] for v in found.values() if v}
    rand = random_features(wb, cfg.n_random, exclude, cfg)
    per_concept: dict[str, Any] = {}
    rows = []
    for c in tqdm(chosen, desc="concept steering", disable=not progress):
        feat = found[c.name]
        if feat is None:
            per_concept[c.name] = {"feature": None, "note": "search found no feature for this concept"}
            rows.append([c.name, "none found", "", "", "", "", "", "", ""])
            continue
        dom = diff_of_means(wb.steerer, c.positives, cs.negatives_for(c), chat=False)
        run = _Runner(wb, feat, dom, rand, scorer, scorer.names.index(c.name), cfg)
        cond: dict[str, Any] = {}
        for name in CONDITIONS:
            value, trials = (0.0, []) if name == "unsteered" else run.tune(name, tune_p)
            cond[name] = {**run.measure(eval_p, run.generate(name, value, eval_p)), "clamp": value, "tuning": trials}
        base = np.array(cond["unsteered"]["similarity"])
        for name in CONDITIONS:
            r = cond[name]
            sim = np.array(r["similarity"])
            ppl = np.array(r["perplexity"], dtype=float)
            r["summary"] = {"similarity": mean_ci(sim, seed=cfg.seed),
                            "delta_vs_unsteered": mean_ci(sim - base, seed=cfg.seed),
                            "classified": mean_ci(np.array(r["classified"], float), seed=cfg.seed),
                            "coherent": mean_ci(np.array(r["coherent"], float), seed=cfg.seed),
                            "success": mean_ci(np.array(r["success"], float), seed=cfg.seed),
                            "median_perplexity": float(np.nanmedian(ppl)) if np.isfinite(ppl).any() else float("nan")}
        text = wb.feature_text([feat["feature"]])[feat["feature"]]
        per_concept[c.name] = {**feat, "feature_text": text, "conditions": cond}
        for name in CONDITIONS:
            s_ = cond[name]["summary"]
            rows.append([c.name, f"#{feat['feature']} {text}" if name == "feature" else
                         (f"{len(rand)} random features" if name == "random_feature" else ""),
                         LABELS[name], "" if name == "unsteered" else f"{cond[name]['clamp']:g}",
                         fmt_ci(s_["similarity"]), fmt_ci(s_["delta_vs_unsteered"]),
                         fmt_ci(s_["success"], 2), fmt_ci(s_["coherent"], 2), f"{s_['median_perplexity']:.1f}"])
    example = best_example(per_concept, eval_p)
    summary = _summary_lines(per_concept, cfg, len(eval_p), len(tune_p))
    return {"settings": {**asdict(cfg), "concepts": [c.name for c in chosen], "tuning_prompts": tune_p,
                         "prompts": eval_p, "random_features": rand,
                         "scorer": "all-MiniLM-L6-v2 cosine to corpus reference passages"},
            "summary": summary,
            "tables": {"concept steering": table(
                ["concept", "feature", "condition", "clamp", "similarity to concept [95% CI]",
                 "Δ vs unsteered [95% CI]", "success rate [95% CI]", "coherent [95% CI]", "median perplexity"],
                rows)},
            "concepts": per_concept, "example": example,
            "features": {str(v["feature"]): f"concept-steering feature for '{k}'" for k, v in per_concept.items()
                         if v.get("feature") is not None}}


def best_example(per_concept: dict, prompts: list[str]) -> dict | None:
    """The prompt and concept where clamping moved a coherent generation furthest toward the concept,
    with the unsteered and difference-of-means generations of the same prompt (labelled as the largest
    shift, not a typical one)."""
    best = None
    for name, pc in per_concept.items():
        cond = pc.get("conditions")
        if not cond:
            continue
        f, u = cond["feature"], cond["unsteered"]
        for i in range(len(prompts)):
            if not f["success"][i]:
                continue
            gain = f["similarity"][i] - u["similarity"][i]
            if best is None or gain > best["gain"]:
                best = {"concept": name, "feature": pc["feature"], "prompt": prompts[i], "gain": gain,
                        "unsteered": u["texts"][i], "steered": f["texts"][i],
                        "diff_of_means": cond["diff_of_means"]["texts"][i],
                        "random_feature": cond["random_feature"]["texts"][i]}
    return best


def _summary_lines(per_concept: dict, cfg: SteeringConfig, n: int, n_tune: int) -> list[str]:
    tuned = (f"clamp in units of max activation chosen per method from {', '.join(f'{c:g}' for c in cfg.clamps)} on "
             f"{n_tune} other prompts" if n_tune else f"clamp {cfg.clamps[0]:g}× max activation")
    lines = [f"{n} neutral chat prompts, greedy, {cfg.max_new_tokens} new tokens; {tuned}, on every position "
             f"(error term kept; difference of means added at the norm the clamp adds); success = nearest MiniLM centroid is the concept "
             f"and coherent (perplexity ≤ {cfg.max_ppl:g} under the unsteered model, ≥ {cfg.min_distinct:.0%} "
             f"distinct bigrams)."]
    for name, pc in per_concept.items():
        if not pc.get("conditions"):
            lines.append(f"{name}: {pc.get('note')}")
            continue
        s = {k: pc["conditions"][k]["summary"]["success"][0] for k in CONDITIONS}
        lines.append(f"{name} (feature {pc['feature']}): success {s['feature']:.0%} steered vs "
                     f"{s['unsteered']:.0%} unsteered, {s['diff_of_means']:.0%} diff-of-means, "
                     f"{s['random_feature']:.0%} random feature")
    return lines


def plot_steering(result: dict):
    from .common import figure

    pcs = {k: v for k, v in result["concepts"].items() if v.get("conditions")}
    fig, (ax1, ax2) = figure(2, width=max(4.5, 1.6 * len(pcs) + 2))
    x = np.arange(len(pcs))
    w = 0.2
    colors = ("#999999", "#e4572e", "#4c72b0", "#55a868")
    for j, (cond, col) in enumerate(zip(CONDITIONS, colors)):
        for ax, key in ((ax1, "similarity"), (ax2, "success")):
            m = np.array([pc["conditions"][cond]["summary"][key] for pc in pcs.values()], dtype=float)
            ax.bar(x + (j - 1.5) * w, m[:, 0], w, color=col, label=LABELS[cond],
                   yerr=np.abs(np.stack([m[:, 0] - m[:, 1], m[:, 2] - m[:, 0]])), capsize=2)
    for ax, ttl in ((ax1, "MiniLM similarity to the concept"), (ax2, "success (concept and coherent)")):
        ax.set_xticks(x, list(pcs))
        ax.set_title(ttl, fontsize=10)
    ax2.set_ylim(0, 1)
    ax1.legend(fontsize=7, loc="upper left")
    return fig


def concept_steering_demo(wb: Workbench, concepts: Sequence[str] = ("bible", "python", "french"),
                          n_prompts: int = 8, max_new_tokens: int = 24, clamp: float = 2.0,
                          progress: bool = False) -> dict:
    """A short version for the demo (a few minutes of CPU at most): fewer prompts and tokens, same
    method and controls; returns the result with its `example` (one side-by-side generation)."""
    cfg = SteeringConfig(clamps=(clamp,), n_prompts=n_prompts, max_new_tokens=max_new_tokens, n_random=2,
                         n_references=24)
    return run_concept_steering(wb, concepts, cfg, progress=progress)
