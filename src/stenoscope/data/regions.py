"""Region-level samples from frames with lesion boxes, for the classification head.

Why: box datasets such as ARCADE have almost no lesion-free frames, so a frame-level classifier cannot be
trained on them. Crops can: positives are crops that hold a whole annotated lesion (at a jittered position),
negatives are crops of the same frames that do not touch any (dilated) box. Negatives are drawn mostly where
vesselness is high, because a crop of plain background teaches nothing: the hard question is "is this
vessel segment narrowed?", not "is there a vessel?".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from stenoscope.data._base import Entry, SampleDataset, as_boxes

REFERENCE_SIZE = 512  # window and distances are given for 512 px frames and scale with the frame


@dataclass(frozen=True)
class RegionOptions:
    """How crops are cut.

    Attributes:
        size: side of the crops handed to the model (pixels).
        window: side of a crop in a 512 px frame (scaled with the frame's size); a positive crop grows
            when its lesion (plus ``margin``) does not fit.
        positives_per_box: jittered crops per lesion box.
        negatives_per_frame: lesion-free crops per frame.
        margin: pixels kept between a positive crop's edge and its lesion box.
        dilate: pixels every box is widened by before negatives must avoid it.
        vessel_fraction: share of negatives drawn in proportion to vesselness (the rest uniformly).
        seed: makes the crop positions repeatable.
    """

    size: int = 64
    window: int = 96
    positives_per_box: int = 2
    negatives_per_frame: int = 3
    margin: int = 4
    dilate: int = 16
    vessel_fraction: float = 0.8
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def vesselness(image: np.ndarray, factor: int) -> np.ndarray:
    """Frangi vesselness of dark tubes on a ``factor``-times smaller image (cheap: ~10 ms at 128 px)."""
    from skimage.filters import frangi
    from skimage.transform import downscale_local_mean

    small = downscale_local_mean(image, (factor, factor)) if factor > 1 else image
    return frangi(small, sigmas=(1.0, 2.0, 3.0), black_ridges=True).astype(np.float32)


def _resize(crop: np.ndarray, size: int) -> np.ndarray:
    if crop.shape == (size, size):
        return crop.astype(np.float32, copy=False)
    from skimage.transform import resize

    return resize(crop, (size, size), order=1, anti_aliasing=True, preserve_range=True).astype(np.float32)


def _positive_origins(
    box: np.ndarray, side: int, shape: tuple[int, int], margin: int, count: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """Top-left corners of crops of ``side`` that contain ``box`` (+ margin), uniformly jittered."""
    x, y, w, h = box
    origins = []
    for _ in range(count):
        corner = []
        for start, extent, limit in ((x, w, shape[1]), (y, h, shape[0])):
            low = max(0, int(np.ceil(start + extent + margin - side)))
            high = min(limit - side, int(np.floor(start - margin)))
            corner.append(
                int(rng.integers(low, high + 1))
                if high >= low
                else int(np.clip(round(start + extent / 2 - side / 2), 0, limit - side))
            )
        origins.append((corner[0], corner[1]))
    return origins


def _negative_origins(
    image: np.ndarray, boxes: np.ndarray, side: int, options: RegionOptions, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """Top-left corners of crops that touch no dilated box, mostly centred on vessels."""
    height, width = image.shape
    factor = max(1, min(height, width) // 128)
    score = vesselness(image, factor)
    cell_y, cell_x = np.mgrid[0 : score.shape[0], 0 : score.shape[1]]
    origin_x = (cell_x * factor + factor // 2 - side // 2).ravel()
    origin_y = (cell_y * factor + factor // 2 - side // 2).ravel()
    allowed = (origin_x >= 0) & (origin_y >= 0) & (origin_x + side <= width) & (origin_y + side <= height)
    dilate = options.dilate * min(height, width) / REFERENCE_SIZE
    for x, y, w, h in boxes:
        touches = (
            (origin_x < x + w + dilate)
            & (origin_x + side > x - dilate)
            & (origin_y < y + h + dilate)
            & (origin_y + side > y - dilate)
        )
        allowed &= ~touches
    candidates = np.flatnonzero(allowed)
    count = min(options.negatives_per_frame, candidates.size)
    if count == 0:
        return []
    weights = score.ravel()[candidates].astype(np.float64)
    chosen: list[int] = []
    for _ in range(count):
        available = np.setdiff1d(candidates, chosen, assume_unique=True)
        use_vessels = rng.random() < options.vessel_fraction and weights.sum() > 0
        if use_vessels:
            probabilities = weights[np.isin(candidates, available)]
            if probabilities.sum() <= 0:
                probabilities = np.ones(available.size)
            chosen.append(int(rng.choice(available, p=probabilities / probabilities.sum())))
        else:
            chosen.append(int(rng.choice(available)))
    return [(int(origin_x[i]), int(origin_y[i])) for i in chosen]


def region_dataset(frames: SampleDataset, options: RegionOptions | None = None) -> SampleDataset:
    """Crops of every frame of ``frames`` (read once), as a ``"region"`` dataset kept in memory.

    Crops keep their frame's group, so a grouped split of the crops never separates a frame (or its
    near-duplicates) from itself. A positive crop's ``boxes`` is its lesion in crop pixels.
    """
    options = options or RegionOptions()
    rng = np.random.default_rng(options.seed)
    entries: list[Entry] = []
    for index in range(len(frames)):
        sample = frames[index]
        image, boxes = sample.image, sample.boxes
        height, width = image.shape
        window = min(height, width, max(8, round(options.window * min(height, width) / REFERENCE_SIZE)))
        for box in boxes:
            side = int(min(height, width, max(window, np.ceil(max(box[2], box[3])) + 2 * options.margin)))
            for x0, y0 in _positive_origins(
                box, side, (height, width), options.margin, options.positives_per_box, rng
            ):
                crop = _resize(image[y0 : y0 + side, x0 : x0 + side], options.size)
                scale = options.size / side
                local = as_boxes(
                    [[(box[0] - x0) * scale, (box[1] - y0) * scale, box[2] * scale, box[3] * scale]]
                )
                entries.append(
                    Entry(sample.source, 1, sample.group, local, sample.frame, crop, (x0, y0, side))
                )
        for x0, y0 in _negative_origins(image, boxes, window, options, rng):
            crop = _resize(image[y0 : y0 + window, x0 : x0 + window], options.size)
            entries.append(
                Entry(sample.source, 0, sample.group, as_boxes([]), sample.frame, crop, (x0, y0, window))
            )
    return SampleDataset(entries, kind="region", name=f"{frames.name}-regions")
