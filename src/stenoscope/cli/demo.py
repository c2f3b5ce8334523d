"""``stenoscope demo``: a synthetic run with a known stenosis, analysed by the shipped model."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from stenoscope.cli._app import app


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the synthetic clip and its report.")] = Path(
        "stenoscope-demo"
    ),
) -> None:
    """Make a synthetic run with one stenosis, analyse it with the shipped model, write the full report."""
    from stenoscope.errors import ModelError
    from stenoscope.report.demo import run_demo

    try:
        result = run_demo(out)
    except ModelError as error:
        raise ModelError(f"the demo needs the shipped pretrained model: {error}") from error
    report = result.report
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    decision = report.decision
    verdict = "stenosis" if decision.stenosis else "no stenosis"
    peaks = len(next(frame for frame in report.frames if frame.index == report.key_frame).peaks)
    if result.lesion_peak_rank is None:
        located = f"none of the key frame's {peaks} peak(s) lies on the synthetic lesion"
    else:
        located = f"peak {result.lesion_peak_rank} of {peaks} in the key frame lies on the synthetic lesion"
    typer.echo(f"synthetic run with one stenosis: {result.clip_path} (ground truth: {result.truth_path})")
    typer.echo(
        f"model {report.model.name}: {verdict} (mean p={decision.probability:.2f}, "
        f"{decision.votes}/{decision.n_votes} key-frame votes); {located}"
    )
    typer.echo(f"open the report: {result.html.resolve()}")
