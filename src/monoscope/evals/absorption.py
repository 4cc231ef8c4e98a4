"""First-letter feature absorption (Chanin et al. 2024, "A is for Absorption"; SAEBench's absorption metric).

A token's first letter is linearly readable from the residual stream, so a logistic-regression probe learns
it; an SAE *should* have a latent for "starts with L". Absorption is when that latent stays silent on some
L-words because a more specific latent (e.g. "the word 'lion'") has absorbed the direction instead.

    1. Words: single-token vocabulary entries " word" (a leading space, then 2+ ASCII letters), their
       residual activation at the SAE's hook read in the prompt " word has the first letter:" (at the word).
    2. Probe: multinomial logistic regression on the residual, trained on half the words; its per-letter
       weight vector (in the raw activation space) is the letter direction p_L.
    3. Main latent of letter L: the latent whose activation best separates L-words from the rest on the
       training half (largest class-mean difference; SAEBench's k = 1 sparse probe). Its F1 on the test
       half says how good a first-letter feature the SAE has.
    4. On held-out L-words that the probe gets right but the main latent misses (false negatives), the word
       counts as *absorbed* when some active latent's decoder direction has cosine > `cos_min` with p_L and
       carries at least `share_min` of the word's reconstructed projection onto p_L.
    absorption(L) = absorbed / probe-correct held-out L-words; reported as the mean over letters.
Controls measured in the same run: the probe's own accuracy (the ceiling), and the absorption rate with
p_L replaced by a random direction (what the criterion finds by chance).
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class AbsorptionResult:
    n_words: int
    n_letters: int
    probe_accuracy: float           # residual-stream probe on held-out words (26-way where present)
    main_latent_f1: float           # mean over letters of the main latent's F1
    absorption: float               # mean over letters of the absorbed fraction
    false_negative_rate: float      # probe-correct held-out L-words the main latent misses
    absorption_random_dir: float    # control: the same criterion with random probe directions
    per_letter: dict[str, dict] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def first_letter_words(tokenizer, min_len: int = 3, max_words: int = 2600, seed: int = 0) -> list[tuple[int, str]]:
    """(token id, word) for vocabulary tokens that are a space followed by ASCII letters only."""
    out = []
    for tid in range(len(tokenizer)):
        s = tokenizer.decode([tid])
        if s.startswith(" ") and len(s) > min_len and s[1:].isascii() and s[1:].isalpha():
            out.append((tid, s[1:]))
    rng = np.random.default_rng(seed)
    rng.shuffle(out)
    return out[:max_words]


@torch.no_grad()
def word_activations(lm, hook: str, words: list[tuple[int, str]], batch: int = 64) -> torch.Tensor:
    tok = lm.tokenizer
    suffix = tok(" has the first letter:", add_special_tokens=False).input_ids
    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
    pos = len(bos)
    xs = []
    for i in range(0, len(words), batch):
        ids = torch.tensor([bos + [t] + suffix for t, _ in words[i:i + batch]], device=lm.device)
        xs.append(lm.hooked.run_to([hook], input_ids=ids)[hook][:, pos].float().cpu())
    return torch.cat(xs)


def run_absorption(lm, sae, cos_min: float = 0.025, share_min: float = 0.4, min_per_letter: int = 10,
                   seed: int = 0, max_words: int = 2600) -> AbsorptionResult:
    """The whole metric on a model: its vocabulary's words, their activations at the SAE's hook."""
    words = first_letter_words(lm.tokenizer, max_words=max_words, seed=seed)
    letters = np.array([w[0].lower() for _, w in words])
    keep = np.isin(letters, [c for c in string.ascii_lowercase if (letters == c).sum() >= 2 * min_per_letter])
    words, letters = [w for w, k in zip(words, keep) if k], letters[keep]
    if len(set(letters)) < 2:
        from ..errors import UserError
        raise UserError(f"{lm.name}'s vocabulary has too few ' word' tokens for the first-letter task")
    X = word_activations(lm, sae.cfg.hook, words)
    return absorption_from_activations(X, letters, sae, cos_min=cos_min, share_min=share_min, seed=seed)


def absorption_from_activations(X: torch.Tensor, letters: np.ndarray, sae, cos_min: float = 0.025,
                                share_min: float = 0.4, seed: int = 0) -> AbsorptionResult:
    """Steps 2–4 on given activations [N, d] and first letters [N]."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(letters))
    tr, te = perm[: len(perm) // 2], perm[len(perm) // 2:]
    mu, sd = X[tr].mean(0), X[tr].std(0).clamp_min(1e-6)
    clf = LogisticRegression(max_iter=3000, C=0.1, random_state=seed).fit(((X[tr] - mu) / sd).numpy(), letters[tr])
    pred = clf.predict(((X[te] - mu) / sd).numpy())
    probe_acc = float((pred == letters[te]).mean())
    dirs = torch.tensor(clf.coef_, dtype=torch.float32) / sd                    # raw-space letter directions
    dirs = dirs / dirs.norm(dim=1, keepdim=True)
    with torch.no_grad():
        F = sae.encode(X.to(next(sae.parameters()).device)).float().cpu()        # [N, n]
    W = sae.W_dec.detach().float().cpu()
    Wn = W / W.norm(dim=1, keepdim=True).clamp_min(1e-12)
    g = torch.Generator().manual_seed(seed)
    rand_dirs = torch.randn(dirs.shape, generator=g)
    rand_dirs = rand_dirs / rand_dirs.norm(dim=1, keepdim=True)
    per, f1s, abs_rates, fn_rates, rand_rates = {}, [], [], [], []
    for li, L in enumerate(clf.classes_):
        pos_tr = letters[tr] == L
        diff = F[tr][pos_tr].mean(0) - F[tr][~pos_tr].mean(0)
        main = int(diff.argmax())
        fires = F[te][:, main] > 0
        is_L = torch.from_numpy(letters[te] == L)
        tp = float((fires & is_L).sum())
        f1 = 2 * tp / max(1.0, float(fires.sum()) + float(is_L.sum()))
        cand = is_L & torch.from_numpy(pred == L) & ~fires                       # probe right, main latent silent
        base = is_L & torch.from_numpy(pred == L)
        def absorbed(direction: torch.Tensor) -> int:
            n = 0
            for j in torch.nonzero(cand).flatten().tolist():
                f = F[te][j]
                act = torch.nonzero(f > 0).flatten()
                if len(act) == 0:
                    continue
                contrib = f[act] * (W[act] @ direction)                         # each latent's projection on p_L
                total = float(contrib.clamp_min(0).sum())
                cos = Wn[act] @ direction
                ok = (cos > cos_min) & (contrib >= share_min * max(total, 1e-12))
                n += int(bool(ok.any()) and total > 0)
            return n
        nb = max(1, int(base.sum()))
        a, ar = absorbed(dirs[li]) / nb, absorbed(rand_dirs[li]) / nb
        per[L] = {"main_latent": main, "f1": f1, "absorption": a, "false_negatives": int(cand.sum()),
                  "probe_correct": int(base.sum()), "absorption_random_dir": ar}
        f1s.append(f1)
        abs_rates.append(a)
        fn_rates.append(float(cand.sum()) / nb)
        rand_rates.append(ar)
    return AbsorptionResult(n_words=len(letters), n_letters=len(per), probe_accuracy=probe_acc,
                            main_latent_f1=float(np.mean(f1s)), absorption=float(np.mean(abs_rates)),
                            false_negative_rate=float(np.mean(fn_rates)),
                            absorption_random_dir=float(np.mean(rand_rates)), per_letter=per)
