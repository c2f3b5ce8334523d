"""Command-line interface: ``stenoscope COMMAND``. Each command lives in its own module."""

from __future__ import annotations

import sys

from typer.exceptions import Abort, TyperException

from stenoscope.cli import analyze as _analyze  # noqa: F401  (registers the command)
from stenoscope.cli import demo as _demo  # noqa: F401  (registers the command)
from stenoscope.cli import evaluate as _evaluate  # noqa: F401  (registers the command)
from stenoscope.cli import info as _info  # noqa: F401  (registers the command)
from stenoscope.cli import keyframes as _keyframes  # noqa: F401  (registers the commands)
from stenoscope.cli import model_card as _model_card  # noqa: F401  (registers the command)
from stenoscope.cli import publish as _publish  # noqa: F401  (registers the command)
from stenoscope.cli import synth as _synth  # noqa: F401  (registers the command)
from stenoscope.cli import train as _train  # noqa: F401  (registers the command)
from stenoscope.cli._app import app, state
from stenoscope.errors import StenoscopeError

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors become one line on stderr and exit code 2, never a traceback."""
    try:
        result = app(args=argv, prog_name="stenoscope", standalone_mode=False)
    except StenoscopeError as error:
        if state.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except TyperException as error:  # usage errors: typer prints them in click's format
        show = getattr(error, "show", None)
        if show is not None:
            show()
        else:
            print(f"error: {error.format_message()}", file=sys.stderr)
        return 2
    except Abort:
        print("aborted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if state.debug:
            raise
        message = str(error).splitlines()[0] if str(error) else ""
        print(f"error: internal {type(error).__name__}: {message} (rerun with --debug)", file=sys.stderr)
        return 1
    finally:
        state.debug = False
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
