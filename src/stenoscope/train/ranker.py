"""The third training stage: a peak ranker (:mod:`stenoscope.models.ranker`) for a cross-validated run.

Every fold model finds the heat-map peaks of its own validation frames, as it would on a new frame, and
each peak is labelled hit or miss against the frame's lesion boxes (widened by ``HIT_MARGIN``). Then:

- each fold model gets a ranker trained on the *other* folds' peaks, and the run is evaluated again
  (``cross_validate(..., reevaluate=True)``), so ``results.json``'s localisation is the re-ranked one,
  measured on frames that neither the fold model nor its ranker trained on;
- the run's ensemble gets one ranker trained on every fold's peaks: what ``stenoscope publish`` ships.

A held-out run has no out-of-fold peaks to train on, so it needs a cross-validated one. Running the stage
again replaces the rankers (peaks are always found by height alone).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from stenoscope._fs import write_text_atomic
from stenoscope.errors import StenoscopeError

EPOCHS = 15
BATCH = 64
LR = 2e-3
WEIGHT_DECAY = 1e-3


@dataclass
class RankerSamples:
    """Windows around heat-map peaks ``(N, 1, w, w)``, cut on a grid ``scale`` times finer than the
    model's input, and whether each peak hits a lesion ``(N,)``."""

    windows: torch.Tensor
    hits: torch.Tensor
    scale: int = 1

    @classmethod
    def join(cls, parts: list[RankerSamples]) -> RankerSamples:
        (scale,) = {p.scale for p in parts}
        return cls(torch.cat([p.windows for p in parts]), torch.cat([p.hits for p in parts]), scale)

    def __len__(self) -> int:
        return len(self.hits)


def ranker_samples(
    model: nn.Module, frames: Any, training: dict[str, Any], window: int, scale: int
) -> RankerSamples:
    """The heat-map peaks ``model`` finds on ``frames`` (prepared as evaluation prepares them), by height
    alone, with their windows (on a grid ``scale`` times finer than the model's input) and hit flags: a
    ranker's training data."""
    from stenoscope.evaluate.evaluate import MAX_PEAKS, PEAK_THRESHOLD, prepared_frames
    from stenoscope.evaluate.metrics import inside_boxes
    from stenoscope.models.ranker import detail_windows
    from stenoscope.train.recipes import inference_pipeline

    pipeline = inference_pipeline(training, model.preprocess.mean, "frame")
    windows, hits = [], []
    model.eval()
    with torch.no_grad():
        for frame in prepared_frames(model, frames, pipeline, detail_scale=scale):
            peaks = model.lesion_peaks(frame.x, PEAK_THRESHOLD, MAX_PEAKS, rank=False)[0]
            windows.append(detail_windows(frame.detail, [(p.x, p.y) for p in peaks], window, scale))
            found = (inside_boxes(p.x / frame.scale, p.y / frame.scale, frame.boxes).any() for p in peaks)
            hits += [bool(hit) for hit in found]
    return RankerSamples(torch.cat(windows), torch.tensor(hits, dtype=torch.float32), scale)


