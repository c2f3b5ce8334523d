"""``analyze``: one clip in, one :class:`Report` out (key frames -> classifier -> heat maps -> clip vote).

Resizing policy: the model sees each frame resized so its long side is the long side the model was trained
at (``train_long_side`` in the checkpoint metadata; 512 px, the ARCADE frame size, when absent), aspect ratio
kept. Angiograms from other systems (e.g. 1024 px) then show vessels at the scale the model learned; a
model with a fixed ``preprocess.input_size`` gets exactly that size. Heat maps are resized back to the input
grid, so peaks and boxes are always in the input's pixel coordinates.

Heat maps of the whole clip (for clip.gif / clip.mp4) are not propagated from the key frames: the model runs
on the frames themselves (its lesion heat-map head when it has one, else Grad-CAM), in batches, at the same
scale as the key frames. To keep long runs affordable on a CPU it processes at most ``CLIP_PIXEL_BUDGET``
model-input pixels (16 frames at 512x512, 64 at 256x256): every frame of a run that fits; for longer runs
1 frame in k (and the last), the frames between getting the linear blend of their two neighbours' maps.
``report.json`` (``heatmaps.clip``) and report.html say which.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

import numpy as np

from stenoscope.clip import Clip
from stenoscope.errors import ModelError, StenoscopeError
from stenoscope.explain.peaks import Box, Peak
from stenoscope.report.ood import distribution_warnings
from stenoscope.report.results import (
    ClipDecision,
    FrameResult,
    ModelInfo,
    Report,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

# ARCADE's frame size: the vessel scale of the public training data, for models that do not record theirs
DEFAULT_LONG_SIDE = 512
DEFAULT_THRESHOLD = 0.5
MAX_PEAKS = 5  # peaks and boxes kept per heat map, strongest first
# Lowest peak score shown, per kind of map. The head's map is a lesion-centre probability: a fresh head
# predicts 0.1 everywhere (CenterNet's prior), so only values above it are evidence; a checkpoint may set its
# own operating point as ``peak_threshold``. Grad-CAM maps are scaled to [0, 1] per frame: the upper half.
HEAD_PEAK_THRESHOLD = 0.1
GRADCAM_PEAK_THRESHOLD = 0.5
# A head's overlay saturates at the clip's strongest heat, but never below this (twice the untrained prior),
# so a clip without any evidence is not painted bright.
HEAD_DISPLAY_FLOOR = 0.2
# Boxes outline each hot spot at half the frame's maximum (never below the peak threshold).
BOX_LEVEL = 0.5
# Model-input pixels the whole-clip heat maps (for the videos) may cost by default: 16 frames at 512x512, so
# every frame of a 60-frame run at 256 px with one heat-map view, 1 in 4 at 512 px (a head averaging several
# views pays each view's pixels); this keeps the videos within the 5 s on 2 cores (see
# benchmarks/results/analyze.md).
CLIP_PIXEL_BUDGET = 16 * 512 * 512
BATCH_FRAMES = 8  # frames per forward pass over the whole clip (bounds memory on long runs)


def model_metadata(model: nn.Module) -> dict[str, Any]:
    """The checkpoint's user metadata a loaded model carries (empty for a freshly created one)."""
    metadata = getattr(model, "checkpoint_metadata", None)
    return dict(metadata) if isinstance(metadata, Mapping) else {}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def card_summary(weights_file: Path | None, metadata: Mapping[str, Any]) -> str | None:
    """The model card's summary: metadata ``card_summary``, else the first section of a MODEL_CARD.md
    beside the weights (the text before its second heading), plain text, at most ~1500 characters.
    """
    if metadata.get("card_summary"):
        return str(metadata["card_summary"])
    if weights_file is None or not (weights_file.parent / "MODEL_CARD.md").is_file():
        return None
    lines = []
    for line in (weights_file.parent / "MODEL_CARD.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            if lines:
                break
            continue
        lines.append(line.strip())
    text = " ".join(line for line in lines if line).replace("**", "").replace("`", "")
    return text[:1500] or None


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A model ready to run and what identifies it in reports (resolve once, analyse many clips)."""

    module: nn.Module
    info: ModelInfo


ModelSpec = Union["nn.Module", str, Path, LoadedModel, None]


def resolve_model(model: ModelSpec) -> LoadedModel:
    """The model to run and what identifies it: a module as given, a checkpoint path or shipped name, or
    (``None``) the shipped model. A file's sha256 is computed from the exact bytes loaded.
    """
    from torch import nn

    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, nn.Module):
        metadata = model_metadata(model)
        name = str(getattr(model, "model_name", None) or type(model).__name__)
        version = metadata.get("model_version")
        info = ModelInfo(name, None if version is None else str(version), None, card_summary(None, metadata))
        return LoadedModel(model.eval(), info)
    from stenoscope.models import load_model, read_model_metadata, shipped_weights_path

    if model is None:
        path = shipped_weights_path()
    elif Path(model).is_file():
        path = Path(model)
    elif Path(model).suffix or Path(model).name != str(model):
        raise ModelError(f"{model}: no such model file")
    else:
        path = shipped_weights_path(str(model))
    loaded = load_model(path)
    header = read_model_metadata(path)
    metadata = model_metadata(loaded)
    info = ModelInfo(
        name=str(metadata.get("model_name") or header.get("name") or path.stem),
        version=str(metadata.get("model_version") or header.get("version") or "") or None,
        sha256=_sha256(path),
        card_summary=card_summary(path, metadata),
    )
    return LoadedModel(loaded.eval(), info)


@dataclass(frozen=True)
class TrainedSteps:
    """What a checkpoint's recipe does to a frame after resizing it, so ``analyze`` feeds the model what it
    was trained on, as ``evaluate`` does through ``recipes.inference_pipeline``: the paper recipe subtracts
    the training mean image and takes the centre crop; the default recipe does neither.

    Attributes:
        size: the square size the training frames were resized to (the mean image's grid), if recorded.
        mean_image: the training mean image, minus the model's scalar ``Preprocess.mean`` (which
            ``normalise`` subtracts again), so the input is ``(frame - mean_image) / std`` as in training.
        center_crop: take the paper's centre crop (500 of 512) of the resized frame.
    """

    size: int | None = None
    mean_image: np.ndarray | None = None
    center_crop: bool = False

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any], preprocess_mean: float) -> TrainedSteps:
        training = metadata.get("training")
        if not isinstance(training, Mapping) or training.get("kind", "frame") != "frame":
            return cls()  # untrained by stenoscope, or trained on crops: whole frames go in resized only
        from stenoscope.train.recipes import decode_image

        mean = training.get("mean_image")
        size = training.get("input_size")
        return cls(
            size=int(size) if size else None,
            mean_image=None if not mean else decode_image(mean) - preprocess_mean,
            center_crop=bool((training.get("recipe") or {}).get("center_crop")),
        )

    @property
    def active(self) -> bool:
        return self.mean_image is not None or self.center_crop

    def crop_window(self, size: tuple[int, int]) -> tuple[int, int, int] | None:
        """``(x, y, side)`` of the centre crop in a frame of ``size``, or ``None`` without one."""
        if not self.center_crop:
            return None
        from stenoscope.data.transforms import CenterCrop

        return CenterCrop().window(size)

    def restore(self, maps: torch.Tensor | np.ndarray, size: tuple[int, int]) -> torch.Tensor | np.ndarray:
        """Maps of the cropped input ``(B, side, side)`` put back on the ``size`` grid (zero outside)."""
        window = self.crop_window(size)
        if window is None:
            return maps
        x, y, side = window
        if not isinstance(maps, np.ndarray):
            maps = maps.detach().cpu().numpy()
        restored = np.zeros((len(maps), *size), dtype=np.float32)
        restored[:, y : y + side, x : x + side] = maps
        return restored


def working_size(height: int, width: int, model: nn.Module, long_side: int | None) -> tuple[int, int]:
    """``(H, W)`` the model sees for a frame of ``height`` x ``width`` (see the module's resizing policy)."""
    fixed = getattr(model.preprocess, "input_size", None)
    if fixed is not None:
        return int(fixed[0]), int(fixed[1])
    if long_side is None:
        return height, width
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def to_model_input(
    frames: np.ndarray,
    model: nn.Module,
    size: tuple[int, int],
    steps: TrainedSteps | None = None,
    normalise: bool = True,
) -> torch.Tensor:
    """Float frames ``(B, H, W)`` in [0, 1] -> the model's normalised input: resized to ``size``, then
    the recipe's ``steps`` (mean image, centre crop) when given. ``normalise=False``: the frames as
    prepared, before the model's normalisation (what a peak ranker sees)."""
    import torch
    import torch.nn.functional as F

    tensor = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32))[:, None]
    if tuple(tensor.shape[-2:]) != size:
        shrinking = size[0] < tensor.shape[-2]
        tensor = F.interpolate(tensor, size=size, mode="bilinear", align_corners=False, antialias=shrinking)
    if steps is not None and steps.mean_image is not None:
        from stenoscope.data.transforms import SubtractImage

        tensor = tensor - torch.from_numpy(SubtractImage(steps.mean_image).reference_at(size))
    window = None if steps is None else steps.crop_window(size)
    if window is not None:
        x, y, side = window
        tensor = tensor[..., y : y + side, x : x + side]
    device = next(model.parameters()).device  # a model the caller moved to a GPU gets its input there
    return model.preprocess.normalise(tensor.to(device)) if normalise else tensor.to(device)


