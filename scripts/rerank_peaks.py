"""Whether the heat map's peaks, re-ranked at inference, point at more lesions: each fold model of a
cross-validated two-stage run scores its own validation frames with the heat map's peaks ranked by their
height (the shipped rule) and by other scores of the same peaks, written as JSON with each rule's fold
means and its difference from the shipped rule paired fold by fold.

The heat map finds the lesion among its 3 strongest peaks far more often than with its strongest alone, so
a better order of the same peaks would gain without training. The other scores: the classification head's
dense stenosis probability (trained in stage 2 on lesion crops against vessel crops far from any lesion) at
the peak or its maximum within 8 px, multiplied with the height; and the heat map smoothed over 4 px at the
peak (how much lesion evidence surrounds it, not only how high it rises).

    python scripts/rerank_peaks.py configs/arcade-heatmap-zoom.yaml runs/arcade-zoom \
        results/arcade/rerank.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from stenoscope._fs import write_text_atomic
from stenoscope.data._base import SampleDataset
from stenoscope.data.transforms import Compose, Resize
from stenoscope.evaluate.evaluate import (
    LOCALISATION_METRICS,
    MAX_PEAKS,
    PEAK_THRESHOLD,
    localisation_metrics,
    prepared_frames,
)
from stenoscope.evaluate.metrics import mean_sd
from stenoscope.explain import find_peaks
from stenoscope.models import load_model
from stenoscope.train.config import load_config
from stenoscope.train.cv import load_training_data, training_splits

NEAR = 8  # px of the model's input grid: the dense map's maximum this close to a peak
SMOOTHING = 4.0  # px: Gaussian sigma of the smoothed heat map
KEYS = LOCALISATION_METRICS

# each rule scores a peak from its features: height, dense probability at it, dense maximum near it, smoothed
RULES: dict[str, Callable[[dict[str, float]], float]] = {
    "height": lambda peak: peak["height"],
    "height x dense probability": lambda peak: peak["height"] * peak["dense"],
    "height x dense probability within 8 px": lambda peak: peak["height"] * peak["dense_near"],
    "dense probability alone": lambda peak: peak["dense"],
    "smoothed height": lambda peak: peak["smoothed"],
}


def frame_peaks(model: torch.nn.Module, frames: SampleDataset, size: int) -> list[dict]:
    """Every frame's heat-map peaks with their features (in the frame's own pixels), and its lesion boxes."""
    found = []
    for frame in prepared_frames(model, frames, Compose([Resize(size)])):
        x, scale = frame.x, frame.scale
        with torch.no_grad():
            lesion = model.lesion_map(x)[0].float().numpy()
            dense = model.score_map(x)[0].float().numpy()
        smoothed = ndimage.gaussian_filter(lesion, SMOOTHING)
        near = ndimage.maximum_filter(dense, size=2 * NEAR + 1, mode="nearest")
        peaks = [
            {
                "x": peak.x / scale,
                "y": peak.y / scale,
                "height": peak.score,
                "dense": float(dense[peak.y, peak.x]),
                "dense_near": float(near[peak.y, peak.x]),
                "smoothed": float(smoothed[peak.y, peak.x]),
            }
            for peak in find_peaks(lesion, PEAK_THRESHOLD, MAX_PEAKS)
        ]
        found.append({"peaks": peaks, "boxes": frame.boxes})
    return found


def ranked(frames: list[dict], rule: Callable[[dict[str, float]], float]) -> dict[str, float]:
    """Localisation metrics with each frame's peaks scored by ``rule``."""
    peaks = [[(peak["x"], peak["y"], rule(peak)) for peak in frame["peaks"]] for frame in frames]
    peaks = [sorted(found, key=lambda peak: -peak[2]) for found in peaks]
    metrics = localisation_metrics(peaks, [frame["boxes"] for frame in frames], n_boot=0, seed=0)
    return {key: metrics[key] for key in KEYS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="the run's stage 1 config (its folds)")
    parser.add_argument("run", type=Path, help="the two-stage run folder (fold_k/model.safetensors)")
    parser.add_argument("out", type=Path, help="JSON file to write")
    args = parser.parse_args()
    config = load_config(args.config)
    torch.set_num_threads(config.threads or torch.get_num_threads())
    frames = load_training_data(config).base
    by_fold = []
    for number, (_, val) in enumerate(training_splits(config, frames), start=1):
        model = load_model(args.run / f"fold_{number}" / "model.safetensors").eval()
        found = frame_peaks(model, frames.subset(val), config.data.input_size)
        by_fold.append({name: ranked(found, rule) for name, rule in RULES.items()})
        print(f"fold {number}: done", flush=True)
    rules = {}
    for name in RULES:
        rules[name] = {
            key: {
                "mean": float(np.mean([fold[name][key] for fold in by_fold])),
                "paired": mean_sd([fold[name][key] - fold["height"][key] for fold in by_fold]),
            }
            for key in KEYS
        }
    result = {"config": str(args.config), "run": str(args.run), "rules": rules, "folds": by_fold}
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
