"""Coronary tree geometry: RCA- or LCA-like trees of tapering, curving vessels with branches and stenoses.

Geometry lives in normalised image coordinates (x right, y down, the frame is the unit square) and radii in
pixels of a 512-pixel frame, so one seed gives the same tree at every output size. Each vessel is a dense
polyline (``STEP`` apart) with a radius per point; the renderer draws the distance-to-centreline field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import CubicSpline

#: spacing of centreline samples: half a pixel of a 512-pixel frame
STEP = 1.0 / 1024.0
#: radius in 512-frame pixels below which a vessel is not worth drawing further
MIN_RADIUS = 0.7

TREE_KINDS = ("rca", "lca")


@dataclass
class Vessel:
    """One vessel segment: centreline, radius per point, and where contrast reaches it."""

    name: str
    points: np.ndarray  # (N, 2) normalised (x, y)
    radius: np.ndarray  # (N,) pixels at 512
    depth: int  # 0 = main vessels; drawn in layer depth % 2 so a branch never hides its parent
    path_start: float  # centreline length from the ostium to the first point (normalised units)
    draw_from: int = 0  # first point drawn: a branch starts outside its parent's lumen

    @property
    def arc(self) -> np.ndarray:
        """Centreline length from the ostium to every point."""
        return self.path_start + STEP * np.arange(len(self.points))


@dataclass
class VesselTree:
    kind: str
    vessels: list[Vessel]
    catheter: Vessel | None
    heart_centre: np.ndarray  # (2,) normalised: the centre cardiac motion contracts towards
    ostium: np.ndarray
    extra: dict = field(default_factory=dict)

    def vessel(self, name: str) -> Vessel:
        return next(v for v in self.vessels if v.name == name)


# Main vessels as control points in a standard view (RCA: LAO-like "C"; LCA: RAO/caudal-like fan).
_RCA_MAIN = {
    "RCA": [
        (0.55, 0.20),
        (0.42, 0.23),
        (0.31, 0.33),
        (0.26, 0.48),
        (0.28, 0.63),
        (0.37, 0.75),
        (0.50, 0.80),
        (0.62, 0.80),
        (0.72, 0.76),
    ],
}
_LCA_MAIN = {
    "LM-LAD": [
        (0.30, 0.24),
        (0.36, 0.27),
        (0.41, 0.30),
        (0.47, 0.40),
        (0.54, 0.52),
        (0.60, 0.64),
        (0.65, 0.76),
        (0.69, 0.88),
    ],
    "LCx": [(0.41, 0.30), (0.50, 0.29), (0.61, 0.31), (0.70, 0.39), (0.75, 0.51), (0.77, 0.63), (0.76, 0.74)],
}
_RADII = {"RCA": (4.8, 1.9), "LM-LAD": (5.2, 1.3), "LCx": (4.3, 1.5)}

# Named branches: parent, position along parent (fraction), side (+1 outward / -1 inward, 0 random),
# angle (deg), length, radius ratio to the parent at the origin, curl (rad per unit length).
_BranchSpec = tuple[
    str,
    str,
    tuple[float, float],
    int,
    tuple[float, float],
    tuple[float, float],
    tuple[float, float],
    tuple[float, float],
]
_RCA_BRANCHES: list[_BranchSpec] = [
    ("conus", "RCA", (0.04, 0.08), -1, (60, 90), (0.08, 0.14), (0.45, 0.6), (-2.0, 2.0)),
    ("SA-node", "RCA", (0.08, 0.14), -1, (70, 100), (0.06, 0.1), (0.35, 0.5), (-3.0, 3.0)),
    ("RV-marginal-1", "RCA", (0.22, 0.32), 1, (35, 60), (0.14, 0.24), (0.5, 0.65), (-2.0, 1.0)),
    ("RV-marginal-2", "RCA", (0.38, 0.48), 1, (35, 60), (0.12, 0.22), (0.45, 0.6), (-2.0, 1.0)),
    ("acute-marginal", "RCA", (0.52, 0.6), 1, (30, 55), (0.16, 0.26), (0.5, 0.65), (-1.5, 1.5)),
    ("PDA", "RCA", (0.8, 0.86), 1, (40, 65), (0.16, 0.26), (0.55, 0.7), (-2.0, 0.5)),
    ("PLV", "RCA", (0.9, 0.95), -1, (30, 55), (0.08, 0.15), (0.5, 0.65), (-1.0, 3.0)),
]
_LCA_BRANCHES: list[_BranchSpec] = [
    ("diagonal-1", "LM-LAD", (0.28, 0.36), -1, (28, 45), (0.18, 0.3), (0.55, 0.7), (-1.5, 1.5)),
    ("diagonal-2", "LM-LAD", (0.5, 0.6), -1, (25, 45), (0.14, 0.24), (0.5, 0.65), (-1.5, 1.5)),
    ("septal-1", "LM-LAD", (0.3, 0.4), 1, (50, 75), (0.07, 0.12), (0.35, 0.45), (-1.0, 1.0)),
    ("septal-2", "LM-LAD", (0.45, 0.55), 1, (50, 75), (0.06, 0.1), (0.35, 0.45), (-1.0, 1.0)),
    ("obtuse-marginal-1", "LCx", (0.35, 0.45), 1, (35, 60), (0.15, 0.26), (0.55, 0.7), (-1.5, 1.5)),
    ("obtuse-marginal-2", "LCx", (0.6, 0.72), 1, (30, 55), (0.12, 0.22), (0.5, 0.65), (-1.5, 1.5)),
    ("ramus", "LCx", (0.03, 0.08), 1, (20, 35), (0.15, 0.25), (0.45, 0.6), (-1.0, 1.0)),
]


def build_tree(rng: np.random.Generator, kind: str) -> VesselTree:
    """A random tree of ``kind`` (``rca`` or ``lca``): jittered main vessels, named and extra branches."""
    mains, specs = (_RCA_MAIN, _RCA_BRANCHES) if kind == "rca" else (_LCA_MAIN, _LCA_BRANCHES)
    angle = np.deg2rad(rng.uniform(-14, 14))
    scale = rng.uniform(0.9, 1.12)
    shift = rng.uniform(-0.04, 0.04, size=2)
    centre = np.array([0.5, 0.5])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])

    def place(xy: np.ndarray) -> np.ndarray:
        return (xy - centre) @ rotation.T * scale + centre + shift

    vessels: list[Vessel] = []
    for index, (name, control) in enumerate(mains.items()):
        control_xy = np.asarray(control, dtype=float)
        jitter = rng.normal(0.0, 0.014, size=control_xy.shape)
        points = _wiggle(rng, _spline(place(control_xy + jitter)), amplitude=0.004)
        r0, r1 = _RADII[name]
        r0 *= rng.uniform(0.9, 1.1)
        radius = _taper(len(points), r0, r1 * rng.uniform(0.85, 1.15))
        path_start, draw_from = 0.0, 0
        if index > 0:  # LCx leaves the LM at its first control point
            parent = vessels[0]
            anchor = int(np.argmin(np.linalg.norm(parent.points - points[0], axis=1)))
            points = points - points[0] + parent.points[anchor]
            path_start = float(parent.arc[anchor])
            draw_from = _first_outside(points, parent.points[anchor], parent.radius[anchor])
        vessels.append(Vessel(name, points, radius, 0, path_start, draw_from))
    ostium = vessels[0].points[0].copy()

    for name, parent_name, where, side, angle_deg, length, ratio, curl in specs:
        parent = next(v for v in vessels if v.name == parent_name)
        branch = _branch(rng, name, parent, where, side, angle_deg, length, ratio, curl, depth=1)
        if branch is not None:
            vessels.append(branch)
    _add_extra_branches(rng, vessels)
    catheter = _catheter(rng, kind, vessels[0])
    heart = place(np.array([0.62, 0.55]) if kind == "rca" else np.array([0.45, 0.6]))
    heart = heart + rng.normal(0.0, 0.04, size=2)
    return VesselTree(kind, vessels, catheter, heart, ostium)


def _spline(control: np.ndarray) -> np.ndarray:
    """A smooth curve through ``control`` resampled every ``STEP`` along its length."""
    chord = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(control, axis=0), axis=1))]
    spline = CubicSpline(chord, control, bc_type="natural")
    dense_t = np.linspace(0.0, chord[-1], max(int(chord[-1] / STEP) * 4, 8))
    dense = spline(dense_t)
    length = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))]
    samples = np.arange(0.0, length[-1], STEP)
    return np.stack([np.interp(samples, length, dense[:, 0]), np.interp(samples, length, dense[:, 1])], 1)


def _normals(points: np.ndarray) -> np.ndarray:
    tangent = np.gradient(points, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True) + 1e-12
    return np.stack([-tangent[:, 1], tangent[:, 0]], 1)


def _wiggle(rng: np.random.Generator, points: np.ndarray, amplitude: float) -> np.ndarray:
    """Small smooth sideways tortuosity, zero at the origin so branch points stay attached."""
    s = STEP * np.arange(len(points))
    offset = np.zeros(len(points))
    for _ in range(3):
        wavelength = rng.uniform(0.04, 0.16)
        offset += rng.uniform(0.3, 1.0) * amplitude * np.sin(2 * np.pi * s / wavelength + rng.uniform(0, 6.3))
    offset -= offset[0] * np.exp(-s / 0.02)
    return points + _normals(points) * offset[:, None]


def _taper(n: int, r0: float, r1: float) -> np.ndarray:
    """Radius falling from ``r0`` to ``r1``, faster near the origin like a vessel giving off branches."""
    u = np.linspace(0.0, 1.0, n)
    return r1 + (r0 - r1) * (1.0 - u) ** 1.3


def _first_outside(points: np.ndarray, origin: np.ndarray, parent_radius: float) -> int:
    """Index of the first point outside the parent's lumen (radius in 512-pixels, points normalised)."""
    distance = np.linalg.norm(points - origin, axis=1) * 512.0
    outside = np.nonzero(distance > parent_radius * 0.8)[0]
    return int(outside[0]) if len(outside) else len(points)


