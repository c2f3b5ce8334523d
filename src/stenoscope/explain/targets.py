"""What to explain: small callables that pick one scalar from a model's output for one image."""

from __future__ import annotations

import torch

STENOSIS = 1


class ClassifierOutputTarget:
    """The logit of one class for one image (``category=1``: stenosis, the default question).

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
