"""Scoring an explanation of a unit: detection, fuzzing and specificity, each against a control.

Three scorers (cf. EleutherAI's delphi and Scaling Monosemanticity), all on contexts the explainer never saw:

- **detection** — the judge reads a window *without* highlighting and says whether it contains what the
  explanation describes. Items: activating contexts drawn evenly across the unit's activation quantiles,
  and as many non-activating ones, half of them *hard* negatives (a decoder neighbour fires there, the
  unit does not). Score: balanced accuracy (0.5 = chance).
- **fuzzing** — activating windows with tokens marked; in half of them the marks are on the tokens that
  activate the unit, in the other half on as many random non-activating tokens. The judge says whether the
  marked tokens are what the explanation describes. Score: balanced accuracy.
- **specificity** — the paper's 0–3 rubric on one highlighted token, over samples spread over activation
  levels (linear buckets of the unit's maximum) *including zero*. Score: mean rubric over the active
  samples; the silent samples' mean and the area under the ROC curve (active vs silent) are reported
  beside it, and the distribution per activation level is plotted.

**Control**: the same items judged against *another unit's explanation* in the same run. Each score has its
n and a 95% bootstrap interval (items resampled within their strata: positives/negatives, or
active/silent), and so does the control. A score is written only when the judge is informative: its
answers vary, most of them parse, and the real explanation beats the control (the lower end of the 95%
interval of the paired difference real − control is above 0). Otherwise the record says
``"uninformative": true`` with the reason, and holds no score. A unit with too few activating contexts
for a score gets ``"insufficient": true`` and no score either.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .scan import Scan, Window, quantile_sample

RUBRIC = ("0 = the explanation is irrelevant throughout the context; "
          "1 = related to the context but not near the highlighted token, or only vaguely; "
          "2 = loosely related to the highlighted text or to text near it; "
          "3 = cleanly identifies the highlighted (activating) text.")
SPEC_SYSTEM = ("You rate how well an explanation of a language-model feature describes one highlighted "
               "token in context. Answer with a single digit 0, 1, 2 or 3.")
DETECT_SYSTEM = ("You decide whether a text excerpt contains what an explanation of a language-model feature "
                 "describes. Answer Yes or No.")
FUZZ_SYSTEM = ("Some tokens of a text excerpt are marked <<like this>>. You decide whether the marked tokens "
               "are what an explanation of a language-model feature describes. Answer Yes or No.")
SCORERS = ("detection", "fuzzing", "specificity")


@dataclass
class ScoreConfig:
    """Set sizes and statistics of the three scorers (full size by default; `ExplainConfig.quick` is small)."""

    n_detection: int = 50          # activating contexts, and as many non-activating ones
    hard_frac: float = 0.5         # of the non-activating ones: hard negatives from decoder neighbours
    n_neighbours: int = 8          # decoder neighbours a hard negative may come from
    n_fuzzing: int = 50            # activating contexts; half correctly marked, half randomly
    highlight_frac: float = 0.2    # a token counts as activating at ≥ this fraction of the window's peak
    n_specificity: int = 100       # single-token samples
    zero_frac: float = 0.2         # of them, tokens where the unit is silent
    n_levels: int = 5              # linear activation buckets of the specificity samples (and the plot)
    n_quantiles: int = 5           # activation quantiles the activating contexts are drawn across
    items_per_prompt: int = 1      # items judged in one prompt (API judges: fewer, longer calls)
    left: int = 16                 # tokens shown left / right of the token of interest
    right: int = 6
    n_boot: int = 2000
    min_parsed: float = 0.5        # below this fraction of parsed answers the judge is uninformative
    scorers: tuple[str, ...] = SCORERS

    def __post_init__(self) -> None:
        bad = [s for s in self.scorers if s not in SCORERS]
        if bad:
            raise ValueError(f"unknown scorer(s) {bad}; choose from {', '.join(SCORERS)}")
        self.scorers = tuple(self.scorers)
        if min(self.n_detection, self.n_fuzzing, self.n_specificity) < 2:
            raise ValueError("each scorer needs at least 2 items")
        if self.items_per_prompt < 1:
            raise ValueError("items_per_prompt must be ≥ 1")


# ---- rendering and parsing ------------------------------------------------------------------------------
def clean_token(tok: str) -> str:
    return tok.replace("\n", "↵").replace("<<", "‹‹").replace(">>", "››")


def render_marked(tokens: Sequence[str], marks: Sequence[int] | set[int] = ()) -> str:
    """Text of a window with the tokens at `marks` written <<like this>> (leading space kept outside)."""
    marks = set(marks)
    out = []
    for j, t in enumerate(tokens):
        t = clean_token(t)
        if j in marks:
            core = t.lstrip(" ")
            out.append(t[:len(t) - len(core)] + "<<" + core + ">>")
        else:
            out.append(t)
    return "".join(out)


_RUBRIC_WORDS = (("cleanly", 3), ("loosely", 2), ("vaguely", 1), ("not near", 1), ("irrelevant", 0))


def parse_digit(text: str) -> int | None:
    """The judge's 0–3 score: the first digit, else the rubric phrase it echoed (small models paraphrase)."""
    m = re.search(r"[0-3]", text)
    if m:
        return int(m.group(0))
    low = text.lower()
    hits = [(low.find(w), s) for w, s in _RUBRIC_WORDS if w in low]
    return min(hits)[1] if hits else None


