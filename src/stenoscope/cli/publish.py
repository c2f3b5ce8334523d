"""``stenoscope publish``: make a training run the shipped model (weights, metadata, manifest, results)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stenoscope.cli._app import app


@app.command()
def publish(
    run: Annotated[Path, typer.Argument(help="Run folder written by `stenoscope train`.")],
    card: Annotated[
        Path, typer.Option("--card", help="YAML of the card's facts (data, licence, label, limits).")
    ],
    results: Annotated[
        Path, typer.Option("--results", help="Folder for model.json, training.json, training_time.json.")
    ],
    name: Annotated[str, typer.Option("--name", help="Name of the model in the manifest.")] = "arcade",
    weights_dir: Annotated[
        Path | None, typer.Option("--weights-dir", help="Weights folder (default: the package's).")
    ] = None,
    time_log: Annotated[
        Path | None, typer.Option("--time-log", help="Log holding the shell's `time` of the training.")
    ] = None,
    external: Annotated[
        Path | None, typer.Option("--external", help="Frames from elsewhere: share called stenotic.")
    ] = None,
) -> None:
    """Save the run's model with its metadata into the weights folder and record it in the manifest."""
    from stenoscope.train.publish import publish_run

    published = publish_run(run, card, results, name, weights_dir, time_log, external)
    typer.echo(f"weights: {published.weights}")
    typer.echo(f"manifest: {published.manifest}")
    typer.echo(f"results: {published.results_dir}")
