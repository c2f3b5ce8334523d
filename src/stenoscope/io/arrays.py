"""NumPy ``.npy`` (frames only) and ``.npz`` (frames plus metadata) clips.

An array is ``(T, H, W)`` or ``(H, W)``; dtype rules follow :mod:`stenoscope.io._grey` (floats must lie
in [0, 1] and become 16-bit). A ``.npz`` holds the frames under ``frames`` (or as its only array) and may
carry ``bits_stored``, ``frame_time_ms``, ``pixel_spacing_mm``, ``primary_angle`` and ``secondary_angle``,
which :func:`write_array` stores so an npz round trip keeps the clip's metadata.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from stenoscope._fs import atomic_path
from stenoscope.clip import Clip
from stenoscope.errors import InputError
from stenoscope.io._grey import to_clip_depth
from stenoscope.io._util import first_line

_METADATA_KEYS = ("bits_stored", "frame_time_ms", "pixel_spacing_mm", "primary_angle", "secondary_angle")


def read_array(path: Path, kind: str) -> Clip:
    """Read ``.npy`` or ``.npz`` (``kind``) into a clip; pickled objects are never loaded."""
    metadata: dict[str, Any] = {}
    try:
        loaded = np.load(path, allow_pickle=False)
        if kind == "npz":
            with loaded:
                frames = _pick_frames(path, loaded)
                metadata = {key: loaded[key] for key in _METADATA_KEYS if key in loaded.files}
        else:
            frames = loaded
    except InputError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise InputError(path, f"unreadable or truncated NumPy file ({first_line(error)})") from error
    if frames.ndim == 2:
        frames = frames[None]
    if frames.ndim != 3:
        raise InputError(
            path, f"array has shape {frames.shape}; expected (frames, height, width) or (height, width)"
        )
    if 0 in frames.shape:
        raise InputError(path, f"array has zero frames or an empty frame (shape {frames.shape})")
    frames, bits = to_clip_depth(frames, path)
    if "bits_stored" in metadata and frames.dtype == np.uint16:
        bits = max(bits, int(metadata["bits_stored"]))
    return Clip(
        frames=frames,
        bits_stored=bits,
        frame_time_ms=_optional_float(metadata.get("frame_time_ms")),
        pixel_spacing_mm=_optional_pair(metadata.get("pixel_spacing_mm")),
        primary_angle=_optional_float(metadata.get("primary_angle")),
        secondary_angle=_optional_float(metadata.get("secondary_angle")),
        source=str(path),
        format="array",
    )


def write_array(clip: Clip, path: Path, kind: str) -> Path:
    """``npy``: the frames alone; ``npz``: compressed frames plus the metadata that is known."""
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        if kind == "npy":
            np.save(handle, clip.frames, allow_pickle=False)
        else:
            metadata = {"bits_stored": clip.bits_stored}
            for key in _METADATA_KEYS[1:]:
                value = getattr(clip, key)
                if value is not None:
                    metadata[key] = np.asarray(value, dtype=np.float64)
            np.savez_compressed(handle, frames=clip.frames, **metadata)
    return Path(path)


def _pick_frames(path: Path, archive: Any) -> np.ndarray:
    if "frames" in archive.files:
        return archive["frames"]
    arrays = [key for key in archive.files if key not in _METADATA_KEYS]
    if len(arrays) != 1:
        raise InputError(
            path, f"npz has no 'frames' array and {len(arrays)} others ({', '.join(arrays[:5])})"
        )
    return archive[arrays[0]]


def _optional_float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(np.asarray(value))
    return number if np.isfinite(number) else None


def _optional_pair(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    row, column = (float(v) for v in np.asarray(value).reshape(-1)[:2])
    return (row, column)
