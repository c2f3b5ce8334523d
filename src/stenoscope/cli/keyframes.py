"""``stenoscope keyframes`` and ``evaluate-keyframes``: choose key frames, and measure the choice."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stenoscope.cli._app import app, echo_json
from stenoscope.errors import StenoscopeError


@app.command()
def keyframes(
    clip: Annotated[Path, typer.Argument(help="A DICOM file, video, folder of frames, image or .npy/.npz.")],
    method: Annotated[str, typer.Option("--method", help="Key-frame method: default or paper.")] = "default",
    count: Annotated[int, typer.Option("--count", help="How many consecutive frames to choose.")] = 5,
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a summary.")] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write a PNG of the score curve with thumbnails here.")
    ] = None,
) -> None:
    """Find the frame of maximal contrast filling and the COUNT frames around it."""
    from stenoscope.io import read_clip
    from stenoscope.keyframes import detect_key_frames

    loaded = read_clip(clip)
    keys = detect_key_frames(loaded, method=method, count=count)
    if plot is not None:
        from stenoscope.keyframes.plot import plot_key_frames

        plot_key_frames(loaded, keys, plot)
    if json:
        echo_json(keys.to_json())
        return
    chosen = " ".join(str(index) for index in keys.key_frames)
    typer.echo(
        f"key frame {keys.key_frame} of {keys.n_frames} ({keys.method}, {keys.seconds:.2f} s); "
        f"chosen frames: {chosen}"
    )


def _methods(option: str) -> tuple[str, ...]:
    from stenoscope.keyframes import list_keyframe_methods

    if option == "both":
        return ("default", "paper")
    if option not in list_keyframe_methods():
        raise StenoscopeError(f"--method must be both or one of {', '.join(list_keyframe_methods())}")
    return (option,)


@app.command("evaluate-keyframes")
def evaluate_keyframes(
    reference: Annotated[
        Path, typer.Argument(help="CSV with columns clip,key_frame (paths may be relative).")
    ],
    method: Annotated[str, typer.Option("--method", help="default, paper or both.")] = "default",
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a summary.")] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Histogram PNG of the frame distances (default: <REFERENCE>_distances.png here)."
        ),
    ] = None,
) -> None:
    """Compare detected key frames with reference key frames: mean distance, SD, SE, share within k frames."""
    from stenoscope.keyframes.evaluate import WITHIN_FRAMES, evaluate_key_frames
    from stenoscope.keyframes.plot import plot_distance_histogram

    evaluation = evaluate_key_frames(reference, methods=_methods(method))
    plot = plot or Path(f"{reference.stem}_distances.png")
    plot_distance_histogram(evaluation, plot)
    typer.echo(f"distance histogram: {plot}", err=True)
    if json:
        echo_json(evaluation.to_json())
        return
    for name, result in evaluation.methods.items():
        summary = result.summary()
        within = ", ".join(f"{k}: {summary['within'][str(k)]:.0%}" for k in WITHIN_FRAMES)
        typer.echo(
            f"{name}: mean |auto - reference| {summary['mean']:.2f} frames "
            f"(SD {summary['sd']:.2f}, SE {summary['se']:.2f}, n={summary['n']}); within {within}"
        )
