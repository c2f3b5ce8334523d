"""Key-frame detection against a reference: ``clip,key_frame`` CSV in, distances and their summary out.

The summary is the paper's (Fig. 5): mean absolute frame distance with its SD and SE, and the share of
clips whose detected key frame is within 0, 1, 2 and 5 frames of the reference.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stenoscope.errors import InputError

WITHIN_FRAMES = (0, 1, 2, 5)
REQUIRED_COLUMNS = ("clip", "key_frame")


@dataclass(frozen=True)
class ReferenceEntry:
    """One reference row: a clip path (resolved against the CSV's folder) and its key frame."""

    clip: Path
    key_frame: int


@dataclass(frozen=True)
class ClipResult:
    clip: str
    reference: int
    detected: int
    distance: int


@dataclass(frozen=True)
class MethodEvaluation:
    """Distances of one method over all reference clips, and the paper's summary of them."""

    method: str
    results: tuple[ClipResult, ...]
    seconds: float

    @property
    def distances(self) -> np.ndarray:
        return np.array([result.distance for result in self.results], dtype=np.float64)

    def summary(self) -> dict[str, Any]:
        distances = self.distances
        n = len(distances)
        sd = float(distances.std(ddof=1)) if n > 1 else 0.0
        return {
            "n": n,
            "mean": float(distances.mean()),
            "sd": sd,
            "se": sd / math.sqrt(n),
            "within": {str(k): float(np.mean(distances <= k)) for k in WITHIN_FRAMES},
            "seconds": float(self.seconds),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            **self.summary(),
            "clips": [result.__dict__ for result in self.results],
        }


@dataclass(frozen=True)
class KeyFrameEvaluation:
    reference: str
    methods: dict[str, MethodEvaluation] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "methods": {name: evaluation.to_json() for name, evaluation in self.methods.items()},
        }


def read_reference(path: str | Path) -> list[ReferenceEntry]:
    """Parse a ``clip,key_frame`` CSV; every problem is an :class:`InputError` naming the CSV and the row."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise InputError(path, f"cannot read the reference CSV ({error.strerror or error})") from None
    rows = csv.DictReader(text.splitlines())
    columns = [name.strip() for name in rows.fieldnames or []]
    if any(name not in columns for name in REQUIRED_COLUMNS):
        raise InputError(path, f"the header must name the columns clip,key_frame (found {columns or 'none'})")
    entries = []
    for line, row in enumerate(rows, start=2):
        row = {(key or "").strip(): (value or "").strip() for key, value in row.items()}
        if not row["clip"]:
            raise InputError(path, f"line {line}: empty clip path")
        try:
            key_frame = int(row["key_frame"])
        except ValueError:
            raise InputError(path, f"line {line}: key_frame {row['key_frame']!r} is not an integer") from None
        if key_frame < 0:
            raise InputError(path, f"line {line}: key_frame {key_frame} is negative")
        clip = Path(row["clip"]).expanduser()
        entries.append(ReferenceEntry(clip if clip.is_absolute() else path.parent / clip, key_frame))
    if not entries:
        raise InputError(path, "no reference rows")
    return entries


def evaluate_key_frames(
    reference_csv: str | Path, methods: Sequence[str] = ("default",), count: int = 5
) -> KeyFrameEvaluation:
    """Detect key frames with each method on every reference clip and measure the frame distances."""
    from stenoscope.io import read_clip
    from stenoscope.keyframes import detect_key_frames

    entries = read_reference(reference_csv)
    collected: dict[str, list[ClipResult]] = {method: [] for method in methods}
    seconds = dict.fromkeys(methods, 0.0)
    for entry in entries:
        clip = read_clip(entry.clip)
        if entry.key_frame >= clip.n_frames:
            raise InputError(
                reference_csv,
                f"{entry.clip}: key_frame {entry.key_frame} outside a {clip.n_frames}-frame clip",
            )
        for method in methods:
            keys = detect_key_frames(clip, method=method, count=count)
            seconds[method] += keys.seconds
            collected[method].append(
                ClipResult(
                    str(entry.clip), entry.key_frame, keys.key_frame, abs(keys.key_frame - entry.key_frame)
                )
            )
    return KeyFrameEvaluation(
        reference=str(reference_csv),
        methods={m: MethodEvaluation(m, tuple(collected[m]), seconds[m]) for m in methods},
    )
