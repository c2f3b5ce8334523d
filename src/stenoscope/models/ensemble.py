"""An ensemble of models (for example the k fold models of a cross-validation) that averages probabilities."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from stenoscope.errors import ModelError
from stenoscope.models._base import StenosisModel

# Probabilities are clamped away from 0 and 1 before turning them back into logits.
_EPS = 1e-7


class Ensemble(StenosisModel):
    """Average of its members' probabilities, behind the same interface as a single model.

    - ``forward`` returns ``log(mean_i softmax(member_i(x)))``: valid logits whose softmax is the mean
      probability; ``forward_features`` concatenates the members' features along channels and
      ``forward_head`` splits them again, so the two compose like a single model's.
    - ``frame_probability`` is the mean of the members' frame probabilities (each by its own rule).
    - ``forward_heatmap`` returns the logit of the mean lesion probability (all members need the head).
    - Grad-CAM hooks every member (``cam_layers``) and averages the members' maps.

    All members must share their preprocessing. :func:`save_model` stores an ensemble as one file and
    :func:`load_model` rebuilds it.
    """

    def __init__(self, models: Sequence[StenosisModel]) -> None:
        super().__init__()
        if not models:
            raise ModelError("an ensemble needs at least one model")
        preprocess = models[0].preprocess
        if any(model.preprocess != preprocess for model in models):
            raise ModelError("ensemble members must share their preprocessing (input size, mean, std)")
        self.members = nn.ModuleList(models)
        self.preprocess = preprocess
        self.num_features = sum(model.num_features for model in models)
        self.cam_layers = [f"members.{index}.{model.cam_layer}" for index, model in enumerate(models)]
        self.cam_layer = self.cam_layers[0]
        self.model_name = "ensemble"

    @property
    def has_heatmap_head(self) -> bool:
        return all(member.has_heatmap_head for member in self.members)

    def _split(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return torch.split(features, [member.num_features for member in self.members], dim=1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([member.forward_features(x) for member in self.members], dim=1)

    def forward_logit_map(self, features: torch.Tensor) -> torch.Tensor:
        maps = [
            m.forward_logit_map(f).softmax(dim=1)
            for m, f in zip(self.members, self._split(features), strict=True)
        ]
        return torch.stack(maps).mean(dim=0).clamp_min(_EPS).log()

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        probs = [
            m.forward_head(f).softmax(dim=1) for m, f in zip(self.members, self._split(features), strict=True)
        ]
        return torch.stack(probs).mean(dim=0).clamp_min(_EPS).log()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = [member(x).softmax(dim=1) for member in self.members]
        return torch.stack(probs).mean(dim=0).clamp_min(_EPS).log()

    def forward_with_heatmap(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.has_heatmap_head:
            raise ModelError("not every ensemble member has a lesion heat-map head")
        features, heatmaps = zip(*(member.forward_with_heatmap(x) for member in self.members), strict=True)
        probability = torch.stack([torch.sigmoid(heatmap) for heatmap in heatmaps]).mean(dim=0)
        return torch.cat(features, dim=1), torch.logit(probability.clamp(_EPS, 1 - _EPS))

    def frame_probability(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member.frame_probability(x) for member in self.members]).mean(dim=0)
