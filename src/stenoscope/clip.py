"""The one clip type that flows through the pipeline: frames plus what is known about them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from stenoscope.errors import InputError


@dataclass(frozen=True, eq=False)
class Clip:
    """A grey cine run (or a single image, as a run of one frame) with its acquisition metadata.

    Frames keep their original integer depth (``uint8`` or ``uint16``, ``bits_stored`` significant bits)
    so nothing is lost before analysis; :meth:`as_float` gives the normalised view models work on.
    Metadata is ``None`` where the source does not say. No patient identifiers are ever stored here.

    Attributes:
        frames: ``(T, H, W)`` array, ``T >= 1``, bright = more X-ray transmission (vessels dark).
        bits_stored: significant bits per pixel (8..16).
        frame_time_ms: time between frames in milliseconds.
        pixel_spacing_mm: ``(row, column)`` spacing at the isocentre where the source allows it.
        primary_angle: C-arm LAO(+)/RAO(-) angle in degrees.
        secondary_angle: C-arm CRA(+)/CAU(-) angle in degrees.
        modality: DICOM modality (``XA``, ``RF``...) when known.
        manufacturer: equipment manufacturer when known.
        source: where the clip came from (a path, or a description for in-memory clips).
        format: reader that produced it: ``dicom``, ``video``, ``frames``, ``image``, ``array`` or
            ``synthetic``.
    """

    frames: np.ndarray
    bits_stored: int = 8
    frame_time_ms: float | None = None
    pixel_spacing_mm: tuple[float, float] | None = None
    primary_angle: float | None = None
    secondary_angle: float | None = None
    modality: str | None = None
    manufacturer: str | None = None
    source: str | None = None
    format: str = "array"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        frames = np.asarray(self.frames)
        if frames.ndim == 2:
            frames = frames[None]
        if frames.ndim != 3:
            raise ValueError(f"frames must be (T, H, W), got shape {frames.shape}")
        if frames.shape[0] == 0:
            raise ValueError("a clip needs at least one frame")
        if not 1 <= self.bits_stored <= 16:
            raise ValueError(f"bits_stored must be 1..16, got {self.bits_stored}")
        object.__setattr__(self, "frames", frames)

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    @property
    def name(self) -> str:
        """A short name for reports: the source's file or folder name without suffix."""
        if not self.source:
            return "clip"
        from pathlib import Path

        path = Path(self.source)
        return path.stem if path.suffix else path.name

    def require_image(self) -> None:
        """Refuse a blank clip (every pixel one value: a failed export, a wrong series), since key frames
        and a stenosis probability would still come out of it, and a number for no image misleads."""
        low, high = self.frames.min().item(), self.frames.max().item()
        if low == high:
            value = f"{low:g}" if isinstance(low, float) else str(low)  # integers in full, even 32-bit ones
            raise InputError(self.source, f"blank: every pixel of every frame has the value {value}")

    def as_float(self) -> np.ndarray:
        """Frames as ``float32`` in [0, 1], scaled by the stored bit depth (not by the frame's range)."""
        if np.issubdtype(self.frames.dtype, np.floating):
            return self.frames.astype(np.float32, copy=False)
        return self.frames.astype(np.float32) / float((1 << self.bits_stored) - 1)

    def as_uint8(self) -> np.ndarray:
        """Frames scaled to 8 bits for display and video export."""
        return np.clip(np.rint(self.as_float() * 255.0), 0, 255).astype(np.uint8)

    def with_frames(self, frames: np.ndarray, **changes: Any) -> Clip:
        """A copy with other frames (e.g. a subset) and the same metadata unless changed."""
        return replace(self, frames=frames, **changes)

    def info(self) -> dict[str, Any]:
        """The summary ``stenoscope info`` prints."""
        return {
            "n_frames": self.n_frames,
            "height": self.height,
            "width": self.width,
            "bits_stored": self.bits_stored,
            "frame_time_ms": self.frame_time_ms,
            "pixel_spacing_mm": list(self.pixel_spacing_mm) if self.pixel_spacing_mm else None,
            "primary_angle": self.primary_angle,
            "secondary_angle": self.secondary_angle,
            "modality": self.modality,
            "manufacturer": self.manufacturer,
            "format": self.format,
            "source": self.source,
        }
