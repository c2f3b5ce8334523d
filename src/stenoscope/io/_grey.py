"""Turning whatever pixels a file holds into the Clip's grey integer frames, by one documented rule.

- Colour (RGB/RGBA/palette) becomes luma, ITU-R BT.601 (0.299 R + 0.587 G + 0.114 B). Cath-lab exports
  are grey stored as RGB, where this is exact; a true colour overlay is flattened the same way rather than
  refused, and ``Clip.extra["converted_from"]`` records that the source was colour.
- ``uint16`` data keep their depth; ``bits_stored`` is the number of bits the brightest pixel of the whole
  clip needs (at least 8), so a 12-bit detector image saved in a 16-bit PNG reads back as 12-bit. Data that
  fit in 8 bits become ``uint8``.
- Floating-point data must lie in [0, 1]; they are scaled to 16-bit (``bits_stored`` 16) so no precision
  that matters is lost.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stenoscope.errors import InputError

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of ``(..., 3)`` data, rounded back to the input's integer type."""
    grey = rgb[..., :3].astype(np.float64) @ _LUMA
    top = np.iinfo(rgb.dtype).max if np.issubdtype(rgb.dtype, np.integer) else 1.0
    grey = np.clip(np.rint(grey) if np.issubdtype(rgb.dtype, np.integer) else grey, 0, top)
    return grey.astype(rgb.dtype)


def to_clip_depth(frames: np.ndarray, path: str | Path) -> tuple[np.ndarray, int]:
    """Frames as ``uint8``/``uint16`` with their bits_stored, by the rules in this module's docstring."""
    if frames.dtype == np.bool_:
        raise InputError(path, "boolean data is a mask, not an X-ray image")
    if np.issubdtype(frames.dtype, np.floating):
        if not np.all(np.isfinite(frames)):
            raise InputError(path, "frames contain NaN or infinite values")
        low, high = float(frames.min()), float(frames.max())
        if low < 0.0 or high > 1.0:
            raise InputError(path, f"float frames must lie in [0, 1], found [{low:.4g}, {high:.4g}]")
        return np.rint(frames * 65535.0).astype(np.uint16), 16
    if not np.issubdtype(frames.dtype, np.integer):
        raise InputError(path, f"unsupported pixel type {frames.dtype}")
    if frames.dtype == np.uint8:
        return frames, 8
    low, high = int(frames.min()), int(frames.max())
    if low < 0 or high > 65535:
        raise InputError(path, f"integer frames must lie in [0, 65535], found [{low}, {high}]")
    bits = max(8, high.bit_length())
    return frames.astype(np.uint8 if bits <= 8 else np.uint16), bits
