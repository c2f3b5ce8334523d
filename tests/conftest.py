"""Shared fixtures: paths to ../shared/data (skipped with the reason when absent) and an in-process CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test saying which file is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not present: {path}")
    return path


@pytest.fixture
def phantom_dir() -> Path:
    return shared_path("xa-dicom-phantom")


@pytest.fixture
def vukicevic_dir() -> Path:
    return shared_path("cine-vukicevic")


@pytest.fixture
def danilov_dir() -> Path:
    return shared_path("cine-danilov")


@pytest.fixture
def arcade_dir() -> Path:
    return shared_path("arcade-stenosis")


@pytest.fixture
def ovalle_dir() -> Path:
    return shared_path("patches-ovalle")


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> dict:
        return json.loads(self.out)


@pytest.fixture
def cli(capsys):
    """Run ``stenoscope ARGS...`` in-process (no interpreter start-up) and capture its output."""
    from stenoscope.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