def ranker_detail(
    frames: np.ndarray, model: nn.Module, size: tuple[int, int], steps: TrainedSteps | None = None
) -> torch.Tensor | None:
    """The frames as a peak ranker of scale ``s`` judges them (``lesion_peaks``'s ``detail``): prepared as
    :func:`to_model_input` prepares them at ``s`` times ``size``, before normalisation; ``None`` for a model
    whose ranker (if any) sees its input itself."""
    from stenoscope.models.ranker import ranker_scale

    scale = ranker_scale(model)
    if scale == 1:
        return None
    return to_model_input(frames, model, (size[0] * scale, size[1] * scale), steps, normalise=False)[:, 0]


def to_input_grid(maps: torch.Tensor | np.ndarray, height: int, width: int) -> np.ndarray:
    """``(B, h, w)`` maps -> ``(B, height, width)`` float32 numpy on the input's pixel grid."""
    import torch
    import torch.nn.functional as F

    maps = torch.as_tensor(maps, dtype=torch.float32)
    if tuple(maps.shape[-2:]) != (height, width):
        maps = F.interpolate(maps[:, None], size=(height, width), mode="bilinear", align_corners=False)[:, 0]
    return maps.detach().clamp(0.0, 1.0).cpu().numpy().astype(np.float32, copy=False)


