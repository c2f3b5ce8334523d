"""Run a saved model (or ensemble) over a dataset: classification metrics with 95% bootstrap CIs, clip-wise
accuracy where clips exist, and, for frames with lesion boxes, localisation scored from both the heat-map
head (when present) and Grad-CAM.

Peak scores: heat-map peaks keep the lesion probability at the peak; Grad-CAM maps are scaled to [0, 1] per
image, so a Grad-CAM peak's score is its map value times the frame's stenosis probability (otherwise every
frame's top peak would score 1 and false positives per image would not be comparable across frames).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from stenoscope.data._base import SampleDataset
from stenoscope.data.transforms import Compose
from stenoscope.errors import StenoscopeError
from stenoscope.evaluate.metrics import (
    CLASSIFICATION_METRICS,
    FP_RATES,
    HIT_MARGIN,
    ImageHits,
    at_threshold,
    bootstrap_ci,
    bootstrap_intervals,
    classification_metrics,
    clip_accuracy,
    pointing_game,
    sensitivity_at_fp,
)

SCHEMA = "stenoscope.evaluation/1"
PEAK_THRESHOLD = 0.02  # low: FROC needs weak peaks too; the operating points pick the thresholds
MAX_PEAKS = 10
TOP_PEAKS = 3  # also scored: is a lesion among the 3 strongest peaks (whatever their scores)?
POINTING_GAMES = (("pointing_game", 1), (f"pointing_game_top{TOP_PEAKS}", TOP_PEAKS))  # (key, peaks checked)
# the numbers localisation_metrics reports (each also with a "_ci95" interval), in its order
LOCALISATION_METRICS = (
    *(key for key, _ in POINTING_GAMES),
    *(f"sensitivity_at_{rate:g}_fp" for rate in FP_RATES),
)
GROUPS_LISTED = 20  # at most this many groups (a few cine runs, not ARCADE's near-duplicate sets) get rows

PeakList = list[tuple[float, float, float]]


@dataclass
class EvaluationResult:
    """Metrics of one model on one dataset (``to_json`` is what ``evaluate --json`` prints)."""

    dataset: dict[str, Any]
    metrics: dict[str, Any]
    ci95: dict[str, Any]
    clip: dict[str, Any] | None = None
    localisation: dict[str, Any] | None = None
    probabilities: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "dataset": self.dataset,
            "metrics": self.metrics,
            "ci95": self.ci95,
            "clip": self.clip,
            "localisation": self.localisation,
        }


def _interval(value: tuple[float, float] | None) -> list[float] | None:
    return None if value is None else [value[0], value[1]]


def classification_with_ci(
    labels: np.ndarray,
    probabilities: np.ndarray,
    groups: list[str],
    n_boot: int,
    seed: int,
    threshold: float = 0.5,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Point estimates and group-resampled 95% CIs of AUC, accuracy, sensitivity and specificity, calls
    at probability >= ``threshold``."""
    metrics = classification_metrics(labels, probabilities, threshold)
    ci = {
        name: _interval(
            bootstrap_ci(
                at_threshold(name, threshold),
                labels,
                probabilities,
                n_resamples=n_boot,
                seed=seed,
                groups=groups,
            )
        )
        for name in CLASSIFICATION_METRICS
    }
    return metrics, ci


def clip_metrics(
    labels: np.ndarray,
    probabilities: np.ndarray,
    groups: list[str],
    n_boot: int,
    seed: int,
    threshold: float = 0.5,
) -> dict[str, Any] | None:
    """Clip-wise accuracy by majority vote and by mean probability, when some group has several frames."""
    if len(set(groups)) == len(groups):
        return None
    result: dict[str, Any] = {"n_clips": len(set(groups))}
    for rule in ("vote", "mean"):

        def metric(y: np.ndarray, p: np.ndarray, g: np.ndarray, rule: str = rule) -> float | None:
            return clip_accuracy(y, p, list(g), rule, threshold)

        result[f"accuracy_{rule}"] = clip_accuracy(labels, probabilities, groups, rule, threshold)
        result[f"accuracy_{rule}_ci95"] = _interval(
            bootstrap_ci(
                metric,
                labels,
                probabilities,
                np.asarray(groups),
                n_resamples=n_boot,
                seed=seed,
                groups=groups,
            )
        )
    return result


