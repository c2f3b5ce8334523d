"""Grad-CAM (Selvaraju et al., 2017): channels weighted by their spatially averaged gradient."""

from __future__ import annotations

import torch

from stenoscope.explain.base import BaseCAM


class GradCAM(BaseCAM):
    """The paper's weakly supervised localisation: ``ReLU(sum_c mean(dy/dA_c) * A_c)``."""

    def get_cam_weights(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        return gradients.mean(dim=(2, 3))