def _boxes(heatmap: np.ndarray, threshold: float) -> list[Box]:
    from stenoscope.explain import heatmap_boxes

    return heatmap_boxes(heatmap, max(threshold, BOX_LEVEL * float(heatmap.max())))[:MAX_PEAKS]


def _head_peaks(
    model: nn.Module,
    x: torch.Tensor,
    lesion: torch.Tensor,
    threshold: float,
    steps: TrainedSteps,
    size: tuple[int, int],
    frames: np.ndarray,
) -> list[list[Peak]]:
    """The head's lesion candidates by the model's own rule (``lesion_peaks``: re-ranked when it carries a
    peak ranker, which sees ``frames`` prepared on its own finer grid, as evaluation scores them), moved
    from the model input's grid to the frames' pixels."""
    frame_size, detail = frames.shape[-2:], ranker_detail(frames, model, size, steps)
    x0, y0, _ = steps.crop_window(size) or (0, 0, 0)
    scale_y, scale_x = frame_size[0] / size[0], frame_size[1] / size[1]

    def moved(peak: Peak) -> Peak:  # pixel centres, as the bilinear resize of the maps maps them
        column = min(frame_size[1] - 1, max(0, round((peak.x + x0 + 0.5) * scale_x - 0.5)))
        row = min(frame_size[0] - 1, max(0, round((peak.y + y0 + 0.5) * scale_y - 0.5)))
        return Peak(column, row, peak.score)

    found = model.lesion_peaks(x, threshold, MAX_PEAKS, lesion, detail=detail)
    return [[moved(peak) for peak in peaks] for peaks in found]


