"""What lies behind the coronaries: chest anatomy, the detector's vignetting and collimator, burned-in text.

Everything here is an X-ray attenuation map (``float32``, larger = darker) except the text overlay, which the
modality burns into the displayed pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import special


@dataclass
class Background:
    """Static attenuation maps of one run."""

    anatomy: np.ndarray  # (size + 2 * pad)^2, moves with breathing
    detector: np.ndarray  # size^2, fixed to the detector (vignetting, collimator shutters)
    open_field: np.ndarray  # size^2 bool: inside the collimator
    pad: int


def _grid(n: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
    axis = (np.arange(-pad, n + pad, dtype=np.float32) + 0.5) / n
    return np.meshgrid(axis, axis, indexing="xy")


def _smooth_noise(rng: np.random.Generator, n: int, cells: int) -> np.ndarray:
    """Unit-variance noise with features about ``n / cells`` pixels wide, cheap at any size."""
    from PIL import Image

    coarse = rng.standard_normal((cells + 3, cells + 3)).astype(np.float32)
    cell = n / cells
    full = round(cell * (cells + 3))
    fine = np.asarray(Image.fromarray(coarse, mode="F").resize((full, full), Image.Resampling.BICUBIC))
    offset = int(cell)
    fine = fine[offset : offset + n, offset : offset + n]
    return (fine - fine.mean()) / (fine.std() + 1e-6)


def _soft_step(value: np.ndarray, width: float) -> np.ndarray:
    return special.expit(value / width)


def chest_anatomy(rng: np.random.Generator, size: int, pad: int) -> np.ndarray:
    """Heart shadow, spine with vertebrae, ribs, diaphragm and soft low-frequency texture."""
    n = size + 2 * pad
    x, y = _grid(size, pad)
    attenuation = np.full((n, n), 0.25, dtype=np.float32)

    # heart shadow: a large soft ellipse
    cx, cy = rng.uniform(0.4, 0.65), rng.uniform(0.5, 0.7)
    ax, ay = rng.uniform(0.35, 0.5), rng.uniform(0.3, 0.45)
    inside = ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2
    attenuation += 0.12 * _soft_step(1.0 - inside, 0.15)

    # spine: a tilted band, denser, with vertebral bodies separated by lighter discs
    tilt = np.deg2rad(rng.uniform(-12, 12))
    along = x * np.sin(tilt) + y * np.cos(tilt)
    across = x * np.cos(tilt) - y * np.sin(tilt) - rng.uniform(0.1, 0.9)
    half_width = rng.uniform(0.1, 0.16)
    band = _soft_step(half_width - np.abs(across), 0.015)
    period = rng.uniform(0.13, 0.18)
    cycle = np.mod(along / period + rng.uniform(0, 1), 1.0)  # 0..1 within one vertebra
    disc = np.exp(-(((cycle - 0.5) / 0.07) ** 2))
    endplates = np.exp(-(((np.abs(cycle - 0.5) - 0.09) / 0.02) ** 2))
    pedicles = np.exp(-(((np.abs(across) - half_width * 0.6) / 0.03) ** 2) - ((cycle - 0.15) / 0.12) ** 2)
    attenuation += band * (rng.uniform(0.16, 0.26) - 0.06 * disc + 0.03 * endplates + 0.05 * pedicles)

    # ribs: curved bands with denser cortical edges
    for _ in range(int(rng.integers(3, 6))):
        x0, y0 = rng.uniform(-0.2, 1.2), rng.uniform(-0.1, 1.0)
        bend = rng.uniform(0.3, 1.2) * rng.choice([-1, 1])
        slope = rng.uniform(-0.5, 0.5)
        centre_line = y0 + slope * (x - x0) + bend * (x - x0) ** 2
        distance = np.abs(y - centre_line)
        width = rng.uniform(0.022, 0.035)
        rib = _soft_step(width - distance, 0.004)
        cortex = np.exp(-(((distance - width) / 0.005) ** 2))
        attenuation += rng.uniform(0.05, 0.09) * rib + 0.05 * cortex

    # diaphragm: a dome with the liver below it (not in every view)
    if rng.random() < 0.6:
        dome_x, dome_y = rng.uniform(0.2, 0.8), rng.uniform(0.72, 1.05)
        surface = dome_y + rng.uniform(0.5, 1.5) * (x - dome_x) ** 2
        attenuation += rng.uniform(0.25, 0.4) * _soft_step(y - surface, 0.012)

    attenuation += 0.07 * _smooth_noise(rng, n, 5) + 0.035 * _smooth_noise(rng, n, 18)
    attenuation += 0.012 * _smooth_noise(rng, n, max(size // 8, 8))
    return attenuation.astype(np.float32)


def detector_field(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Vignetting plus soft collimator shutters on some sides; returns (attenuation, open-field mask)."""
    x, y = _grid(size, 0)
    radius2 = (x - 0.5) ** 2 + (y - 0.5) ** 2
    attenuation = rng.uniform(0.5, 1.0) * radius2
    open_field = np.ones((size, size), dtype=bool)
    edge = 1.5 / size
    for side in range(4):
        if rng.random() < 0.45:
            depth = rng.uniform(0.01, 0.08)
            coordinate = (x, y, 1.0 - x, 1.0 - y)[side]
            attenuation += 1.6 * _soft_step(depth - coordinate, edge + 0.004)
            open_field &= coordinate > depth + 0.01
    if rng.random() < 0.35:  # a round iris collimator clips the corners
        iris = rng.uniform(0.66, 0.74)
        r = np.sqrt(radius2)
        attenuation += 1.6 * _soft_step(r - iris, edge + 0.004)
        open_field &= r < iris - 0.01
    return attenuation.astype(np.float32), open_field


