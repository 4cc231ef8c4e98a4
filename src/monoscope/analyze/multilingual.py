"""Multilingual features: features that fire on the same passage in several languages of a parallel text.

The embedded corpus holds the Debian Administrator's Handbook in eight languages, page for page and
paragraph for paragraph (the same number of paragraphs per page). A *passage* is one paragraph index of one
page, kept when at least `min_languages` of its translations differ from the English (translations are
partly unfinished upstream, so some paragraphs are English in every language).

Each paragraph is encoded on its own (first token and sinks excluded, as everywhere). Tokens that also
occur in the English version of the passage (command names, paths, package names) are left out of the
non-English versions by default: a feature for `apt-get` firing in every language is not a multilingual
*concept*. A feature is active on a passage in a language when its peak there exceeds `threshold` × its
corpus max; it is *multilingual on the passage* when active in ≥ `min_languages` languages (two or more of
them non-English), and *selective* when it is active on at most `max_share` of all passages in every
language (a feature that fires everywhere is not about the passage).

Control: the same count with the alignment broken — each language's passages permuted independently, which
keeps every feature's per-language firing rate — averaged over `n_shuffles` permutations. What the real
count exceeds the shuffled one by is what alignment (the shared meaning) explains.
"""
from __future__ import annotations

import zlib
from collections import defaultdict
from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from .common import AnalysisError, Workbench, table

LANGS = ("en-US", "de-DE", "fr-FR", "es-ES", "pt-BR", "ru-RU", "ja-JP", "zh-CN")


@dataclass
class MultilingualConfig:
    min_languages: int = 3
    threshold: float = 0.2          # active: peak ≥ this × the feature's corpus max
    max_share: float = 0.2          # selective: active on at most this share of passages in every language
    max_passages: int = 120         # passages kept (a seeded sample when there are more)
    max_chars: int = 600
    exclude_shared_tokens: bool = True
    n_shuffles: int = 20
    seed: int = 0


def parallel_passages(cfg: MultilingualConfig, corpus: str = "default:debian-handbook") -> list[dict[str, str]]:
    """[{lang: paragraph}] aligned by (page, paragraph index); pages whose paragraph counts differ between
    languages are skipped, and a passage needs ≥ `min_languages` versions that are not the English text."""
    from ..corpus import iter_documents

    pages: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for d in iter_documents(corpus):
        parts = d.id.split("/")
        if len(parts) < 3 or parts[1] not in LANGS:
            continue
        page = "/".join(parts[2:])
        pages[page][parts[1]] = [p.strip() for p in d.text.split("\n\n")]
    out = []
    for page in sorted(pages):
        by_lang = pages[page]
        if "en-US" not in by_lang:
            continue
        n = len(by_lang["en-US"])
        langs = [lang for lang in LANGS if lang in by_lang and len(by_lang[lang]) == n]
        for j in range(n):
            en = by_lang["en-US"][j]
            if len(en) < 60:
                continue  # headings and one-liners carry too little
            row = {"en-US": en[:cfg.max_chars]}
            for lang in langs:
                t = by_lang[lang][j]
                if lang != "en-US" and t != en and len(t) >= 20:
                    row[lang] = t[:cfg.max_chars]
            if len(row) >= cfg.min_languages:
                row["_id"] = f"{page}#{j}"
                out.append(row)
    if len(out) > cfg.max_passages:
        keyed = sorted(out, key=lambda r: zlib.crc32(f"{cfg.seed}:{r['_id']}".encode()))
        out = sorted(keyed[:cfg.max_passages], key=lambda r: r["_id"])
    if not out:
        raise AnalysisError(f"no parallel passages in {corpus!r} with ≥ {cfg.min_languages} translated versions")
    return out


def passage_peaks(wb: Workbench, passages: list[dict[str, str]], cfg: MultilingualConfig,
                  progress: bool = True) -> dict[str, np.ndarray]:
    """{lang: [n_passages, n_latents]} peak activation relative to the corpus max (NaN: no version)."""
    ma = wb.db.max_acts().float().clamp_min(1e-12)
    n = wb.n_latents
    langs = [lang for lang in LANGS if any(lang in p for p in passages)]
    out = {lang: np.full((len(passages), n), np.nan, np.float32) for lang in langs}
    for i, p in enumerate(tqdm(passages, desc="multilingual", disable=not progress)):
        en_ids = set(wb.search.tokenize(p["en-US"])) if cfg.exclude_shared_tokens else set()
        for lang in langs:
            if lang not in p:
                continue
            enc = wb.search.encode(p[lang])
            f = enc.acts
            if lang != "en-US" and en_ids:
                shared = torch.tensor([t in en_ids for t in enc.ids])
                f = f.masked_fill(shared[:, None], 0.0)
            out[lang][i] = (f.max(0).values / ma).numpy()
    return out


