"""`monoscope steer` and `monoscope attribute`."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


MODEL_HELP = "model (default: the one the SAE's cfg names)"
HOOK_HELP = "hook point to splice the SAE in at (default: the one the SAE's cfg names)"


def _steerer(model: str | None, sae: str, features: Path | None, device: str, hook: str | None = None):
    """The model the SAE was trained on (unless --model says otherwise), with the SAE spliced in at its hook."""
    import torch

    from ..sae import check_model, load_sae
    from ..models import load
    from .splice import SpliceError, Steerer

    sae_obj = load_sae(sae, device=device)
    model = model or getattr(getattr(sae_obj, "cfg", None), "model", None)
    if not model:
        raise SpliceError(f"the SAE {sae} does not name the model it was trained on (cfg.model); pass --model")
    lm = load(model, device=device)
    check_model(sae_obj, lm)
    max_acts = None
    if features is not None:
        from ..features.db import FeatureDB
        fdb = FeatureDB(features)
        fdb.check_sae(sae_obj)
        max_acts = torch.as_tensor(fdb.max_acts(), dtype=torch.float32)
    return Steerer(lm, sae_obj, hook=hook, max_acts=max_acts)


def _parse_clamps(specs: list[str]) -> list[tuple[int, float]]:
    out = []
    for s in specs:
        feat, sep, val = s.partition("=")
        if not sep:
            raise typer.BadParameter(f"clamp {s!r} must look like FEATURE=VALUE, e.g. 1234=10")
        out.append((int(feat), float(val)))
    return out


def register(app: typer.Typer) -> None:
    @app.command()
    def steer(prompt: str = typer.Argument(...),
              clamp: list[str] = typer.Option(..., "--clamp", help="FEATURE=VALUE; VALUE in units of the feature's "
                                                                   "max activation when --features is given"),
              sae: str = typer.Option(..., help="SAE: a directory in any layout, saelens:RELEASE/SAE_ID or hf:ORG/REPO (or hf:ORG/REPO/PATH)"),
              model: str = typer.Option(None, help=MODEL_HELP),
              hook: str = typer.Option(None, help=HOOK_HELP),
              features: Path = typer.Option(None, help="feature database (gives the max-activation unit)"),
              max_new_tokens: int = typer.Option(48), chat: bool = typer.Option(True),
              temperature: float = typer.Option(0.0), seed: int = typer.Option(0),
              device: str = typer.Option("cpu"),
              progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bars for generation")
              ) -> None:
        """Generate with features clamped (error term kept), beside the unsteered output."""
        from .interventions import clamp as make_clamp

        st = _steerer(model, sae, features, device, hook)
        edits = [make_clamp(f, v) for f, v in _parse_clamps(clamp)]
        plain, steered = st.compare(prompt, edits, max_new_tokens=max_new_tokens, chat=chat,
                                    temperature=temperature, seed=seed, progress=progress)
        t = Table(show_lines=True)
        t.add_column("unsteered")
        t.add_column("steered: " + ", ".join(clamp))
        t.add_row(plain, steered)
        console.print(t)

    @app.command()
    def attribute(prompt: str = typer.Argument(...), good: str = typer.Option(..., help="token whose logit goes up"),
                  bad: str = typer.Option(..., help="token whose logit goes down"),
                  sae: str = typer.Option(..., help="SAE: a directory in any layout, saelens:RELEASE/SAE_ID or "
                                                    "hf:ORG/REPO (or hf:ORG/REPO/PATH)"),
                  model: str = typer.Option(None, help=MODEL_HELP), hook: str = typer.Option(None, help=HOOK_HELP),
                  features: Path = typer.Option(None, help="the SAE's feature database, for feature text "
                                                           "(default: found beside the SAE)"),
                  top: int = typer.Option(20, help="rows shown (the top features by |attribution|)"),
                  ablate: int = typer.Option(48, help="features ablated to measure the correlations: a third by "
                                                      "|attribution|, a third by activation, the rest at random"),
                  device: str = typer.Option("cpu")) -> None:
        """Attribute logit(good) − logit(bad) at the last token to SAE features; compare with true ablation."""
        from ..features.search import feature_text, find_feature_db
        from .attribution import attribute as run, logit_diff

        st = _steerer(model, sae, None, device, hook)
        db_path = features or (find_feature_db(sae, st.sae) if Path(sae).is_dir() else None)
        db = None
        if db_path is not None:
            from ..features.db import FeatureDB
            db = FeatureDB(db_path)
            db.check_sae(st.sae)
        tok = st.lm.tokenizer
        for t in (good, bad):
            if not tok(t, add_special_tokens=False).input_ids:
                raise typer.BadParameter(f"{t!r} has no tokens; give a token such as ' Paris'")
        ids = tok(prompt, return_tensors="pt").input_ids
        metric = logit_diff(tok, good, bad)
        sink = ((db.manifest.get("excluded") or {}).get("sink_norm") if db is not None else None)
        shown = run(st, ids, metric, top=top, sink_norm=sink)
        fair = run(st, ids, metric, top=max(ablate, 3), selection="balanced", sink_norm=sink)
        text = feature_text(shown.features.tolist(), st.lm, st.sae, db)
        t = Table(title=f"metric logit({good!r}) − logit({bad!r}) = {shown.metric_clean:.3f}")
        for c in ("feature", "text", "attribution", "ablation effect", "activation"):
            t.add_column(c, justify="left" if c == "text" else "right", overflow="fold")
        for r in shown.rows(top):
            t.add_row(str(r["feature"]), text.get(r["feature"], ""), f"{r['attribution']:.4f}",
                      "" if r["ablation"] is None else f"{-r['ablation']:.4f}", f"{r['activation']:.3f}")
        console.print(t)
        corr = fair.correlations()
        if corr:
            console.print(f"correlation with true ablation over {len(fair.features)} of the {fair.n_active} active "
                          f"features (chosen by neither score alone): attribution {corr['attribution']:.2f}, "
                          f"activation {corr['activation']:.2f} (paper: 0.81 and 0.12)")
        if db is None:
            console.print("(no feature database found beside the SAE: feature text is the tokens each feature "
                          "promotes; pass --features DB for its top examples)")
