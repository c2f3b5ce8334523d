"""``stenoscope evaluate``: any saved model or ensemble on any dataset layout, with 95% bootstrap CIs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stenoscope.cli._app import app, echo_json


def _cell(value: float | None, interval: list[float] | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" + (f" ({interval[0]:.3f}-{interval[1]:.3f})" if interval else "")


@app.command()
def evaluate(
    model: Annotated[Path, typer.Argument(help="A model or ensemble file written by `stenoscope train`.")],
    dataset: Annotated[Path, typer.Argument(help="Dataset file or folder of any supported layout.")],
    format: Annotated[
        str, typer.Option("--format", help="auto|paper|csv|coco|voc|imagefolder (default: detect).")
    ] = "auto",
    samples: Annotated[
        str,
        typer.Option(
            "--samples",
            help="frames (as stored), regions (crops cut around boxes) or keyframes (the key frames "
            "of each group, a cine run, as `stenoscope analyze` picks them).",
        ),
    ] = "frames",
    keyframes: Annotated[
        str, typer.Option("--keyframes", help="Key-frame method for --samples keyframes: default or paper.")
    ] = "default",
    count: Annotated[
        int, typer.Option("--count", help="Key frames per run for --samples keyframes (5 in the paper).")
    ] = 5,
    out: Annotated[Path | None, typer.Option("--out", help="Write evaluation.json and roc.png here.")] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")] = "auto",
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples for the CIs.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap and of region crops.")] = 0,
    json: Annotated[bool, typer.Option("--json", help="Print the evaluation as one JSON object.")] = False,
) -> None:
    """Score a model on a dataset: AUC, accuracy, sensitivity, specificity (95% CI), clips, localisation."""
    from stenoscope.evaluate import evaluate_path
    from stenoscope.evaluate.evaluate import TOP_PEAKS

    result = evaluate_path(
        model, dataset, format, samples, device, bootstrap, seed, out, keyframes=keyframes, count=count
    )
    if json:
        echo_json(result.to_json())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{model.name} on {dataset} ({result.dataset['samples']} samples)")
    table.add_column("metric")
    table.add_column("value (95% CI)")
    for key in ("auc", "accuracy", "sensitivity", "specificity"):
        table.add_row(key, _cell(result.metrics[key], result.ci95[key]))
    if result.clip:
        for rule in ("vote", "mean"):
            table.add_row(
                f"clip accuracy ({rule})",
                _cell(result.clip[f"accuracy_{rule}"], result.clip[f"accuracy_{rule}_ci95"]),
            )
    for source, local in (result.localisation or {}).items():
        table.add_row(f"{source}: pointing game", _cell(local["pointing_game"], local["pointing_game_ci95"]))
        top = f"pointing_game_top{TOP_PEAKS}"
        table.add_row(
            f"{source}: lesion among top {TOP_PEAKS} peaks", _cell(local[top], local[f"{top}_ci95"])
        )
        for rate in ("0.5", "1", "2"):
            key = f"sensitivity_at_{rate}_fp"
            table.add_row(f"{source}: lesion sensitivity @{rate} FP", _cell(local[key], local[f"{key}_ci95"]))
    Console().print(table)
