"""A second look at each heat-map peak: a small CNN that re-ranks a model's lesion candidates.

The lesion lies among the heat map's 3 strongest peaks far more often than at its strongest (MODEL_CARD.md),
so a detector cascade's classic second stage pays: a ranker that sees a window of the model's input around
each peak (or of the frame prepared on a finer grid, ``scale``) and says how likely it lies on a lesion. It is
trained on the peaks that fold models put on frames they never trained on (``stenoscope train-ranker``), hit
against miss, so its negatives are the places the heat map itself confuses with a lesion (branch origins,
overlaps, end-on segments). A peak's score becomes its height x the ranker's probability
(:meth:`StenosisModel.lesion_peaks`).

A ranker is an optional part of a model (``model.peak_ranker``) and travels in the model's file.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

WINDOW = 48  # px of the ranker's grid around a peak (96 px of a 512 px ARCADE frame at a 256 px input)
SCALE = 1  # the ranker's grid per model input pixel: the model's input itself (2 was measured; no better)
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


def detail_windows(
    detail: torch.Tensor | np.ndarray, points: Sequence[tuple[int, int]], window: int, scale: int
) -> torch.Tensor:
    """The windows a ranker of ``scale`` sees: around ``points`` of the model's input grid, moved onto its
    ``scale`` times finer grid, cut from ``detail`` (the frame prepared on that grid)."""
    return peak_windows(detail, [(x * scale, y * scale) for x, y in points], window)


def ranker_scale(model: nn.Module) -> int:
    """The grid scale of ``model``'s peak ranker (1 without one): how much finer its frames are prepared."""
    return int(getattr(getattr(model, "peak_ranker", None), "scale", 1))


def enlarged(frames: torch.Tensor, scale: int) -> torch.Tensor:
    """Grey frames ``(B, H, W)`` enlarged ``scale`` times (bilinear): a ranker's grid when the frames were
    not prepared on it (the detail it would see is then missing; see :meth:`StenosisModel.lesion_peaks`)."""
    if scale == 1:
        return frames
    return nn.functional.interpolate(frames[:, None], scale_factor=scale, mode="bilinear")[:, 0]


def eight_views(x: torch.Tensor) -> list[torch.Tensor]:
    """The 8 rotations and mirrors of a batch of windows: a vessel segment has no preferred direction."""
    turns = [torch.rot90(x, k, (2, 3)) for k in range(4)]
    return turns + [torch.flip(turn, (3,)) for turn in turns]


class PeakRanker(nn.Module):
    """Window around a peak -> logit that the peak lies on a lesion (four conv blocks, about 0.21 M weights).

    It sees the frame as prepared for the model, before the model's normalisation, so a ranker does not
    depend on its model's intensity constants; each window is standardised anyway. With ``scale`` > 1 it
    sees that frame prepared on a grid ``scale`` times finer than the model's input (the detail a 256 px
    input loses of a 512 px frame), brought to the model's grid by a strided first convolution.

    Args:
        window: side of the window, in pixels of the ranker's grid.
        widths: channels of the four blocks.
        dropout: before the final linear layer (training only).
        scale: the ranker's grid per model input pixel (1: the model's input itself).
    """

    def __init__(
        self, window: int = WINDOW, widths: Sequence[int] = WIDTHS, dropout: float = 0.3, scale: int = SCALE
    ) -> None:
        super().__init__()
        if window < 16 * scale or window % 2:
            raise ValueError(
                f"the ranker's window must be an even number of pixels >= {16 * scale}, got {window}"
            )
        if scale < 1:
            raise ValueError(f"the ranker's scale must be a whole number >= 1, got {scale}")
        self.window, self.scale = int(window), int(scale)
        self.ranker_kwargs: dict[str, Any] = {
            "window": self.window,
            "widths": [int(w) for w in widths],
            "scale": self.scale,
        }
        self.stem: nn.Module = nn.Identity()
        chans = [1, *widths]
        if scale > 1:
            self.stem = nn.Sequential(
                nn.Conv2d(1, widths[0], 3, stride=scale, padding=1, bias=False),
                nn.BatchNorm2d(widths[0]),
                nn.ReLU(inplace=True),
            )
            chans = [widths[0], *widths]
        self.blocks = nn.Sequential(*(_block(a, b) for a, b in itertools.pairwise(chans)))
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(chans[-1], 1)
        )

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """Logits ``(N,)`` for windows ``(N, 1, window, window)``."""
        return self.head(self.blocks(self.stem(windows)))[:, 0]

    def probability(self, windows: torch.Tensor) -> torch.Tensor:
        """Lesion probability ``(N,)``: the sigmoid of the logit averaged over the window's 8 views."""
        if not len(windows):
            return torch.zeros(0)
        with torch.no_grad():
            logits = torch.stack([self(view) for view in eight_views(windows)]).mean(dim=0)
        return torch.sigmoid(logits)

    def score(self, detail: torch.Tensor, points: Sequence[tuple[int, int]]) -> torch.Tensor:
        """Lesion probability of each ``(x, y)`` point of the model's input grid, judged on ``detail``: the
        grey frame as prepared for the model on the ranker's grid (``scale`` times the input's size,
        intensities in [0, 1], before the model's own normalisation), ``(H * scale, W * scale)``."""
        device = next(self.parameters()).device
        return self.probability(detail_windows(detail, points, self.window, self.scale).to(device)).cpu()