@dataclass(frozen=True)
class PreparedFrame:
    """One frame as evaluation feeds it to a model.

    Attributes:
        image: the frame after the evaluation transforms (resized, recipe steps), ``(h, w)``, before the
            model's normalisation.
        x: the model's input ``(1, C, h, w)``.
        boxes: the frame's lesion boxes in its own pixels.
        scale: input pixels per frame pixel: a peak found on ``x`` divided by it lies in the frame's pixels,
            where the 8 px hit margin applies.
        detail: the frame prepared on a peak ranker's finer grid (``detail_scale`` x ``image``'s size;
            ``image`` itself at scale 1): what the ranker's windows are cut from.
    """

    image: torch.Tensor
    x: torch.Tensor
    boxes: np.ndarray
    scale: float
    detail: torch.Tensor


def prepared_frames(
    model: nn.Module,
    frames: SampleDataset,
    pipeline: Compose,
    device: torch.device | None = None,
    detail_scale: int = 1,
) -> Iterator[PreparedFrame]:
    """Each frame of ``frames`` transformed by ``pipeline`` (as at training, without randomness) and
    normalised for ``model``: the one loop behind every localisation measurement. ``detail_scale``: also
    prepare each frame on a grid that many times finer (the same steps, every resize that much larger;
    a pipeline that does not resize gets the prepared frame enlarged) for a peak ranker."""
    from stenoscope.models.ranker import enlarged
    from stenoscope.train.loop import make_batch

    finer = pipeline.finer(detail_scale) if detail_scale > 1 else None
    for index in range(len(frames)):
        batch = make_batch(frames, [index], pipeline, None)
        scale = batch.images.shape[-1] / frames[index].image.shape[1]
        x = model.preprocess.normalise(batch.images.to(device) if device is not None else batch.images)
        image = batch.images[0, 0]
        if finer is not None:
            detail = make_batch(frames, [index], finer, None).images[0, 0]
        else:
            detail = enlarged(image[None], detail_scale)[0]
        yield PreparedFrame(image, x, batch.boxes[0] / scale, scale, detail)


def collect_peaks(
    model: nn.Module,
    frames: SampleDataset,
    pipeline: Compose,
    device: torch.device,
    probabilities: np.ndarray | None = None,
    gradcam: bool = True,
) -> tuple[dict[str, list[PeakList]], list[np.ndarray]]:
    """Peaks per frame from each available map, and the frames' boxes, all in the frames' own pixels.

    Frames are transformed as at training (e.g. resized); peaks and boxes are scaled back so the 8 px hit
    margin means 8 pixels of the original frame. ``probabilities``: the frames' stenosis probabilities when
    already computed (they weight Grad-CAM's peak scores), saving a forward pass per frame. ``gradcam=False``
    collects the heat map's peaks alone (no backward pass per frame).
    """
    from stenoscope.explain import GradCAM, find_peaks
    from stenoscope.models.ranker import ranker_scale

    model.eval()
    sources: dict[str, list[PeakList]] = {"gradcam": []} if gradcam else {}
    if getattr(model, "has_heatmap_head", False):
        sources["heatmap"] = []
    boxes: list[np.ndarray] = []
    with GradCAM(model) if gradcam else nullcontext() as cam:
        for index, frame in enumerate(prepared_frames(model, frames, pipeline, device, ranker_scale(model))):
            x, scale = frame.x, frame.scale
            boxes.append(frame.boxes)
            with torch.no_grad():
                if cam is not None and probabilities is not None:
                    probability = float(probabilities[index])
                elif cam is not None:
                    probability = float(model.frame_probability(x)[0])
                if "heatmap" in sources:
                    found = model.lesion_peaks(x, PEAK_THRESHOLD, MAX_PEAKS, detail=frame.detail[None])[0]
                    sources["heatmap"].append(_peaks(found, scale))
            if cam is not None:
                found = find_peaks(cam(x)[0], PEAK_THRESHOLD, MAX_PEAKS)
                sources["gradcam"].append([(px, py, s * probability) for px, py, s in _peaks(found, scale)])
    return sources, boxes


