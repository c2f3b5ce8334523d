"""Each fold model's lesion heat map (a cross-validated run's folds, or a held-out run's one model) scored on
its own training frames and on its validation frames, written as JSON (the card's fit section): whether the
heat map reaches on the frames it learned from what the goal asks on new ones, which tells underfitting (or
labels that cap the score) from overfitting.

    python scripts/heatmap_fit.py configs/arcade-heatmap-zoom.yaml runs/arcade-heatmap-zoom \
        results/arcade/fit.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import torch

from stenoscope._fs import write_text_atomic
from stenoscope.data._base import SampleDataset
from stenoscope.data.transforms import Compose, Resize
from stenoscope.evaluate.evaluate import collect_peaks, localisation_metrics
from stenoscope.models import load_model
from stenoscope.train.config import load_config
from stenoscope.train.cv import load_training_data, training_splits
from stenoscope.train.recipes import get_recipe


def heatmap_localisation(
    model: torch.nn.Module, frames: SampleDataset, indices: Sequence[int], input_size: int, n_boot: int
) -> dict:
    """The heat map's localisation metrics on the chosen frames, peaks and boxes in the frames' own pixels."""
    subset, pipeline = frames.subset(indices), Compose([Resize(input_size)])
    sources, boxes = collect_peaks(model, subset, pipeline, torch.device("cpu"), gradcam=False)
    return localisation_metrics(sources["heatmap"], boxes, n_boot=n_boot, seed=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="the trained run's config (cross-validated or held out)")
    parser.add_argument("run", type=Path, help="its run folder (fold_k/model.safetensors)")
    parser.add_argument("out", type=Path, help="JSON file to write")
    parser.add_argument("--bootstrap", type=int, default=200)
    args = parser.parse_args()
    config = load_config(args.config)
    torch.set_num_threads(config.threads or torch.get_num_threads())
    frames = load_training_data(config).base
    splits = training_splits(config, frames)
    size, n_boot = config.data.input_size, args.bootstrap
    folds = []
    for number, (train, val) in enumerate(splits, start=1):
        model = load_model(args.run / f"fold_{number}" / "model.safetensors").eval()
        folds.append(
            {
                "fold": number,
                "training_frames": heatmap_localisation(model, frames, train, size, n_boot),
                "validation_frames": heatmap_localisation(model, frames, val, size, n_boot),
            }
        )
        print(f"fold {number}: done", flush=True)
    epochs = get_recipe(config.recipe, epochs=config.epochs).epochs
    result = {"config": str(args.config), "run": str(args.run), "epochs": epochs, "folds": folds}
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
