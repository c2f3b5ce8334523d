"""What every stenoscope model shares: its preprocessing and the rules that turn outputs into answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stenoscope.errors import ModelError

if TYPE_CHECKING:  # pragma: no cover
    from stenoscope.explain.peaks import Peak

Pool = Literal["avg", "max", "lse"]

# Sharpness of log-sum-exp pooling: between average (r -> 0) and maximum (r -> infinity).
LSE_SHARPNESS = 4.0


@dataclass(frozen=True)
class Preprocess:
    """How frames must be prepared for a model; stored in every checkpoint so nobody re-types it.

    Attributes:
        input_size: ``(H, W)`` the model was trained at, or ``None`` when any size works (fully
            convolutional models). :meth:`normalise` resizes to it when set.
        mean: intensity subtracted after scaling frames to [0, 1].
        std: divisor applied after subtracting ``mean``.
        in_chans: channels the model's ``forward`` expects (grey frames are repeated to fill them).
    """

    input_size: tuple[int, int] | None = None
    mean: float = 0.5
    std: float = 0.25
    in_chans: int = 1

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_size"] = None if self.input_size is None else list(self.input_size)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocess:
        size = data.get("input_size")
        return cls(
            input_size=None if size is None else (int(size[0]), int(size[1])),
            mean=float(data["mean"]),
            std=float(data["std"]),
            in_chans=int(data.get("in_chans", 1)),
        )

    def normalise(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Turn float frames in [0, 1] into the model's input tensor ``(B, in_chans, H, W)`` float32.

        Accepts ``(H, W)``, ``(B, H, W)`` or ``(B, 1, H, W)`` (numpy or torch, as from ``Clip.as_float``).
        """
        tensor = torch.as_tensor(np.asarray(frames) if not isinstance(frames, torch.Tensor) else frames)
        tensor = tensor.to(torch.float32)
        if tensor.ndim == 2:
            tensor = tensor[None]
        if tensor.ndim == 3:
            tensor = tensor[:, None]
        if tensor.ndim != 4 or tensor.shape[1] != 1:
            shape = tuple(tensor.shape)
            raise ValueError(f"expected grey frames (H, W), (B, H, W) or (B, 1, H, W), got {shape}")
        if self.input_size is not None and tuple(tensor.shape[-2:]) != self.input_size:
            tensor = F.interpolate(tensor, size=self.input_size, mode="bilinear", align_corners=False)
        tensor = (tensor - self.mean) / self.std
        return tensor.expand(-1, self.in_chans, -1, -1).contiguous()


@dataclass(frozen=True)
class HeatmapViews:
    """The views of a frame whose lesion heat maps are averaged into one (test-time augmentation); stored in
    every checkpoint beside :class:`Preprocess`, so every command localises by the same rule.

    Attributes:
        scales: the frame resized by each factor (relative to the model's input) gives one view.
        flip: each scale also as the left-right mirror image (its map mirrored back).

    A model trained at one vessel calibre and then run on frames whose lesions look slightly larger or
    smaller places its peaks more robustly on the average over a few scales (MODEL_CARD.md measures it).
    """

    scales: tuple[float, ...] = (1.0,)
    flip: bool = False

    def __post_init__(self) -> None:
        if not self.scales or any(not 0.25 <= scale <= 4.0 for scale in self.scales):
            raise ValueError(f"heat-map view scales must lie in [0.25, 4], got {list(self.scales)}")

    def to_dict(self) -> dict[str, Any]:
        return {"scales": list(self.scales), "flip": self.flip}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> HeatmapViews:
        if not data:
            return cls()
        return cls(scales=tuple(float(scale) for scale in data["scales"]), flip=bool(data.get("flip", False)))

    def __len__(self) -> int:
        return len(self.scales) * (2 if self.flip else 1)

    @property
    def pixel_cost(self) -> float:
        """Input pixels the views pass through the model, as a multiple of the frame's own."""
        return sum(scale * scale for scale in self.scales) * (2 if self.flip else 1)


def pool_logit_map(logit_map: torch.Tensor, pool: Pool) -> torch.Tensor:
    """Pool a dense ``(B, K, h, w)`` logit map into image logits ``(B, K)``."""
    if pool == "avg":
        return logit_map.mean(dim=(2, 3))
    if pool == "max":
        return logit_map.amax(dim=(2, 3))
    if pool == "lse":
        flat = logit_map.flatten(2) * LSE_SHARPNESS
        return (torch.logsumexp(flat, dim=2) - np.log(flat.shape[2])) / LSE_SHARPNESS
    raise ValueError(f"pool must be 'avg', 'max' or 'lse', got {pool!r}")


