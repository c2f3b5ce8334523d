"""``stenoscope synth``: write a synthetic angiography run and its ground truth."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from stenoscope.cli._app import app


class SynthFormat(str, Enum):
    dicom = "dicom"
    frames = "frames"
    mp4 = "mp4"


@app.command()
def synth(
    out: Annotated[Path, typer.Option("--out", help="Output .dcm, .mp4, or a folder for PNG frames.")],
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed: the same seed gives the same pixels.")],
    frames: Annotated[int, typer.Option("--frames", min=1, help="Number of frames.")] = 60,
    fps: Annotated[float, typer.Option("--fps", min=0.1, help="Frame rate (frames per second).")] = 15.0,
    stenoses: Annotated[int, typer.Option("--stenoses", min=0, help="Stenoses to place (0: clean run).")] = 1,
    format: Annotated[
        SynthFormat | None,
        typer.Option("--format", help="Output format (default: from the suffix of --out)."),
    ] = None,
    size: Annotated[int, typer.Option("--size", min=64, max=4096, help="Frame width and height.")] = 512,
    tree: Annotated[
        str | None, typer.Option("--tree", help="rca or lca (default: chosen by the seed).")
    ] = None,
    no_text: Annotated[bool, typer.Option("--no-text", help="No burned-in text overlay.")] = False,
    no_catheter: Annotated[bool, typer.Option("--no-catheter", help="No guiding catheter.")] = False,
) -> None:
    """Make a deterministic synthetic X-ray coronary angiogram run with a ground-truth JSON beside it."""
    from stenoscope.synth import synthesize

    run = synthesize(
        seed,
        n_frames=frames,
        fps=fps,
        n_stenoses=stenoses,
        size=size,
        tree=tree,
        catheter=not no_catheter,
        text=not no_text,
    )
    clip_path, truth_file = run.save(out, format.value if format else None)
    typer.echo(f"clip: {clip_path}")
    typer.echo(f"truth: {truth_file}")