def _peaks_and_boxes(heatmap: np.ndarray, threshold: float) -> tuple[list[Peak], list[Box]]:
    from stenoscope.explain import find_peaks

    return find_peaks(heatmap, threshold, MAX_PEAKS), _boxes(heatmap, threshold)


def gradcam_maps(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Grad-CAM of the stenosis class on the model's ``cam_layer``, ``(B, H, W)`` in [0, 1]."""
    from stenoscope.explain import GradCAM

    with GradCAM(model) as cam:
        return cam(x)


def primary_maps(model: nn.Module, x: torch.Tensor) -> torch.Tensor | np.ndarray:
    """The lesion head's probability map when the model has one, else Grad-CAM."""
    import torch

    if getattr(model, "has_heatmap_head", False):
        with torch.no_grad():
            return model.lesion_map(x)
    return gradcam_maps(model, x)


def vote(probabilities: list[float], threshold: float) -> ClipDecision:
    """The paper's clip rule: a majority of key frames at or above ``threshold``; ties go to the mean."""
    votes = sum(p >= threshold for p in probabilities)
    mean = float(np.mean(probabilities))
    n_votes = len(probabilities)
    stenosis = 2 * votes > n_votes or (2 * votes == n_votes and mean >= threshold)
    return ClipDecision(
        probability=mean, stenosis=stenosis, votes=votes, n_votes=n_votes, threshold=threshold
    )


class _Stopwatch:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start


def analyze(
    path_or_clip: Clip | str | Path,
    model: ModelSpec = None,
    keyframes: str = "default",
    count: int = 5,
    *,
    long_side: int | Literal["model"] | None = "model",
    clip_heatmaps: bool = True,
    clip_stride: int | None = None,
    threshold: float | None = None,
    name: str | None = None,
) -> Report:
    """Analyse one clip (or image) end to end.

    Args:
        path_or_clip: anything :func:`stenoscope.read_clip` reads, or a :class:`~stenoscope.Clip`.
        model: a model, a checkpoint path or shipped model name (or a :class:`LoadedModel`); ``None``
            uses the shipped model.
        keyframes: key-frame method (``default`` or ``paper``).
        count: key frames that vote (5 in the paper).
        long_side: frames are resized to this long side before the model; ``"model"`` (default): the
            checkpoint's ``train_long_side``, else ``DEFAULT_LONG_SIDE``; ``None`` keeps the native size.
        clip_heatmaps: also compute heat maps for every frame (needed for clip.gif / clip.mp4).
        clip_stride: for those, run the model on every ``clip_stride``-th frame and blend the maps of the
            frames between; ``None`` (default) picks the smallest stride that keeps the model within
            ``CLIP_PIXEL_BUDGET`` input pixels, counting every heat-map view (every frame when the run fits).
        threshold: frame probability at which a key frame votes stenosis (metadata ``threshold`` or 0.5).
        name: the report's name (default: the input's file or folder name).

    Example:
        >>> report = stenoscope.analyze("run.dcm")
        >>> report.decision.stenosis, report.key_frames
        >>> report.save("out/run")
    """
    import torch

    if clip_stride is not None and clip_stride < 1:
        raise StenoscopeError(f"clip_stride must be at least 1, got {clip_stride}")
    watch = _Stopwatch()
    with watch.stage("read"):
        if isinstance(path_or_clip, Clip):
            clip, source = path_or_clip, path_or_clip.source or "<in-memory clip>"
        else:
            from stenoscope.io import read_clip

            clip, source = read_clip(path_or_clip), str(path_or_clip)
        clip.require_image()
    with watch.stage("load_model"):
        loaded = resolve_model(model)
    model, metadata = loaded.module, model_metadata(loaded.module)
    threshold = float(metadata.get("threshold", DEFAULT_THRESHOLD)) if threshold is None else threshold
    model_side = int(metadata.get("train_long_side") or DEFAULT_LONG_SIDE)
    target_side = model_side if long_side == "model" else long_side
    warnings = distribution_warnings(clip, metadata.get("training_distribution"))

    with watch.stage("keyframes"):
        if clip.n_frames == 1:
            key_frame, key_frames, scores, method = 0, [0], [1.0], "single image"
        else:
            from stenoscope.keyframes import detect_key_frames

            found = detect_key_frames(clip, method=keyframes, count=count)
            key_frame, key_frames = found.key_frame, list(found.key_frames)
            scores, method = [float(s) for s in found.scores], found.method

    steps = TrainedSteps.from_metadata(metadata, float(model.preprocess.mean))
    if steps.active and steps.size:  # the mean image and crop are defined on the square training grid
        size = (steps.size, steps.size)
    else:
        size = working_size(clip.height, clip.width, model, target_side)
    with watch.stage("classify"):
        key_frame_pixels = clip.with_frames(clip.frames[key_frames]).as_float()
        x = to_model_input(key_frame_pixels, model, size, steps)
        with torch.no_grad():
            probabilities = [float(p) for p in model.frame_probability(x)]
    has_head = bool(getattr(model, "has_heatmap_head", False))
    head_threshold = float(metadata.get("peak_threshold", HEAD_PEAK_THRESHOLD))
    with watch.stage("explain"):
        cams_work = steps.restore(gradcam_maps(model, x), size)
        primary_work, heads, head_peaks = cams_work, None, []
        if has_head:
            lesion = primary_maps(model, x)
            with torch.no_grad():
                head_peaks = _head_peaks(model, x, lesion, head_threshold, steps, size, key_frame_pixels)
            primary_work = steps.restore(lesion, size)  # at `size`
            heads = to_input_grid(primary_work, clip.height, clip.width)
        cams = to_input_grid(cams_work, clip.height, clip.width)
        frames = []
        for position, index in enumerate(key_frames):
            cam_peaks, cam_boxes = _peaks_and_boxes(cams[position], GRADCAM_PEAK_THRESHOLD)
            if heads is not None:
                primary = heads[position]
                peaks, boxes = head_peaks[position], _boxes(primary, head_threshold)
            else:
                primary, peaks, boxes = cams[position], cam_peaks, cam_boxes
            frames.append(
                FrameResult(
                    index=int(index),
                    probability=probabilities[position],
                    vote=probabilities[position] >= threshold,
                    peaks=peaks,
                    boxes=boxes,
                    gradcam_peaks=cam_peaks,
                    gradcam_boxes=cam_boxes,
                    heatmap=primary,
                )
            )

    every_frame = None
    if clip_stride is None:
        # a head's map costs each of its views' pixels (see HeatmapViews.pixel_cost)
        views_cost = model.heatmap_views.pixel_cost if has_head else 1.0
        affordable = max(2, int(CLIP_PIXEL_BUDGET // (size[0] * size[1] * views_cost)))
        clip_stride = max(1, math.ceil((clip.n_frames - 1) / (affordable - 1)))
    if clip_heatmaps:
        with watch.stage("clip_heatmaps"):
            known = dict(zip(key_frames, to_input_grid(primary_work, *size), strict=True))
            every_frame = _clip_heatmaps(clip, model, size, clip_stride, known, steps)

    display_max = 1.0
    if has_head:
        strongest = max(float(frame.heatmap.max()) for frame in frames)
        if every_frame is not None:
            strongest = max(strongest, float(every_frame.max()) / 255.0)
        display_max = max(HEAD_DISPLAY_FLOOR, strongest)
    return Report(
        input=source,
        name=name or clip.name,
        clip=clip,
        key_frame=int(key_frame),
        key_frames=[int(i) for i in key_frames],
        keyframe_method=method,
        keyframe_scores=scores,
        frames=frames,
        decision=vote(probabilities, threshold),
        model=loaded.info,
        heatmaps={
            "source": "lesion heat-map head" if has_head else "Grad-CAM",
            "gradcam_layer": getattr(model, "cam_layer", None),
            "model_input": [int(size[0]), int(size[1])],
            "clip": _clip_policy(clip_heatmaps, clip_stride),
            "clip_stride": clip_stride if clip_heatmaps else None,
            "peak_threshold": head_threshold if has_head else GRADCAM_PEAK_THRESHOLD,
            "peak_score": _peak_score_rule(model, has_head),
            "box_level": f"{BOX_LEVEL:g} x the frame's maximum",
            "display_max": round(display_max, 4),
        },
        clip_heatmaps=every_frame,
        display_max=display_max,
        warnings=warnings,
        timings=watch.timings,
    )


def _peak_score_rule(model: nn.Module, has_head: bool) -> str:
    """What a reported peak's score is, so a reader of report.json knows what its threshold applies to."""
    if not has_head:
        return "Grad-CAM map value (scaled to [0, 1] per frame)"
    if getattr(model, "peak_ranker", None) is not None:
        return "heat-map height x the peak ranker's lesion probability"
    return "heat-map height (lesion-centre probability)"


def _clip_policy(clip_heatmaps: bool, stride: int) -> str:
    if not clip_heatmaps:
        return "not computed"
    if stride == 1:
        return "model run on every frame"
    return f"model run on 1 frame in {stride}, the last and the key frames; frames between blended linearly"


def _clip_heatmaps(
    clip: Clip,
    model: nn.Module,
    size: tuple[int, int],
    stride: int,
    known: dict[int, np.ndarray],
    steps: TrainedSteps,
) -> np.ndarray:
    """Primary heat maps of every frame, ``(T, h, w)`` uint8 at the model's working size.

    The model runs on every ``stride``-th frame, the last one and the key frames (whose maps ``known``
    already holds, so they are reused); a frame between two of those gets the linear blend of their maps
    (with ``stride=1`` the model runs on every frame and nothing is blended).
    """
    computed = sorted(set(range(0, clip.n_frames, stride)) | {clip.n_frames - 1} | set(known))
    heat = np.empty((len(computed), *size), dtype=np.float32)
    missing = [position for position, index in enumerate(computed) if index not in known]
    for position, index in enumerate(computed):
        if index in known:
            heat[position] = known[index]
    for start in range(0, len(missing), BATCH_FRAMES):
        positions = missing[start : start + BATCH_FRAMES]
        indices = [computed[position] for position in positions]
        x = to_model_input(clip.with_frames(clip.frames[indices]).as_float(), model, size, steps)
        heat[positions] = to_input_grid(steps.restore(primary_maps(model, x), size), *size)
    maps = np.empty((clip.n_frames, *size), dtype=np.uint8)
    for index in range(clip.n_frames):
        after = int(np.searchsorted(computed, index))
        if computed[after] == index:
            blended = heat[after]
        else:
            before_frame, after_frame = computed[after - 1], computed[after]
            weight = (index - before_frame) / (after_frame - before_frame)
            blended = (1.0 - weight) * heat[after - 1] + weight * heat[after]
        maps[index] = np.rint(blended * 255.0).astype(np.uint8)
    return maps
