"""Errors a user can cause. The CLI prints them as one line and exits 2, never with a traceback."""

from __future__ import annotations

from pathlib import Path


class StenoscopeError(Exception):
    """A failure caused by the user's input or options, explained in one line."""

    exit_code = 2


class InputError(StenoscopeError):
    """An input that cannot be read as a clip; the message names the file and the cause."""

    def __init__(self, path: str | Path | None, cause: str) -> None:
        self.path = None if path is None else str(path)
        self.cause = cause
        super().__init__(f"{self.path}: {cause}" if self.path else cause)


class ModelError(StenoscopeError):
    """A model or checkpoint that cannot be created, loaded or verified."""