def parse_yes_no(text: str) -> bool | None:
    m = re.search(r"\b(yes|no)\b", text.strip().lower())
    return None if m is None else m.group(1) == "yes"


def parse_list(text: str, k: int, one: Callable[[str], Any]) -> list[Any]:
    """k answers from a batched reply: numbered lines ('2: Yes'), else the first k answers in order."""
    if k == 1:
        return [one(text)]
    got: dict[int, Any] = {}
    for m in re.finditer(r"(?m)^\s*(\d+)\s*[:.)\-]\s*(.+)$", text):
        i = int(m.group(1)) - 1
        if 0 <= i < k and i not in got:
            got[i] = one(m.group(2))
    if got:
        return [got.get(i) for i in range(k)]
    words = re.findall(r"\b(yes|no|[0-3])\b", text.lower())
    seq = [one(w) for w in words]
    return seq[:k] if len(seq) >= k else [got.get(i) for i in range(k)]


# ---- items ----------------------------------------------------------------------------------------------
@dataclass
class Item:
    window: Window
    label: bool = False            # detection: activating context; fuzzing: correctly marked
    marks: list[int] = field(default_factory=list)
    kind: str = ""                 # "active" | "random" | "hard" | "correct" | "wrong" | "level" | "zero"


def _marks_active(w: Window, frac: float) -> list[int]:
    peak = max(w.acts) if w.acts else 0.0
    return [j for j, a in enumerate(w.acts) if peak > 0 and a >= frac * peak]


def detection_items(scan: Scan, unit: int, neighbours: Sequence[int], cfg: ScoreConfig,
                    rng: np.random.Generator) -> tuple[list[Item] | None, str]:
    act = scan.active(unit, "score")
    need = cfg.n_detection
    if len(act) < need:
        return None, (f"only {len(act)} activating contexts among the {int(scan.score_mask.sum()):,} scored "
                      f"contexts (detection needs {need})")
    silent = scan.silent(unit, "score")
    if len(silent) < need:
        return None, (f"only {len(silent)} contexts where it is silent among the {int(scan.score_mask.sum()):,} "
                      f"scored (detection needs {need}): it fires almost everywhere")
    pos = act[quantile_sample(scan.cmax[act, scan.col[unit]], need, cfg.n_quantiles, rng)]
    items = [Item(scan.window(int(i), unit, left=cfg.left, right=cfg.right), True, kind="active") for i in pos]
    n_hard = int(round(cfg.hard_frac * need))
    hard: list[tuple[int, int]] = []                       # (context idx, neighbour)
    nb = [v for v in neighbours if v in scan.col]
    if n_hard and nb:
        nb_max = scan.cmax[silent][:, [scan.col[v] for v in nb]]       # [silent, neighbours]
        best = nb_max.argmax(1)
        cand = np.nonzero(nb_max.max(1) > 0)[0]
        cand = rng.permutation(cand)[:n_hard]
        hard = [(int(silent[c]), nb[int(best[c])]) for c in cand]
    used = {c for c, _ in hard}
    for c, v in hard:
        w = scan.window(c, unit, center=int(scan.carg[c, scan.col[v]]), left=cfg.left, right=cfg.right)
        items.append(Item(w, False, kind="hard"))
    rest = rng.permutation([int(c) for c in silent if int(c) not in used])[:need - len(hard)]
    for c in rest:
        centre = int(rng.integers(1, scan.L))
        items.append(Item(scan.window(int(c), unit, center=centre, left=cfg.left, right=cfg.right), False,
                          kind="random"))
    order = rng.permutation(len(items))
    return [items[i] for i in order], ""


