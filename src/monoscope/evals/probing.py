"""Sparse probing (SAEBench, Gao et al. 2024): can k SAE latents do what a probe on the residual stream does?

For every task (`monoscope.evals.tasks`) and every class, one-vs-rest: passages are mean-pooled over their
tokens, once as SAE latents and once as raw residual-stream activations at the SAE's hook. On the training
half, the k inputs whose class means differ most (|mean(pos) − mean(neg)|, SAEBench's selection) are kept and a
logistic regression is fit on them; balanced accuracy (0.5 = chance) is measured on the held-out half and
averaged over the classes.
Reported side by side per task and k:
    sae@k        k SAE latents
    resid@k      k residual-stream dimensions (the same selection and probe)
    resid (all)  a dense probe on the whole residual stream (the ceiling)
    shuffled     sae@k with the training labels permuted (the chance level the others must beat)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .tasks import Task, build_tasks


@dataclass
class ProbeRow:
    task: str
    k: int
    n_classes: int
    n_test: int
    sae: float
    resid: float
    resid_all: float
    shuffled: float

    def as_dict(self) -> dict:
        return self.__dict__.copy()


@dataclass
class ProbingResult:
    rows: list[ProbeRow] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"rows": [r.as_dict() for r in self.rows]}


@torch.no_grad()
def pooled_features(lm, sae, hook: str, texts: list[str], max_tokens: int = 128,
                    batch: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(mean SAE latents [N, n], mean residual [N, d]) over each text's tokens (BOS excluded)."""
    tok = lm.tokenizer
    Z, R = [], []
    for i in range(0, len(texts), batch):
        for t in texts[i:i + batch]:
            ids = tok(t, return_tensors="pt", truncation=True, max_length=max_tokens).input_ids.to(lm.device)
            x = lm.hooked.run_to([hook], input_ids=ids)[hook][0].float()
            if tok.bos_token_id is not None and ids[0, 0] == tok.bos_token_id and len(x) > 1:
                x = x[1:]
            R.append(x.mean(0).cpu().numpy())
            Z.append(sae.encode(x).mean(0).cpu().numpy())
    return np.stack(Z), np.stack(R)


def k_sparse_accuracy(Xtr, ytr, Xte, yte, k: int | None, seed: int = 0) -> float:
    """Top-k inputs by class-mean difference on the training set, then logistic regression (binary)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if k is not None:
        diff = np.abs(Xtr[ytr == 1].mean(0) - Xtr[ytr == 0].mean(0))
        idx = np.argsort(-diff, kind="stable")[:k]
        Xtr, Xte = Xtr[:, idx], Xte[:, idx]
    sc = StandardScaler().fit(Xtr)
    clf = LogisticRegression(max_iter=2000, C=1.0, random_state=seed, class_weight="balanced")
    clf.fit(sc.transform(Xtr), ytr)
    pred = clf.predict(sc.transform(Xte))
    return balanced_accuracy(yte, pred)


def balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean of the true-positive and true-negative rates: 0.5 is chance for any class balance."""
    return float(0.5 * ((pred[y == 1] == 1).mean() + (pred[y == 0] == 0).mean()))


def run_probing(lm, sae, tasks: list[Task] | None = None, ks: tuple[int, ...] = (1, 5), seed: int = 0,
                progress: bool = True) -> ProbingResult:
    from tqdm.auto import tqdm

    hook = sae.cfg.hook
    tasks = tasks if tasks is not None else build_tasks(seed=seed)
    rng = np.random.default_rng(seed)
    out = ProbingResult()
    for task in tqdm(tasks, desc="sparse probing", disable=not progress):
        Z, R = pooled_features(lm, sae, hook, task.texts)
        labels = np.array(task.labels)
        perm = rng.permutation(len(labels))
        tr, te = perm[: len(perm) // 2], perm[len(perm) // 2:]
        for k in ks:
            acc = {"sae": [], "resid": [], "resid_all": [], "shuffled": []}
            for c in task.classes:
                y = (labels == c).astype(int)
                if y[tr].min() == y[tr].max() or y[te].min() == y[te].max():
                    continue
                acc["sae"].append(k_sparse_accuracy(Z[tr], y[tr], Z[te], y[te], k, seed))
                acc["resid"].append(k_sparse_accuracy(R[tr], y[tr], R[te], y[te], k, seed))
                acc["resid_all"].append(k_sparse_accuracy(R[tr], y[tr], R[te], y[te], None, seed))
                acc["shuffled"].append(k_sparse_accuracy(Z[tr], rng.permutation(y[tr]), Z[te], y[te], k, seed))
            out.rows.append(ProbeRow(task.name, k, len(task.classes), len(te),
                                     **{m: float(np.mean(v)) if v else float("nan") for m, v in acc.items()}))
    return out
