"""``hesp``: the command line of Hespérides. Each command parses, calls the library once, renders."""

from __future__ import annotations

import traceback
from typing import Annotated

import typer
from pydantic import ValidationError

from hydra.cli.commands import LazyGroup
from hydra.cli.render import console, errors
from hygor import __version__
from hygor.errors import HespError

app = typer.Typer(
    name="hesp",
    help="Hespérides: the THEIA land-surface production centre.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=LazyGroup,
)
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
