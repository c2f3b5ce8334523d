"""The self-attention module of Moon et al. (2021), insertable after any stage of a backbone."""

from __future__ import annotations

import torch
from torch import nn


class AttentionModule(nn.Module):
    """Channel plus spatial attention, applied residually: ``F + F * sigmoid(Mc(F) + Ms(F))``.

    The channel branch pools ``F`` globally by average and by maximum, passes both through one shared
    two-layer MLP (reduction ``r``) and sums them: ``Mc`` has shape ``(B, C, 1, 1)``. The spatial branch
    takes the channel-wise mean and maximum and runs a ``k x k`` convolution on them: ``Ms`` has shape
    ``(B, 1, H, W)``. Their sum broadcasts to ``(B, C, H, W)``. The residual form (BAM style) means the
    module can only re-weight features between 1x and 2x, so inserting it into a backbone never blocks the
    signal, and a fresh module starts close to a uniform 1.5x gain.

    Args:
        channels: number of feature channels ``C`` of the stage it follows.
        reduction: MLP reduction ratio ``r`` (hidden width ``max(C // r, 1)``); 16 in the paper.
        kernel_size: spatial convolution size; 7 in the paper.

    Example:
        >>> attention = AttentionModule(64)
        >>> attention(torch.randn(2, 64, 16, 16)).shape
        torch.Size([2, 64, 16, 16])
    """

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd to keep the map size, got {kernel_size}")
        hidden = max(channels // reduction, 1)
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels)
        )
        self.spatial = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def channel_map(self, features: torch.Tensor) -> torch.Tensor:
        """``Mc``: ``(B, C, 1, 1)`` logits from the shared MLP on average- and max-pooled features."""
        average = self.mlp(features.mean(dim=(2, 3)))
        maximum = self.mlp(features.amax(dim=(2, 3)))
        return (average + maximum)[:, :, None, None]

    def spatial_map(self, features: torch.Tensor) -> torch.Tensor:
        """``Ms``: ``(B, 1, H, W)`` logits from a convolution on the channel-wise mean and maximum."""
        pooled = torch.cat([features.mean(dim=1, keepdim=True), features.amax(dim=1, keepdim=True)], dim=1)
        return self.spatial(pooled)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.channel_map(features) + self.spatial_map(features))
        return features + features * gate
