"""Training recipes: the paper's (Moon et al. 2021) exactly, and a modern default.

A recipe fixes the optimiser, schedule, batch size, epochs and augmentation; :func:`inference_pipeline`
rebuilds the matching inference transforms from a checkpoint's metadata, so evaluation reproduces
training's input (frame size, the paper's mean image and centre crop) without the user re-typing anything.

Flips (default recipe): an angiogram's left-right orientation carries its projection (LAO and RAO views
mirror each other), so whole frames are never flipped; region crops are flipped both ways, since a narrowed
segment looks narrowed in any orientation.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from stenoscope.data.transforms import (
    PAPER_CROP,
    PAPER_OFFSETS,
    PAPER_REFERENCE,
    PAPER_SHIFTS,
    CenterCrop,
    Compose,
    IntensityShift,
    OffsetCrop,
    RandomBlur,
    RandomFlip,
    RandomGamma,
    RandomNoise,
    RandomRotation,
    RandomSharpen,
    RandomShutters,
    RandomZoom,
    Resize,
    SubtractImage,
    Transform,
)
from stenoscope.errors import StenoscopeError


@dataclass(frozen=True)
class Recipe:
    """Optimisation and augmentation settings.

    Attributes:
        name: ``paper`` or ``default``.
        optimizer: ``adam`` or ``adamw``.
        lr: peak learning rate.
        weight_decay: decoupled (AdamW) or L2 (Adam) weight decay.
        batch_size: samples per step.
        epochs: passes over the training set.
        schedule: ``constant`` or ``cosine`` (per step, after a linear warm-up).
        warmup_epochs: length of the linear warm-up.
        mean_image: subtract the mean image of the fold's training set (the paper's normalisation).
        center_crop: validation/inference centre crop (the paper: 500 of 512).
        frame_flip: flip whole frames too, both ways (crops always are): for localisation, where a lesion
            looks the same in a mirrored projection; off for classifiers of whole frames, whose anatomy
            (LAO vs RAO) a mirror changes.
        zoom: scale frames and crops by up to this share either way (0: never).
        sharpen: edge-enhance half the samples by unsharp masking of up to this amount (0: never), as other
            systems process their frames.
        shutters: on a third of whole frames, collimator bands up to this share of the frame deep
            along some sides (0: never).
        ema_decay: keep an exponential moving average of the weights (and batch-norm statistics) with this
            decay per step and end training with it instead of the last step's weights (0: off): the usual
            remedy for a noisy last step, though under a cosine schedule that ends at 0 it changed nothing
            measurable for the shipped stage 1 (docs/training.md).
    """

    name: str
    optimizer: str
    lr: float
    weight_decay: float
    batch_size: int
    epochs: int
    schedule: str
    warmup_epochs: float
    mean_image: bool
    center_crop: bool
    frame_flip: bool = False
    zoom: float = 0.0
    sharpen: float = 0.0
    shutters: float = 0.0
    ema_decay: float = 0.0

    def train_transforms(self, kind: str) -> list[Transform]:
        """Random augmentation for ``kind`` ``"frame"`` or ``"region"`` samples."""
        if self.name == "paper":
            return [IntensityShift(PAPER_SHIFTS), OffsetCrop(PAPER_CROP, PAPER_OFFSETS, PAPER_REFERENCE)]
        transforms: list[Transform] = []
        if kind == "region" or self.frame_flip:
            transforms.append(RandomFlip(horizontal=True, vertical=True))
        if self.zoom:
            transforms.append(RandomZoom(self.zoom))
        transforms.append(RandomRotation(10.0))
        if self.shutters and kind == "frame":
            transforms.append(RandomShutters(self.shutters))
        transforms += [RandomGamma(0.3), IntensityShift(PAPER_SHIFTS)]
        if self.sharpen:
            transforms.append(RandomSharpen(self.sharpen))
        transforms += [RandomBlur(1.5, p=0.3), RandomNoise(0.03, p=0.5)]
        return transforms

    def eval_transforms(self) -> list[Transform]:
        return [CenterCrop(PAPER_CROP, PAPER_REFERENCE)] if self.center_crop else []

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


RECIPES: dict[str, Recipe] = {
    "paper": Recipe(
        name="paper",
        optimizer="adam",
        lr=1e-5,
        weight_decay=0.0,
        batch_size=15,
        epochs=10,
        schedule="constant",
        warmup_epochs=0.0,
        mean_image=True,
        center_crop=True,
    ),
    "default": Recipe(
        name="default",
        optimizer="adamw",
        lr=1e-3,
        weight_decay=0.05,
        batch_size=32,
        epochs=30,
        schedule="cosine",
        warmup_epochs=1.0,
        mean_image=False,
        center_crop=False,
    ),
}


def get_recipe(name: str, **overrides: Any) -> Recipe:
    """The named recipe with some fields replaced (``None`` values are ignored)."""
    if name not in RECIPES:
        raise StenoscopeError(f"unknown recipe {name!r} (choose from {', '.join(RECIPES)})")
    changes = {key: value for key, value in overrides.items() if value is not None}
    unknown = set(changes) - set(asdict(RECIPES[name]))
    if unknown:
        raise StenoscopeError(f"unknown recipe setting(s): {', '.join(sorted(unknown))}")
    return replace(RECIPES[name], **changes)


def encode_image(image: np.ndarray) -> dict[str, Any]:
    """A float image as JSON (float16 bytes in base64: 0.5 MB for 512x512) for checkpoint metadata."""
    array = np.asarray(image, dtype=np.float16)
    return {
        "shape": list(array.shape),
        "dtype": "float16",
        "base64": base64.b64encode(array.tobytes()).decode(),
    }


def decode_image(data: dict[str, Any]) -> np.ndarray:
    raw = base64.b64decode(data["base64"])
    return np.frombuffer(raw, dtype=np.float16).reshape(data["shape"]).astype(np.float32)


def input_transforms(training: dict[str, Any], preprocess_mean: float) -> list[Transform]:
    """The deterministic steps before augmentation: resize to the trained size, subtract the mean image.

    The mean image is subtracted and ``preprocess_mean`` added back, so the model's own
    ``Preprocess.normalise`` (which subtracts its scalar mean) yields exactly ``(x - mean_image) / std``.
    """
    transforms: list[Transform] = []
    if training.get("input_size"):
        transforms.append(Resize(int(training["input_size"])))
    if training.get("mean_image"):
        transforms.append(SubtractImage(decode_image(training["mean_image"]) - preprocess_mean))
    return transforms


def inference_pipeline(
    training: dict[str, Any] | None, preprocess_mean: float, kind: str = "frame"
) -> Compose:
    """Inference transforms recorded at training (the ``training`` entry of a checkpoint's metadata).

    Args:
        training: the checkpoint's ``training`` metadata (``None`` for models not trained by stenoscope:
            samples then go in unchanged, at their own size).
        preprocess_mean: the model's ``Preprocess.mean``.
        kind: ``frame`` or ``region``: the samples to score. A model trained on crops and applied to whole
            frames gets frames resized to ``frame_input_size`` (the size its heat-map head saw).
    """
    if not training:
        return Compose([])
    if kind == training.get("kind", "frame"):
        recipe = replace(get_recipe(training["recipe"]["name"]), **training["recipe"])
        return Compose([*input_transforms(training, preprocess_mean), *recipe.eval_transforms()])
    if kind == "frame" and training.get("frame_input_size"):
        return Compose([Resize(int(training["frame_input_size"]))])
    return Compose([])
