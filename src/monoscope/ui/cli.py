"""`monoscope serve` and `monoscope export-html`: the feature dashboard, live or as static HTML."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ..features.cli import db_arg, fail

console = Console()


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        db: Path = typer.Argument(None, help="feature database directory (or --db)"),
        db_opt: Path = typer.Option(None, "--db", help="feature database directory"),
        sae: str = typer.Option(None, help="the SAE (enables prompt search, inspector, steering); default: the "
                                           "SAE the database was built from, if its path is known"),
        no_model: bool = typer.Option(False, help="serve the database only (no model, no SAE)"),
        model: str = typer.Option("", help="model name/dir (default: the database's)"),
        llm: str = typer.Option(None, help="LLM backend spec for the 'explain now' button"),
        host: str = typer.Option("127.0.0.1", help="bind address (keep it local: the server runs models)"),
        port: int = typer.Option(8000),
        device: str = typer.Option("cpu"),
        compare: list[Path] = typer.Option(None, "--compare", help="another SAE on the same hook (repeat): feature "
                                                                   "pages list its nearest features by decoder "
                                                                   "cosine (splitting across widths)"),
    ) -> None:
        """Start the feature dashboard."""
        from ..features import FeatureDB
        from ..features.index import FeatureDBError
        from ..sae import load_sae
        from . import serve as run

        db = db_arg(db, db_opt)
        try:
            fdb = FeatureDB(db)
            lm = sae_obj = None
            sae_path = sae or fdb.manifest.get("sae_path")
            if not no_model and sae_path:
                if not str(sae_path).startswith(("saelens:", "hf:")) and not Path(sae_path).exists():
                    console.print(f"[yellow]the SAE {sae_path} is not there; serving the database only[/yellow]")
                else:
                    from ..models import load
                    sae_obj = load_sae(sae_path, device=device)
                    fdb.check_sae(sae_obj)
                    lm = load(model or fdb.manifest["model"]["name"], device=device)
            elif not no_model:
                console.print("no SAE given (--sae): serving the database only; prompt tools are disabled")
            others = []
            for c in compare or []:
                if sae_obj is None:
                    raise FeatureDBError("--compare needs this database's SAE loaded (give --sae, not --no-model)")
                from ..features.search import find_feature_db

                other = load_sae(c, device=device)
                odb = find_feature_db(Path(c), other)
                others.append((Path(c).name, other, FeatureDB(odb) if odb is not None else None))
        except (FeatureDBError, ValueError) as e:
            fail(e)
        if host not in ("127.0.0.1", "localhost", "::1"):
            console.print(f"[yellow]warning: binding {host} exposes a server that runs models to the network[/yellow]")
        console.print(f"dashboard: http://{host}:{port}/  ({fdb})")
        run(fdb, host=host, port=port, lm=lm, sae=sae_obj, llm=llm, compare=others or None)

    @app.command("export-html")
    def export_html(
        db: Path = typer.Argument(None, help="feature database directory (or --db)"),
        db_opt: Path = typer.Option(None, "--db", help="feature database directory"),
        out: Path = typer.Option(..., help="output directory (or .html file with --feature)"),
        feature: int = typer.Option(None, help="export only this feature's page"),
        pages: str = typer.Option("listed", help="feature pages with the summary: listed, all or none"),
        limit: int = typer.Option(500, help="features listed in the summary table (explained features are always added)"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
    ) -> None:
        """Write static HTML: one feature page, or a whole-SAE summary with feature pages."""
        from ..features.index import FeatureDBError
        from . import export_feature_html, export_summary_html

        db = db_arg(db, db_opt)
        try:
            if feature is not None:
                path = out if out.suffix == ".html" else out / f"feature_{feature}.html"
                p = export_feature_html(db, feature, path)
            else:
                p = export_summary_html(db, out, pages=pages, limit=limit, progress=progress)
        except (FeatureDBError, ValueError) as e:
            fail(e)
        console.print(f"wrote {p}")