def _peaks(found: list[Any], scale: float) -> PeakList:
    return [(peak.x / scale, peak.y / scale, peak.score) for peak in found]


def localisation_metrics(
    peaks: list[PeakList],
    boxes: list[np.ndarray],
    n_boot: int,
    seed: int,
    margin: float = HIT_MARGIN,
    groups: list[str] | None = None,
) -> dict[str, Any]:
    """Pointing game, the same among the ``TOP_PEAKS`` strongest peaks, and lesion sensitivity at 0.5/1/2
    FP per image, each with an image-resampled 95% CI.

    With ``groups`` that are a few runs of several frames each, also each run's own numbers (``by_group``):
    consecutive frames of a run are near-identical, so there the runs, not the frames, are the independent
    units, and the image-resampled CIs are too narrow.
    """
    with_boxes = [i for i, b in enumerate(boxes) if len(b)]
    result: dict[str, Any] = {"n_images": len(boxes), "n_lesions": int(sum(len(b) for b in boxes))}
    for key, top in POINTING_GAMES:
        result[key] = pointing_game(peaks, boxes, margin, top)
        result[f"{key}_ci95"] = (
            _interval(
                bootstrap_ci(
                    lambda p, b, top=top: pointing_game(p, b, margin, top),
                    [peaks[i] for i in with_boxes],
                    [boxes[i] for i in with_boxes],
                    n_resamples=n_boot,
                    seed=seed,
                )
            )
            if with_boxes
            else None
        )
    scored = [ImageHits.score(p, b, margin) for p, b in zip(peaks, boxes, strict=True)]
    sensitivity = sensitivity_at_fp(scored, FP_RATES)
    column = np.empty(len(scored), dtype=object)
    column[:] = scored
    intervals = bootstrap_intervals(
        lambda images: sensitivity_at_fp(images, FP_RATES), column, n_resamples=n_boot, seed=seed
    )
    for rate in FP_RATES:
        key = f"{rate:g}"
        result[f"sensitivity_at_{key}_fp"] = sensitivity[key]
        result[f"sensitivity_at_{key}_fp_ci95"] = _interval(intervals.get(key))
    if groups is not None and len(set(groups)) < len(groups) and len(set(groups)) <= GROUPS_LISTED:
        result["by_group"] = _by_group(peaks, boxes, scored, groups, margin)
    return result


def _by_group(
    peaks: list[PeakList], boxes: list[np.ndarray], scored: list[ImageHits], groups: list[str], margin: float
) -> dict[str, dict[str, Any]]:
    """Each group's frame count, pointing game and lesion sensitivities (no CIs: a run is one unit)."""
    by_group = {}
    for group in sorted(set(groups)):
        members = [i for i, name in enumerate(groups) if name == group]
        row: dict[str, Any] = {
            "n_images": len(members),
            "n_lesions": int(sum(len(boxes[i]) for i in members)),
        }
        for key, top in POINTING_GAMES:
            row[key] = pointing_game([peaks[i] for i in members], [boxes[i] for i in members], margin, top)
        sensitivity = sensitivity_at_fp([scored[i] for i in members], FP_RATES)
        row |= {f"sensitivity_at_{key}_fp": value for key, value in sensitivity.items()}
        by_group[group] = row
    return by_group


