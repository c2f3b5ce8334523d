"""Pictures a person looks at: heat-map overlays, peaks and boxes drawn on frames, side-by-side panels.

Everything here is plain numpy + Pillow on ``uint8`` RGB arrays, so the writers (PNG, GIF, MP4, HTML) share
one look and stay fast enough to render every frame of a clip.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from stenoscope.explain.peaks import Box, Peak

# Heat below this share of the map's range is not tinted, so the angiogram stays readable around lesions.
OVERLAY_FLOOR = 0.15
OVERLAY_ALPHA = 0.65
PANEL_GAP_PX = 4
PEAK_COLOUR = (0, 255, 255)
BOX_COLOUR = (80, 255, 80)


@lru_cache(maxsize=1)
def heat_lut() -> np.ndarray:
    """``(256, 3)`` uint8 colours of matplotlib's perceptually uniform 'inferno' map."""
    from matplotlib import colormaps

    return np.rint(colormaps["inferno"](np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)


def grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    """``(..., H, W)`` uint8 grey -> ``(..., H, W, 3)`` RGB."""
    return np.repeat(grey[..., None], 3, axis=-1)


def overlay(grey: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """Tint ``grey`` (``(..., H, W)`` uint8) with ``heat`` (same shape, uint8 0..255 or float 0..1).

    Weak heat is left untinted and strong heat blends up to ``OVERLAY_ALPHA``, so a flat low map does not
    paint the whole frame.
    """
    heat_u8 = heat if heat.dtype == np.uint8 else np.clip(np.rint(heat * 255.0), 0, 255).astype(np.uint8)
    colour = heat_lut()[heat_u8].astype(np.float32)
    alpha = np.clip((heat_u8.astype(np.float32) / 255.0 - OVERLAY_FLOOR) / (1.0 - OVERLAY_FLOOR), 0.0, 1.0)
    alpha = (OVERLAY_ALPHA * alpha)[..., None]
    base = grey.astype(np.float32)[..., None]
    return np.clip(np.rint(base * (1.0 - alpha) + colour * alpha), 0, 255).astype(np.uint8)


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = PANEL_GAP_PX) -> np.ndarray:
    """Two ``(..., H, W, 3)`` panels with a white gap between them."""
    shape = (*left.shape[:-2], gap, 3)
    spacer = np.full(shape, 255, dtype=np.uint8)
    return np.concatenate([left, spacer, right], axis=-2)


def draw_marks(
    rgb: np.ndarray,
    peaks: Sequence[Peak],
    boxes: Sequence[Box],
    scale: float = 1.0,
) -> np.ndarray:
    """Draw boxes and numbered peak circles (coordinates in input pixels times ``scale``) on an RGB image."""
    image = Image.fromarray(rgb)
    draw = ImageDraw.Draw(image)
    width = max(1, round(min(rgb.shape[:2]) / 256))
    for box in boxes:
        x0, y0 = box.x * scale, box.y * scale
        draw.rectangle((x0, y0, x0 + box.w * scale, y0 + box.h * scale), outline=BOX_COLOUR, width=width)
    radius = max(4.0, min(rgb.shape[:2]) / 40)
    for rank, peak in enumerate(peaks, start=1):
        x, y = peak.x * scale, peak.y * scale
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), outline=PEAK_COLOUR, width=width + 1)
        draw.text((x + radius + 2, y - radius - 2), str(rank), fill=PEAK_COLOUR)
    return np.asarray(image)


def resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an ``(H, W, 3)`` image to ``(width, height)`` with area-like filtering."""
    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))


def fit_size(height: int, width: int, long_side: int, even: bool = False) -> tuple[int, int]:
    """``(width, height)`` scaled so the long side is at most ``long_side`` (never enlarged)."""
    scale = min(1.0, long_side / max(height, width))
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    if even:
        new_w, new_h = new_w + new_w % 2, new_h + new_h % 2
    return new_w, new_h
