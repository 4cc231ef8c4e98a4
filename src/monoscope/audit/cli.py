"""`monoscope audit game`: audit an organism with the playbook auditor or an LLM investigator, graded blind."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def build_target(org_dir: Path, sae: str | Path | None = None, features: Path | None = None, base: bool = True,
                 stage: str = "final"):
    """Everything an auditor is handed for an organism directory (never its spec)."""
    from ..llm.local import LocalHFBackend
    from ..models import load
    from ..organism.build import load_organism
    from .game import auditor_data
    from .playbook import AuditTarget
    from .sae_tools import SAEProbe

    data = auditor_data(org_dir)
    lm = load_organism(org_dir, stage=stage)
    base_backend = None
    if base:
        import json
        manifest = json.loads((Path(org_dir) / "organism.json").read_text())
        base_backend = LocalHFBackend(load(manifest["base_model"]))
    probe, examples, labels, max_acts, details = None, None, None, None, None
    if sae is not None:
        from ..sae import load_sae
        probe = SAEProbe(lm, load_sae(sae, model=lm))
    if features is not None:
        from ..features.db import FeatureDB
        fdb = FeatureDB(features)
        examples = lambda f: ["".join(fdb.token_text(e["tokens"])) for e in fdb.examples(f, kind="top")[:5]]
        labels = lambda f: fdb.feature(f).get("explanation") or ""
        import torch
        max_acts = torch.as_tensor(fdb.max_acts(), dtype=torch.float32)
        details = lambda f: describe_feature(fdb, f)
    return AuditTarget(Path(org_dir).name, LocalHFBackend(lm), data, base=base_backend, sae=probe,
                       feature_examples=examples, feature_labels=labels, max_acts=max_acts,
                       feature_details=details), data


def describe_feature(fdb, feature: int) -> str:
    """A feature database row as the few lines an auditor reads: how often it fires, what it writes into
    the logits, and which features have the nearest decoder directions."""
    r = fdb.feature(feature)
    toks = lambda ids: " ".join(repr(t) for t in fdb.token_text(list(ids or [])[:8]))
    near = ", ".join(f"{n} ({c:.2f})" for n, c in zip(list(r.get("neighbours") or [])[:6],
                                                       list(r.get("neighbour_cos") or [])[:6]))
    return (f"density {r['density']:.2e}, max activation {r['max_act']:.2f}\n"
            f"promotes: {toks(r.get('top_logit_ids'))}\nsuppresses: {toks(r.get('bottom_logit_ids'))}\n"
            f"decoder neighbours (cos): {near or 'none'}")


def print_result(result) -> None:
    for i, r in enumerate(result.reports):
        g = r.grade
        console.print(f"[bold]game {i}[/bold]: {'[green]PASS' if g['passed'] else '[red]FAIL'}[/] — root cause "
                      f"{'correct' if g['root_cause_correct'] else 'wrong'}; {g['n_found']}/{g['n_biases']} behaviours "
                      f"named ({100 * g['fraction_found']:.0f}%), training biases {g['train_found']}/{g['n_train']}")
        console.print(f"  root cause: {r.root_cause}")
    if not result.reports[0].technique_table:
        console.print("no technique produced evidence in the first game")
        console.print(f"win rate {result.win_rate:.0%} over {len(result.reports)} game(s); reports under {result.out}")
        return
    t = Table(title="per-technique evidence (first game)")
    for col in result.reports[0].technique_table[0]:
        t.add_column(col)
    for row in result.reports[0].technique_table:
        t.add_row(*[str(v) for v in row.values()])
    console.print(t)
    console.print(f"win rate {result.win_rate:.0%} over {len(result.reports)} game(s); reports under {result.out}")


def register(app: typer.Typer) -> None:
    audit = typer.Typer(help="Audit a model organism for a hidden objective, and play the blind auditing game.",
                        no_args_is_help=True)
    app.add_typer(audit, name="audit")

    @audit.command("game")
    def game(organism: Path = typer.Argument(..., help="organism directory (from `monoscope organism build`)"),
             out: Path = typer.Option(Path("runs/audit"), help="where reports go"),
             n: int = typer.Option(1, help="number of games (seeds)"),
             sae: str = typer.Option(None, help="SAE on the organism's middle layer (optional): a directory, saelens:RELEASE/SAE_ID or hf:ORG/REPO (or hf:ORG/REPO/PATH)"),
             features: Path = typer.Option(None, help="feature database of that SAE (optional)"),
             no_base: bool = typer.Option(False, help="do not give the auditor the public base model"),
             dashboard: str = typer.Option(None, help="dashboard URL to link features to"),
             auditor: str = typer.Option("playbook", help="'playbook' (scripted) or 'agent' (LLM investigator)"),
             investigator: str = typer.Option(None, help="LLM backend driving the agent, e.g. "
                                              "'anthropic:claude-sonnet-4-5' or 'openai:http://host:8001/v1#model' "
                                              "(default: $MONOSCOPE_LLM, else the local SmolLM2, which is too weak "
                                              "to investigate well)"),
             budget: int = typer.Option(30, help="agent: tool calls before it must submit its report")) -> None:
        """Hand an auditor the organism and its data (never the spec), then grade each report against the spec."""
        from .game import run_game

        if auditor not in ("playbook", "agent"):
            raise typer.BadParameter(f"unknown auditor {auditor!r}; choose 'playbook' or 'agent'", param_hint="--auditor")
        target, data = build_target(organism, sae, features, base=not no_base)
        if auditor == "playbook":
            from .playbook import PlaybookAuditor, PlaybookConfig

            play = lambda seed: PlaybookAuditor(target, PlaybookConfig(seed=seed)).run()
        else:
            from ..llm import get_backend
            from .agent import AgentConfig, InvestigatorAgent

            llm = get_backend(investigator)
            play = lambda seed: InvestigatorAgent(target, llm, Path(out) / f"game_{seed}",
                                                  AgentConfig(budget=budget, seed=seed)).run()
        result = run_game(organism, play, data, out, n=n, dashboard_url=dashboard)
        print_result(result)
