"""`monoscope analyze <analysis>`: one subcommand per analysis; each writes `<name>.json` + `<name>.png`
(by default into the feature database's `analyses/` folder, which the dashboard links) and prints its table."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()
app = typer.Typer(no_args_is_help=True, help="The paper's feature analyses on an SAE (concept steering, "
                                             "attribution, multilingual, splitting, completeness, safety "
                                             "features); each writes JSON + a plot the dashboard links.")


def print_result(result: dict, path: Path | None = None) -> None:
    for line in result.get("summary", []):
        console.print(line)
    for title, t in (result.get("tables") or {}).items():
        tab = Table(title=title, show_lines=False)
        for c in t["columns"]:
            tab.add_column(str(c), overflow="fold")
        for r in t["rows"]:
            tab.add_row(*["" if v is None else str(v) for v in r])
        console.print(tab)
    ex = result.get("example")
    if ex:
        tab = Table(title=f"{ex['concept']}: feature {ex['feature']} clamped — the largest coherent shift "
                          f"(prompt: {ex['prompt']!r})", show_lines=True)
        for c in ("unsteered", "concept feature clamped", "diff of means (same norm)"):
            tab.add_column(c)
        tab.add_row(ex["unsteered"], ex["steered"], ex["diff_of_means"])
        console.print(tab)
    if path is not None:
        console.print(f"wrote {path}" + (f" and {path.with_suffix('.png')}" if result.get("plot") else ""))


def _bench(sae: Path, features: Path | None, model: str | None, device: str):
    from .common import open_workbench

    return open_workbench(sae, features, model or None, device)


SAE_OPT = typer.Option(..., help="SAE directory (e.g. runs/demo/sae)")
FEAT_OPT = typer.Option(None, help="its feature database (default: found beside the SAE)")
OUT_OPT = typer.Option(None, help="results directory (default: <feature database>/analyses)")


@app.command()
def steering(sae: Path = SAE_OPT, features: Path = FEAT_OPT, out: Path = OUT_OPT,
             concepts: str = typer.Option("", help="comma-separated concept names (default: all in the file)"),
             concept_file: Path = typer.Option(None, help="a concepts YAML (default: the packaged one)"),
             clamps: str = typer.Option("1,2,4,8", help="candidate clamps in units of max activation; each method "
                                                         "picks its own on the tuning prompts (one value: no tuning)"),
             n_tune: int = typer.Option(4, help="prompts used only to pick the clamp"),
             prompts: int = typer.Option(28, help="neutral chat prompts (tuning + measured; >= 20 measured)"),
             max_new_tokens: int = typer.Option(32), n_random: int = typer.Option(4, help="random control features"),
             model: str = typer.Option("", help="model (default: the database's)"), device: str = typer.Option("cpu"),
             seed: int = typer.Option(0)) -> None:
    """Concept steering vs unsteered vs difference of means vs a random feature, with CIs and coherence."""
    from .common import results_dir, save_result
    from .steering import SteeringConfig, plot_steering, run_concept_steering

    wb = _bench(sae, features, model, device)
    try:
        values = tuple(float(x) for x in clamps.split(",") if x.strip())
    except ValueError:
        raise typer.BadParameter(f"--clamps must be comma-separated numbers, got {clamps!r}") from None
    cfg = SteeringConfig(clamps=values or (2.0,), n_tune=n_tune, n_prompts=prompts, max_new_tokens=max_new_tokens,
                         n_random=n_random, seed=seed)
    res = run_concept_steering(wb, [c for c in concepts.split(",") if c.strip()] or None, cfg, concept_file)
    res.update(model=wb.lm.name, sae=wb.sae_info())
    path = save_result(results_dir(wb, out), "steering", res, plot_steering(res))
    print_result(res, path)


@app.command()
def attribution(sae: Path = SAE_OPT, features: Path = FEAT_OPT, out: Path = OUT_OPT,
                prompts_file: Path = typer.Option(None, help="attribution prompts YAML (default: packaged)"),
                n_ablate: int = typer.Option(48, help="features ablated per prompt (balanced selection)"),
                limit: int = typer.Option(0, help="only the first N prompts (0: all)"),
                model: str = typer.Option(""), device: str = typer.Option("cpu")) -> None:
    """Attribution vs true ablation vs raw activation, correlated over many prompts (paper: 0.81 vs 0.12)."""
    from .attribution import AttributionConfig, plot_attribution, run_attribution
    from .common import results_dir, save_result

    wb = _bench(sae, features, model, device)
    res = run_attribution(wb, AttributionConfig(n_ablate=n_ablate), prompts_file, limit or None)
    res.update(model=wb.lm.name, sae=wb.sae_info())
    path = save_result(results_dir(wb, out), "attribution", res, plot_attribution(res))
    print_result(res, path)


@app.command()
def multilingual(sae: Path = SAE_OPT, features: Path = FEAT_OPT, out: Path = OUT_OPT,
                 threshold: float = typer.Option(0.2, help="active: peak ≥ this × the feature's corpus max"),
                 min_languages: int = typer.Option(3), max_passages: int = typer.Option(120),
                 keep_shared_tokens: bool = typer.Option(False, help="count tokens that also occur in the English "
                                                                     "version (commands, paths, names)"),
                 shuffles: int = typer.Option(20, help="unaligned-passage controls"),
                 model: str = typer.Option(""), device: str = typer.Option("cpu")) -> None:
    """Features that fire on the same handbook passage in ≥ 3 languages, vs passages shuffled per language."""
    from .common import results_dir, save_result
    from .multilingual import MultilingualConfig, plot_multilingual, run_multilingual

    wb = _bench(sae, features, model, device)
    cfg = MultilingualConfig(min_languages=min_languages, threshold=threshold, max_passages=max_passages,
                             exclude_shared_tokens=not keep_shared_tokens, n_shuffles=shuffles)
    res = run_multilingual(wb, cfg)
    res.update(model=wb.lm.name, sae=wb.sae_info())
    path = save_result(results_dir(wb, out), "multilingual", res, plot_multilingual(res))
    print_result(res, path)


@app.command()
def completeness(sae: Path = SAE_OPT, features: Path = FEAT_OPT, out: Path = OUT_OPT,
                 families: str = typer.Option("", help="comma-separated families (default: all in the file)"),
                 families_file: Path = typer.Option(None, help="families YAML (default: packaged)"),
                 store: Path = typer.Option(None, help="the store the database was indexed on (default: its own)"),
                 model: str = typer.Option(""), device: str = typer.Option("cpu")) -> None:
    """Does a feature exist for each member of a concept family, vs the member's frequency (sigmoid fit)."""
    from ..store import ActivationStore
    from .common import results_dir, save_result
    from .completeness import plot_completeness, run_completeness

    wb = _bench(sae, features, model, device)
    res = run_completeness(wb, [f for f in families.split(",") if f.strip()] or None, None, families_file,
                           ActivationStore(store) if store else None)
    res.update(model=wb.lm.name, sae=wb.sae_info())
    path = save_result(results_dir(wb, out), "completeness", res, plot_completeness(res))
    print_result(res, path)