def count_multilingual(active: dict[str, np.ndarray], cfg: MultilingualConfig,
                       perms: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per feature: number of passages on which it is multilingual, and a selectivity mask.

    `active[lang]` is a boolean [n_passages, n_latents] (False where the language has no version);
    `perms[lang]` reorders a language's passages (the unaligned control)."""
    langs = list(active)
    n_pass, n = next(iter(active.values())).shape
    share = np.stack([a.mean(0) for a in active.values()])        # [L, n] firing rate per language
    selective = (share <= cfg.max_share).all(0) & (share > 0).any(0)
    a = {lang: (active[lang][perms[lang]] if perms is not None else active[lang]) for lang in langs}
    n_lang = sum(a[lang].astype(np.int32) for lang in langs)        # [P, n]
    n_foreign = sum(a[lang].astype(np.int32) for lang in langs if lang != "en-US")
    multi = (n_lang >= cfg.min_languages) & (n_foreign >= 2)
    return multi.sum(0), selective


def run_multilingual(wb: Workbench, cfg: MultilingualConfig | None = None, progress: bool = True) -> dict:
    cfg = cfg or MultilingualConfig()
    wb.need_db("the multilingual analysis (activation relative to each feature's max)")
    passages = parallel_passages(cfg)
    peaks = passage_peaks(wb, passages, cfg, progress)
    active = {lang: np.nan_to_num(v, nan=0.0) >= cfg.threshold for lang, v in peaks.items()}
    counts, selective = count_multilingual(active, cfg)
    real = int(((counts > 0) & selective).sum())
    real_pairs = int((counts * selective).sum())
    rng = np.random.default_rng(cfg.seed)
    shuf, shuf_pairs = [], []
    for _ in range(cfg.n_shuffles):
        perms = {lang: rng.permutation(len(passages)) for lang in active}
        c, _ = count_multilingual(active, cfg, perms)
        shuf.append(int(((c > 0) & selective).sum()))
        shuf_pairs.append(int((c * selective).sum()))
    feats = np.nonzero((counts > 0) & selective)[0]
    feats = feats[np.argsort(-counts[feats], kind="stable")]
    texts = wb.feature_text(feats[:12].tolist())
    examples = []
    for f in feats[:12]:
        f = int(f)
        where = [i for i in range(len(passages)) if sum(active[lang][i, f] for lang in active) >= cfg.min_languages]
        i = where[0]
        langs = [lang for lang in active if active[lang][i, f]]
        examples.append({"feature": f, "text": texts.get(f, ""), "passages": len(where), "languages": langs,
                         "passage": passages[i]["_id"], "english": passages[i]["en-US"][:160]})
    n_lang_versions = {lang: int(sum(lang in p for p in passages)) for lang in active}
    mean_s, sd_s = float(np.mean(shuf)), float(np.std(shuf))
    lines = [f"{len(passages)} aligned handbook passages ({', '.join(f'{k} {v}' for k, v in n_lang_versions.items())}); "
             f"a feature counts when it peaks at ≥ {cfg.threshold:g}× its max on the same passage in ≥ "
             f"{cfg.min_languages} languages (≥ 2 non-English), tokens shared with the English version left out, "
             f"and fires on ≤ {cfg.max_share:.0%} of passages in every language.",
             f"multilingual features: {real} aligned vs {mean_s:.1f} ± {sd_s:.1f} with passages shuffled "
             f"within each language (control, {cfg.n_shuffles} shuffles); (feature, passage) pairs {real_pairs} vs "
             f"{np.mean(shuf_pairs):.1f}."]
    return {"settings": {**asdict(cfg), "n_passages": len(passages), "versions": n_lang_versions},
            "summary": lines,
            "tables": {"multilingual features (aligned vs shuffled passages)": table(
                ["", "features", "(feature, passage) pairs"],
                [["aligned passages", real, real_pairs],
                 [f"shuffled (mean ± sd of {cfg.n_shuffles})", f"{mean_s:.1f} ± {sd_s:.1f}",
                  f"{np.mean(shuf_pairs):.1f} ± {np.std(shuf_pairs):.1f}"]]),
                "examples": table(["feature", "feature text", "passages", "languages (first passage)", "passage",
                                   "English text"],
                                  [[e["feature"], e["text"], e["passages"], " ".join(e["languages"]), e["passage"],
                                    e["english"]] for e in examples])},
            "counts": {"aligned": real, "shuffled": shuf, "aligned_pairs": real_pairs, "shuffled_pairs": shuf_pairs},
            "examples": examples,
            "features": {str(e["feature"]): f"multilingual: fires on handbook passage {e['passage']} in "
                                            f"{', '.join(e['languages'])} ({e['passages']} passages in ≥ "
                                            f"{cfg.min_languages} languages)" for e in examples}}


def plot_multilingual(result: dict):
    from .common import figure

    fig, (ax,) = figure(1)
    shuf = result["counts"]["shuffled"]
    ax.hist(shuf, bins=max(5, len(set(shuf))), color="#999999", label="passages shuffled within each language")
    ax.axvline(result["counts"]["aligned"], color="#e4572e", lw=2, label="aligned passages")
    ax.set_xlabel("selective features firing on one passage in ≥ 3 languages")
    ax.set_ylabel("shuffles")
    ax.legend(fontsize=8)
    return fig
