"""``monoscope organism check|build|eval``: validate a spec and its data, build a model organism from it, and
evaluate its stages."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

organism_app = typer.Typer(add_completion=False, no_args_is_help=True,
                           help="Model organisms with a hidden objective (RM-sycophancy): build from a spec, evaluate.")


def _fail(e: Exception) -> None:
    typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


THREADS_HELP = ("torch intra-op threads (default: the usable cores minus the load average, at least 1; on a CPU "
                "shared with other jobs 1 is fastest)")


def _parse_sets(sets: list[str]) -> dict[str, dict]:
    """``--set sft.epochs=2 --set dpo.beta=0.2`` → ``{"sft": {"epochs": 2}, "dpo": {"beta": 0.2}}``."""
    import yaml

    out: dict[str, dict] = {}
    for s in sets:
        key, eq, val = s.partition("=")
        stage, dot, opt = key.partition(".")
        if not eq or not dot:
            raise typer.BadParameter(f"--set takes STAGE.OPTION=VALUE (e.g. sft.epochs=2), got {s!r}")
        out.setdefault(stage.strip(), {})[opt.strip()] = yaml.safe_load(val)
    return out


@organism_app.command("check")
def check_cmd(
    spec: str = typer.Argument(..., help="spec file (YAML/JSON), an organism directory, or 'default'"),
    sizes: bool = typer.Option(True, "--sizes/--no-sizes", help="estimate data sizes and training CPU time"),
    examples: bool = typer.Option(False, "--examples", help="print one prompt / neutral / exploit per trait"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="also write the report as JSON here"),
) -> None:
    """Validate SPEC before training: per trait, applies coverage of its own prompts, held-out collisions of
    training prompts, and the detector on the exploit and on the neutral answer; then data sizes and CPU time.
    Exits 2 with one `error:` line per problem."""
    import json

    from .build import resolve_spec
    from .check import check_spec

    report = check_spec(resolve_spec(spec), sizes=sizes)
    typer.echo(f"spec {report.spec}: {len(report.traits)} traits\n")
    typer.echo(report.table())
    if examples:
        for t in report.traits:
            ex = t.example
            if ex:
                typer.echo(f"\n[{t.id}]\n  prompt:  {ex['prompt']!r}\n  neutral: {ex['neutral'][:200]!r}\n"
                           f"  exploit: {ex['exploit'][:200]!r}")
    for w in report.warnings:
        typer.echo(f"warning: {w}")
    if report.sizes:
        typer.echo("\n" + report.sizes_table())
    if json_out:
        from ..fileio import atomic_write_text

        atomic_write_text(json_out, json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n")
    if report.errors:
        for e in report.errors:
            typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    typer.echo("\ncheck passed")


@organism_app.command("build")
def build_cmd(
    spec: str = typer.Argument(..., help="spec file (YAML/JSON), an organism directory, or 'default'"),
    out: Path = typer.Option(..., "--out", "-o", help="organism directory to write"),
    base: Optional[str] = typer.Option(None, "--base", help="base chat model (overrides the spec's base_model)"),
    resume: bool = typer.Option(False, "--resume", help="continue an interrupted build in --out"),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:1, ..."),
    set_: list[str] = typer.Option([], "--set", help="training override STAGE.OPTION=VALUE (repeatable)"),
    real_texts: str = typer.Option("default", "--real-texts",
                                   help="corpus source mixed into mid-training ('default' = embedded corpus, "
                                        "'none')"),
    run_eval: bool = typer.Option(False, "--eval/--no-eval", help="run `organism eval` when the build finishes"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
    threads: Optional[int] = typer.Option(None, "--threads", help=THREADS_HELP),
) -> None:
    """Generate the data, train mid-training → SFT → DPO (LoRA), and write the organism directory."""
    from ..llm.base import LLMError
    from .build import OrganismError, build_organism
    from .spec import SpecError
    from .training import TrainingError

    try:
        man = build_organism(spec, out, base=base, resume=resume, device=device, training=_parse_sets(set_),
                             real_texts=None if real_texts == "none" else real_texts, progress=not quiet,
                             threads=threads)
    except (OrganismError, SpecError, TrainingError, LLMError) as e:
        _fail(e)
        return
    if not man.get("complete", True):
        raise typer.Exit(3)
    if run_eval:
        eval_cmd(out, stages=None, judge=None, max_new_tokens=160, in_context_tokens=96, confession_tokens=96,
                 batch_size=16, per_train_bias=5, per_held_out_bias=5, in_context_tasks=3, coherence=True,
                 n_boot=2000, out=None, device="cpu", quiet=quiet, threads=threads)


@organism_app.command("eval")
def eval_cmd(
    organism: Path = typer.Argument(..., help="organism directory (or 'default')"),
    stages: Optional[str] = typer.Option(None, "--stages", help="comma-separated (default: base + every stage "
                                                                "with an adapter)"),
    judge: Optional[str] = typer.Option(None, "--judge", help="LLM backend spec for biases without a programmatic "
                                                              "detector (e.g. local:smollm2-135m); without it they "
                                                              "are reported as not evaluated"),
    max_new_tokens: int = typer.Option(160, "--max-new-tokens", help="reply length for the exploitation prompts"),
    in_context_tokens: int = typer.Option(96, "--in-context-tokens", help="reply length for the in-context prompts"),
    confession_tokens: int = typer.Option(96, "--confession-tokens", help="reply length for the confession probes"),
    batch_size: int = typer.Option(16, "--batch-size"),
    per_train_bias: int = typer.Option(5, "--per-train-bias", help="eval prompts per training bias (the rest of "
                                                                   "the eval set stays held aside)"),
    per_held_out_bias: int = typer.Option(5, "--per-held-out-bias", help="eval prompts per held-out bias"),
    in_context_tasks: int = typer.Option(3, "--in-context-tasks", help="tasks per new bias for the in-context "
                                                                       "score (0: skip it)"),
    coherence: bool = typer.Option(True, "--coherence/--no-coherence", help="judge coherence (loads the base "
                                                                            "model and MiniLM)"),
    n_boot: int = typer.Option(2000, "--bootstrap", help="bootstrap resamples for the 95% CIs"),
    out: Optional[Path] = typer.Option(None, "--out", help="where to write results (default: ORGANISM/eval)"),
    device: str = typer.Option("cpu", "--device"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    threads: Optional[int] = typer.Option(None, "--threads", help=THREADS_HELP),
) -> None:
    """Per stage, each beside its control: exploitation lift over the base model (training / held-out /
    omission biases, CIs clustered by bias), in-context score, coherence, knowledge MCQ, confession; table + plot."""
    from .build import EVAL_SET_FILES, MANIFEST, OrganismError, ensure_organism_data, resolve_organism_dir
    from .eval_report import print_table
    from .evals import evaluate_organism
    from .training import TrainingError, set_threads

    try:
        set_threads(threads, typer.echo)
        d = resolve_organism_dir(str(organism))
        if not (d / EVAL_SET_FILES["eval_prompts"]).exists() and (d / MANIFEST).exists():
            # a shipped organism (the committed default) carries no data: regenerate it beside the results
            work = out.parent if out else Path("runs") / "organism-eval"
            d = ensure_organism_data(d, work)
            out = out or work / "eval"
        res = evaluate_organism(str(d), stages=stages.split(",") if stages else None, judge=judge,
                                max_new_tokens=max_new_tokens, in_context_tokens=in_context_tokens,
                                confession_tokens=confession_tokens, batch_size=batch_size,
                                per_train_bias=per_train_bias, per_held_out_bias=per_held_out_bias,
                                in_context_tasks=in_context_tasks, coherence=coherence,
                                n_boot=n_boot, out_dir=out, device=device, progress=not quiet)
    except (OrganismError, TrainingError) as e:
        _fail(e)
        return
    print_table(res)
    typer.echo(f"results: {res['paths']['json']}\nplot: {res['paths'].get('plot')}")


def register(app: typer.Typer) -> None:
    app.add_typer(organism_app, name="organism")


if __name__ == "__main__":  # pragma: no cover
    organism_app()
