"""``stenoscope model-card``: render MODEL_CARD.md from a result folder (no number typed by hand)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stenoscope.cli._app import app


@app.command("model-card")
def model_card(
    results: Annotated[Path, typer.Argument(help="Result folder (model.json, training.json, ...).")],
    out: Annotated[Path, typer.Option("--out", help="Markdown file to write.")] = Path("MODEL_CARD.md"),
) -> None:
    """Generate the model card from the evaluation and training result files."""
    from stenoscope.evaluate.model_card import write_model_card

    typer.echo(str(write_model_card(results, out)))
