"""From a heat map to findings: peaks (local maxima with scores) and boxes (connected regions).

Coordinates are pixels of the heat map's grid, which for maps from :class:`GradCAM` or
``model.lesion_map`` is the input frame's grid: ``x`` is the column, ``y`` the row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage


def _score(value: float) -> float | None:
    """A JSON-safe score rounded to 4 digits (``None`` for NaN/inf)."""
    return round(float(value), 4) if math.isfinite(value) else None


@dataclass(frozen=True)
class Peak:
    """A local maximum of a heat map: pixel ``(x, y)`` and the map's value there."""

    x: int
    y: int
    score: float

    def to_json(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, "score": _score(self.score)}


@dataclass(frozen=True)
class Box:
    """The bounding box of a connected region above threshold, scored by the region's maximum."""

    x: int
    y: int
    w: int
    h: int
    score: float

    def to_json(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h, "score": _score(self.score)}


def _as_map(heatmap: Any) -> np.ndarray:
    if hasattr(heatmap, "detach"):  # a torch tensor, possibly on a GPU
        heatmap = heatmap.detach().cpu().numpy()
    array = np.asarray(heatmap, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"a heat map must be 2-D (H, W), got shape {array.shape}")
    return np.nan_to_num(array, nan=0.0)


def find_peaks(
    heatmap: Any, threshold: float = 0.5, max_peaks: int = 5, min_distance: int | None = None
) -> list[Peak]:
    """Local maxima of ``heatmap`` at or above ``threshold``, strongest first.

    Args:
        heatmap: ``(H, W)`` array (numpy or torch).
        threshold: lowest value a peak may have.
        max_peaks: at most this many peaks.
        min_distance: peaks closer than this (Chebyshev distance, pixels) to a stronger peak are dropped;
            by default ``max(1, min(H, W) // 32)`` (16 px on a 512 px frame, about a lesion's radius).
    """
    values = _as_map(heatmap)
    if min_distance is None:
        min_distance = max(1, min(values.shape) // 32)
    local_max = ndimage.maximum_filter(values, size=2 * min_distance + 1, mode="nearest")
    # pixels equal to their neighbourhood's maximum form plateaus of equal value: one candidate per plateau,
    # the pixel nearest the plateau's centroid
    plateaus, _ = ndimage.label((values == local_max) & (values >= threshold), structure=np.ones((3, 3)))
    candidates = []
    for index, region in enumerate(ndimage.find_objects(plateaus), start=1):
        rows, cols = np.nonzero(plateaus[region] == index)
        nearest = np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2)
        row, col = int(rows[nearest] + region[0].start), int(cols[nearest] + region[1].start)
        candidates.append(Peak(x=col, y=row, score=float(values[row, col])))
    candidates.sort(key=lambda peak: -peak.score)
    peaks: list[Peak] = []
    for candidate in candidates:
        if len(peaks) == max_peaks:
            break
        if all(max(abs(candidate.y - p.y), abs(candidate.x - p.x)) > min_distance for p in peaks):
            peaks.append(candidate)
    return peaks


def heatmap_boxes(heatmap: Any, threshold: float = 0.5) -> list[Box]:
    """Bounding boxes of the 8-connected regions where ``heatmap >= threshold``, highest scoring first."""
    values = _as_map(heatmap)
    labels, count = ndimage.label(values >= threshold, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return []
    scores = ndimage.maximum(values, labels, index=np.arange(1, count + 1))
    boxes = [
        Box(
            x=int(cols.start),
            y=int(rows.start),
            w=int(cols.stop - cols.start),
            h=int(rows.stop - rows.start),
            score=float(score),
        )
        for (rows, cols), score in zip(ndimage.find_objects(labels), np.atleast_1d(scores), strict=True)
    ]
    return sorted(boxes, key=lambda box: -box.score)
