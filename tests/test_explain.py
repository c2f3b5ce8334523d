"""Explain: Grad-CAM / Grad-CAM++ flow and hooks, targets, and heat map -> peaks and boxes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stenoscope.errors import ModelError
from stenoscope.explain import (
    Box,
    ClassifierOutputTarget,
    GradCAM,
    GradCAMPlusPlus,
    Peak,
    StenosisLogOddsTarget,
    find_peaks,
    heatmap_boxes,
)
from stenoscope.models import Ensemble, Preprocess, StenosisModel, create_model

TINY = {"channels": (8, 8, 16, 16), "depths": (1, 1, 1, 1), "stem_chans": 8}


def tiny_model(seed: int = 0) -> nn.Module:
    """A tiny default model whose stenosis logit rises with every feature, so its CAM is not empty."""
    torch.manual_seed(seed)
    model = create_model("default", **TINY).eval()
    with torch.no_grad():
        model.head.weight[1].abs_()
        model.head.weight[0] = -model.head.weight[1]
    return model


class DarkSpotModel(StenosisModel):
    """A model whose only feature is "darkness" at stride 4; its stenosis logit is the mean darkness.

    Its Grad-CAM is therefore the darkness map itself, so the map's peak must land on the darkest spot.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Identity()
        self.head = nn.Conv2d(1, 2, 1)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([-1.0, 1.0]).view(2, 1, 1, 1))
            self.head.bias.zero_()
        self.cam_layer = "features"
        self.num_features = 1
        self.preprocess = Preprocess()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(F.avg_pool2d(1.0 - x, 4))

    def forward_logit_map(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)


def hook_counts(module: nn.Module) -> tuple[int, int]:
    return len(module._forward_hooks), len(module._backward_hooks)


@pytest.mark.parametrize("cam_class", [GradCAM, GradCAMPlusPlus])
def test_cam_map_has_the_input_shape_and_lies_in_0_1(cam_class):
    model = tiny_model()
    x = torch.randn(3, 1, 37, 53)
    with cam_class(model) as cam:
        maps = cam(x)
    assert maps.shape == (3, 37, 53)
    assert maps.dtype == np.float32
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    assert np.allclose(maps.reshape(3, -1).max(axis=1), 1.0)


def test_cam_peak_falls_on_the_dark_spot():
    image = torch.ones(1, 1, 64, 80)
    image[..., 36:44, 52:60] = 0.0  # a dark 8x8 square centred at (x=56, y=40)
    with GradCAM(DarkSpotModel()) as cam:
        maps = cam(image)
    peak = find_peaks(maps[0], threshold=0.5, max_peaks=1)[0]
    assert abs(peak.x - 56) <= 3 and abs(peak.y - 40) <= 3
    assert maps[0, 5, 5] == 0.0


def test_grad_cam_plus_plus_differs_from_grad_cam():
    model = tiny_model()
    with torch.no_grad():  # channels that speak against stenosis: Grad-CAM subtracts them, Grad-CAM++ not
        model.head.weight[:, ::3] *= -1
    x = torch.randn(2, 1, 64, 64)
    with GradCAM(model) as cam:
        plain = cam(x)
    with GradCAMPlusPlus(model) as cam:
        plus = cam(x)
    assert np.abs(plain - plus).max() > 0.05


def test_cam_weights_follow_their_formulas():
    torch.manual_seed(0)
    activations = torch.rand(1, 3, 4, 5)
    gradients = torch.randn(1, 3, 4, 5)
    cam = GradCAM(DarkSpotModel())
    torch.testing.assert_close(cam.get_cam_weights(activations, gradients), gradients.mean(dim=(2, 3)))
    cam.release()
    a, g = activations.double().numpy()[0], gradients.double().numpy()[0]
    alpha = g**2 / (2 * g**2 + a.sum(axis=(1, 2))[:, None, None] * g**3)
    expected = (alpha * np.maximum(g, 0)).sum(axis=(1, 2))
    plus = GradCAMPlusPlus(DarkSpotModel())
    np.testing.assert_allclose(plus.get_cam_weights(activations, gradients)[0].numpy(), expected, rtol=1e-4)
    plus.release()