def _grow(
    rng: np.random.Generator, start: np.ndarray, heading: float, length: float, curl: float
) -> np.ndarray:
    """A curving centreline: heading drifts with ``curl`` plus smooth random meanders."""
    n = max(int(length / STEP), 4)
    s = STEP * np.arange(n)
    theta = heading + curl * s
    for _ in range(2):
        wavelength = rng.uniform(0.06, 0.2)
        phase = rng.uniform(0, 6.3)
        theta += rng.uniform(0.1, 0.35) * (np.sin(2 * np.pi * s / wavelength + phase) - np.sin(phase))
    steps = STEP * np.stack([np.cos(theta), np.sin(theta)], 1)
    return start + np.r_[np.zeros((1, 2)), np.cumsum(steps, axis=0)[:-1]]


def _branch(
    rng: np.random.Generator,
    name: str,
    parent: Vessel,
    where: tuple[float, float],
    side: int,
    angle_deg: tuple[float, float],
    length: tuple[float, float],
    ratio: tuple[float, float],
    curl: tuple[float, float],
    depth: int,
) -> Vessel | None:
    anchor = int(rng.uniform(*where) * (len(parent.points) - 1))
    tangent = parent.points[min(anchor + 4, len(parent.points) - 1)] - parent.points[max(anchor - 4, 0)]
    heading = float(np.arctan2(tangent[1], tangent[0]))
    side = side or int(rng.choice([-1, 1]))
    heading += side * np.deg2rad(rng.uniform(*angle_deg))
    r0 = float(parent.radius[anchor]) * rng.uniform(*ratio)
    if r0 < MIN_RADIUS * 1.3:
        return None
    points = _grow(rng, parent.points[anchor], heading, rng.uniform(*length), side * rng.uniform(*curl))
    radius = _taper(len(points), r0, max(MIN_RADIUS, r0 * rng.uniform(0.3, 0.5)))
    draw_from = _first_outside(points, parent.points[anchor], float(parent.radius[anchor]))
    return Vessel(name, points, radius, depth, float(parent.arc[anchor]), draw_from)


