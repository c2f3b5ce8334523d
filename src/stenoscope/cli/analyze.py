"""``stenoscope analyze``: key frames, probabilities, heat maps and a report folder for every clip given."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from stenoscope.cli._app import app


@app.command()
def analyze(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Clips, images or folders (searched recursively; a folder of frame images is one clip).",
            show_default=False,
            metavar="INPUT",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for the report folders and summary.csv.")] = Path(
        "stenoscope-report"
    ),
    model: Annotated[
        str | None,
        typer.Option("--model", help="Model file or shipped model name (default: the shipped model)."),
    ] = None,
    keyframes: Annotated[
        str, typer.Option("--keyframes", help="Key-frame method: default or paper.")
    ] = "default",
    count: Annotated[int, typer.Option("--count", help="Key frames that vote (5 in the paper).")] = 5,
    json: Annotated[bool, typer.Option("--json", help="Print each report.json as one JSON line.")] = False,
    workers: Annotated[int, typer.Option("--workers", help="Clips analysed in parallel processes.")] = 1,
    threads: Annotated[
        int | None,
        typer.Option("--threads", help="Torch threads per process (1 is faster on a busy shared machine)."),
    ] = None,
    videos: Annotated[
        bool,
        typer.Option("--videos/--no-videos", help="Write clip.gif and clip.mp4 (heat maps of every frame)."),
    ] = True,
) -> int:
    """Analyse clips: key frames -> stenosis probability per key frame -> heat maps -> clip decision.

    Writes OUT/<name>/ (report.json, keyframe_<i>.png, contact_sheet.png, clip.gif, clip.mp4, report.html)
    per clip and OUT/summary.csv. Exit code 0 when every clip succeeded, 1 when some failed.
    """
    from stenoscope.errors import StenoscopeError
    from stenoscope.keyframes import list_keyframe_methods
    from stenoscope.report import BatchResult, analyze_batch

    if keyframes not in list_keyframe_methods():
        methods = ", ".join(list_keyframe_methods())
        raise StenoscopeError(f"--keyframes must be one of {methods}, got {keyframes!r}")
    if count < 1:
        raise StenoscopeError(f"--count must be at least 1, got {count}")

    def show(result: BatchResult) -> None:
        for warning in result.warnings:
            print(f"warning: {result.item.name}: {warning}", file=sys.stderr)
        if result.report is None:
            print(f"error: {result.error}", file=sys.stderr)
            return
        if json:
            sys.stdout.write(result.line + "\n")
            sys.stdout.flush()
            return
        clip = result.report["clip"]
        verdict = "stenosis" if clip["stenosis"] else "no stenosis"
        typer.echo(
            f"{result.item.name}: {verdict} (mean p={clip['probability']:.2f}, "
            f"{clip['votes']}/{clip['n_votes']} key-frame votes) -> {out / result.item.name / 'report.html'}"
        )

    results = analyze_batch(
        inputs,
        out,
        model=model,
        workers=workers,
        threads=threads,
        on_result=show,
        keyframes=keyframes,
        count=count,
        clip_heatmaps=videos,
    )
    failed = sum(not result.ok for result in results)
    summary = f"{len(results) - failed} of {len(results)} clip(s) analysed; summary: {out / 'summary.csv'}"
    print(summary, file=sys.stderr if json else sys.stdout)
    return 1 if failed else 0
