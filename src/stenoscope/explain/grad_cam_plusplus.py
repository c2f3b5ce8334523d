"""Grad-CAM++ (Chattopadhyay et al., 2018): pixel-wise weighted positive gradients."""

from __future__ import annotations

import torch

from stenoscope.explain.base import BaseCAM


class GradCAMPlusPlus(BaseCAM):
    """Weights ``w_c = sum_ij alpha_ij * ReLU(g_ij)`` with
    ``alpha = g^2 / (2 g^2 + sum_ab(A_ab) * g^3)`` (the closed form for an exponential of the score),
    which gives several instances of a class (several lesions) more even weight than Grad-CAM does.
    """

    def get_cam_weights(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        grads_2 = gradients.pow(2)
        grads_3 = grads_2 * gradients
        activation_sums = activations.sum(dim=(2, 3), keepdim=True)
        denominator = 2 * grads_2 + activation_sums * grads_3
        alpha = torch.where(gradients != 0, grads_2 / (denominator + 1e-7), torch.zeros_like(gradients))
        return (alpha * gradients.clamp_min(0)).sum(dim=(2, 3))
