"""``paper``: Inception-v3 with the attention module after its last block, as in Moon et al. (2021).

torchvision provides the backbone through the optional extra ``pip install stenoscope[paper]``; it is
imported only when this model is created, so the core package never needs it.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from stenoscope.errors import ModelError
from stenoscope.models._base import Preprocess, StenosisModel
from stenoscope.models._registry import register_model
from stenoscope.models.attention import AttentionModule

# torchvision's Inception3 blocks in forward order, up to the last one (the auxiliary classifier is off).
INCEPTION_BLOCKS = (
    "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
    "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
    "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c",
)  # fmt: skip
INCEPTION_CHANNELS = 2048
# ImageNet's RGB statistics averaged to one grey channel (the grey frame is repeated to RGB).
GREY_IMAGENET_MEAN, GREY_IMAGENET_STD = 0.449, 0.226


class PaperInception(StenosisModel):
    """Inception-v3 blocks -> attention -> global average pooling -> dropout 0.5 -> 2-way linear head.

    Grey input ``(B, 1, H, W)`` is repeated to three channels inside the model. The dense logit map used by
    :meth:`score_map` applies the linear head at every position of the last block, which equals the
    image logits before pooling (average pooling and a linear layer commute).
    """

    def __init__(self, blocks: OrderedDict[str, nn.Module], preprocess: Preprocess, drop_rate: float = 0.5):
        super().__init__()
        self.preprocess = preprocess
        self.backbone = nn.Sequential(blocks)
        self.attention = AttentionModule(INCEPTION_CHANNELS)
        self.dropout = nn.Dropout(drop_rate)
        self.fc = nn.Linear(INCEPTION_CHANNELS, 2)
        self.cam_layer = "attention"
        self.num_features = INCEPTION_CHANNELS

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return self.attention(self.backbone(x))

    def forward_logit_map(self, features: torch.Tensor) -> torch.Tensor:
        return F.conv2d(features, self.fc.weight[:, :, None, None], self.fc.bias)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(features.mean(dim=(2, 3))))


def _load_imagenet_weights(backbone: nn.Module, path: str | Path) -> None:
    """Load a user-supplied torchvision Inception-v3 state dict; its classifier layers are ignored."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: ImageNet weights file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ModelError(f"{path}: cannot read ImageNet weights ({error})") from error
    state = {key: value for key, value in state.items() if not key.startswith(("fc.", "AuxLogits."))}
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    missing = [key for key in missing if not key.startswith("fc.")]
    if missing or unexpected:
        raise ModelError(
            f"{path}: not an Inception-v3 state dict "
            f"({len(missing)} missing, {len(unexpected)} unexpected keys)"
        )


@register_model("paper")
def paper(
    *,
    imagenet_weights: str | Path | None = None,
    drop_rate: float = 0.5,
    input_size: tuple[int, int] | None = None,
    mean: float = GREY_IMAGENET_MEAN,
    std: float = GREY_IMAGENET_STD,
) -> PaperInception:
    """The paper's model. ``imagenet_weights``: a torchvision ``inception_v3`` state dict file to start from
    (nothing is downloaded). ``input_size``: the training crop (the paper used 500x500); ``None`` accepts
    any size of at least 75x75."""
    try:
        from torchvision.models import inception_v3
    except (ImportError, RuntimeError) as error:  # RuntimeError: a torchvision built for another torch
        raise ModelError(
            f"the 'paper' model needs torchvision: pip install stenoscope[paper] ({error})"
        ) from error
    backbone = inception_v3(weights=None, aux_logits=False, init_weights=True)
    if imagenet_weights is not None:
        _load_imagenet_weights(backbone, imagenet_weights)
    blocks = OrderedDict((name, getattr(backbone, name)) for name in INCEPTION_BLOCKS)
    size = None if input_size is None else (int(input_size[0]), int(input_size[1]))
    return PaperInception(blocks, Preprocess(input_size=size, mean=mean, std=std, in_chans=1), drop_rate)