def _add_extra_branches(rng: np.random.Generator, vessels: list[Vessel]) -> None:
    """Unnamed small side branches on main vessels and on first-order branches."""
    for parent in list(vessels):
        if parent.depth > 1:
            continue
        count = rng.poisson(5.0 if parent.depth == 0 else 2.0)
        for k in range(count):
            branch = _branch(
                rng,
                f"{parent.name}-side-{k + 1}",
                parent,
                (0.1, 0.92),
                0,
                (30, 70),
                (0.04, 0.12) if parent.depth == 0 else (0.03, 0.08),
                (0.3, 0.5),
                (-3.0, 3.0),
                depth=parent.depth + 1,
            )
            if branch is not None:
                vessels.append(branch)


def _catheter(rng: np.random.Generator, kind: str, main: Vessel) -> Vessel:
    """A guiding catheter from the top edge (the aorta) into the ostium; it ends where the vessel begins."""
    ostium = main.points[0]
    away = main.points[0] - main.points[min(40, len(main.points) - 1)]
    away /= np.linalg.norm(away) + 1e-12
    bend = ostium + away * rng.uniform(0.05, 0.09) + np.array([0.0, -0.03])
    lateral = 0.06 if kind == "rca" else -0.04
    top = np.array([ostium[0] + lateral + rng.uniform(-0.1, 0.1), -0.06])
    middle = (bend + top) / 2 + np.array([rng.uniform(-0.03, 0.03), 0.0])
    points = _spline(np.stack([top, middle, bend, ostium]))
    radius = np.full(len(points), rng.uniform(2.2, 2.8))
    return Vessel("catheter", points, radius, 1, -float(STEP * len(points)), 0)


