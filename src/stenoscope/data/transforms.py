"""Transforms for grey frames and their lesion boxes, split TorchIO-style into *sample* and *apply*.

Each transform first draws its random parameters (:meth:`Transform.sample`), then applies them
deterministically (:meth:`Transform.apply`). The split makes augmentation repeatable from a seed, keeps a
history of what was applied (for debugging and tests), and lets the paper's discrete choices (five
intensity shifts, five crop offsets) be checked exactly.

Images are ``(H, W)`` float32 in [0, 1] (0-255 values are divided by 255); boxes are ``(N, 4)`` ``x, y, w, h``
in image pixels and follow every geometric transform.

Example:
    >>> pipeline = Compose([IntensityShift(), OffsetCrop()])
    >>> result = pipeline(np.zeros((512, 512), np.float32), rng=np.random.default_rng(0))
    >>> result.image.shape
    (500, 500)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Params = dict[str, Any]

PAPER_SHIFTS = (-10, -5, 0, 5, 10)  # grey levels on the 0-255 scale
PAPER_CROP = 500
PAPER_REFERENCE = 512
PAPER_OFFSETS = ((0, 0), (0, 12), (12, 0), (6, 6), (12, 12))  # (x, y) of the crop's top-left corner


def _clip_boxes(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Clip boxes to the image and drop those that vanish (a lesion cropped out is no longer a target)."""
    if not len(boxes):
        return boxes.reshape(0, 4).astype(np.float32)
    x0 = np.clip(boxes[:, 0], 0, width)
    y0 = np.clip(boxes[:, 1], 0, height)
    x1 = np.clip(boxes[:, 0] + boxes[:, 2], 0, width)
    y1 = np.clip(boxes[:, 1] + boxes[:, 3], 0, height)
    keep = (x1 - x0 >= 1) & (y1 - y0 >= 1)
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)[keep].astype(np.float32)


class Transform:
    """Base class: :meth:`sample` draws random parameters, :meth:`apply` uses them (no randomness)."""

    def sample(self, rng: np.random.Generator, shape: tuple[int, int]) -> Params:
        """Draw this transform's parameters for an image of ``shape`` (none by default)."""
        return {}

    def apply(self, image: np.ndarray, boxes: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def __call__(
        self, image: np.ndarray, boxes: np.ndarray | None = None, rng: np.random.Generator | None = None
    ) -> TransformResult:
        return Compose([self])(image, boxes, rng)

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in vars(self).items())
        return f"{type(self).__name__}({fields})"


@dataclass
class TransformResult:
    """The transformed image and boxes, and ``(transform name, parameters)`` for each step applied."""

    image: np.ndarray
    boxes: np.ndarray
    history: list[tuple[str, Params]] = field(default_factory=list)


