"""Whether a small CNN trained on the heat map's own peaks, hit against miss, ranks them better than their
height: the classic second stage of a detector cascade, measured with three ranker seeds before it was built
into the model (``stenoscope train-ranker``, whose ranker and training this script uses).

The lesion lies among the heat map's 3 strongest peaks far more often than at its strongest, and the
classification head's dense probability does not order them better (``scripts/rerank_peaks.py``): it was
trained on lesion crops against vessel crops far from any lesion, easy negatives. Here the negatives are
the peaks the heat map itself puts off the lesions, each seen by a fold model that never trained on its
frame, so they are the places it really confuses with a lesion (branch origins, overlaps, end-on segments).
A peak's new score is its height x the ranker's probability that it lies on a lesion (``HIT_MARGIN``).

Two tests, each with ranker seeds 0-2 (the ranker's own training noise):

- CV: a cross-validated stage 1 run's fold models find the peaks of their own validation frames; for each
  fold a ranker is trained on the other folds' peaks and ranks this fold's; paired by fold with the height.
- Held out: the fold models of a cross-validated run on ARCADE train alone find the peaks of the train
  frames they never saw; one ranker trained on them ranks the peaks that their ensemble (the shipped file's
  counterpart that never saw val) finds on every ARCADE val frame; paired bootstrap over frames.

    python scripts/peak_ranker.py results/arcade/peak_ranker.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

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
from stenoscope.evaluate.metrics import bootstrap_ci, inside_boxes, mean_sd, pointing_game
from stenoscope.models import PeakRanker, load_model
from stenoscope.models.ranker import WINDOW, peak_windows
from stenoscope.train.config import load_config
from stenoscope.train.cv import load_training_data, training_splits
from stenoscope.train.ranker import EPOCHS, RankerSamples, fit_ranker

ROOT = Path(__file__).resolve().parents[1]
CV = ("configs/arcade-heatmap-zoom.yaml", "runs/arcade-heatmap-zoom")  # the shipped stage 1's CV
TRAIN_CV = ("configs/arcade-train-cv-heatmap.yaml", "runs/arcade-train-cv-heatmap")  # on train alone
TRAIN_CV_ENSEMBLE = "runs/arcade-train-cv/ensemble.safetensors"
SEEDS = (0, 1, 2)
KEYS = LOCALISATION_METRICS

Frame = dict[str, Any]  # peaks (x, y, height in the frame's pixels), their crops, hit flags, boxes


def frame_peaks(model: nn.Module, frames: SampleDataset, size: int) -> list[Frame]:
    """Each frame's heat-map peaks, strongest first, with their crops and whether each hits a lesion."""
    found = []
    model.eval()
    for frame in prepared_frames(model, frames, Compose([Resize(size)])):
        with torch.no_grad():
            peaks = model.lesion_peaks(frame.x, PEAK_THRESHOLD, MAX_PEAKS, rank=False)[0]
        points = np.array([(p.x / frame.scale, p.y / frame.scale, p.score) for p in peaks]).reshape(-1, 3)
        found.append(
            {
                "points": points,
                "crops": peak_windows(frame.image, [(peak.x, peak.y) for peak in peaks], WINDOW),
                "hits": np.array([inside_boxes(x, y, frame.boxes).any() for x, y, _ in points], dtype=bool),
                "boxes": frame.boxes,
            }
        )
    return found


def fit(frames: list[Frame], seed: int) -> PeakRanker:
    hits = torch.from_numpy(np.concatenate([frame["hits"] for frame in frames]).astype(np.float32))
    return fit_ranker(RankerSamples(torch.cat([frame["crops"] for frame in frames]), hits), seed, EPOCHS)


def reranked(model: PeakRanker, frames: list[Frame]) -> list[Frame]:
    """The frames with each peak's height multiplied by the ranker's probability (mean over the 8 views)."""
    out = []
    for frame in frames:
        points = frame["points"].copy()
        if len(points):
            points[:, 2] *= model.probability(frame["crops"]).numpy()
        out.append(frame | {"points": points})
    return out


def _peak_lists(frames: list[Frame]) -> list[list[tuple[float, float, float]]]:
    return [[tuple(point) for point in frame["points"]] for frame in frames]


def metrics(frames: list[Frame], n_boot: int = 0) -> dict[str, Any]:
    found = localisation_metrics(_peak_lists(frames), [frame["boxes"] for frame in frames], n_boot, seed=0)
    return {key: found[key] for key in KEYS} | (
        {f"{key}_ci95": found[f"{key}_ci95"] for key in KEYS} if n_boot else {}
    )


def cross_validated(seeds: tuple[int, ...]) -> dict[str, Any]:
    config = load_config(ROOT / CV[0])
    frames = load_training_data(config).base
    folds = [
        frame_peaks(
            load_model(ROOT / CV[1] / f"fold_{number}" / "model.safetensors"),
            frames.subset(val),
            config.data.input_size,
        )
        for number, (_, val) in enumerate(training_splits(config, frames), start=1)
    ]
    height = [metrics(fold) for fold in folds]
    by_seed = {}
    for seed in seeds:
        ranked = [
            metrics(reranked(fit([f for other in folds if other is not fold for f in other], seed), fold))
            for fold in folds
        ]
        by_seed[seed] = {
            key: {
                "mean": float(np.mean([fold[key] for fold in ranked])),
                "paired": mean_sd(
                    [mine[key] - theirs[key] for mine, theirs in zip(ranked, height, strict=True)]
                ),
            }
            for key in KEYS
        }
        print(f"CV, ranker seed {seed}: done", flush=True)
    return {
        "config": CV[0],
        "run": CV[1],
        "height": {key: float(np.mean([fold[key] for fold in height])) for key in KEYS},
        "by_seed": by_seed,
    }


def held_out(seeds: tuple[int, ...]) -> dict[str, Any]:
    config = load_config(ROOT / TRAIN_CV[0])
    frames = load_training_data(config).base
    train = [
        frame
        for number, (_, val) in enumerate(training_splits(config, frames), start=1)
        for frame in frame_peaks(
            load_model(ROOT / TRAIN_CV[1] / f"fold_{number}" / "model.safetensors"),
            frames.subset(val),
            config.data.input_size,
        )
    ]
    config.data.options["splits"] = ["val"]
    val = frame_peaks(
        load_model(ROOT / TRAIN_CV_ENSEMBLE), load_training_data(config).base, config.data.input_size
    )
    boxes = [frame["boxes"] for frame in val]
    by_seed = {}
    for seed in seeds:
        ranked = reranked(fit(train, seed), val)
        gain = bootstrap_ci(
            lambda ours, theirs, truth: pointing_game(ours, truth) - pointing_game(theirs, truth),
            _peak_lists(ranked),
            _peak_lists(val),
            boxes,
            seed=0,
        )
        by_seed[seed] = metrics(ranked, n_boot=1000) | {"pointing_game_gain_ci95": list(gain)}
        print(f"held out, ranker seed {seed}: done", flush=True)
    return {
        "train": list(TRAIN_CV),
        "val_model": TRAIN_CV_ENSEMBLE,
        "height": metrics(val, n_boot=1000),
        "by_seed": by_seed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="JSON file to write")
    args = parser.parse_args()
    torch.set_num_threads(2)
    result = {"window": WINDOW, "epochs": EPOCHS, "held_out": held_out(SEEDS), "cv": cross_validated(SEEDS)}
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