def fuzzing_items(scan: Scan, unit: int, cfg: ScoreConfig, rng: np.random.Generator
                  ) -> tuple[list[Item] | None, str]:
    act = scan.active(unit, "score")
    need = cfg.n_fuzzing
    if len(act) < need:
        return None, (f"only {len(act)} activating contexts among the {int(scan.score_mask.sum()):,} scored "
                      f"contexts (fuzzing needs {need})")
    pick = act[quantile_sample(scan.cmax[act, scan.col[unit]], need, cfg.n_quantiles, rng)]
    items = []
    correct = set(rng.permutation(len(pick))[:need // 2].tolist())
    for j, i in enumerate(pick):
        w = scan.window(int(i), unit, left=cfg.left, right=cfg.right)
        marks = _marks_active(w, cfg.highlight_frac)
        if j in correct:
            items.append(Item(w, True, marks, "correct"))
            continue
        zero = [p for p, a in enumerate(w.acts) if a <= 0]
        pool = zero if len(zero) >= len(marks) else [p for p in range(len(w.ids)) if p not in marks]
        wrong = sorted(rng.permutation(pool)[:len(marks)].tolist()) if pool else []
        items.append(Item(w, False, [int(p) for p in wrong], "wrong"))
    return items, ""


def specificity_items(scan: Scan, unit: int, neighbours: Sequence[int], cfg: ScoreConfig,
                      rng: np.random.Generator) -> tuple[list[Item] | None, str]:
    n_zero = max(1, int(round(cfg.zero_frac * cfg.n_specificity)))
    n_active = cfg.n_specificity - n_zero
    act = scan.active(unit, "score")
    col = scan.col[unit]
    if len(act) == 0:
        return None, "it never fires in the scored contexts"
    # candidate active tokens: every active position of (up to) 4× as many contexts as needed, chosen
    # across the quantiles of the context maxima
    ctx = act[quantile_sample(scan.cmax[act, col], min(len(act), 4 * n_active), cfg.n_quantiles, rng)]
    scan.fetch(ctx)
    cand = [(int(c), int(p), float(a)) for c in ctx for p, a in enumerate(scan.token_acts(int(c), unit))
            if p > 0 and a > 0]
    if len(cand) < n_active:
        return None, (f"only {len(cand)} active tokens in the scored contexts (specificity needs {n_active} "
                      f"active samples)")
    mx = max(a for _, _, a in cand)
    level = np.minimum(cfg.n_levels - 1, (np.array([a for _, _, a in cand]) / mx * cfg.n_levels).astype(int))
    pick = quantile_groups(level, n_active, cfg.n_levels, rng)
    items = []
    for k in pick:
        c, p, _ = cand[k]
        items.append(Item(scan.window(c, unit, center=p, left=cfg.left, right=cfg.right), kind="level"))
    # silent tokens: half in contexts where the unit is silent (random or where a neighbour fires),
    # half at silent positions of contexts where it fires elsewhere
    silent = scan.silent(unit, "score")
    zeros: list[tuple[int, int]] = []
    for c in rng.permutation(silent)[:n_zero - n_zero // 2]:
        zeros.append((int(c), int(rng.integers(1, scan.L))))
    inside = [(int(c), p) for c in ctx for p, a in enumerate(scan.token_acts(int(c), unit)) if p > 0 and a <= 0]
    for j in rng.permutation(len(inside))[:n_zero - len(zeros)]:
        zeros.append(inside[int(j)])
    for c, p in zeros:
        items.append(Item(scan.window(c, unit, center=p, left=cfg.left, right=cfg.right), kind="zero"))
    for it in items:
        it.marks = [it.window.pos]
    order = rng.permutation(len(items))
    return [items[i] for i in order], ""


def quantile_groups(level: np.ndarray, n: int, n_levels: int, rng: np.random.Generator) -> np.ndarray:
    """n indices spread evenly over the discrete `level`s present (a sparse level gives all it has)."""
    groups = [np.nonzero(level == b)[0] for b in range(n_levels)]
    groups = [rng.permutation(g) for g in groups if len(g)]
    out: list[int] = []
    while len(out) < n and any(len(g) for g in groups):
        for j, g in enumerate(groups):
            if len(out) < n and len(g):
                out.append(int(g[0]))
                groups[j] = g[1:]
    return np.asarray(out, dtype=np.int64)


# ---- prompts --------------------------------------------------------------------------------------------
def prompts(scorer: str, explanation: str, items: Sequence[Item], token_text: Callable[[Sequence[int]], list[str]],
            per_prompt: int) -> list[list[dict]]:
    """Judge conversations for `items`, `per_prompt` items each."""
    out = []
    for s in range(0, len(items), per_prompt):
        chunk = items[s:s + per_prompt]
        texts = [render_marked(token_text(it.window.ids), it.marks if scorer != "detection" else ())
                 for it in chunk]
        if scorer == "detection":
            system, q1, qk = DETECT_SYSTEM, "Does the text contain what the explanation describes? Answer Yes or No.", \
                "For each text: does it contain what the explanation describes?"
        elif scorer == "fuzzing":
            system, q1, qk = FUZZ_SYSTEM, "Are the marked tokens what the explanation describes? Answer Yes or No.", \
                "For each text: are the marked tokens what the explanation describes?"
        else:
            system, q1, qk = SPEC_SYSTEM, f"Rubric: {RUBRIC}\nScore (0-3):", \
                f"Rubric: {RUBRIC}\nScore each text's highlighted token (0-3)."
        if len(chunk) == 1:
            user = f"Explanation: {explanation}\n\nText: {texts[0]}\n\n{q1}"
        else:
            body = "\n".join(f"{j + 1}. {t}" for j, t in enumerate(texts))
            fmt = "'1: 3'" if scorer == "specificity" else "'1: Yes'"
            user = (f"Explanation: {explanation}\n\nTexts:\n{body}\n\n{qk} Answer with one line per text, "
                    f"like {fmt}.")
        out.append([{"role": "system", "content": system}, {"role": "user", "content": user}])
    return out


def parse_replies(scorer: str, replies: Sequence[str], n_items: int, per_prompt: int) -> list[Any]:
    one = parse_digit if scorer == "specificity" else parse_yes_no
    answers: list[Any] = []
    for r, s in zip(replies, range(0, n_items, per_prompt)):
        answers.extend(parse_list(r, min(per_prompt, n_items - s), one))
    return answers


# ---- statistics -----------------------------------------------------------------------------------------
def _balanced_accuracy(ans: np.ndarray, lab: np.ndarray) -> float:
    return float((ans[lab].mean() + (1 - ans[~lab]).mean()) / 2)


def _auroc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    from scipy.stats import mannwhitneyu

    a, b = scores[positive], scores[~positive]
    if not len(a) or not len(b):
        return None
    u = mannwhitneyu(a, b, alternative="two-sided").statistic
    return float(u / (len(a) * len(b)))


def _boot(stat: Callable[[np.ndarray], tuple[float, float]], strata: Sequence[np.ndarray], n_boot: int,
          seed: int) -> np.ndarray:
    """[n_boot, 2] of stat(resampled index array) → (real, control), items resampled within strata."""
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, 2))
    for b in range(n_boot):
        idx = np.concatenate([s[rng.integers(0, len(s), len(s))] for s in strata if len(s)])
        out[b] = stat(idx)
    return out


def _ci(x: np.ndarray) -> list[float]:
    lo, hi = np.nanpercentile(x, [2.5, 97.5])
    return [round(float(lo), 4), round(float(hi), 4)]


def verdict(scorer: str, items: Sequence[Item], real: Sequence[Any], control: Sequence[Any] | None,
            control_of: int | None, cfg: ScoreConfig, seed: int = 0) -> dict[str, Any]:
    """The scorer's record: score, n, ci and control — or "uninformative" with the reason. `control` None:
    the control was not run (a judge without variance is uninformative whatever the control gets)."""
    n_total = len(items)
    if control is None:
        vals = [x for x in real if x is not None]
        n = len(vals)
        rec0: dict[str, Any] = {"n": n, "n_unparsed": n_total - n, "uninformative": True,
                                "control": {"score": None, "explanation_of": control_of, "not_run": True}}
        if n < cfg.min_parsed * n_total or n < 2:
            return {**rec0, "reason": f"the judge's answers could be parsed for only {n} of {n_total} items"}
        return {**rec0, "reason": f"the judge gave the same answer ({_answer_word(scorer, float(vals[0]))}) to all "
                                  f"{n} items (control not run)"}
    ok = np.array([r is not None and c is not None for r, c in zip(real, control)], dtype=bool)
    n = int(ok.sum())
    rec: dict[str, Any] = {"n": n, "n_unparsed": n_total - n}
    if n < cfg.min_parsed * n_total or n < 2:
        return {**rec, "uninformative": True,
                "reason": f"the judge's answers could be parsed for only {n} of {n_total} items"}
    r = np.array([float(x) for x, k in zip(real, ok) if k])
    c = np.array([float(x) for x, k in zip(control, ok) if k])
    kept = [it for it, k in zip(items, ok) if k]
    if scorer == "specificity":
        pos = np.array([it.kind == "level" for it in kept])
        if not pos.any() or pos.all():
            return {**rec, "uninformative": True, "reason": "the parsed answers lack active or silent samples"}

        def stat(idx):
            p = pos[idx]
            return float(r[idx][p].mean()), float(c[idx][p].mean())

        strata = [np.nonzero(pos)[0], np.nonzero(~pos)[0]]
        real_score, ctrl_score = stat(np.arange(len(r)))
        extra = {"zero": round(float(r[~pos].mean()), 4), "auroc": _round(_auroc(r, pos)),
                 "n_active": int(pos.sum()), "n_zero": int((~pos).sum()),
                 "by_level": by_level(kept, r, cfg.n_levels)}
        ctrl_extra = {"zero": round(float(c[~pos].mean()), 4), "auroc": _round(_auroc(c, pos))}
        chance = None
    else:
        lab = np.array([it.label for it in kept])
        if not lab.any() or lab.all():
            return {**rec, "uninformative": True, "reason": "the parsed answers lack positive or negative items"}

        def stat(idx):
            lb = lab[idx]
            if not lb.any() or lb.all():
                return float("nan"), float("nan")
            return _balanced_accuracy(r[idx], lb), _balanced_accuracy(c[idx], lb)

        strata = [np.nonzero(lab)[0], np.nonzero(~lab)[0]]
        real_score, ctrl_score = stat(np.arange(len(r)))
        extra = {"recall": round(float(r[lab].mean()), 4), "false_positive_rate": round(float(r[~lab].mean()), 4)}
        if scorer == "detection":
            kinds = np.array([it.kind for it in kept])
            extra["fpr_hard"] = _round(float(r[kinds == "hard"].mean()) if (kinds == "hard").any() else None)
            extra["fpr_random"] = _round(float(r[kinds == "random"].mean()) if (kinds == "random").any() else None)
            extra["n_hard"] = int((kinds == "hard").sum())
        ctrl_extra = {}
        chance = 0.5
    boots = _boot(stat, strata, cfg.n_boot, seed)
    diff = boots[:, 0] - boots[:, 1]
    control = {"score": round(ctrl_score, 4), "ci": _ci(boots[:, 1]), "explanation_of": control_of, **ctrl_extra}
    rec["control"] = control
    if chance is not None:
        rec["chance"] = chance
    distinct = sorted({float(x) for x in r})
    if len(distinct) == 1:
        return {**rec, "uninformative": True,
                "reason": f"the judge gave the same answer ({_answer_word(scorer, distinct[0])}) to all {n} items"}
    lo = float(np.nanpercentile(diff, 2.5))
    if not lo > 0:
        return {**rec, "uninformative": True, "difference_ci": _ci(diff),
                "reason": (f"the real explanation does not beat another unit's explanation on the same items: "
                           f"{real_score:.3f} vs control {ctrl_score:.3f}, 95% interval of the difference "
                           f"[{lo:.3f}, {float(np.nanpercentile(diff, 97.5)):.3f}] reaches 0")}
    return {"score": round(real_score, 4), **rec, "ci": _ci(boots[:, 0]), "difference_ci": _ci(diff),
            "uninformative": False, **extra}


def _answer_word(scorer: str, v: float) -> str:
    if scorer == "specificity":
        return f"{v:g}"
    return {1.0: "yes", 0.0: "no"}.get(float(v), f"{v:g}")


def by_level(items: Sequence[Item], scores: np.ndarray, n_levels: int) -> list[float | None]:
    """Mean rubric score per activation level: silent first, then the linear buckets of the max."""
    acts = np.array([it.window.act for it in items])
    mx = acts.max() if len(acts) and acts.max() > 0 else 1.0
    lv = np.where(acts <= 0, 0, 1 + np.minimum(n_levels - 1, (acts / mx * n_levels).astype(int)))
    return [_round(float(scores[lv == b].mean())) if (lv == b).any() else None for b in range(n_levels + 1)]


def _round(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 4)
