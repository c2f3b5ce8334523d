"""``default``: StenoNet, a compact fully convolutional stenosis classifier for grey frames on a CPU.

Why not MONAI: its 2-D classification networks (DenseNet, ResNet, EfficientNet) have no hook to insert the
paper's attention module after a chosen stage, end in global pooling rather than a dense logit map, and
would add a large dependency for what is a few hundred lines here. A small network written for this task
can also be tuned for the CPU budget (one 512x512 frame, forward plus Grad-CAM, under 0.15 s on 2 cores;
see ``benchmarks/model_speed.py``).

Layout (for a 512x512 frame)::

    stem      3x3 conv, stride 2                    -> 256x256
    stage 0   residual blocks, stride 2             -> 128x128  (stride 4: heat-map skip)
    stage 1   residual blocks, stride 2             ->  64x64   (stride 8: heat-map skip)
    stage 2   residual blocks, stride 2             ->  32x32
    stage 3   residual blocks, dilation 2           ->  32x32   + attention (Grad-CAM layer)
    neck      (optional) bottleneck residual block, identity when fresh
    head      1x1 conv to 2 classes                 -> dense logit map, pooled to image logits
    heat map  (optional) FPN-style decoder from stage 3 with skips from stages 1 and 0 -> 128x128 logits
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from stenoscope.models._base import Pool, Preprocess, StenosisModel
from stenoscope.models._registry import register_model
from stenoscope.models.attention import AttentionModule

# CenterNet's prior: a fresh heat-map head predicts sigmoid(-2.19) = 0.1 everywhere, which keeps the focal
# loss of the many background pixels from swamping the first steps of training.
HEATMAP_PRIOR_BIAS = -2.19


class ConvBNReLU(nn.Sequential):
    """Convolution (no bias), batch norm, ReLU: the network's only building brick."""

    def __init__(
        self, in_chans: int, out_chans: int, kernel_size: int = 3, stride: int = 1, dilation: int = 1
    ):
        padding = dilation * (kernel_size // 2)
        super().__init__(
            nn.Conv2d(in_chans, out_chans, kernel_size, stride, padding, dilation=dilation, bias=False),
            nn.BatchNorm2d(out_chans),
            nn.ReLU(inplace=True),
        )


class ResidualBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut, as in ResNet's basic block."""

    def __init__(self, in_chans: int, out_chans: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = ConvBNReLU(in_chans, out_chans, 3, stride, dilation)
        self.conv2 = nn.Sequential(
            nn.Conv2d(out_chans, out_chans, 3, 1, dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(out_chans),
        )
        # zero-initialised last norm: each fresh block starts as its shortcut, which trains faster
        nn.init.zeros_(self.conv2[1].weight)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_chans != out_chans:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_chans, out_chans, 1, stride, bias=False), nn.BatchNorm2d(out_chans)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(self.conv1(x)) + self.shortcut(x), inplace=True)


class Neck(nn.Module):
    """A bottleneck residual block (1x1 down, dilated 3x3, 1x1 up) between the features and the
    classification head, without a final ReLU and with its last norm zero-initialised: a fresh neck is
    exactly the identity. It gives the classifier layers of its own, so a second training stage can teach
    the classifier with the shared backbone (and the heat map it feeds) frozen and start from exactly the
    first stage's answers."""

    def __init__(self, chans: int, inner_chans: int) -> None:
        super().__init__()
        self.reduce = ConvBNReLU(chans, inner_chans, 1)
        self.mix = ConvBNReLU(inner_chans, inner_chans, 3, dilation=2)
        self.expand = nn.Sequential(nn.Conv2d(inner_chans, chans, 1, bias=False), nn.BatchNorm2d(chans))
        nn.init.zeros_(self.expand[1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.expand(self.mix(self.reduce(x)))


class Stage(nn.Module):
    """Residual blocks followed by the attention module (or nothing)."""

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        depth: int,
        stride: int,
        dilation: int,
        attention: bool,
        reduction: int,
    ) -> None:
        super().__init__()
        blocks = [ResidualBlock(in_chans, out_chans, stride, dilation)]
        blocks += [ResidualBlock(out_chans, out_chans, 1, dilation) for _ in range(depth - 1)]
        self.blocks = nn.Sequential(*blocks)
        self.attention: nn.Module = AttentionModule(out_chans, reduction) if attention else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(self.blocks(x))


class HeatmapDecoder(nn.Module):
    """Light FPN-style decoder: the deepest features, upsampled twice with skips, to stride-4 logits."""

    def __init__(self, top_chans: int, skip_chans: Sequence[int], width: int) -> None:
        super().__init__()
        self.top = ConvBNReLU(top_chans, width, 1)
        self.laterals = nn.ModuleList(ConvBNReLU(chans, width, 1) for chans in skip_chans)
        self.fuses = nn.ModuleList(ConvBNReLU(width, width, 3) for _ in skip_chans)
        self.out = nn.Conv2d(width, 1, 1)
        nn.init.constant_(self.out.bias, HEATMAP_PRIOR_BIAS)

    def forward(self, top: torch.Tensor, skips: Sequence[torch.Tensor]) -> torch.Tensor:
        """``skips`` from coarse to fine; the output has the finest skip's size."""
        x = self.top(top)
        for skip, lateral, fuse in zip(skips, self.laterals, self.fuses, strict=True):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = fuse(x + lateral(skip))
        return self.out(x)


class StenoNet(StenosisModel):
    """Compact residual CNN with the paper's attention module, a dense classification head and an
    optional lesion heat-map head (see the module docstring for the layout).

    Args:
        channels: output channels of the four stages.
        depths: residual blocks per stage.
        stem_chans: channels of the stride-2 stem convolution.
        attention_stages: indices of the stages followed by the attention module (``()`` for the paper's
            ablation without attention). Grad-CAM hooks the last stage's attention output.
        reduction: attention MLP reduction ratio.
        pool: how the dense logit map becomes image logits: ``avg`` (paper-style whole-frame training),
            ``max`` or ``lse`` (log-sum-exp, between the two).
        drop_rate: dropout on the features before the classification head.
        heatmap_head: add the lesion-centre decoder (``forward_heatmap``, stride 4).
        heatmap_chans: width of the decoder.
        heatmap_weight: weight of the heat map's peak in :meth:`frame_probability`.
        neck_chans: inner channels of a :class:`Neck` before the classification head (0: none).
        preprocess: normalisation of the input frames.
    """

    def __init__(
        self,
        channels: Sequence[int] = (32, 64, 128, 192),
        depths: Sequence[int] = (1, 2, 2, 2),
        stem_chans: int = 16,
        attention_stages: Sequence[int] = (3,),
        reduction: int = 16,
        pool: Pool = "avg",
        drop_rate: float = 0.2,
        heatmap_head: bool = False,
        heatmap_chans: int = 48,
        heatmap_weight: float = 0.5,
        neck_chans: int = 0,
        preprocess: Preprocess | None = None,
    ) -> None:
        super().__init__()
        if len(channels) != 4 or len(depths) != 4:
            raise ValueError("StenoNet has four stages: give four channels and four depths")
        if any(index not in range(4) for index in attention_stages):
            raise ValueError(f"attention_stages must be stage indices 0..3, got {list(attention_stages)}")
        self.preprocess = preprocess or Preprocess()
        self.pool = pool
        self.heatmap_weight = float(heatmap_weight)
        self.stem = ConvBNReLU(self.preprocess.in_chans, stem_chans, 3, stride=2)
        strides, dilations = (2, 2, 2, 1), (1, 1, 1, 2)
        in_chans = [stem_chans, *channels[:-1]]
        self.stages = nn.ModuleList(
            Stage(
                in_chans[i],
                channels[i],
                depths[i],
                strides[i],
                dilations[i],
                i in attention_stages,
                reduction,
            )
            for i in range(4)
        )
        self.num_features = channels[-1]
        self.cam_layer = "stages.3.attention" if 3 in attention_stages else "stages.3"
        self.neck: nn.Module = Neck(channels[-1], neck_chans) if neck_chans else nn.Identity()
        # modules that start as the identity: an init file without them still fits (train's `init`)
        self.identity_at_init = ("neck",) if neck_chans else ()
        self.dropout = nn.Dropout(drop_rate)
        self.head = nn.Conv2d(channels[-1], 2, 1)
        self.decoder: HeatmapDecoder | None = None
        if heatmap_head:
            self.decoder = HeatmapDecoder(channels[-1], (channels[1], channels[0]), heatmap_chans)

    @property
    def has_heatmap_head(self) -> bool:
        return self.decoder is not None

    def _stage_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._stage_outputs(x)[-1]

    def forward_logit_map(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.neck(features)))

    def forward_with_heatmap(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.decoder is None:
            return super().forward_with_heatmap(x)  # raises the "no heat-map head" ModelError
        outputs = self._stage_outputs(x)
        return outputs[-1], self.decoder(outputs[-1], (outputs[1], outputs[0]))


@register_model("default")
def stenonet(
    *,
    channels: Sequence[int] = (32, 64, 128, 192),
    depths: Sequence[int] = (1, 2, 2, 2),
    stem_chans: int = 16,
    attention_stages: Sequence[int] = (3,),
    reduction: int = 16,
    pool: Pool = "avg",
    drop_rate: float = 0.2,
    heatmap_head: bool = False,
    heatmap_chans: int = 48,
    heatmap_weight: float = 0.5,
    neck_chans: int = 0,
    mean: float = 0.5,
    std: float = 0.25,
) -> StenoNet:
    """The default model: StenoNet for grey frames of any size (``input_size=None``)."""
    return StenoNet(
        channels=tuple(channels),
        depths=tuple(depths),
        stem_chans=stem_chans,
        attention_stages=tuple(attention_stages),
        reduction=reduction,
        pool=pool,
        drop_rate=drop_rate,
        heatmap_head=heatmap_head,
        heatmap_chans=heatmap_chans,
        heatmap_weight=heatmap_weight,
        neck_chans=neck_chans,
        preprocess=Preprocess(input_size=None, mean=mean, std=std, in_chans=1),
    )
