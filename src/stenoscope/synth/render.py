"""From geometry to pixels: Beer-Lambert absorption of filled cylinders, blur, quantum noise, display.

Vessels are drawn from a distance-to-centreline field (one Euclidean distance transform per layer), so a
frame costs a few milliseconds however many vessels the tree has. Layers (by branch depth parity) are
summed, so a branch and its parent overlap the way iodine in both would absorb.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: attenuation per pixel of fully opacified blood and of the catheter wall, for a 512-pixel frame
IODINE_PER_PIXEL = 0.15
CATHETER_WALL_PER_PIXEL = 0.16
#: thinnest radius drawn (pixels); thinner vessels are drawn this wide and proportionally fainter
MIN_DRAWN_RADIUS = 0.8


@dataclass
class Centrelines:
    """All drawable centreline points of a tree, flattened (rest positions in output pixels)."""

    points: np.ndarray  # (M, 2)
    radius: np.ndarray  # (M,) output pixels
    arrival: np.ndarray  # (M,) fraction of the bolus spread after which contrast arrives
    layer: np.ndarray  # (M,) 0 or 1
    catheter: np.ndarray  # (M,) bool
    volume: np.ndarray  # (M,) weight of the point in the opacification (0 for the catheter)


def vessel_attenuation(
    points: np.ndarray, lines: Centrelines, concentration: np.ndarray, size: int, scale: float
) -> np.ndarray:
    """Line integral of attenuation through every vessel and the catheter at the given point positions."""
    attenuation = np.zeros((size, size), dtype=np.float32)
    iodine = IODINE_PER_PIXEL / scale
    wall = CATHETER_WALL_PER_PIXEL / scale
    for layer in (0, 1):
        chosen = lines.layer == layer
        if not chosen.any():
            continue
        xy = points[chosen]
        radius = lines.radius[chosen]
        margin = float(radius.max()) + 2.0
        low = np.maximum(np.floor(xy.min(0) - margin), 0).astype(int)
        high = np.minimum(np.ceil(xy.max(0) + margin), size).astype(int)
        if (high <= low).any():
            continue
        shape = (high[1] - low[1], high[0] - low[0])
        cols = np.rint(xy[:, 0]).astype(int) - low[0]
        rows = np.rint(xy[:, 1]).astype(int) - low[1]
        visible = (cols >= 0) & (cols < shape[1]) & (rows >= 0) & (rows < shape[0])
        if not visible.any():
            continue
        grid = np.full(shape, -1, dtype=np.int32)
        grid[rows[visible], cols[visible]] = np.nonzero(visible)[0]
        distance, (near_rows, near_cols) = ndimage.distance_transform_edt(grid < 0, return_indices=True)
        rr, cc = np.nonzero(distance <= margin)
        nearest = grid[near_rows[rr, cc], near_cols[rr, cc]]
        d2 = (cc + low[0] - xy[nearest, 0]) ** 2 + (rr + low[1] - xy[nearest, 1]) ** 2
        true_radius = radius[nearest]
        drawn = np.maximum(true_radius, MIN_DRAWN_RADIUS)
        faint = (true_radius / drawn) ** 2
        is_catheter = lines.catheter[chosen][nearest]
        inner = np.where(is_catheter, 0.72 * drawn, drawn)
        chord = 2.0 * np.sqrt(np.maximum(drawn**2 - d2, 0.0))
        lumen = 2.0 * np.sqrt(np.maximum(inner**2 - d2, 0.0))
        value = iodine * concentration[chosen][nearest] * lumen * faint + wall * is_catheter * (chord - lumen)
        attenuation[rr + low[1], cc + low[0]] += value.astype(np.float32)  # each pixel once per layer
    return attenuation


@dataclass(frozen=True)
class Exposure:
    """How attenuation becomes displayed grey levels: quantum noise, blur, and the monitor's window."""

    noise: float  # standard deviation of log-intensity noise where nothing attenuates
    blur: float  # focal-spot and detector blur (pixels at 512)
    level: float  # attenuation shown as black
    gain: float

    @classmethod
    def random(cls, rng: np.random.Generator, typical_background: float) -> Exposure:
        background_grey = rng.uniform(0.5, 0.64)
        gain = rng.uniform(0.5, 0.62)
        return cls(
            noise=float(rng.uniform(0.04, 0.07)),
            blur=float(rng.uniform(0.8, 1.1)),
            level=float(typical_background + background_grey / gain),
            gain=float(gain),
        )

    def display(
        self, background: np.ndarray, vessels: np.ndarray, noise_rng: np.random.Generator, scale: float
    ) -> np.ndarray:
        """Grey levels (``float32`` 0..1) of a frame: blurred vessels, Poisson-like noise, light smoothing."""
        sharp = ndimage.gaussian_filter(vessels, self.blur * scale, truncate=3.0)
        attenuation = background + sharp
        # photon counts fall as exp(-attenuation): the relative noise grows where the image is dark
        noise = noise_rng.standard_normal(attenuation.shape, dtype=np.float32)
        attenuation += self.noise * scale * np.exp(0.5 * attenuation) * noise  # bigger pixels, more photons
        attenuation = ndimage.gaussian_filter(attenuation, 0.5 * scale, truncate=2.5)
        return np.clip((self.level - attenuation) * self.gain, 0.0, 1.0)


def to_uint8(grey: np.ndarray) -> np.ndarray:
    return np.rint(grey * 255.0).astype(np.uint8)
