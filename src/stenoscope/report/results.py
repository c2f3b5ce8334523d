"""Typed results of one analysis; ``Report.to_json()`` is the versioned ``stenoscope.report/1`` document.

Coordinates are always in the input's pixel grid (x = column, y = row, origin top-left), whatever size the
model saw, so a statistician can join them with their own annotations.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stenoscope.explain.peaks import Box, Peak

if TYPE_CHECKING:  # pragma: no cover
    from stenoscope.clip import Clip

SCHEMA = "stenoscope.report/1"


def _num(value: float, digits: int = 4) -> float | None:
    """A JSON-safe rounded float (``None`` for NaN/inf)."""
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


@dataclass(frozen=True)
class FrameResult:
    """What the model says about one analysed (key) frame.

    ``peaks``/``boxes`` come from the primary heat map (the lesion head when the model has one, else
    Grad-CAM); ``gradcam_peaks``/``gradcam_boxes`` are always Grad-CAM's, so both can be compared.
    """

    index: int
    probability: float
    vote: bool
    peaks: list[Peak]
    boxes: list[Box]
    gradcam_peaks: list[Peak]
    gradcam_boxes: list[Box]
    heatmap: np.ndarray = field(repr=False, compare=False)  # primary map on the input grid, float32 [0, 1]

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "probability": _num(self.probability),
            "vote": self.vote,
            "peaks": [peak.to_json() for peak in self.peaks],
            "boxes": [box.to_json() for box in self.boxes],
            "gradcam": {
                "peaks": [peak.to_json() for peak in self.gradcam_peaks],
                "boxes": [box.to_json() for box in self.gradcam_boxes],
            },
        }


@dataclass(frozen=True)
class ClipDecision:
    """The clip-level answer: the paper's majority vote of the key frames, with the mean probability."""

    probability: float
    stenosis: bool
    votes: int
    n_votes: int
    threshold: float

    @property
    def rule(self) -> str:
        return (
            f"majority vote of {self.n_votes} key frame(s), a frame votes stenosis when its probability "
            f">= {self.threshold:g}; a tie is broken by the mean probability"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "probability": _num(self.probability),
            "stenosis": self.stenosis,
            "rule": self.rule,
            "votes": self.votes,
            "n_votes": self.n_votes,
            "threshold": self.threshold,
        }


@dataclass(frozen=True)
class ModelInfo:
    """Which model produced a report (the sha256 identifies the exact weights file)."""

    name: str
    version: str | None
    sha256: str | None
    card_summary: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}


@dataclass(eq=False)
class Report:
    """Everything ``stenoscope analyze`` learns about one clip, and the writers for its files.

    Attributes:
        input: the analysed path (or the in-memory clip's ``source``).
        name: the folder name used by :meth:`save` in a batch.
        clip: the analysed clip (frames are needed to draw the overlays and videos).
        keyframe_method, keyframe_scores: the key-frame step's method and per-frame scores.
        frames: one :class:`FrameResult` per key frame, in frame order.
        clip_heatmaps: ``(T, h, w)`` uint8 primary heat maps for every frame (for the GIF/MP4), or ``None``.
        heatmaps: how the maps were made (source, model input size, whole-clip policy).
        display_max: the heat at which the overlays' colour scale saturates (the clip's strongest heat for
            a lesion head, whose probabilities can all be small; 1 for Grad-CAM).
        warnings: out-of-distribution and other caveats, also printed by the CLI.
        timings: seconds per stage.
    """

    input: str
    name: str
    clip: Clip = field(repr=False)
    key_frame: int
    key_frames: list[int]
    keyframe_method: str
    keyframe_scores: list[float]
    frames: list[FrameResult]
    decision: ClipDecision
    model: ModelInfo
    heatmaps: dict[str, Any]
    clip_heatmaps: np.ndarray | None = field(default=None, repr=False)
    display_max: float = 1.0
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return self.clip.n_frames

    @property
    def frame_time_ms(self) -> float | None:
        return self.clip.frame_time_ms

    def to_json(self) -> dict[str, Any]:
        """The ``stenoscope.report/1`` document (JSON-safe: plain ints, floats rounded, no NaN)."""
        return {
            "schema": SCHEMA,
            "input": self.input,
            "name": self.name,
            "n_frames": self.n_frames,
            "height": self.clip.height,
            "width": self.clip.width,
            "bits_stored": self.clip.bits_stored,
            "frame_time_ms": None if self.frame_time_ms is None else _num(self.frame_time_ms, 3),
            "key_frame": self.key_frame,
            "key_frames": list(self.key_frames),
            "keyframes": {
                "method": self.keyframe_method,
                "scores": [_num(score) for score in self.keyframe_scores],
            },
            "frames": [frame.to_json() for frame in self.frames],
            "clip": self.decision.to_json(),
            "model": self.model.to_json(),
            "heatmaps": self.heatmaps,
            "warnings": list(self.warnings),
            "timings": {stage: round(seconds, 4) for stage, seconds in self.timings.items()},
        }

    def to_json_line(self) -> str:
        return json.dumps(self.to_json(), allow_nan=False, separators=(",", ":"))

    def save(self, directory: str | Path, videos: bool = True) -> Path:
        """Write report.json, keyframe PNGs, contact sheet, clip.gif/clip.mp4 and report.html into
        ``directory`` as one atomic folder (a rerun replaces it whole; an interruption leaves the old one).
        """
        from stenoscope.report.writers import save_report

        return save_report(self, Path(directory), videos=videos)
