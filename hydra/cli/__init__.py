"""``hesp``: the command line of Hespérides. Each command parses, calls the library once, renders."""

from __future__ import annotations

import traceback
from typing import Annotated

import typer
from pydantic import ValidationError

from hydra.cli import campaign, collections, db, plan, request, storage, tiles
from hydra.cli.demo import demo
from hydra.cli.doctor import doctor
from hydra.cli.gaps import gaps
from hydra.cli.harvest import harvest
from hydra.cli.ingest import ingest
from hydra.cli.lifecycle import prune, restore, withdraw, withdrawals
from hydra.cli.render import console, errors
from hydra.cli.run import run
from hydra.cli.serve import serve
from hydra.cli.status import status
from hydra.cli.watch import watch
from hygor import __version__
from hygor.errors import HespError

app = typer.Typer(
    name="hesp",
    help="Hespérides: the THEIA land-surface production centre.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(collections.app, name="collections")
app.add_typer(tiles.app, name="tiles")
app.add_typer(request.app, name="request")
app.add_typer(campaign.app, name="campaign")
app.add_typer(plan.app, name="plan")
app.add_typer(storage.app, name="storage")
app.command()(ingest)
app.command()(harvest)
app.command()(gaps)
app.command()(run)
app.command()(watch)
app.command()(status)
app.command()(doctor)
app.command()(serve)
app.command()(demo)
app.command()(withdraw)
app.command()(restore)
app.command()(withdrawals)
app.command()(prune)

_debug = False


def _print_version(asked: bool) -> None:
    if asked:
        console.print(f"hesp {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    global _debug
    _debug = debug


def main() -> None:
    """Entry point: one line on error and exit code 1; tracebacks only with --debug."""
    try:
        app()
    except HespError as exc:
        _report(exc)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "HESP_" + "_".join(str(part) for part in first["loc"]).upper()
        _report(exc, f"invalid setting {field}: {first['msg']}")
    except Exception as exc:  # a bug: still one line, the traceback on request
        _report(exc, f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)")


def _report(exc: BaseException, message: str | None = None) -> None:
    """Library errors carry their cause's essential line already: one line, the rest with --debug."""
    if _debug:
        errors.print(traceback.format_exc(), markup=False)
    errors.print(f"error: {message or exc}", markup=False)
    raise SystemExit(1)
