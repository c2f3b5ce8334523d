"""``stenoscope info``: what stenoscope reads from a clip, as a table or one JSON object."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stenoscope.cli._app import app, echo_json

INFO_KEYS = (
    "n_frames",
    "height",
    "width",
    "bits_stored",
    "frame_time_ms",
    "pixel_spacing_mm",
    "primary_angle",
    "secondary_angle",
    "modality",
    "format",
)


@app.command()
def info(
    input: Annotated[Path, typer.Argument(help="A DICOM file, video, folder of frames, image or .npy/.npz.")],
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """Show frame count, size, bit depth, frame time, pixel spacing and C-arm angles of a clip."""
    from stenoscope.io import read_clip

    clip_info = read_clip(input).info()
    summary = {key: clip_info[key] for key in INFO_KEYS}
    if json:
        echo_json(summary)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=False)
    for key, value in summary.items():
        table.add_row(key, "unknown" if value is None else str(value))
    console = Console()
    console.print(str(input), markup=False, highlight=False, soft_wrap=True)
    console.print(table)
