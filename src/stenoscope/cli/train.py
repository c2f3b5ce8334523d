"""``stenoscope train``: grouped k-fold cross-validation from a YAML config, flags overriding it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from stenoscope.cli._app import app, echo_json


def _format(value: dict[str, Any] | None) -> str:
    if not value or value.get("mean") is None:
        return "n/a"
    return f"{value['mean']:.3f} ± {value['sd']:.3f}"


@app.command()
def train(
    config: Annotated[
        Path | None, typer.Argument(help="YAML training config (see configs/); flags override it.")
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Dataset file or folder (overrides data.path).")
    ] = None,
    format: Annotated[
        str | None, typer.Option("--format", help="auto|paper|csv|coco|voc|imagefolder|synthetic.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Run folder (results, models, checkpoints).")
    ] = None,
    folds: Annotated[int | None, typer.Option("--folds", help="Number of cross-validation folds.")] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", help="Epochs per fold (overrides the recipe).")
    ] = None,
    recipe: Annotated[str | None, typer.Option("--recipe", help="paper or default.")] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            help="Seed for crops, augmentation, weights and the split (unless the config sets split_seed).",
        ),
    ] = None,
    device: Annotated[str | None, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")] = None,
    init: Annotated[
        Path | None,
        typer.Option("--init", help="Start from this model file's weights (fine-tuning; overrides init)."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the run folder's checkpoints.")
    ] = False,
    fold: Annotated[
        list[int] | None,
        typer.Option(
            "--fold",
            help="Train only this fold (repeatable), e.g. one per process; then --resume writes the run.",
        ),
    ] = None,
    reevaluate: Annotated[
        bool,
        typer.Option("--reevaluate", help="Train nothing: measure the run's fold models again on --data."),
    ] = False,
    json: Annotated[
        bool, typer.Option("--json", help="Print results.json's summary as one JSON object.")
    ] = False,
) -> None:
    """Train a fresh model per fold, report per-fold and mean ± SD metrics, export the fold ensemble."""
    from stenoscope.errors import StenoscopeError
    from stenoscope.train import TrainConfig, cross_validate, load_config

    settings = load_config(config) if config is not None else TrainConfig()
    if data is not None:
        settings.data.path = str(data)
    if format is not None:
        settings.data.format = format
    overrides = {
        "out": out,
        "folds": folds,
        "epochs": epochs,
        "recipe": recipe,
        "seed": seed,
        "device": device,
        "init": init,
    }
    for key, value in overrides.items():
        if value is not None:
            setattr(settings, key, str(value) if isinstance(value, Path) else value)
    if settings.data.path is None and settings.data.format != "synthetic":
        raise StenoscopeError("no dataset: give a config with data.path or --data")
    result = cross_validate(
        settings, resume=resume, show_progress=not json, only_folds=fold or None, reevaluate=reevaluate
    )
    if result is None:
        done = ", ".join(str(number) for number in sorted(set(fold or [])))
        typer.echo(f"trained fold(s) {done} in {settings.out}; run again with --resume to write the run")
        return
    if json:
        echo_json({"out": settings.out, "summary": result.summary, "files": result.files})
        return
    from rich.console import Console
    from rich.table import Table

    scheme = f"{settings.folds}-fold cross-validation"
    if settings.holdout:
        scheme = f"held-out split {settings.holdout!r}"
    table = Table(title=f"{scheme} ({settings.out})")
    table.add_column("metric")
    table.add_column("mean ± SD")
    for key, value in result.summary.items():
        if isinstance(value, dict) and "mean" in value:
            table.add_row(key, _format(value))
        else:
            for inner, stats in value.items():
                table.add_row(f"{key}.{inner}", _format(stats))
    Console().print(table)
    Console().print(f"ensemble: {Path(settings.out) / result.files['ensemble']}")


@app.command("train-ranker")
def train_ranker(
    run: Annotated[Path, typer.Argument(help="A cross-validated run folder of `stenoscope train`.")],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the rankers' weights and batches.")] = 0,
    epochs: Annotated[int, typer.Option("--epochs", help="Epochs of each ranker.")] = 15,
    window: Annotated[
        int | None, typer.Option("--window", help="Window side in px of the ranker's grid (default 48).")
    ] = None,
    scale: Annotated[
        int | None,
        typer.Option("--scale", help="The ranker's grid per model input pixel (default 1: the input)."),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the ranker record as one JSON object.")] = False,
) -> None:
    """Third stage: train peak rankers on the run's out-of-fold heat-map peaks and evaluate it again."""
    from stenoscope.train import train_peak_ranker

    record = train_peak_ranker(
        run, seed=seed, epochs=epochs, window=window, scale=scale, show_progress=not json
    )
    if json:
        echo_json(record)
        return
    from json import loads

    summary = loads((run / "results.json").read_text(encoding="utf-8"))["summary"]
    heat = summary.get("localisation_heatmap", {})
    typer.echo(
        f"rankers trained on {record['peaks']} peaks ({record['hit_share']:.0%} hits); re-ranked: pointing "
        f"game {_format(heat.get('pointing_game'))}, sensitivity at 1 FP "
        f"{_format(heat.get('sensitivity_at_1_fp'))}"
    )
