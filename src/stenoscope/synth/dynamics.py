"""What changes over a run: cardiac and breathing motion of the tree, and the contrast bolus flowing in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: largest breathing excursion along x or y, pixels of a 512-pixel frame
MAX_BREATHING_PX = 4.0


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


@dataclass(frozen=True)
class Motion:
    """Non-rigid cardiac motion (contraction, twist, smooth random modes) plus breathing translation.

    Lengths are in output pixels, times in seconds; ``displace`` maps rest positions to positions at ``t``
    (forward), so vessel centrelines and lesion boxes move together exactly.
    """

    heart_hz: float
    heart_phase: float
    contraction: float  # fraction of the distance to the heart centre lost at end-systole
    twist: float  # radians of rotation at end-systole
    centre: np.ndarray  # (2,) output pixels
    modes: np.ndarray  # (K, 6): kx, ky, phase, amplitude x, amplitude y, lag
    breath_hz: float
    breath_phase: float
    breath_amplitude: np.ndarray  # (2,) pixels

    @classmethod
    def random(cls, rng: np.random.Generator, centre: np.ndarray, size: int) -> Motion:
        scale = size / 512.0
        modes = np.stack(
            [
                rng.uniform(-4.0, 4.0, 3) / size,
                rng.uniform(-4.0, 4.0, 3) / size,
                rng.uniform(0, 2 * np.pi, 3),
                rng.uniform(-5.0, 5.0, 3) * scale,
                rng.uniform(-5.0, 5.0, 3) * scale,
                rng.uniform(0.0, 0.6, 3),
            ],
            axis=1,
        )
        return cls(
            heart_hz=float(rng.uniform(1.0, 1.35)),
            heart_phase=float(rng.uniform(0, 2 * np.pi)),
            contraction=float(rng.uniform(0.07, 0.13)),
            twist=float(rng.uniform(-0.06, 0.06)),
            centre=np.asarray(centre, dtype=float) * size,
            modes=modes,
            breath_hz=float(rng.uniform(0.18, 0.3)),
            breath_phase=float(rng.uniform(0, 2 * np.pi)),
            breath_amplitude=rng.uniform(-MAX_BREATHING_PX, MAX_BREATHING_PX, 2) * scale,
        )

    def systole(self, t: float, lag: float = 0.0) -> float:
        """0 at end-diastole, 1 at end-systole: a quick contraction and a slower relaxation."""
        phase = 2 * np.pi * self.heart_hz * t + self.heart_phase - lag
        return float(0.5 * (1.0 - np.cos(phase + 0.45 * np.sin(phase))))

    def breathing(self, t: float) -> np.ndarray:
        return self.breath_amplitude * np.sin(2 * np.pi * self.breath_hz * t + self.breath_phase)

    def displace(self, points: np.ndarray, t: float) -> np.ndarray:
        """Positions at time ``t`` of ``points`` given at rest (end-diastole, no breathing), pixels."""
        s = self.systole(t)
        relative = points - self.centre
        angle = self.twist * s
        cos, sin = np.cos(angle), np.sin(angle)
        rotated = np.stack(
            [cos * relative[:, 0] - sin * relative[:, 1], sin * relative[:, 0] + cos * relative[:, 1]], 1
        )
        moved = self.centre + rotated * (1.0 - self.contraction * s)
        for kx, ky, phase, ax, ay, lag in self.modes:
            wave = np.sin(kx * 2 * np.pi * points[:, 0] + ky * 2 * np.pi * points[:, 1] + phase)
            strength = self.systole(t, lag) * wave
            moved[:, 0] += ax * strength
            moved[:, 1] += ay * strength
        return moved + self.breathing(t)


@dataclass(frozen=True)
class Bolus:
    """A contrast injection: it reaches each point after a delay that grows with the distance from the ostium,
    rises, stays (slowly thinning) and washes out. Times in seconds."""

    start: float
    spread: float  # delay between the ostium and the most distal point
    rise: float
    plateau: float
    washout: float

    @classmethod
    def random(cls, rng: np.random.Generator, n_frames: int, fps: float) -> Bolus:
        """A bolus whose moment of complete filling falls anywhere from early to late in the run."""
        duration = max(n_frames - 1, 1) / fps
        peak = rng.uniform(0.12, 0.88) * duration
        fill = min(0.28 * duration, 0.8 * peak)
        return cls(
            start=peak - fill,
            spread=fill / 2.0,
            rise=fill / 2.0,
            plateau=float(rng.uniform(0.08, 0.2) * duration),
            washout=float(rng.uniform(0.35, 0.6) * duration),
        )

    def concentration(self, arrival: np.ndarray, t: float) -> np.ndarray:
        """Relative iodine concentration (0..1) at ``t`` where contrast arrives at fraction ``arrival``."""
        tau = t - self.start - arrival * self.spread
        filling = _smoothstep(tau / self.rise)
        thinning = 1.0 - 0.1 * np.clip((tau - self.rise) / self.plateau, 0.0, 1.0)
        washing = 1.0 - _smoothstep((tau - self.rise - self.plateau) / self.washout)
        return filling * thinning * washing
