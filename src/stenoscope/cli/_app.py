"""The typer application every command module registers on; commands only parse and call the API."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from stenoscope._version import __version__

app = typer.Typer(
    name="stenoscope",
    help="Coronary stenosis recognition in X-ray angiography cine clips (research use, not diagnosis).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@dataclass
class _State:
    debug: bool = False


state = _State()


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"stenoscope {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")] = False,
) -> None:
    state.debug = debug


def echo_json(obj: Any) -> None:
    """Print one JSON object on one line (stdout), for pipelines."""
    sys.stdout.write(json.dumps(obj, allow_nan=False) + "\n")
    sys.stdout.flush()
