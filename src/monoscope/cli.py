"""The `monoscope` command: one subcommand per pipeline stage, each a thin shell over a Python function.

Errors a user can cause (`monoscope.errors.UserError`) print as one line, ``error: …``, and exit with code 2;
``--debug`` anywhere on the command line shows the traceback instead.
"""
from __future__ import annotations

import sys

import typer

from .errors import UserError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="monoscope: harvest activations, train SAEs, study and steer features, audit models. "
                       "Add --debug to any command to see a traceback instead of a one-line error.")


def _register() -> None:
    # Each stage module owns its command(s); importing it here keeps this file a table of contents.
    from . import demo
    from .analyze import cli as analyze_cli
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
    analyze_cli.register(app)
    demo.register(app)


_register()


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