def background(rng: np.random.Generator, size: int, pad: int) -> Background:
    anatomy = chest_anatomy(rng, size, pad)
    detector, open_field = detector_field(rng, size)
    return Background(anatomy, detector, open_field, pad)


def shifted(image: np.ndarray, pad: int, size: int, dx: float, dy: float) -> np.ndarray:
    """The ``size``-square window of a padded image moved by a sub-pixel (dx, dy), bilinear."""
    ix, iy = int(np.floor(dx)), int(np.floor(dy))
    fx, fy = np.float32(dx - ix), np.float32(dy - iy)
    x0, y0 = pad - ix - 1, pad - iy - 1
    window = image[y0 : y0 + size + 1, x0 : x0 + size + 1]
    top = window[:-1, 1:] * (1 - fx) + window[:-1, :-1] * fx
    bottom = window[1:, 1:] * (1 - fx) + window[1:, :-1] * fx
    return bottom * (1 - fy) + top * fy


# --- burned-in text ---------------------------------------------------------------------------------------

TEXT_REGION = (0.6, 0.0, 1.0, 0.3)  # x0, y0, x1, y1 as fractions of the frame: the paper's masked corner


@lru_cache(maxsize=8)
def _font(pixels: int):  # -> PIL.ImageFont.FreeTypeFont | ImageFont
    from PIL import ImageFont

    return ImageFont.load_default(size=pixels)


def text_lines(rng: np.random.Generator, primary: float, secondary: float, fps: float) -> list[str]:
    """Acquisition annotations like a cath-lab monitor shows (never anything that identifies a person)."""
    lao = f"{'LAO' if primary >= 0 else 'RAO'} {abs(primary):.0f}"
    cra = f"{'CRA' if secondary >= 0 else 'CAU'} {abs(secondary):.0f}"
    return [
        f"{lao}  {cra}",
        f"{rng.integers(68, 95)} kV  {rng.integers(350, 900)} mA",
        f"{fps:g} fps  FOV {rng.choice([17, 20, 22, 25])} cm",
        f"SID {rng.integers(95, 115)} cm",
    ]


def text_mask(lines: list[str], size: int) -> np.ndarray:
    """A ``float32`` coverage mask (0..1) of the text, placed in the upper-right ``TEXT_REGION``."""
    from PIL import Image, ImageDraw

    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    font = _font(max(round(13 * size / 512), 6))
    line_height = max(round(19 * size / 512), 8)
    left = int(TEXT_REGION[0] * size) + int(0.06 * size)
    top = int(0.02 * size)
    for row, line in enumerate(lines):
        draw.text((left, top + row * line_height), line, fill=255, font=font)
    coverage = np.asarray(mask, dtype=np.float32) / 255.0
    x0, y0, x1, y1 = (round(v * size) for v in TEXT_REGION)
    inside = np.zeros_like(coverage)
    inside[y0:y1, x0:x1] = coverage[y0:y1, x0:x1]  # tiny frames: lines that do not fit are cut off
    return inside
