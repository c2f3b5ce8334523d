"""Key-frame detection: pick the frames of maximal contrast filling that the classifier will see.

Two methods sit side by side in a registry: ``paper`` (Moon et al. 2021, reproduced step by step) and
``default`` (ours: faster, whole-run, plateau-aware). Both score every frame; the chosen frames are the
``count`` consecutive frames centred on the key frame, shifted (never cut) to stay inside the clip.

Example:
    >>> from stenoscope.keyframes import detect_key_frames
    >>> keys = detect_key_frames(clip, method="default", count=5)
    >>> keys.key_frame, keys.key_frames
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stenoscope.clip import Clip
from stenoscope.errors import StenoscopeError
from stenoscope.keyframes import default as _default  # noqa: F401  (registers "default")
from stenoscope.keyframes import paper as _paper  # noqa: F401  (registers "paper")
from stenoscope.keyframes._registry import (
    Scoring,
    get_keyframe_method,
    list_keyframe_methods,
    register_keyframe_method,
)

__all__ = [
    "KeyFrames",
    "Scoring",
    "detect_key_frames",
    "frame_window",
    "list_keyframe_methods",
    "register_keyframe_method",
]


@dataclass(frozen=True, eq=False)
class KeyFrames:
    """The key frame of a clip, the ``count`` frames around it, and the per-frame scores behind the choice.

    Attributes:
        n_frames: frames in the clip.
        key_frame: index of the frame of maximal filling.
        key_frames: sorted, distinct indices inside the clip (all frames when the clip is shorter than
            ``count``); always contains ``key_frame``.
        scores: one score per frame (the curve the method chose from); higher means more filling.
        method: registry name of the method.
        seconds: wall time of the detection.
    """

    n_frames: int
    key_frame: int
    key_frames: tuple[int, ...]
    scores: np.ndarray
    method: str
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "n_frames": int(self.n_frames),
            "key_frame": int(self.key_frame),
            "key_frames": [int(index) for index in self.key_frames],
            "scores": [_json_float(value) for value in self.scores],
            "method": self.method,
            "seconds": _json_float(self.seconds),
        }


def _json_float(value: float) -> float:
    value = float(value)
    return value if np.isfinite(value) else 0.0


def frame_window(key_frame: int, count: int, n_frames: int) -> tuple[int, ...]:
    """``count`` consecutive indices centred on ``key_frame`` (key-2 .. key+2 for 5), shifted into the clip.

    The original code of the paper drops indices that fall outside the clip; shifting keeps ``count``
    frames whenever the clip has them, so the classifier always votes over the same number of frames.
    """
    count = min(count, n_frames)
    start = key_frame - (count - 1) // 2
    start = min(max(start, 0), n_frames - count)
    return tuple(range(start, start + count))


def detect_key_frames(
    clip: Clip | str | Path, method: str = "default", count: int = 5, **options: Any
) -> KeyFrames:
    """Score every frame of ``clip`` with ``method`` and return the key frame and ``count`` frames around it.

    Args:
        clip: a :class:`~stenoscope.Clip` or a path readable by :func:`stenoscope.io.read_clip`.
        method: a name from :func:`list_keyframe_methods` (``default`` or ``paper``).
        count: how many consecutive frames to choose (5 in the paper).
        **options: passed to the method (e.g. ``occlude_text=False`` for ``paper``).
    """
    if count < 1:
        raise StenoscopeError(f"count must be at least 1, got {count}")
    if not isinstance(clip, Clip):
        from stenoscope.io import read_clip

        clip = read_clip(clip)
    clip.require_image()
    scorer = get_keyframe_method(method)
    started = time.perf_counter()
    scoring: Scoring = scorer(clip, **options)
    seconds = time.perf_counter() - started
    scores = np.asarray(scoring.scores, dtype=np.float64)
    if scores.shape != (clip.n_frames,):
        raise RuntimeError(f"method {method!r} returned {scores.shape} scores for {clip.n_frames} frames")
    key_frame = min(max(int(scoring.key_frame), 0), clip.n_frames - 1)
    return KeyFrames(
        n_frames=clip.n_frames,
        key_frame=key_frame,
        key_frames=frame_window(key_frame, count, clip.n_frames),
        scores=scores,
        method=method,
        seconds=seconds,
    )
