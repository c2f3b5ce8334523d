"""The one sample type every dataset layout produces, and the dataset container they share.

Labels, groups and boxes are known without loading any pixels, so splits and statistics never read images;
pixels are loaded on access (or kept in memory where a layout had to decode them anyway, e.g. key frames).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from stenoscope.errors import InputError

EMPTY_BOXES = np.zeros((0, 4), dtype=np.float32)


def as_boxes(boxes: Any) -> np.ndarray:
    """Boxes as a ``(N, 4)`` float32 ``x, y, w, h`` array (``(0, 4)`` when there are none)."""
    array = np.asarray(boxes, dtype=np.float32).reshape(-1, 4) if len(boxes) else EMPTY_BOXES
    return array.copy()


@dataclass
class Sample:
    """One training or evaluation example.

    Attributes:
        image: ``(H, W)`` float32 in [0, 1], bright background / dark vessels.
        label: 1 = stenosis, 0 = none.
        group: the unit that must never be split across folds (patient, clip or near-duplicate group).
        boxes: lesion boxes ``(N, 4)`` as ``x, y, w, h`` in this image's pixels (empty when unknown/none).
        source: file (or description) the pixels came from.
        frame: frame index inside ``source`` when it is a clip.
    """

    image: np.ndarray
    label: int
    group: str
    boxes: np.ndarray = field(default_factory=lambda: EMPTY_BOXES.copy())
    source: str = ""
    frame: int | None = None


@dataclass
class Entry:
    """What a dataset knows about one sample before reading its pixels."""

    source: str
    label: int
    group: str
    boxes: np.ndarray = field(default_factory=lambda: EMPTY_BOXES.copy())
    frame: int | None = None
    image: np.ndarray | None = None  # pixels kept in memory (key frames, synthetic frames, crops)
    region: tuple[int, int, int] | None = None  # a crop's (x, y, side) in its source frame's pixels


class SampleDataset(Sequence[Sample]):
    """A list of :class:`Entry` plus the function that reads an entry's pixels.

    Attributes:
        kind: ``"frame"`` for whole frames (scored with the model's frame rule and, with boxes, localisation)
            or ``"region"`` for crops (scored with the classification head).
        name: the layout that produced it, for reports.
    """

    def __init__(
        self,
        entries: Sequence[Entry],
        loader: Callable[[Entry], np.ndarray] | None = None,
        kind: str = "frame",
        name: str = "dataset",
    ) -> None:
        self.entries = list(entries)
        self.loader = loader
        self.kind = kind
        self.name = name

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        entry = self.entries[index]
        image = entry.image if entry.image is not None else self._load(entry)
        return Sample(image, entry.label, entry.group, entry.boxes.copy(), entry.source, entry.frame)

    def __iter__(self) -> Iterator[Sample]:
        for index in range(len(self)):
            yield self[index]

    def _load(self, entry: Entry) -> np.ndarray:
        if self.loader is None:
            raise RuntimeError("this dataset has no loader and an entry without pixels")
        return self.loader(entry)

    @property
    def labels(self) -> np.ndarray:
        return np.array([entry.label for entry in self.entries], dtype=np.int64)

    @property
    def groups(self) -> list[str]:
        return [entry.group for entry in self.entries]

    @property
    def has_boxes(self) -> bool:
        return any(len(entry.boxes) for entry in self.entries)

    def prepared(self, steps: Callable[..., Any], max_bytes: int = 2 * 1024**3) -> SampleDataset:
        """The samples read and put through the deterministic ``steps`` (e.g. a ``Compose`` of resizing)
        once and held in memory, so that training epochs skip decoding and resizing; this dataset itself
        when the prepared pixels would pass ``max_bytes`` (frames kept at full size)."""
        entries: list[Entry] = []
        for index, entry in enumerate(self.entries):
            sample = self[index]
            result = steps(sample.image, sample.boxes, np.random.default_rng(0))
            if result.image.nbytes * len(self.entries) > max_bytes:
                return self
            entries.append(replace(entry, image=result.image, boxes=result.boxes, region=None))
        return SampleDataset(entries, None, self.kind, self.name)

    def subset(self, indices: Sequence[int]) -> SampleDataset:
        """A dataset of the chosen entries (same loader, kind and name)."""
        return SampleDataset([self.entries[int(i)] for i in indices], self.loader, self.kind, self.name)

    def summary(self) -> dict[str, Any]:
        """Counts for logs and results.json."""
        labels = self.labels
        return {
            "name": self.name,
            "kind": self.kind,
            "samples": len(self),
            "positives": int(labels.sum()),
            "negatives": int((labels == 0).sum()),
            "groups": len(set(self.groups)),
            "boxes": int(sum(len(entry.boxes) for entry in self.entries)),
        }


def read_grey_image(path: str | Path) -> np.ndarray:
    """Read a PNG/JPEG/BMP/TIFF as float32 ``(H, W)`` in [0, 1]; RGB with equal channels becomes grey.

    Image layouts read with Pillow directly (not :func:`stenoscope.io.read_clip`) because thousands of
    small frames are read per epoch and the clip machinery (metadata, sniffing) adds nothing here.
    """
    from PIL import Image

    try:
        with Image.open(path) as opened:
            image = opened
            if image.mode in ("I;16", "I;16B", "I;16L", "I"):
                array = np.asarray(image, dtype=np.float32)
                return array / (65535.0 if array.max() > 255 else 255.0)
            if image.mode != "L":
                image = image.convert("L")
            return np.asarray(image, dtype=np.float32) / 255.0
    except (OSError, ValueError) as error:
        raise InputError(path, f"cannot read image ({error})") from error


def load_entry_image(entry: Entry) -> np.ndarray:
    """Default loader: an image file, or frame ``entry.frame`` of any clip stenoscope reads."""
    path = Path(entry.source)
    if entry.frame is None and path.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"):
        return read_grey_image(path)
    from stenoscope.io import read_clip

    clip = read_clip(path)
    index = entry.frame or 0
    if not 0 <= index < clip.n_frames:
        raise InputError(path, f"frame {index} out of range (clip has {clip.n_frames} frames)")
    return clip.with_frames(clip.frames[index : index + 1]).as_float()[0]
