"""What to explain: small callables that pick one scalar from a model's output for one image."""

from __future__ import annotations

import torch

STENOSIS = 1


class ClassifierOutputTarget:
    """The logit of one class for one image (``category=1``: stenosis; ``0``: normal).

    Example:
        >>> maps = cam(x, targets=[ClassifierOutputTarget(0)] * len(x))  # explain "normal" instead
    """

    def __init__(self, category: int = STENOSIS) -> None:
        self.category = category

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        """``output``: one image's logits ``(K,)``; returns the scalar to differentiate."""
        return output[self.category]

    def __repr__(self) -> str:
        return f"ClassifierOutputTarget(category={self.category})"


class StenosisLogOddsTarget:
    """The log-odds of stenosis, ``logit[1] - logit[0]``: the quantity a two-class softmax decides on.

    The default target. Why not the stenosis logit alone: both logits rise on any vessel, so the map of
    ``logit[1]`` shows where the model sees vessels as much as where it sees a lesion; the difference
    keeps only the evidence for stenosis over normal (for a linear head on the target layer, Grad-CAM of
    it is exactly the positive part of the model's dense decision map, bias aside).
    """

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        return output[STENOSIS] - output[1 - STENOSIS]

    def __repr__(self) -> str:
        return "StenosisLogOddsTarget()"