def evaluate_model(
    model: nn.Module,
    dataset: SampleDataset,
    pipeline: Compose,
    frame_pipeline: Compose | None = None,
    device: torch.device | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    localisation: bool = True,
    threshold: float = 0.5,
) -> EvaluationResult:
    """Evaluate ``model`` on ``dataset``.

    Args:
        pipeline: input transforms for the dataset's samples (see ``recipes.inference_pipeline``).
        frame_pipeline: transforms for whole frames in localisation (default ``pipeline``).
        localisation: score peaks when the dataset holds whole frames with boxes.
        threshold: probability at which a sample is called stenotic (accuracy, sensitivity, specificity,
            clip votes); a published model's own threshold for whole frames (:func:`evaluate_path`).
    """
    from stenoscope.train.loop import predict

    device = device or torch.device("cpu")
    model = model.to(device).eval()
    probabilities = predict(model, dataset, pipeline, device)
    labels, groups = dataset.labels, dataset.groups
    metrics, ci = classification_with_ci(labels, probabilities, groups, n_boot, seed, threshold)
    clip = None
    if dataset.kind == "frame":
        clip = clip_metrics(labels, probabilities, groups, n_boot, seed, threshold)
    local = None
    if localisation and dataset.kind == "frame" and dataset.has_boxes:
        sources, boxes = collect_peaks(model, dataset, frame_pipeline or pipeline, device, probabilities)
        local = {
            name: localisation_metrics(peaks, boxes, n_boot, seed, groups=list(groups))
            for name, peaks in sources.items()
        }
    return EvaluationResult(
        dataset=dataset.summary(),
        metrics=metrics,
        ci95=ci,
        clip=clip,
        localisation=local,
        probabilities=[float(p) for p in probabilities],
    )


def crops_as_trained(frames: SampleDataset, training: dict[str, Any] | None, seed: int) -> SampleDataset:
    """Region crops of ``frames`` (with boxes) cut as the model's classifier was trained (window, size,
    margin...), as far as its checkpoint recorded how."""
    from stenoscope.data.regions import RegionOptions, region_dataset

    training = training or {}
    stored = dict(training.get("regions") or {})
    size = int(training.get("input_size") or stored.get("size") or RegionOptions().size)
    return region_dataset(frames, RegionOptions(**{**stored, "size": size, "seed": seed}))


def key_frame_samples(
    frames: SampleDataset, method: str = "default", count: int = 5
) -> tuple[SampleDataset, dict[str, Any]]:
    """Each group's frames, in the order a frame folder is read, taken as one cine run and cut to the
    ``count`` key frames ``method`` picks there: the frames `stenoscope analyze` classifies and explains,
    so external runs can be scored on what users are shown, not only frame by frame.

    Returns the chosen frames and a record of the choice (method, count, each group's chosen sources).

    Raises:
        StenoscopeError: a group has no more than ``count`` frames (nothing to choose from: single frames
            or near-duplicate sets, not cine runs) or frames of different sizes.
    """
    from stenoscope.clip import Clip
    from stenoscope.io._grey import to_clip_depth
    from stenoscope.io.images import natural_key
    from stenoscope.keyframes import detect_key_frames

    if frames.kind != "frame":
        raise StenoscopeError("key frames are chosen among whole frames, not region crops")
    runs: dict[str, list[int]] = {}
    for index, entry in enumerate(frames.entries):
        runs.setdefault(entry.group, []).append(index)
    chosen: list[int] = []
    record: dict[str, list[str]] = {}
    for group, members in sorted(runs.items()):
        if len(members) <= count:
            raise StenoscopeError(
                f"key frames need cine runs: group {group!r} has {len(members)} frame(s), "
                f"no more than the {count} to choose"
            )
        members.sort(
            key=lambda i: (natural_key(Path(frames.entries[i].source)), frames.entries[i].frame or 0)
        )
        images = [frames[i].image for i in members]
        if len({image.shape for image in images}) > 1:
            raise StenoscopeError(f"group {group!r}: frames of different sizes do not form one run")
        pixels, bits = to_clip_depth(np.stack(images), group)  # float frames -> 16 bits, as any reader does
        run = Clip(pixels, bits_stored=bits, source=group)
        picked = [members[i] for i in detect_key_frames(run, method=method, count=count).key_frames]
        chosen += picked
        record[group] = [Path(frames.entries[i].source).name for i in picked]
    return frames.subset(chosen), {"method": method, "count": count, "groups": record}


