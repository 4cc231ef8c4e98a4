"""The `monoscope` command: one subcommand per pipeline stage, each a thin shell over a Python function.

Stage modules are imported only when their command runs (``COMMANDS`` says which module owns which command),
so ``monoscope --help`` starts without torch. Errors a user can cause (`monoscope.errors.UserError`) print as
one line, ``error: …``, and exit with code 2; ``--debug`` anywhere on the command line shows the traceback.
"""
from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from .errors import UserError

# command → (module whose `register(app)` defines it, the one-line help shown by `monoscope --help`).
# tests/test_cli.py checks that this table and the commands the modules really define agree.
COMMANDS: dict[str, tuple[str, str]] = {
    "harvest": ("monoscope.store.cli", "Record activations at hook points over a corpus into an activation store."),
    "store-info": ("monoscope.store.cli", "Describe an activation store (and optionally verify its checksums)."),
    "train": ("monoscope.sae.cli", "Train SAEs on an activation store or straight from a model (several hooks × "
                                   "widths per forward pass; also under torchrun; exact resume with --resume)."),
    "eval": ("monoscope.sae.cli", "SAE metrics on a store, and SAEBench-style evaluations on the embedded data "
                                  "(--suite probing,absorption)."),
    "sweep": ("monoscope.scaling.cli", "Scaling-law sweep: an n_latents × steps grid at fixed lr and batch, an lr "
                                       "sweep at frontier points, power-law fits (frontier, isoFLOP, parametric, lr), "
                                       "plots and sweep.json."),
    "recommend": ("monoscope.scaling.cli", "Given a compute budget, which number of latents, steps and learning rate "
                                           "to train."),
    "train-distributed": ("monoscope.distributed.cli", "Run `monoscope train` over several processes/GPUs with "
                                                       "torchrun; every other option is passed to `monoscope train` "
                                                       "unchanged (--store or --model, --strategy dp|fs, --latents, …)."),
    "harvest-distributed": ("monoscope.distributed.cli", "Harvest with several processes/GPUs into one store (ranks "
                                                         "split the context stream by shard)."),
    "index": ("monoscope.features.cli", "Build the feature database: one streaming pass of the SAE over the store."),
    "explain": ("monoscope.features.cli", "Explain features with an LLM and score each explanation against a "
                                          "control (detection, fuzzing, specificity)."),
    "serve": ("monoscope.ui.cli", "Start the feature dashboard."),
    "export-html": ("monoscope.ui.cli", "Write static HTML: one feature page, or a whole-SAE summary with "
                                              "feature pages."),
    "steer": ("monoscope.steer.cli", "Generate with features clamped (error term kept), beside the unsteered output."),
    "attribute": ("monoscope.steer.cli", "Attribute logit(good) − logit(bad) at the last token to SAE features; "
                                         "compare with true ablation."),
    "serve-llm": ("monoscope.llm.cli", "Serve a local model at /v1/models, /v1/chat/completions and /v1/completions "
                                       "(OpenAI shape), e.g. for `--llm openai:http://127.0.0.1:8001/v1#smollm2-135m`."),
    "demo": ("monoscope.demo", "Run the main job on the embedded default model and corpus."),
    "organism": ("monoscope.organism.cli", "Model organisms with a hidden objective (RM-sycophancy): build from a "
                                           "spec, evaluate."),
    "analyze": ("monoscope.analyze.cli", "The paper's feature analyses on an SAE (concept steering, attribution, "
                                         "multilingual, splitting, completeness, safety features); each writes "
                                         "JSON + a plot the dashboard links."),
    "audit": ("monoscope.audit.cli", "Audit a model organism for a hidden objective, and play the blind auditing "
                                     "game."),
}


def load_commands(module: str) -> dict[str, Any]:
    """The click commands that one stage module registers, by name."""
    sub = typer.Typer(add_completion=False)
    importlib.import_module(module).register(sub)
    return dict(typer.main.get_group(sub).commands)


class LazyGroup(TyperGroup):
    """A command group that imports a stage module only to run (or show the help of) one of its commands."""

    _listing = False

    def list_commands(self, ctx) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx, name: str):
        if name not in COMMANDS:
            return None
        module, short = COMMANDS[name]
        if self._listing:   # the root help shows one line per command: take it from the table, import nothing
            return typer.core.TyperCommand(name, help=short, callback=lambda: None)
        return load_commands(module).get(name)

    def format_help(self, ctx, formatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(cls=LazyGroup, add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="monoscope: harvest activations, train SAEs, study and steer features, audit models. "
                       "Add --debug to any command to see a traceback instead of a one-line error.")


@app.callback()
def _root() -> None:
    """monoscope: harvest activations, train SAEs, study and steer features, audit models."""


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `monoscope` script: run the app, turning a UserError into one `error:` line."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        app(args=args, prog_name="monoscope", standalone_mode=True)
    except UserError as e:
        if debug:
            raise
        print(f"error: {e}".splitlines()[0] if str(e) else f"error: {type(e).__name__}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