@app.command()
def splitting(sae: list[Path] = typer.Option(..., "--sae", help="SAE directories on one hook (repeat); each "
                                                                "with its feature database beside it"),
              train_widths: str = typer.Option("", help="also train these widths on --store, e.g. 1024,16384 "
                                                         "(kept under --work, reused when there)"),
              store: Path = typer.Option(None, help="activation store for --train-widths"),
              work: Path = typer.Option(Path("runs/splitting"), help="where trained widths go"),
              steps: int = typer.Option(600), out: Path = OUT_OPT,
              concepts: str = typer.Option("", help="comma-separated concepts (default: all)"),
              threshold: float = typer.Option(0.5, help="decoder cosine counted as a split"),
              model: str = typer.Option(""), device: str = typer.Option("cpu")) -> None:
    """A concept's feature in the smallest SAE and its decoder-cosine neighbours in the wider ones."""
    from .common import AnalysisError, open_workbench, results_dir, save_result
    from .splitting import SplittingConfig, ensure_width, plot_splitting, run_splitting

    dirs = list(sae)
    if train_widths.strip():
        if store is None:
            raise AnalysisError("--train-widths needs --store (the activation store to train them on)")
        from ..store import ActivationStore
        st = ActivationStore(store)
        for w in [int(x) for x in train_widths.split(",") if x.strip()]:
            dirs.append(ensure_width(st, work / f"sae_{w}", w, steps=steps)[0])
    first = open_workbench(dirs[0], None, model or None, device)
    benches = [first] + [open_workbench(d, None, model or None, device, lm=first.lm) for d in dirs[1:]]
    res = run_splitting(benches, [c for c in concepts.split(",") if c.strip()] or None,
                        SplittingConfig(threshold=threshold))
    small = min(benches, key=lambda b: b.n_latents)
    res.update(model=small.lm.name, sae=small.sae_info())
    path = save_result(results_dir(small, out), "splitting", res, plot_splitting(res))
    print_result(res, path)


@app.command()
def safety(organism: str = typer.Option("default", help="organism directory or 'default'"),
           work: Path = typer.Option(Path("runs/demo/audit"), help="where the organism's data, store, SAE and "
                                                                   "feature database are (built when missing)"),
           tokens: int = typer.Option(60_000, help="pretraining-mix tokens for the organism's SAE, when built"),
           latents: int = typer.Option(2048), steps: int = typer.Option(300), out: Path = OUT_OPT,
           completeness_result: Path = typer.Option(None, help="a completeness.json whose fit tells what SAE size "
                                                               "a missing feature would need")) -> None:
    """The synthetic-document features of the organism's SAE: ranks on the paper's four transcripts, the
    assistant-token scan's hit rate, and the size a missing feature would need."""
    import json as _json

    from .common import Workbench, results_dir, save_result
    from .safety import organism_sae, plot_safety, read_completeness, run_safety

    lm, store, sae_dir, db_dir, mix = organism_sae(organism, work, tokens, latents, steps)
    from .common import open_workbench
    wb: Workbench = open_workbench(sae_dir, db_dir, lm=lm)
    comp = (_json.loads(completeness_result.read_text()) if completeness_result else
            read_completeness(results_dir(wb, out)))
    res = run_safety(wb, store, mix, completeness=comp)
    res.update(model=lm.name, sae=wb.sae_info())
    path = save_result(results_dir(wb, out), "safety", res, plot_safety(res))
    print_result(res, path)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="analyze")
