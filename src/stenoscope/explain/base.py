"""The class-activation-map flow shared by every CAM method; methods differ only in their channel weights."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.hooks import RemovableHandle

from stenoscope.errors import ModelError
from stenoscope.explain.targets import StenosisLogOddsTarget

Target = Callable[[torch.Tensor], torch.Tensor]


class BaseCAM:
    """Hooks the model's target layer(s), then for each call: forward, target, gradient, weighted sum,
    ReLU, bilinear upsampling to the input grid and scaling to [0, 1] per image.

    The forward hook replaces the layer's output by a detached copy that requires grad, and the gradient
    is taken with ``torch.autograd.grad`` with respect to that copy alone: the backward pass stops at the
    target layer (cheap), works for frozen models and leaves the parameters' ``.grad`` untouched.
    The model's train/eval mode is not changed: call ``model.eval()`` first.

    Use it in a ``with`` block (or call :meth:`release`): hooks are removed on exit, also after errors.
    While the hooks are in place the model's outputs are cut from the autograd graph below the target
    layer, so do not train inside the block.

    Args:
        model: a stenoscope model (uses ``model.cam_layers`` when it has them, as an ensemble does, else
            ``model.cam_layer``).
        target_layer: a module name to hook instead (``dict(model.named_modules())`` lists them).

    Example:
        >>> with GradCAM(model) as cam:
        ...     maps = cam(x)  # (B, H, W) float32 in [0, 1]
    """

    def __init__(self, model: nn.Module, target_layer: str | None = None) -> None:
        self.model = model
        self._activations: list[torch.Tensor] = []
        self._handles: list[RemovableHandle] = []
        if target_layer is not None:
            names = [target_layer]
        else:
            names = list(getattr(model, "cam_layers", None) or [model.cam_layer])
        modules = dict(model.named_modules())
        missing = [name for name in names if name not in modules]
        if missing:
            raise ModelError(f"{type(model).__name__} has no layer named {missing[0]!r} to explain")
        self.layer_names = names
        self._handles = [modules[name].register_forward_hook(self._capture) for name in names]

    def _capture(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        activation = output.detach().requires_grad_(True)
        self._activations.append(activation)
        return activation

    def get_cam_weights(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        """Channel weights ``(B, C)`` from activations and gradients ``(B, C, h, w)``: the method's idea."""
        raise NotImplementedError

    def __call__(self, x: torch.Tensor, targets: Sequence[Target] | None = None) -> np.ndarray:
        """Maps ``(B, H, W)`` float32 in [0, 1] on the input grid of ``x`` ``(B, C, H, W)``.

        ``targets``: one callable per image; by default the log-odds of stenosis of every image
        (:class:`~stenoscope.explain.targets.StenosisLogOddsTarget`).
        """
        if not self._handles:
            raise ModelError("this CAM was released; create a new one")
        if targets is None:
            targets = [StenosisLogOddsTarget()] * len(x)
        if len(targets) != len(x):
            raise ValueError(f"got {len(targets)} targets for {len(x)} images")
        self._activations.clear()
        try:
            with torch.enable_grad():
                output = self.model(x)
                score = torch.stack([target(row) for target, row in zip(targets, output, strict=True)]).sum()
                gradients = torch.autograd.grad(score, self._activations, allow_unused=True)
            maps = [
                self._layer_map(activation, gradient, x.shape[-2:])
                for activation, gradient in zip(self._activations, gradients, strict=True)
            ]
        finally:
            self._activations.clear()
        combined = _scale_per_image(torch.stack(maps).mean(dim=0)) if len(maps) > 1 else maps[0]
        return combined.detach().cpu().numpy().astype(np.float32)

    def _layer_map(
        self, activation: torch.Tensor, gradient: torch.Tensor | None, size: torch.Size
    ) -> torch.Tensor:
        if gradient is None:  # the target does not depend on this layer
            gradient = torch.zeros_like(activation)
        with torch.no_grad():
            weights = self.get_cam_weights(activation, gradient)
            cam = F.relu((weights[:, :, None, None] * activation).sum(dim=1, keepdim=True))
            cam = F.interpolate(cam, size=tuple(size), mode="bilinear", align_corners=False)[:, 0]
        return _scale_per_image(cam)

    def release(self) -> None:
        """Remove the hooks (idempotent)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._activations.clear()

    def __enter__(self) -> BaseCAM:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def __del__(self) -> None:
        self.release()


def _scale_per_image(maps: torch.Tensor) -> torch.Tensor:
    """Scale each ``(H, W)`` map to [0, 1] by its own min and max; a flat map becomes all zeros."""
    flat = maps.flatten(1)
    low = flat.amin(dim=1)[:, None, None]
    span = (flat.amax(dim=1)[:, None, None] - low).clamp_min(1e-12)
    scaled = (maps - low) / span
    return torch.where(span > 1e-12, scaled, torch.zeros_like(scaled)).clamp(0.0, 1.0)
