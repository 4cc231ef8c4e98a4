"""The `monoscope` command: one subcommand per pipeline stage, each a thin shell over a Python function."""
from __future__ import annotations

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="monoscope: harvest activations, train SAEs, study and steer features, audit models.")


def _register() -> None:
    # Each stage module owns its command(s); importing it here keeps this file a table of contents.
    from . import demo
    from .audit import cli as audit_cli
    from .distributed import cli as distributed_cli
    from .features import cli as features_cli
    from .llm import cli as llm_cli
    from .organism import cli as organism_cli
    from .sae import cli as sae_cli
    from .scaling import cli as scaling_cli
    from .steer import cli as steer_cli
    from .store import cli as store_cli

    store_cli.register(app)
    sae_cli.register(app)
    scaling_cli.register(app)
    distributed_cli.register(app)
    features_cli.register(app)
    organism_cli.register(app)
    steer_cli.register(app)
    audit_cli.register(app)
    llm_cli.register(app)
    demo.register(app)


_register()

if __name__ == "__main__":  # pragma: no cover
    app()