def test_hooks_are_removed_after_the_with_block_and_after_errors():
    model = tiny_model()
    layer = model.get_submodule(model.cam_layer)
    assert hook_counts(layer) == (0, 0)
    with GradCAM(model) as cam:
        assert hook_counts(layer) == (1, 0)
        cam(torch.randn(1, 1, 32, 32))
    assert hook_counts(layer) == (0, 0)
    with pytest.raises(RuntimeError, match="boom"), GradCAMPlusPlus(model) as cam:
        cam(torch.randn(1, 1, 32, 32))
        raise RuntimeError("boom")
    assert hook_counts(layer) == (0, 0)
    with pytest.raises(ValueError, match="targets"), GradCAM(model) as cam:
        cam(torch.randn(2, 1, 32, 32), targets=[ClassifierOutputTarget()])
    assert hook_counts(layer) == (0, 0)
    assert all(hook_counts(module) == (0, 0) for module in model.modules())


def test_release_is_idempotent_and_a_released_cam_refuses_work():
    model = tiny_model()
    cam = GradCAM(model)
    cam.release()
    cam.release()
    assert hook_counts(model.get_submodule(model.cam_layer)) == (0, 0)
    with pytest.raises(ModelError, match="released"):
        cam(torch.randn(1, 1, 16, 16))


def test_cam_leaves_the_model_and_its_gradients_untouched():
    model = tiny_model()
    x = torch.randn(2, 1, 40, 40)
    with torch.no_grad():
        before = model(x)
    with torch.no_grad(), GradCAM(model) as cam:  # works even inside no_grad
        cam(x)
    assert all(p.grad is None for p in model.parameters())
    after = model(x)
    torch.testing.assert_close(after, before)
    after.sum().backward()
    assert model.head.weight.grad is not None and model.stem[0].weight.grad is not None


def test_targets_choose_the_class_to_explain():
    model = tiny_model()
    with torch.no_grad():  # a 'normal' logit that is not just minus the stenosis one
        model.head.weight[0].normal_(generator=torch.Generator().manual_seed(1))
    x = torch.randn(2, 1, 48, 48)
    with GradCAMPlusPlus(model) as cam:
        default = cam(x)
        log_odds = cam(x, targets=[StenosisLogOddsTarget()] * 2)
        stenosis = cam(x, targets=[ClassifierOutputTarget()] * 2)
        normal = cam(x, targets=[ClassifierOutputTarget(0)] * 2)
    np.testing.assert_array_equal(default, log_odds)
    assert np.abs(stenosis - normal).max() > 0.05
    assert np.abs(stenosis - log_odds).max() > 0.05
    assert repr(ClassifierOutputTarget(0)) == "ClassifierOutputTarget(category=0)"