class Compose(Transform):
    """Apply transforms in order; each samples its parameters for the image it actually receives."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(
        self, image: np.ndarray, boxes: np.ndarray | None = None, rng: np.random.Generator | None = None
    ) -> TransformResult:
        rng = rng if rng is not None else np.random.default_rng()
        image = np.asarray(image, dtype=np.float32)
        boxes = (
            np.zeros((0, 4), np.float32) if boxes is None else np.asarray(boxes, np.float32).reshape(-1, 4)
        )
        history = []
        for transform in self.transforms:
            params = transform.sample(rng, image.shape)
            image, boxes = transform.apply(image, boxes, params)
            history.append((type(transform).__name__, params))
        return TransformResult(image.astype(np.float32, copy=False), boxes, history)

    def finer(self, factor: int) -> Compose | None:
        """The same steps on a grid ``factor`` times finer (every :class:`Resize` that much larger), or
        ``None`` when nothing here resizes (the frames keep their own size: no finer grid is defined)."""
        if not any(isinstance(step, Resize) for step in self.transforms):
            return None
        return Compose(
            [Resize(step.size * factor) if isinstance(step, Resize) else step for step in self.transforms]
        )

    def apply(self, image: np.ndarray, boxes: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
        raise TypeError("Compose samples per step; call it instead")


class Resize(Transform):
    """Resize to ``size x size`` (bilinear, anti-aliased); boxes scale with the image."""

    def __init__(self, size: int) -> None:
        self.size = int(size)

    def apply(self, image: np.ndarray, boxes: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
        if image.shape == (self.size, self.size):
            return image, boxes
        from skimage.transform import resize

        scale_y, scale_x = self.size / image.shape[0], self.size / image.shape[1]
        image = resize(image, (self.size, self.size), order=1, anti_aliasing=True, preserve_range=True)
        return image.astype(np.float32), boxes * np.array([scale_x, scale_y, scale_x, scale_y], np.float32)


class SubtractImage(Transform):
    """Subtract a fixed image (the paper's per-fold mean image), resized to the input when sizes differ."""

    def __init__(self, reference: np.ndarray) -> None:
        self.reference = np.asarray(reference, dtype=np.float32)

    def __repr__(self) -> str:
        return f"SubtractImage(shape={self.reference.shape})"

    def reference_at(self, shape: tuple[int, int]) -> np.ndarray:
        """The reference resized to ``shape`` (any aspect ratio)."""
        if self.reference.shape == tuple(shape):
            return self.reference
        from skimage.transform import resize

        resized = resize(self.reference, shape, order=1, anti_aliasing=True, preserve_range=True)
        return resized.astype(np.float32)

    def apply(self, image: np.ndarray, boxes: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
        return image - self.reference_at(image.shape), boxes


class IntensityShift(Transform):
    """Add one of ``values`` grey levels (0-255 scale), chosen uniformly: the paper's brightness jitter."""

    def __init__(self, values: Sequence[float] = PAPER_SHIFTS, scale: float = 255.0) -> None:
        self.values = tuple(values)
        self.scale = float(scale)

    def sample(self, rng: np.random.Generator, shape: tuple[int, int]) -> Params:
        return {"shift": self.values[int(rng.integers(len(self.values)))]}

    def apply(self, image: np.ndarray, boxes: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
        return image + np.float32(params["shift"] / self.scale), boxes


def _scaled(value: float, shape: tuple[int, int], reference: int) -> int:
    return round(value * min(shape) / reference)


class OffsetCrop(Transform):
    """Crop ``size`` of ``reference`` pixels at one of a few fixed offsets (the paper: 500 of 512 at five).

    For another input size the crop and the offsets scale by ``min(H, W) / reference``, so a 256 px input
    gets a 250 px crop at offsets (0, 0), (0, 6), (6, 0), (3, 3), (6, 6).
    """

    def __init__(
        self,
        size: int = PAPER_CROP,
        offsets: Sequence[tuple[int, int]] = PAPER_OFFSETS,
        reference: int = PAPER_REFERENCE,
    ) -> None:
        self.size = int(size)
        self.offsets = tuple((int(x), int(y)) for x, y in offsets)
        self.reference = int(reference)

    def sample(self, rng: np.random.Generator, shape: tuple[int, int]) -> Params:
        x, y = self.offsets[int(rng.integers(len(self.offsets)))]
        return {"x": _scaled(x, shape, self.reference), "y": _scaled(y, shape, self.reference)}

    def apply(self, image: np.ndarray, boxes: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
        return crop(image, boxes, params["x"], params["y"], _scaled(self.size, image.shape, self.reference))


class CenterCrop(Transform):
    """Crop ``size`` of ``reference`` pixels from the centre (scaled like :class:`OffsetCrop`): validation."""

    def __init__(self, size: int = PAPER_CROP, reference: int = PAPER_REFERENCE) -> None:
        self.size = int(size)
        self.reference = int(reference)

    def window(self, shape: tuple[int, int]) -> tuple[int, int, int]:
        """``(x, y, side)`` of the crop in an image of ``shape`` (also used to put maps back in place)."""
        side = _scaled(self.size, shape, self.reference)
        return (shape[1] - side) // 2, (shape[0] - side) // 2, side

    def apply(self, image: np.ndarray, boxes: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
        return crop(image, boxes, *self.window(image.shape))


def crop(image: np.ndarray, boxes: np.ndarray, x: int, y: int, side: int) -> tuple[np.ndarray, np.ndarray]:
    """A ``side`` x ``side`` crop at ``(x, y)`` with boxes moved into it (and clipped)."""
    cropped = image[y : y + side, x : x + side]
    moved = boxes - np.array([x, y, 0, 0], np.float32)
    return cropped, _clip_boxes(moved, cropped.shape[0], cropped.shape[1])


class RandomFlip(Transform):
    """Flip left-right and/or up-down, each with probability ``p``.

    Anatomy: an angiogram's left-right orientation carries the projection (LAO vs RAO views of the same
    tree look mirrored), so recipes flip whole frames of a known projection only up-down or not at all,
    and flip region crops freely (a narrowed segment is a narrowed segment either way round).
    """

    def __init__(self, horizontal: bool = True, vertical: bool = False, p: float = 0.5) -> None:
        self.horizontal = horizontal
        self.vertical = vertical
        self.p = float(p)

    def sample(self, rng: np.random.Generator, shape: tuple[int, int]) -> Params:
        return {
            "horizontal": bool(self.horizontal and rng.random() < self.p),
            "vertical": bool(self.vertical and rng.random() < self.p),
        }

    def apply(self, image: np.ndarray, boxes: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
        height, width = image.shape
        boxes = boxes.copy()
        if params["horizontal"]:
            image = image[:, ::-1]
            boxes[:, 0] = width - boxes[:, 0] - boxes[:, 2]
        if params["vertical"]:
            image = image[::-1]
            boxes[:, 1] = height - boxes[:, 1] - boxes[:, 3]
        return np.ascontiguousarray(image), boxes


class RandomRotation(Transform):
    """Rotate by a uniform angle in ``[-degrees, degrees]`` about the centre (reflected borders);
    boxes become the bounding boxes of their rotated corners."""

    def __init__(self, degrees: float = 10.0) -> None:
        self.degrees = float(degrees)

    def sample(self, rng: np.random.Generator, shape: tuple[int, int]) -> Params:
        return {"angle": float(rng.uniform(-self.degrees, self.degrees))}

    def apply(self, image: np.ndarray, boxes: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
        angle = params["angle"]
        if angle == 0:
            return image, boxes
        from scipy.ndimage import rotate

        rotated = rotate(image, angle, reshape=False, order=1, mode="reflect")
        if not len(boxes):
            return rotated.astype(np.float32), boxes
        height, width = image.shape
        centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
        # scipy rotates the array counter-clockwise on screen for positive angles (rows grow downwards)
        theta = math.radians(angle)
        cos, sin = math.cos(theta), math.sin(theta)
        x0, y0 = boxes[:, 0], boxes[:, 1]
        x1, y1 = x0 + boxes[:, 2], y0 + boxes[:, 3]
        corners_x = np.stack([x0, x1, x1, x0], axis=1) - centre_x
        corners_y = np.stack([y0, y0, y1, y1], axis=1) - centre_y
        new_x = cos * corners_x + sin * corners_y + centre_x
        new_y = -sin * corners_x + cos * corners_y + centre_y
        out = np.stack(
            [new_x.min(1), new_y.min(1), new_x.max(1) - new_x.min(1), new_y.max(1) - new_y.min(1)], axis=1
        )
        return rotated.astype(np.float32), _clip_boxes(out.astype(np.float32), height, width)


class RandomZoom(Transform):
    """Scale about the centre by a uniform factor in ``[1 - change, 1 + change]``, keeping the frame's size
    (zooming in crops the border, zooming out reflects it); boxes scale with the image. Lesions and vessels
    then come in more sizes than one centre's magnification gives."""

    def __init__(self, change: float = 0.2) -> None:
        if not 0 <= change < 1:
            raise ValueError(f"zoom change must lie in [0, 1), got {change}")
        self.change = float(change)

    def sample(self, rng: np.random.Generator, shape: tuple[int, int]) -> Params:
        return {"scale": float(rng.uniform(1 - self.change, 1 + self.change))}

    def apply(self, image: np.ndarray, boxes: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
        scale = params["scale"]
        if scale == 1:
            return image, boxes
        from scipy.ndimage import affine_transform

        height, width = image.shape
        centre = np.array([(height - 1) / 2, (width - 1) / 2])
        # output pixel p samples input pixel centre + (p - centre) / scale
        zoomed = affine_transform(
            image, np.full(2, 1 / scale), offset=centre - centre / scale, order=1, mode="reflect"
        )
        moved = boxes.copy()
        moved[:, 0] = (boxes[:, 0] - centre[1]) * scale + centre[1]
        moved[:, 1] = (boxes[:, 1] - centre[0]) * scale + centre[0]
        moved[:, 2:] = boxes[:, 2:] * scale
        return zoomed.astype(np.float32), _clip_boxes(moved, height, width)


class RandomGamma(Transform):
    """Gamma ``exp(g)``, ``g`` uniform in ``[-log_range, log_range]`` (vessel vs background contrast)."""

    def __init__(self, log_range: float = 0.3) -> None:
        self.log_range = float(log_range)

    def sample(self, rng: np.random.Generator, shape: tuple[int, int]) -> Params:
        return {"gamma": float(math.exp(rng.uniform(-self.log_range, self.log_range)))}

    def apply(self, image: np.ndarray, boxes: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
        return np.power(np.clip(image, 0.0, 1.0), params["gamma"]).astype(np.float32), boxes


class RandomBlur(Transform):
    """Gaussian blur with probability ``p``, sigma uniform in ``[0, max_sigma]`` (scaled per 512 px)."""

    def __init__(self, max_sigma: float = 1.5, p: float = 0.3) -> None:
        self.max_sigma = float(max_sigma)
        self.p = float(p)

    def sample(self, rng: np.random.Generator, shape: tuple[int, int]) -> Params:
        apply = rng.random() < self.p
        sigma = rng.uniform(0.0, self.max_sigma) * min(shape) / PAPER_REFERENCE
        return {"sigma": float(sigma) if apply else 0.0}

    def apply(self, image: np.ndarray, boxes: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
        if params["sigma"] <= 0:
            return image, boxes
        from scipy.ndimage import gaussian_filter

        return gaussian_filter(image, params["sigma"]).astype(np.float32), boxes


class RandomNoise(Transform):
    """Additive Gaussian noise with probability ``p``, standard deviation uniform in ``[0, max_std]``."""

    def __init__(self, max_std: float = 0.03, p: float = 0.5) -> None:
        self.max_std = float(max_std)
        self.p = float(p)

    def sample(self, rng: np.random.Generator, shape: tuple[int, int]) -> Params:
        apply = rng.random() < self.p
        return {
            "std": float(rng.uniform(0.0, self.max_std)) if apply else 0.0,
            "seed": int(rng.integers(2**31)),
        }

    def apply(self, image: np.ndarray, boxes: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
        if params["std"] <= 0:
            return image, boxes
        noise = np.random.default_rng(params["seed"]).normal(0.0, params["std"], image.shape)
        return (image + noise).astype(np.float32), boxes


class RandomSharpen(Transform):
    """Unsharp masking with probability ``p``: ``image + amount * (image - blur(image))``, amount uniform in
    ``[0, max_amount]``, blur sigma uniform in 1-4 px per 512 px. Many angiography systems edge-enhance
    their frames (some strongly) before export; one centre's frames show only its own processing."""

    def __init__(self, max_amount: float = 1.5, p: float = 0.5) -> None:
        self.max_amount = float(max_amount)
        if self.max_amount < 0:
            raise ValueError(f"sharpen amount must be >= 0, got {max_amount}")
        self.p = float(p)

    def sample(self, rng: np.random.Generator, shape: tuple[int, int]) -> Params:
        apply = rng.random() < self.p
        amount = rng.uniform(0.0, self.max_amount)
        sigma = rng.uniform(1.0, 4.0) * min(shape) / PAPER_REFERENCE
        return {"amount": float(amount) if apply else 0.0, "sigma": float(sigma)}

    def apply(self, image: np.ndarray, boxes: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
        if params["amount"] <= 0:
            return image, boxes
        from scipy.ndimage import gaussian_filter

        detail = image - gaussian_filter(image, params["sigma"])
        return np.clip(image + params["amount"] * detail, 0.0, 1.0).astype(np.float32), boxes


SIDES = ("left", "right", "top", "bottom")


class RandomShutters(Transform):
    """Collimator shutters with probability ``p``: flat bands along some of the frame's sides (each side
    with probability 1/2), up to ``max_share`` of the frame deep, bright (as most systems show them) or
    dark, with a soft edge. A band never reaches a lesion box, so no target is hidden."""

    def __init__(self, max_share: float = 0.12, p: float = 0.3) -> None:
        self.max_share = float(max_share)
        if not 0 <= self.max_share < 0.5:
            raise ValueError(f"shutter share must lie in [0, 0.5), got {max_share}")
        self.p = float(p)

    def sample(self, rng: np.random.Generator, shape: tuple[int, int]) -> Params:
        apply = rng.random() < self.p
        depths = rng.uniform(0.0, self.max_share, len(SIDES))
        chosen = rng.random(len(SIDES)) < 0.5
        bright = rng.random() < 0.7
        level = rng.uniform(0.75, 1.0) if bright else rng.uniform(0.0, 0.15)
        sides = zip(SIDES, depths, chosen, strict=True)
        return {
            "depths": {side: float(depth) for side, depth, on in sides if on and apply},
            "level": float(level),
            "edge": float(rng.uniform(1.0, 4.0) * min(shape) / PAPER_REFERENCE),
        }

    def apply(self, image: np.ndarray, boxes: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
        if not params["depths"]:
            return image, boxes
        height, width = image.shape
        # the deepest each band may go without touching a box
        room = {"left": width, "right": width, "top": height, "bottom": height}
        if len(boxes):
            room = {
                "left": float(boxes[:, 0].min()),
                "right": float(width - (boxes[:, 0] + boxes[:, 2]).max()),
                "top": float(boxes[:, 1].min()),
                "bottom": float(height - (boxes[:, 1] + boxes[:, 3]).max()),
            }
        x, y = np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)[:, None]
        inside = {"left": x, "right": width - 1 - x, "top": y, "bottom": height - 1 - y}
        edge = max(params["edge"], 1e-3)
        cover = np.zeros_like(image)
        for side, share in params["depths"].items():
            size = width if side in ("left", "right") else height
            depth = min(share * size, max(room[side] - edge, 0.0))
            # 1 inside the band, falling linearly to 0 over `edge` pixels beyond it
            cover = np.maximum(cover, np.clip((depth - inside[side]) / edge, 0.0, 1.0))
        shuttered = image * (1.0 - cover) + params["level"] * cover
        return shuttered.astype(np.float32), boxes