def fit_ranker(samples: RankerSamples, seed: int, epochs: int = EPOCHS) -> nn.Module:
    """A :class:`~stenoscope.models.PeakRanker` trained hit against miss (misses outnumber hits about 3 to
    1, so hits are weighted up to balance), one random view of the 8 per window and step; in eval mode."""
    from stenoscope.models.ranker import PeakRanker, eight_views

    if len(samples) < BATCH or not 0 < float(samples.hits.mean()) < 1:
        raise StenoscopeError(
            f"a peak ranker needs at least {BATCH} peaks, hits and misses both; got {len(samples)} peaks"
        )
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    ranker = PeakRanker(samples.windows.shape[-1], scale=samples.scale)
    optimiser = torch.optim.AdamW(ranker.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    steps = epochs * (len(samples) // BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, LR, total_steps=steps)
    balance = (1 - samples.hits.mean()) / samples.hits.mean()
    ranker.train()
    for _ in range(epochs):
        order = rng.permutation(len(samples))
        for start in range(0, len(order) - BATCH + 1, BATCH):
            chosen = torch.from_numpy(order[start : start + BATCH])
            view = eight_views(samples.windows[chosen])[int(rng.integers(8))]
            loss = nn.functional.binary_cross_entropy_with_logits(
                ranker(view), samples.hits[chosen], pos_weight=balance
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    return ranker.eval()


def train_peak_ranker(
    run_dir: str | Path,
    seed: int = 0,
    epochs: int = EPOCHS,
    window: int | None = None,
    scale: int | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Give a cross-validated run's fold models and ensemble their peak rankers, evaluate the run again.

    Returns the ``peak_ranker`` record also added to the run's ``results.json``.

    Raises:
        StenoscopeError: not a cross-validated run with saved fold models, or too few peaks to train on.
    """
    from stenoscope.models import load_model, save_model
    from stenoscope.models.ranker import SCALE, WINDOW, PeakRanker
    from stenoscope.train.config import config_from_dict
    from stenoscope.train.cv import cross_validate, load_training_data, training_splits

    started = time.perf_counter(), time.process_time()
    window = WINDOW if window is None else window
    scale = SCALE if scale is None else scale
    try:
        PeakRanker(window, scale=scale)  # a window the ranker cannot take fails before any work
    except ValueError as error:
        raise StenoscopeError(str(error)) from error
    if epochs < 1:
        raise StenoscopeError(f"a peak ranker trains for at least 1 epoch, got {epochs}")
    run_dir = Path(run_dir)
    try:
        results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise StenoscopeError(f"{run_dir}: not a finished training run ({error})") from error
    config = config_from_dict(results["config"])
    config.out = str(run_dir)
    if config.holdout or len(results["folds"]) < 2:
        raise StenoscopeError("a peak ranker trains on out-of-fold peaks: it needs a cross-validated run")
    if config.threads:
        torch.set_num_threads(config.threads)
    files = [run_dir / f"fold_{number}" / "model.safetensors" for number in range(1, config.folds + 1)]
    missing = [str(file) for file in files if not file.is_file()]
    if missing:
        raise StenoscopeError(f"{missing[0]}: fold model missing (train the run first)")
    models = [load_model(file) for file in files]
    if not all(getattr(model, "has_heatmap_head", False) for model in models):
        raise StenoscopeError(
            "a peak ranker re-scores heat-map peaks: the run's models have no heat-map head"
        )
    data = load_training_data(config)
    if data.base.kind != "frame" or not data.base.has_boxes:
        raise StenoscopeError(
            "a peak ranker learns from lesion boxes: the run's data are not frames with boxes"
        )
    samples = [
        ranker_samples(model, data.base.subset(val), model.checkpoint_metadata["training"], window, scale)
        for model, (_, val) in zip(models, training_splits(config, data.base), strict=True)
    ]
    for fold, (model, file) in enumerate(zip(models, files, strict=True)):
        others = RankerSamples.join([part for other, part in enumerate(samples) if other != fold])
        model.peak_ranker = fit_ranker(others, seed, epochs)
        save_model(model, file, **model.checkpoint_metadata)
    cross_validate(config, show_progress=show_progress, reevaluate=True)
    ensemble = load_model(run_dir / results["files"]["ensemble"])
    every_fold = RankerSamples.join(samples)
    ensemble.peak_ranker = fit_ranker(every_fold, seed, epochs)
    save_model(ensemble, run_dir / results["files"]["ensemble"], **ensemble.checkpoint_metadata)
    record = {
        "window": window,
        "scale": scale,
        "epochs": epochs,
        "seed": seed,
        "parameters": int(sum(p.numel() for p in ensemble.peak_ranker.parameters())),
        "peaks": len(every_fold),
        "hit_share": float(every_fold.hits.mean()),
        "wall_seconds": round(time.perf_counter() - started[0], 1),
        "cpu_seconds": round(time.process_time() - started[1], 1),
        "threads": config.threads or os.cpu_count(),
    }
    updated = json.loads((run_dir / "results.json").read_text(encoding="utf-8")) | {"peak_ranker": record}
    write_text_atomic(run_dir / "results.json", json.dumps(updated, indent=2, allow_nan=False) + "\n")
    return record
