"""Deterministic synthetic angiograms: whole cine runs with ground truth, and single filled frames.

Each part of a run draws from its own ``numpy.random.Generator`` seeded with ``(seed, stream)``, so the
same seed gives the same bytes on every machine and thread count, and asking for a stenosis changes only
the lesion, never the tree, the anatomy or the noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stenoscope.clip import Clip
from stenoscope.errors import StenoscopeError
from stenoscope.synth.anatomy import TEXT_REGION, Background, background, shifted, text_lines, text_mask
from stenoscope.synth.dynamics import MAX_BREATHING_PX, Bolus, Motion
from stenoscope.synth.render import Centrelines, Exposure, to_uint8, vessel_attenuation
from stenoscope.synth.tree import (
    TREE_KINDS,
    Lesion,
    VesselTree,
    build_tree,
    lesion_points,
    narrow,
    place_lesions,
)
from stenoscope.synth.truth import SyntheticRun, SyntheticStenosis, SyntheticTruth

#: pixel spacing at the isocentre of a 512-pixel frame (a typical 15-17 cm field of view)
PIXEL_SPACING_512_MM = 0.3
TEXT_GREY = 0.93

# independent random streams of one seed
_TREE, _LESIONS, _ANATOMY, _BOLUS, _MOTION, _EXPOSURE, _NOISE, _VIEW, _LESION_COUNT = range(9)


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


@dataclass
class _Scene:
    """Everything static about one seed at one size."""

    tree: VesselTree
    lesions: list[Lesion]
    lines: Centrelines
    background: Background
    exposure: Exposure
    text: np.ndarray | None
    view: tuple[float, float]
    scale: float


def _view(rng: np.random.Generator, kind: str) -> tuple[float, float]:
    """C-arm angles typical for the tree: (primary LAO+/RAO-, secondary CRA+/CAU-)."""
    if kind == "rca":
        return float(round(rng.uniform(25, 45))), float(round(rng.uniform(-5, 15)))
    standard = [(-30.0, -20.0), (-25.0, 25.0), (40.0, 25.0), (0.0, 35.0), (45.0, -25.0)]
    primary, secondary = standard[int(rng.integers(len(standard)))]
    return primary + float(round(rng.uniform(-5, 5))), secondary + float(round(rng.uniform(-5, 5)))


def _centrelines(tree: VesselTree, size: int, catheter: bool) -> Centrelines:
    vessels = tree.vessels + ([tree.catheter] if catheter and tree.catheter is not None else [])
    longest = max(float(v.arc[-1]) for v in tree.vessels)
    parts = []
    for vessel in vessels:
        keep = slice(vessel.draw_from, None)
        radius = vessel.radius[keep]
        is_catheter = vessel is tree.catheter
        parts.append(
            (
                vessel.points[keep] * size,
                radius * size / 512.0,
                vessel.arc[keep] / longest,
                np.full(len(radius), vessel.depth % 2),
                np.full(len(radius), is_catheter),
                np.zeros(len(radius)) if is_catheter else radius**2,
            )
        )
    columns = (np.concatenate(column) for column in zip(*parts, strict=True))
    points, radius, arrival, layer, is_catheter, volume = columns
    return Centrelines(points, radius, arrival, layer.astype(np.int8), is_catheter.astype(bool), volume)


def _lesion_allowed(back: Background, size: int, text: bool) -> np.ndarray:
    """Where a lesion centre may sit: inside the collimator, off the border and off the text."""
    step = max(size // 64, 1)
    allowed = back.open_field[::step, ::step].copy()
    h, w = allowed.shape
    border = max(int(0.08 * h), 1)
    allowed[:border] = allowed[-border:] = False
    allowed[:, :border] = allowed[:, -border:] = False
    if text:
        x0, y0, x1, y1 = TEXT_REGION
        allowed[int(y0 * h) : int(y1 * h) + 1, int(x0 * w) : int(x1 * w) + 1] = False
    return allowed


def _scene(
    seed: int,
    size: int,
    tree_kind: str | None,
    n_stenoses: int,
    degrees: tuple[float, float],
    catheter: bool,
    text: bool,
    fps: float,
    pad: int,
    at_least: int,
) -> _Scene:
    """The static scene; fewer than ``n_stenoses`` lesions only if ``at_least`` of them fit."""
    view_rng = _rng(seed, _VIEW)
    kind = tree_kind or str(view_rng.choice(TREE_KINDS))
    view = _view(view_rng, kind)
    tree = build_tree(_rng(seed, _TREE), kind)
    back = background(_rng(seed, _ANATOMY), size, pad)
    lesions = place_lesions(
        _rng(seed, _LESIONS), tree, n_stenoses, degrees, _lesion_allowed(back, size, text)
    )
    if len(lesions) < at_least:
        raise StenoscopeError(f"could place only {len(lesions)} of {n_stenoses} stenoses; ask for fewer")
    for lesion in lesions:
        narrow(tree, lesion)
    typical = float(np.median(back.anatomy[pad : pad + size, pad : pad + size][back.open_field]))
    exposure = Exposure.random(_rng(seed, _EXPOSURE), typical)
    lines = _centrelines(tree, size, catheter)
    mask = text_mask(text_lines(view_rng, view[0], view[1], fps), size) if text else None
    return _Scene(tree, lesions, lines, back, exposure, mask, view, size / 512.0)


def _compose(
    scene: _Scene, vessels: np.ndarray, shift: np.ndarray, noise_rng: np.random.Generator
) -> np.ndarray:
    size = vessels.shape[0]
    back = scene.background
    anatomy = shifted(back.anatomy, back.pad, size, float(shift[0]), float(shift[1])) + back.detector
    grey = scene.exposure.display(anatomy, vessels, noise_rng, scene.scale)
    if scene.text is not None:
        grey = grey * (1.0 - scene.text) + TEXT_GREY * scene.text
    return to_uint8(grey)


def _check(seed: int, size: int, tree: str | None, degrees: tuple[float, float]) -> None:
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise StenoscopeError(f"seed must be a non-negative integer, got {seed!r}")
    if size < 64 or size > 4096:
        raise StenoscopeError(f"size must be 64..4096 pixels, got {size}")
    if tree not in (None, *TREE_KINDS):
        raise StenoscopeError(
            f"tree must be one of {', '.join(TREE_KINDS)} (or None for random), got {tree!r}"
        )
    if not 0 < degrees[0] <= degrees[1] < 100:
        raise StenoscopeError(f"stenosis degrees must satisfy 0 < low <= high < 100, got {degrees}")


def _box(points: np.ndarray, margin: float, size: int) -> list[int]:
    low = np.clip(np.floor(points.min(0) - margin), 0, size - 1).astype(int)
    high = np.clip(np.ceil(points.max(0) + margin), 1, size).astype(int)
    return [int(low[0]), int(low[1]), int(max(high[0] - low[0], 1)), int(max(high[1] - low[1], 1))]


def synthesize(
    seed: int,
    n_frames: int = 60,
    fps: float = 15.0,
    n_stenoses: int = 1,
    size: int = 512,
    tree: str | None = None,
    *,
    catheter: bool = True,
    text: bool = True,
    stenosis_degrees: tuple[float, float] = (50.0, 90.0),
) -> SyntheticRun:
    """A synthetic X-ray coronary angiography cine run with its ground truth.

    Args:
        seed: reproduces the run byte for byte (with the other arguments).
        n_frames: frames in the run.
        fps: frame rate; the heart (60-80 bpm) and breathing move in real time at this rate.
        n_stenoses: lesions to place (0 for a clean run).
        size: frame height and width in pixels.
        tree: ``"rca"``, ``"lca"`` or ``None`` to let the seed choose.
        catheter: draw the guiding catheter (visible before contrast arrives).
        text: burn acquisition annotations into the upper-right corner.
        stenosis_degrees: range of percent diameter reduction to draw each lesion's degree from.

    Returns:
        A :class:`SyntheticRun` with an 8-bit :class:`~stenoscope.clip.Clip` and its :class:`SyntheticTruth`.

    Example:
        >>> run = synthesize(seed=3, n_frames=30, n_stenoses=2)
        >>> run.clip.frames.shape, run.truth.key_frame  # doctest: +SKIP
    """
    _check(seed, size, tree, stenosis_degrees)
    if n_frames < 1 or fps <= 0 or n_stenoses < 0:
        raise StenoscopeError(
            f"need n_frames >= 1, fps > 0 and n_stenoses >= 0 (got {n_frames}, {fps}, {n_stenoses})"
        )
    pad = int(np.ceil(MAX_BREATHING_PX * size / 512)) + 2
    scene = _scene(seed, size, tree, n_stenoses, stenosis_degrees, catheter, text, fps, pad, n_stenoses)
    bolus = Bolus.random(_rng(seed, _BOLUS), n_frames, fps)
    motion = Motion.random(_rng(seed, _MOTION), scene.tree.heart_centre, size)
    noise_rng = _rng(seed, _NOISE)
    lines = scene.lines

    frames = np.empty((n_frames, size, size), dtype=np.uint8)
    opacification: list[float] = []
    centres: list[list[list[float]]] = [[] for _ in scene.lesions]
    boxes: list[list[list[int]]] = [[] for _ in scene.lesions]
    lesion_rest = [lesion_points(scene.tree, lesion) * size for lesion in scene.lesions]
    lesion_centre = [scene.tree.vessel(les.vessel).points[les.index] * size for les in scene.lesions]
    total_volume = float(lines.volume.sum())
    for index in range(n_frames):
        t = index / fps
        concentration = bolus.concentration(lines.arrival, t)
        points = motion.displace(lines.points, t)
        vessels = vessel_attenuation(points, lines, concentration, size, scene.scale)
        frames[index] = _compose(scene, vessels, motion.breathing(t), noise_rng)
        opacification.append(round(float((concentration * lines.volume).sum()) / total_volume, 4))
        for k, lesion in enumerate(scene.lesions):
            centre = motion.displace(lesion_centre[k][None], t)[0]
            centres[k].append([round(float(centre[0]), 2), round(float(centre[1]), 2)])
            margin = lesion.reference_radius * scene.scale + 2.0
            boxes[k].append(_box(motion.displace(lesion_rest[k], t), margin, size))

    stenoses = [
        SyntheticStenosis(
            vessel=lesion.vessel,
            degree=round(lesion.degree, 1),
            length_px=round(lesion.length * size, 1),
            reference_radius_px=round(lesion.reference_radius * scene.scale, 2),
            centre=centres[k],
            boxes=boxes[k],
        )
        for k, lesion in enumerate(scene.lesions)
    ]
    parameters = {
        "n_frames": n_frames,
        "fps": fps,
        "n_stenoses": n_stenoses,
        "size": size,
        "tree": tree,
        "catheter": catheter,
        "text": text,
        "stenosis_degrees": list(stenosis_degrees),
    }
    truth = SyntheticTruth(
        seed=int(seed),
        parameters=parameters,
        tree=scene.tree.kind,
        opacification=opacification,
        key_frame=int(np.argmax(opacification)),
        stenoses=stenoses,
    )
    clip = Clip(
        frames=frames,
        bits_stored=8,
        frame_time_ms=1000.0 / fps,
        pixel_spacing_mm=(PIXEL_SPACING_512_MM * 512 / size,) * 2,
        primary_angle=scene.view[0],
        secondary_angle=scene.view[1],
        modality="XA",
        manufacturer="stenoscope synthetic",
        source=f"synthetic:seed={seed}",
        format="synthetic",
        extra={"tree": scene.tree.kind},
    )
    return SyntheticRun(clip=clip, truth=truth)


def synthesize_frame(
    seed: int,
    stenosis: bool,
    size: int = 256,
    *,
    tree: str | None = None,
    catheter: bool = True,
    text: bool = False,
    stenosis_degrees: tuple[float, float] = (50.0, 90.0),
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """One fully opacified frame and its lesion boxes, for training and testing classifiers.

    A positive (``stenosis=True``) has one to three lesions; a negative none. Both come from the same
    tree, anatomy and noise of ``seed``, so the pair differs only where the lesions are.

    Returns:
        ``(frame, boxes)``: a ``(size, size)`` ``uint8`` frame and ``[(x, y, w, h), ...]`` in its pixels.
    """
    _check(seed, size, tree, stenosis_degrees)
    count = int(_rng(seed, _LESION_COUNT).integers(1, 4)) if stenosis else 0
    scene = _scene(seed, size, tree, count, stenosis_degrees, catheter, text, 15.0, 2, min(count, 1))
    lines = scene.lines
    vessels = vessel_attenuation(lines.points, lines, np.ones(len(lines.radius)), size, scene.scale)
    frame = _compose(scene, vessels, np.zeros(2), _rng(seed, _NOISE))
    boxes = [
        tuple(
            _box(lesion_points(scene.tree, lesion) * size, lesion.reference_radius * scene.scale + 2.0, size)
        )
        for lesion in scene.lesions
    ]
    return frame, boxes