def test_gradcam_of_the_log_odds_is_the_positive_dense_decision_map():
    """With a linear head on the target layer and average pooling, Grad-CAM of the default target is the
    positive part of logit[1] - logit[0] at every cell (bias aside): its peak is the decision map's peak."""
    model = tiny_model()
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        logit_map = model.forward_logit_map(model.forward_features(x))[0]
    decision = (logit_map[1] - logit_map[0]).clamp_min(0)
    expected = (decision / decision.max()).numpy()
    with GradCAM(model) as cam:
        maps = cam(x)
    cell = 64 // decision.shape[-1]
    centres = maps[0][cell // 2 :: cell, cell // 2 :: cell]
    assert decision.max() > 0
    assert np.unravel_index(centres.argmax(), centres.shape) == np.unravel_index(
        expected.argmax(), expected.shape
    )


def test_explicit_target_layer_and_unknown_layer():
    model = tiny_model()
    with GradCAM(model, target_layer="stages.2") as cam:
        assert cam(torch.randn(1, 1, 32, 32)).shape == (1, 32, 32)
        assert hook_counts(model.get_submodule("stages.2")) == (1, 0)
    assert hook_counts(model.get_submodule("stages.2")) == (0, 0)
    with pytest.raises(ModelError, match="no layer named 'nowhere'"):
        GradCAM(model, target_layer="nowhere")


def test_cam_on_an_ensemble_hooks_every_member():
    ensemble = Ensemble([tiny_model(0), tiny_model(1)]).eval()
    layers = [ensemble.get_submodule(name) for name in ensemble.cam_layers]
    x = torch.randn(2, 1, 40, 44)
    with GradCAM(ensemble) as cam:
        assert [hook_counts(layer) for layer in layers] == [(1, 0), (1, 0)]
        maps = cam(x)
    assert [hook_counts(layer) for layer in layers] == [(0, 0), (0, 0)]
    assert maps.shape == (2, 40, 44)
    assert maps.min() >= 0.0 and np.allclose(maps.reshape(2, -1).max(axis=1), 1.0)


# --- peaks and boxes ---------------------------------------------------------------------------------------


def gaussian_blobs(
    shape: tuple[int, int], blobs: list[tuple[int, int, float]], sigma: float = 4.0
) -> np.ndarray:
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    heatmap = np.zeros(shape)
    for x, y, amplitude in blobs:
        heatmap = np.maximum(
            heatmap, amplitude * np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * sigma**2))
        )
    return heatmap


def test_find_peaks_returns_known_blobs_strongest_first():
    heatmap = gaussian_blobs((120, 160), [(30, 40, 0.6), (100, 20, 1.0), (140, 100, 0.8)])
    peaks = find_peaks(heatmap, threshold=0.5)
    assert peaks == [Peak(100, 20, 1.0), Peak(140, 100, 0.8), Peak(30, 40, 0.6)]
    assert find_peaks(heatmap, threshold=0.7) == peaks[:2]
    assert find_peaks(heatmap, threshold=0.5, max_peaks=1) == peaks[:1]
    assert find_peaks(np.zeros((10, 10)), threshold=0.5) == []
    assert json.loads(json.dumps(peaks[0].to_json())) == {"x": 100, "y": 20, "score": 1.0}
    assert type(peaks[0].x) is int and type(peaks[0].score) is float


def test_find_peaks_suppresses_neighbours_and_plateaus():
    close = gaussian_blobs((64, 64), [(20, 20, 1.0), (26, 20, 0.9)], sigma=1.0)
    assert len(find_peaks(close, threshold=0.5, min_distance=2)) == 2
    assert find_peaks(close, threshold=0.5, min_distance=8) == [Peak(20, 20, 1.0)]
    plateau = np.zeros((32, 32))
    plateau[10:14, 5:9] = 0.9
    assert len(find_peaks(plateau, threshold=0.5, min_distance=3)) == 1
    assert find_peaks(torch.from_numpy(plateau), threshold=0.5) == [Peak(6, 11, 0.9)]


def test_heatmap_boxes_are_connected_regions_in_pixel_coordinates():
    heatmap = np.zeros((50, 80))
    heatmap[10:20, 5:25] = 0.7  # x=5, y=10, w=20, h=10
    heatmap[30:45, 60:70] = 0.6
    heatmap[40, 65] = 0.95  # the second region's maximum
    heatmap[0, 79] = 0.4  # below threshold
    boxes = heatmap_boxes(heatmap, threshold=0.5)
    assert boxes == [Box(60, 30, 10, 15, 0.95), Box(5, 10, 20, 10, 0.7)]
    assert heatmap_boxes(heatmap, threshold=0.99) == []
    diagonal = np.eye(6)  # 8-connected: one region
    assert heatmap_boxes(diagonal, threshold=0.5) == [Box(0, 0, 6, 6, 1.0)]
    assert json.loads(json.dumps(boxes[0].to_json())) == {"x": 60, "y": 30, "w": 10, "h": 15, "score": 0.95}
    with pytest.raises(ValueError, match="2-D"):
        heatmap_boxes(np.zeros((1, 5, 5)))