class StenosisModel(nn.Module):
    """The interface every stenoscope model offers (see docs/DESIGN.md, "models").

    Subclasses implement :meth:`forward_features` and :meth:`forward_logit_map`, and set ``cam_layer``,
    ``preprocess`` and ``num_features`` (channels of the features); a lesion heat-map head is optional
    (``has_heatmap_head``).

    The frame-level rule, used by every command, is :meth:`frame_probability`.
    """

    cam_layer: str
    preprocess: Preprocess
    num_features: int
    pool: Pool = "avg"
    heatmap_weight: float = 0.5
    heatmap_views: HeatmapViews = HeatmapViews()

    @property
    def has_heatmap_head(self) -> bool:
        return False

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features ``(B, C, h, w)``, after attention, for input ``(B, in_chans, H, W)``."""
        raise NotImplementedError

    def forward_logit_map(self, features: torch.Tensor) -> torch.Tensor:
        """The classification head applied at every position: dense logits ``(B, 2, h, w)``."""
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Image logits ``(B, 2)``: the dense logit map pooled with ``self.pool``."""
        return pool_logit_map(self.forward_logit_map(features), self.pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_heatmap(self, x: torch.Tensor) -> torch.Tensor:
        """Lesion-centre logits ``(B, 1, ceil(H/s), ceil(W/s))`` from the heat-map head, when there is one."""
        return self.forward_with_heatmap(x)[1]

    def score_map(self, x: torch.Tensor) -> torch.Tensor:
        """Dense stenosis probability ``(B, H, W)`` of the classification head, upsampled to the input grid.

        Each value is the head's softmax at one feature position (a crop classifier applied densely).
        """
        logit_map = self.forward_logit_map(self.forward_features(x))
        probability = logit_map.softmax(dim=1)[:, 1:2]
        return F.interpolate(probability, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]

    def lesion_map(self, x: torch.Tensor) -> torch.Tensor:
        """Lesion-centre probability ``(B, H, W)`` of the heat-map head on the input grid: the mean of the
        head's upsampled maps over ``heatmap_views`` (one view, ``x`` itself, unless the checkpoint says)."""
        size = x.shape[-2:]
        total = torch.zeros((x.shape[0], 1, *size), device=x.device)
        for scale in self.heatmap_views.scales:
            view = x
            if scale != 1.0:
                scaled = (max(8, round(size[0] * scale)), max(8, round(size[1] * scale)))
                view = F.interpolate(x, size=scaled, mode="bilinear", align_corners=False)
            for flip in (False, True) if self.heatmap_views.flip else (False,):
                heatmap = torch.sigmoid(self.forward_heatmap(view.flip(-1) if flip else view)).float()
                heatmap = heatmap.flip(-1) if flip else heatmap
                total += F.interpolate(heatmap, size=size, mode="bilinear", align_corners=False)
        return total[:, 0] / len(self.heatmap_views)

    def lesion_peaks(
        self,
        x: torch.Tensor,
        threshold: float,
        max_peaks: int,
        lesion: torch.Tensor | None = None,
        rank: bool = True,
        detail: torch.Tensor | None = None,
    ) -> list[list[Peak]]:
        """THE rule for lesion candidates, per frame of ``x``, strongest first, on ``x``'s pixel grid.

        The ``max_peaks`` highest local maxima of :meth:`lesion_map` at or above ``threshold``; with a
        ``peak_ranker`` (see :mod:`stenoscope.models.ranker`) each one's score is its height x the ranker's
        probability that it lies on a lesion, re-sorted, and those that fall below ``threshold`` dropped.

        Args:
            lesion: ``lesion_map(x)`` when the caller has it already (saves a pass).
            rank: ``False`` gives the heights alone (what a ranker is trained on).
            detail: the frames as prepared for the model on the ranker's finer grid, ``(B, H * s, W * s)``
                for a ranker of scale ``s``, before normalisation. Without them the ranker sees ``x``
                enlarged, which lacks the detail it was trained on: callers that have the frames pass them.
        """
        from stenoscope.explain.peaks import Peak, find_peaks

        maps = self.lesion_map(x) if lesion is None else lesion
        ranker = getattr(self, "peak_ranker", None) if rank else None
        if ranker is not None and detail is None:
            from stenoscope.models.ranker import enlarged

            prepared = x[:, 0] * self.preprocess.std + self.preprocess.mean  # before the normalisation
            detail = enlarged(prepared, ranker.scale)
        found = []
        for index, heat in enumerate(maps):
            peaks = find_peaks(heat, threshold, max_peaks)
            if ranker is not None and peaks:
                probability = ranker.score(detail[index], [(peak.x, peak.y) for peak in peaks]).tolist()
                scored = [Peak(p.x, p.y, p.score * q) for p, q in zip(peaks, probability, strict=True)]
                peaks = sorted((p for p in scored if p.score >= threshold), key=lambda p: -p.score)
            found.append(peaks)
        return found

    def frame_probability(self, x: torch.Tensor) -> torch.Tensor:
        """THE rule that turns whole frames ``(B, in_chans, H, W)`` into stenosis probabilities ``(B,)``.

        - Without a heat-map head: ``softmax(forward(x))[:, 1]``, the quantity the classification head is
          trained on (its dense logit map pooled with ``pool``: ``avg`` for paper-style whole-frame
          training, ``max``/``lse`` for a head trained on crops and applied to whole frames).
        - With a heat-map head: ``(1 - w) * p_head + w * p_lesion``, where ``p_head`` is as above,
          ``p_lesion`` is the sigmoid of the heat map's highest logit (the most confident lesion centre
          anywhere in the frame) and ``w = heatmap_weight`` (0.5 unless set at creation and stored in the
          checkpoint).
        """
        if not self.has_heatmap_head:
            return self.forward(x).softmax(dim=1)[:, 1]
        features, heatmap = self.forward_with_heatmap(x)
        head = self.forward_head(features).softmax(dim=1)[:, 1]
        lesion = torch.sigmoid(heatmap.flatten(1).amax(dim=1))
        return (1.0 - self.heatmap_weight) * head + self.heatmap_weight * lesion

    def forward_with_heatmap(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Backbone features and heat-map logits from one backbone pass (for joint training and inference).

        Models with a heat-map head override this; the base has none.
        """
        raise ModelError(f"{type(self).__name__} has no lesion heat-map head")