def evaluate_path(
    model_path: str | Path,
    dataset_path: str | Path,
    format: str = "auto",
    samples: str = "frames",
    device: str = "auto",
    n_boot: int = 1000,
    seed: int = 0,
    out: str | Path | None = None,
    *,
    keyframes: str = "default",
    count: int = 5,
) -> EvaluationResult:
    """Load a saved model or ensemble and evaluate it on a dataset of any layout (external validation).

    Args:
        samples: ``frames`` scores the dataset's samples as they are; ``regions`` scores region crops cut
            from frames with boxes (as the crop classifier was trained), cut with the model's crop size;
            ``keyframes`` scores the ``count`` key frames that method ``keyframes`` picks in each group, a
            cine run (:func:`key_frame_samples`), as ``stenoscope analyze --keyframes --count`` picks them.
        out: folder for ``evaluation.json`` and ``roc.png`` (nothing written when ``None``).
    """
    from stenoscope.data.datasets import open_dataset
    from stenoscope.models import load_model
    from stenoscope.train.loop import resolve_device
    from stenoscope.train.recipes import inference_pipeline

    if samples != "keyframes" and (keyframes, count) != ("default", 5):
        raise StenoscopeError(
            "a key-frame method and count choose key frames: use them with samples 'keyframes'"
        )
    resolved = resolve_device(device)
    model = load_model(model_path, device=resolved)
    training = getattr(model, "checkpoint_metadata", {}).get("training")
    dataset = open_dataset(dataset_path, format)
    if samples == "regions":
        if not dataset.has_boxes:
            raise StenoscopeError("--samples regions needs a dataset with lesion boxes")
        dataset = crops_as_trained(dataset, training, seed)
    elif samples == "keyframes":
        dataset, key_frames = key_frame_samples(dataset, keyframes, count)
    elif samples != "frames":
        raise StenoscopeError(f"samples must be 'frames', 'regions' or 'keyframes', got {samples!r}")
    mean = model.preprocess.mean
    # whole frames are called as `stenoscope analyze` calls key frames, at the model's own threshold; crops
    # get the classification head's softmax, called at the threshold set on the training crops
    metadata = getattr(model, "checkpoint_metadata", {})
    threshold = float(metadata.get("threshold" if dataset.kind == "frame" else "region_threshold", 0.5))
    result = evaluate_model(
        model,
        dataset,
        inference_pipeline(training, mean, dataset.kind),
        frame_pipeline=inference_pipeline(training, mean, "frame"),
        device=resolved,
        n_boot=n_boot,
        seed=seed,
        threshold=threshold,
    )
    if samples == "keyframes":
        result.dataset["key_frames"] = key_frames
    if out is not None:
        from stenoscope._fs import write_text_atomic
        from stenoscope.evaluate.metrics import roc_curve_png

        out = Path(out)
        report = result.to_json() | {"model": str(model_path), "dataset_path": str(dataset_path)}
        if result.localisation and "heatmap" in result.localisation:
            report["heatmap_views"] = model.heatmap_views.to_dict()
        write_text_atomic(out / "evaluation.json", json.dumps(report, indent=2, allow_nan=False) + "\n")
        roc_curve_png(
            [(dataset.name, dataset.labels, result.probabilities)], out / "roc.png", title="evaluation"
        )
    return result
