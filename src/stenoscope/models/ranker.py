"""A second look at each heat-map peak: a small CNN that re-ranks a model's lesion candidates.

The lesion lies among the heat map's 3 strongest peaks far more often than at its strongest (MODEL_CARD.md),
so a detector cascade's classic second stage pays: a ranker that sees a window of the model's input around
each peak and says how likely it lies on a lesion. It is trained on the peaks that fold models put on
frames they never trained on (``stenoscope train-ranker``), hit against miss, so its negatives are the
places the heat map itself confuses with a lesion (branch origins, overlaps, end-on segments). A peak's
score becomes its height x the ranker's probability (:meth:`StenosisModel.lesion_peaks`).

A ranker is an optional part of a model (``model.peak_ranker``) and travels in the model's file.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

WINDOW = 48  # px of the model's input around a peak (96 px of a 512 px ARCADE frame at a 256 px input)
WIDTHS = (16, 32, 64, 96)


def _block(width_in: int, width_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(width_in, width_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(width_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(width_out, width_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(width_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


def peak_windows(
    image: torch.Tensor | np.ndarray, points: Sequence[tuple[int, int]], window: int
) -> torch.Tensor:
    """``(N, 1, window, window)`` windows of a grey ``(H, W)`` image centred on each ``(x, y)``, reflected at
    the borders and each standardised (the ranker sees local contrast, not the frame's brightness)."""
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if not len(points):
        return torch.zeros((0, 1, window, window))
    half = window // 2
    padded = np.pad(array.astype(np.float32, copy=False), half, mode="reflect")
    windows = np.stack([padded[y : y + window, x : x + window] for x, y in points])
    mean = windows.mean(axis=(1, 2), keepdims=True)
    windows = (windows - mean) / (windows.std(axis=(1, 2), keepdims=True) + 1e-3)
    return torch.from_numpy(windows.astype(np.float32))[:, None]


def eight_views(x: torch.Tensor) -> list[torch.Tensor]:
    """The 8 rotations and mirrors of a batch of windows: a vessel segment has no preferred direction."""
    turns = [torch.rot90(x, k, (2, 3)) for k in range(4)]
    return turns + [torch.flip(turn, (3,)) for turn in turns]


class PeakRanker(nn.Module):
    """Window around a peak -> logit that the peak lies on a lesion (four conv blocks, about 0.21 M weights).

    It sees the frame as prepared for the model, before the model's normalisation, so a ranker does not
    depend on its model's intensity constants; each window is standardised anyway.

    Args:
        window: side of the window, in pixels of the model's input grid.
        widths: channels of the four blocks.
        dropout: before the final linear layer (training only).
    """

    def __init__(self, window: int = WINDOW, widths: Sequence[int] = WIDTHS, dropout: float = 0.3) -> None:
        super().__init__()
        if window < 16 or window % 2:
            raise ValueError(f"the ranker's window must be an even number of pixels >= 16, got {window}")
        self.window = int(window)
        self.ranker_kwargs: dict[str, Any] = {"window": int(window), "widths": [int(w) for w in widths]}
        chans = [1, *widths]
        self.blocks = nn.Sequential(*(_block(a, b) for a, b in itertools.pairwise(chans)))
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(chans[-1], 1)
        )

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """Logits ``(N,)`` for windows ``(N, 1, window, window)``."""
        return self.head(self.blocks(windows))[:, 0]

    def probability(self, windows: torch.Tensor) -> torch.Tensor:
        """Lesion probability ``(N,)``: the sigmoid of the logit averaged over the window's 8 views."""
        if not len(windows):
            return torch.zeros(0)
        with torch.no_grad():
            logits = torch.stack([self(view) for view in eight_views(windows)]).mean(dim=0)
        return torch.sigmoid(logits)

    def score(self, frame: torch.Tensor, points: Sequence[tuple[int, int]]) -> torch.Tensor:
        """Lesion probability of each ``(x, y)`` point of a grey ``(H, W)`` frame as prepared for the model
        (resized to its input grid, intensities in [0, 1], before the model's own normalisation)."""
        device = next(self.parameters()).device
        return self.probability(peak_windows(frame, points, self.window).to(device)).cpu()