@dataclass
class Lesion:
    """A stenosis placed on a vessel: where, how long, how severe."""

    vessel: str
    index: int  # centre point on the vessel's centreline
    degree: float  # percent diameter reduction
    length: float  # normalised units along the centreline
    reference_radius: float  # radius at the centre before narrowing (512-pixels)


def narrow(tree: VesselTree, lesion: Lesion) -> None:
    """Apply a smooth (raised-cosine) diameter reduction of ``lesion.degree`` percent around its centre."""
    vessel = tree.vessel(lesion.vessel)
    s = STEP * (np.arange(len(vessel.points)) - lesion.index)
    u = np.clip(np.abs(s) / (lesion.length / 2.0), 0.0, 1.0)
    vessel.radius = vessel.radius * (1.0 - lesion.degree / 100.0 * np.cos(np.pi * u / 2.0) ** 2)


def lesion_points(tree: VesselTree, lesion: Lesion) -> np.ndarray:
    """Centreline points covered by the lesion (normalised), for its bounding box per frame."""
    vessel = tree.vessel(lesion.vessel)
    half = int(lesion.length / 2.0 / STEP)
    return vessel.points[max(lesion.index - half, 0) : lesion.index + half + 1]


def _lesion_candidates(
    tree: VesselTree, allowed: np.ndarray, min_radius: float
) -> list[tuple[Vessel, np.ndarray]]:
    """Per vessel, the centreline indices where a lesion centre may go."""
    grid_h, grid_w = allowed.shape
    candidates = []
    for vessel in tree.vessels:
        index = np.arange(vessel.draw_from + 20, len(vessel.points) - 20)
        if len(index) == 0:
            continue
        xy = vessel.points[index]
        cols = np.clip((xy[:, 0] * grid_w).astype(int), 0, grid_w - 1)
        rows = np.clip((xy[:, 1] * grid_h).astype(int), 0, grid_h - 1)
        inside = (xy >= 0).all(1) & (xy < 1).all(1)
        ok = (vessel.radius[index] >= min_radius) & inside & allowed[rows, cols]
        if ok.any():
            candidates.append((vessel, index[ok]))
    return candidates


def place_lesions(
    rng: np.random.Generator,
    tree: VesselTree,
    count: int,
    degree_range: tuple[float, float],
    allowed: np.ndarray,
) -> list[Lesion]:
    """Choose up to ``count`` separate lesions, on vessels wide enough to show them.

    ``allowed`` is a boolean map (any resolution) of the frame region a lesion centre may fall in (inside
    the collimator, away from the text overlay and the border), so every lesion is visible. A lesion keeps
    clear of other vessels (branch origins, crossings) so its narrowing is what the pixels show. Wide
    vessels are tried first; narrower ones only when the wide ones have no room left.
    """
    others = {
        vessel.name: np.concatenate(
            [v.points[v.draw_from :] for v in tree.vessels if v is not vessel]
            + ([tree.catheter.points] if tree.catheter is not None else [])
        )
        for vessel in tree.vessels
    }
    lesions: list[Lesion] = []
    centres: list[np.ndarray] = []
    for min_radius in (2.4, 1.8):
        candidates = _lesion_candidates(tree, allowed, min_radius)
        if not candidates:
            continue
        weights = np.array([3.0 if v.depth == 0 else 1.0 for v, _ in candidates])
        for _ in range(200 * max(count, 1)):
            if len(lesions) == count:
                return lesions
            vessel, index = candidates[int(rng.choice(len(candidates), p=weights / weights.sum()))]
            centre = int(rng.choice(index))
            length = rng.uniform(10.0, 24.0) / 512.0
            point = vessel.points[centre]
            if any(np.linalg.norm(point - other) < 0.05 for other in centres):
                continue
            clearance = length / 2.0 + 3.0 * float(vessel.radius[centre]) / 512.0
            if np.linalg.norm(others[vessel.name] - point, axis=1).min() < clearance:
                continue
            degree = float(rng.uniform(*degree_range))
            lesions.append(Lesion(vessel.name, centre, degree, length, float(vessel.radius[centre])))
            centres.append(point)
    return lesions
