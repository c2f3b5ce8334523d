"""Small helpers shared by the readers."""

from __future__ import annotations


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (library errors can span many), for one-line errors."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
