"""Ground truth of a synthetic run and saving a run with its truth beside it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stenoscope._fs import write_text_atomic
from stenoscope.clip import Clip

TRUTH_SCHEMA = "stenoscope.synth-truth/1"


@dataclass(frozen=True)
class SyntheticStenosis:
    """One lesion: severity, extent, and where it is in every frame (it moves with the heart).

    Attributes:
        vessel: the segment it sits on (``RCA``, ``LM-LAD``, ``LCx``, ``PDA``, ...).
        degree: percent diameter reduction at its centre.
        length_px: length along the centreline, output pixels.
        reference_radius_px: lumen radius at the centre before narrowing, output pixels.
        centre: ``[x, y]`` per frame, output pixels.
        boxes: ``[x, y, w, h]`` per frame covering the narrowed segment, inside the frame.
    """

    vessel: str
    degree: float
    length_px: float
    reference_radius_px: float
    centre: list[list[float]]
    boxes: list[list[int]]

    def to_json(self) -> dict[str, Any]:
        return {
            "vessel": self.vessel,
            "degree": self.degree,
            "length_px": self.length_px,
            "reference_radius_px": self.reference_radius_px,
            "centre": self.centre,
            "boxes": self.boxes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SyntheticStenosis:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__})


@dataclass(frozen=True)
class SyntheticTruth:
    """What a synthetic run contains, for scoring key frames, classification and localisation.

    Attributes:
        seed: the seed that reproduces the run byte for byte (with ``parameters``).
        parameters: the other arguments of :func:`~stenoscope.synth.synthesize`.
        tree: ``rca`` or ``lca``.
        opacification: per frame, the fraction (0..1) of the tree's lumen volume filled with contrast.
        key_frame: the frame of maximal filling (the first one, if several tie).
        stenoses: the lesions (empty for a clean run).
    """

    seed: int
    parameters: dict[str, Any]
    tree: str
    opacification: list[float]
    key_frame: int
    stenoses: list[SyntheticStenosis] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": TRUTH_SCHEMA,
            "seed": self.seed,
            "parameters": self.parameters,
            "tree": self.tree,
            "n_frames": len(self.opacification),
            "opacification": self.opacification,
            "key_frame": self.key_frame,
            "stenoses": [stenosis.to_json() for stenosis in self.stenoses],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SyntheticTruth:
        return cls(
            seed=int(data["seed"]),
            parameters=dict(data["parameters"]),
            tree=str(data["tree"]),
            opacification=[float(v) for v in data["opacification"]],
            key_frame=int(data["key_frame"]),
            stenoses=[SyntheticStenosis.from_json(item) for item in data["stenoses"]],
        )

    @classmethod
    def load(cls, path: str | Path) -> SyntheticTruth:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def truth_path(clip_path: str | Path) -> Path:
    """``<stem>.truth.json`` beside a clip file, or beside a folder of frames."""
    clip_path = Path(clip_path)
    stem = clip_path.stem if clip_path.suffix else clip_path.name
    return clip_path.with_name(f"{stem}.truth.json")


@dataclass(frozen=True)
class SyntheticRun:
    """A synthetic cine run and its ground truth."""

    clip: Clip
    truth: SyntheticTruth

    def save(self, path: str | Path, format: str | None = None) -> tuple[Path, Path]:
        """Write the clip (``dicom``, ``frames``, ``mp4``... or from the suffix) and its truth JSON beside it.

        Returns:
            The clip's path and the truth file's path.
        """
        from stenoscope.io import write_clip

        written = write_clip(self.clip, path, format=format)
        truth_file = write_text_atomic(truth_path(written), json.dumps(self.truth.to_json(), indent=1) + "\n")
        return written, truth_file
