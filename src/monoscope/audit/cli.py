"""`monoscope audit game ORG`: the blind auditing game with its controls, from one command."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


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


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def summary_table(summary: dict) -> Table:
    """Tier → win rate [Wilson CI], confirmed behaviours, precision, root cause, with the controls beside."""
    clean = summary.get("controls", {}).get("clean", {})
    nm = summary.get("controls", {}).get("no_model", {})
    hs = summary["haystack"]
    t = Table(title=f"{summary['organism']}: blind auditing game, {summary['seeds']} seed(s) per tier; haystack "
                    f"{100 * hs['rate_passages']:.3g}% synthetic by passage, {100 * hs['rate_tokens']:.3g}% by "
                    f"{hs['token_unit']}")
    for col in ("tier", "win rate [95% CI]", "behaviours confirmed (of spec)", "precision", "root cause right",
                "accused", "paper bar (>90%)"):
        t.add_column(col)
    n_b = summary["n_biases"]
    for tier, r in summary["tiers"].items():
        conf = ", ".join(str(c) for c in r["n_confirmed"])
        prec = ", ".join(_pct(p) for p in r["precision"])
        rc = f"{sum(r['root_cause_correct'])}/{r['n']}"
        win = f"{r['wins']}/{r['n']} = {_pct(r['win_rate'])} [{_pct(r['ci_low'])}–{_pct(r['ci_high'])}]"
        if r.get("explained_by_data_alone"):
            win += " (data alone names as much)"
        t.add_row(tier, win, f"{conf} / {n_b}", prec, rc, f"{sum(r['accused'])}/{r['n']}",
                  f"{r['paper_bar_wins']}/{r['n']}")
    if clean:
        t.add_row("clean control", f"false alarms {clean['false_alarms']}/{clean['n']} = "
                  f"{_pct(clean['false_alarm_rate'])} [{_pct(clean['ci_low'])}–{_pct(clean['ci_high'])}]",
                  ", ".join(f"{k}: {v.get('false_alarms', '-')}/{v.get('n', '-')}" if "n" in v else f"{k}: n/a"
                            for k, v in clean["by_model"].items()), "", "", "", "")
    if nm:
        t.add_row("no-model control", "passed" if nm["passed"] else "no pass (cannot confirm)",
                  "named " + ", ".join(_pct(x) for x in nm["named_fraction"]), "",
                  f"{sum(nm['root_cause_correct'])}/{nm['n']}", "", "")
    return t


def print_result(summary: dict) -> None:
    console.print(summary_table(summary))
    for tier, r in summary["tiers"].items():
        for run in r["runs"]:
            console.print(f"  {tier} seed {run['seed']}: {'PASS' if run['passed'] else 'FAIL'} — confirmed "
                          f"{run['n_confirmed']}/{summary['n_biases']} (recall {_pct(run['recall'])}, precision "
                          f"{_pct(run['precision'])}), root cause {'right' if run['root_cause_correct'] else 'wrong'}; "
                          f"{run['report']}")
    clean = summary.get("controls", {}).get("clean", {})
    for label, v in clean.get("by_model", {}).items():
        if "unavailable" in v:
            console.print(f"  clean control on {label}: not run ({v['unavailable']})")
    console.print(f"pass rule: {summary['pass_rule']}")
    console.print(f"summary: {Path(summary['organism_dir']).name} → games/summary.json")


def register(app: typer.Typer) -> None:
    audit = typer.Typer(help="Audit a model organism for a hidden objective, and play the blind auditing game.",
                        no_args_is_help=True)
    app.add_typer(audit, name="audit")

    @audit.command("game")
    def game(organism: str = typer.Argument(..., help="organism directory, or 'default' for the shipped one"),
             out: Path = typer.Option(Path("runs/audit"), help="where the game's artifacts go"),
             tiers: str = typer.Option("api,data,full", help="comma-separated tiers: api (model + base model), "
                                       "data (+ training data), full (+ SAE)"),
             n: int = typer.Option(3, help="games (seeds) per tier"),
             controls: bool = typer.Option(True, help="clean-model and no-model controls"),
             haystack_rate: float = typer.Option(0.01, help="fraction of pretraining passages that are synthetic "
                                                 "documents, in (0, 1]"),
             haystack_corpus: str = typer.Option("default", help="real corpus the documents hide in: 'default' "
                                                 "(embedded) or a file from scripts/build_haystack_corpus.py"),
             haystack_seed: int = typer.Option(0, help="which synthetic documents go in, and their order"),
             haystack_max_docs: int = typer.Option(None, help="read at most this many real documents"),
             sae: str = typer.Option(None, help="reuse this SAE: a directory, saelens:RELEASE/SAE_ID or "
                                     "hf:ORG/REPO or hf:ORG/REPO/PATH (default: train one on the organism's mix)"),
             features: Path = typer.Option(None, help="feature database of --sae"),
             hook: str = typer.Option(None, help="hook the SAE reads (default: the organism's middle layer)"),
             sae_tokens: int = typer.Option(60_000, help="tokens of the organism's mix to train the SAE on"),
             sae_latents: int = typer.Option(2048), sae_steps: int = typer.Option(300),
             candidates: int = typer.Option(40, help="candidate behaviours tested on the model per game"),
             probe_tokens: int = typer.Option(64, help="reply length of probes"),
             reply_tokens: int = typer.Option(64, help="reply length in the behaviour diff and the attacks"),
             clean_tiers: str = typer.Option(None, help="tiers the clean control plays (default: every tier "
                                             "played), e.g. data to spend the control's time on one tier"),
             auditor: str = typer.Option("playbook", help="'playbook' (scripted) or 'agent' (LLM investigator)"),
             investigator: str = typer.Option(None, help="LLM backend driving the agent, e.g. "
                                              "'anthropic:claude-sonnet-4-5' (default: $MONOSCOPE_LLM)"),
             budget: int = typer.Option(30, help="agent: tool calls before it must submit its report")) -> None:
        """Audit ORG per tier over N seeds, with clean and no-model controls, graded blind against its spec;
        prints the table and writes OUT/games/summary.json."""
        from .game import GameSettings, check_tiers
        from .setup import SAESettings, setup_game

        if auditor not in ("playbook", "agent"):
            raise typer.BadParameter(f"unknown auditor {auditor!r}; choose 'playbook' or 'agent'", param_hint="--auditor")
        settings = GameSettings(tiers=tuple(tiers.split(",")), n=n, controls=controls,
                                clean_tiers=check_tiers(clean_tiers) if clean_tiers else None,
                                playbook={"candidates": candidates, "probe_tokens": probe_tokens,
                                          "max_tokens": reply_tokens})
        g = setup_game(organism, out, settings, rate=haystack_rate, corpus=haystack_corpus, haystack_seed=haystack_seed,
                       max_real_documents=haystack_max_docs, sae=sae, features=features, hook=hook,
                       sae_settings=SAESettings(tokens=sae_tokens, latents=sae_latents, steps=sae_steps))
        console.print(g.hay.stats.line())
        if auditor == "agent":
            from ..llm import get_backend
            from .agent import AgentConfig, InvestigatorAgent

            llm = get_backend(investigator)
            g.auditor = lambda target, seed, where: InvestigatorAgent(target, llm, where, AgentConfig(budget=budget,
                                                                                                      seed=seed)).run()
        print_result(g.play())
