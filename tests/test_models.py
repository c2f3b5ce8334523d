"""Models: the registry contract for every model, attention maths, preprocessing, checkpoints, ensembles."""

from __future__ import annotations

import json
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from stenoscope.errors import ModelError
from stenoscope.models import (
    AttentionModule,
    Ensemble,
    HeatmapViews,
    Preprocess,
    _registry,
    create_model,
    list_models,
    load_model,
    read_model_metadata,
    register_model,
    save_model,
    write_weights_manifest,
)
from stenoscope.models.inception import INCEPTION_CHANNELS, PaperInception

# Small configurations so every registered model runs its checks in well under a second.
TINY_KWARGS: dict[str, dict] = {
    "default": {"channels": (8, 8, 16, 16), "depths": (1, 1, 1, 1), "stem_chans": 8, "heatmap_chans": 8},
    "paper": {},
}
TINY_INPUT = {"default": (2, 1, 64, 72), "paper": (2, 1, 80, 80)}


def tiny_default(**kwargs) -> nn.Module:
    torch.manual_seed(0)
    return create_model("default", **{**TINY_KWARGS["default"], **kwargs}).eval()


@pytest.fixture(params=list_models())
def any_model(request) -> tuple[str, nn.Module]:
    name = request.param
    torch.manual_seed(0)
    try:
        model = create_model(name, **TINY_KWARGS.get(name, {}))
    except ModelError as error:  # an optional extra (torchvision for 'paper') is not installed
        pytest.skip(f"model {name!r} cannot be built here: {error}")
    return name, model.eval()


def test_every_registered_model_has_tiny_test_settings():
    assert set(list_models()) <= set(TINY_KWARGS), "add tiny settings for new models to TINY_KWARGS"


def test_registry_model_forward_backward_and_interface(any_model):
    name, model = any_model
    x = torch.randn(*TINY_INPUT[name])
    model.train()
    logits = model(x)
    assert logits.shape == (2, 2)
    logits[:, 1].sum().backward()
    classifier_params = [p for n, p in model.named_parameters() if not n.startswith("decoder.")]
    assert all(p.grad is not None for p in classifier_params)
    model.eval()
    assert isinstance(model.preprocess, Preprocess)
    assert model.cam_layer in dict(model.named_modules())
    features = model.forward_features(x)
    assert features.shape[:2] == (2, model.num_features)
    torch.testing.assert_close(model.forward_head(features), model(x))
    probability = model.frame_probability(x)
    assert probability.shape == (2,)
    assert torch.all((probability >= 0) & (probability <= 1))
    score_map = model.score_map(x)
    assert score_map.shape == (2, *x.shape[-2:])
    assert torch.all((score_map >= 0) & (score_map <= 1))


def test_registry_model_remembers_name_and_kwargs(any_model):
    name, model = any_model
    assert model.model_name == name
    assert model.model_kwargs == TINY_KWARGS[name]


@pytest.mark.parametrize("size", [(300, 417), (33, 47), (64, 64), (17, 16)])
def test_default_accepts_any_input_size(size):
    model = tiny_default(heatmap_head=True)
    x = torch.randn(1, 1, *size)
    assert model(x).shape == (1, 2)
    assert model.forward_heatmap(x).shape == (1, 1, math.ceil(size[0] / 4), math.ceil(size[1] / 4))
    assert model.score_map(x).shape == (1, *size)
    assert model.lesion_map(x).shape == (1, *size)


def test_default_heatmap_head_is_optional_and_shares_the_backbone():
    plain = tiny_default()
    assert not plain.has_heatmap_head
    with pytest.raises(ModelError, match="heat-map head"):
        plain.forward_heatmap(torch.randn(1, 1, 32, 32))
    with_head = tiny_default(heatmap_head=True)
    assert with_head.has_heatmap_head
    x = torch.randn(2, 1, 48, 40)
    features, heatmap = with_head.forward_with_heatmap(x)
    torch.testing.assert_close(features, with_head.forward_features(x))
    torch.testing.assert_close(heatmap, with_head.forward_heatmap(x))
    # a fresh head predicts the CenterNet prior (about 0.1) before training
    assert 0.0 < torch.sigmoid(heatmap).mean().item() < 0.3


def test_frame_probability_rule_with_heatmap_head():
    model = tiny_default(heatmap_head=True, heatmap_weight=0.25)
    x = torch.randn(2, 1, 40, 40)
    head = model(x).softmax(dim=1)[:, 1]
    lesion = torch.sigmoid(model.forward_heatmap(x).flatten(1).amax(dim=1))
    torch.testing.assert_close(model.frame_probability(x), 0.75 * head + 0.25 * lesion)
    plain = tiny_default()
    torch.testing.assert_close(plain.frame_probability(x), plain(x).softmax(dim=1)[:, 1])


def test_pooling_choices_order_between_average_and_maximum():
    x = torch.randn(2, 1, 64, 64)
    outputs = {}
    for pool in ("avg", "lse", "max"):
        model = tiny_default(pool=pool)
        logit_map = model.forward_logit_map(model.forward_features(x))
        outputs[pool] = model(x)
        assert outputs[pool].shape == (2, 2)
    logit_map_mean = logit_map.mean(dim=(2, 3))
    logit_map_max = logit_map.amax(dim=(2, 3))
    torch.testing.assert_close(outputs["avg"], logit_map_mean)
    torch.testing.assert_close(outputs["max"], logit_map_max)
    assert torch.all(outputs["lse"] >= outputs["avg"] - 1e-6)
    assert torch.all(outputs["lse"] <= outputs["max"] + 1e-6)


def test_default_parameter_count_is_compact():
    model = create_model("default", heatmap_head=True)
    count = sum(p.numel() for p in model.parameters())
    assert 1_000_000 <= count <= 3_000_000


def test_attention_stages_are_configurable():
    def count(model):
        return sum(isinstance(m, AttentionModule) for m in model.modules())

    assert count(tiny_default()) == 1
    assert tiny_default().cam_layer == "stages.3.attention"
    ablation = tiny_default(attention_stages=())
    assert count(ablation) == 0
    assert ablation.cam_layer == "stages.3"
    assert count(tiny_default(attention_stages=(1, 3))) == 2
    with pytest.raises(ValueError, match="stage indices"):
        tiny_default(attention_stages=(4,))


def test_unknown_model_lists_available_ones():
    with pytest.raises(ModelError, match=r"available: .*default"):
        create_model("no-such-model")
    with pytest.raises(ModelError, match="cannot create model 'default'"):
        create_model("default", no_such_option=1)


def test_register_model_by_function_name_and_by_given_name(monkeypatch):
    monkeypatch.setattr(_registry, "_FACTORIES", dict(_registry._FACTORIES))

    @register_model
    def toy_net(width: int = 3) -> nn.Module:
        return nn.Linear(width, 2)

    @register_model("toy-named")
    def other(width: int = 3) -> nn.Module:
        return nn.Linear(width, 2)

    assert {"toy_net", "toy-named"} <= set(list_models())
    model = create_model("toy_net", width=5)
    assert model.in_features == 5
    assert (model.model_name, model.model_kwargs) == ("toy_net", {"width": 5})
    with pytest.raises(ValueError, match="already registered"):
        register_model("toy-named")(toy_net)


# --- attention module ----------------------------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def test_attention_matches_a_hand_computation():
    torch.manual_seed(1)
    channels, height, width = 4, 5, 6
    module = AttentionModule(channels, reduction=2, kernel_size=3).eval()
    features = torch.randn(1, channels, height, width)
    with torch.no_grad():
        output = module(features).numpy()[0]
    f = features.numpy()[0].astype(np.float64)
    w1, b1 = module.mlp[0].weight.detach().numpy(), module.mlp[0].bias.detach().numpy()
    w2, b2 = module.mlp[2].weight.detach().numpy(), module.mlp[2].bias.detach().numpy()

    def mlp(v):
        return w2 @ np.maximum(w1 @ v + b1, 0) + b2

    mc = mlp(f.mean(axis=(1, 2))) + mlp(f.max(axis=(1, 2)))  # (C,)
    pooled = np.stack([f.mean(axis=0), f.max(axis=0)])  # (2, H, W)
    padded = np.pad(pooled, ((0, 0), (1, 1), (1, 1)))
    kernel = module.spatial.weight.detach().numpy()[0]  # (2, 3, 3)
    ms = np.empty((height, width))
    for i in range(height):
        for j in range(width):
            ms[i, j] = (padded[:, i : i + 3, j : j + 3] * kernel).sum() + module.spatial.bias.item()
    expected = f + f * _sigmoid(mc[:, None, None] + ms[None])
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-5)


def test_attention_identity_and_zero_behaviours():
    module = AttentionModule(32).eval()
    features = torch.rand(2, 32, 9, 7)
    with torch.no_grad():
        # zero features stay zero: the module only re-weights
        assert torch.equal(module(torch.zeros_like(features)), torch.zeros_like(features))
        # for non-negative features the gain lies between 1x and 2x
        output = module(features)
        assert torch.all(output >= features) and torch.all(output <= 2 * features)
        # a gate that is closed everywhere (sigmoid -> 0) makes the module the identity
        module.spatial.bias.fill_(-1e4)
        torch.testing.assert_close(module(features), features)
        # with all-zero weights the gate is sigmoid(0) = 0.5 everywhere: a uniform 1.5x gain
        for parameter in module.parameters():
            parameter.zero_()
        torch.testing.assert_close(module(features), 1.5 * features)
    assert module.mlp[0].out_features == 2  # reduction 16


def test_attention_keeps_shape_for_any_size_and_rejects_even_kernels():
    module = AttentionModule(3)
    assert module(torch.randn(1, 3, 1, 1)).shape == (1, 3, 1, 1)
    assert module.mlp[0].out_features == 1
    with pytest.raises(ValueError, match="odd"):
        AttentionModule(8, kernel_size=4)


# --- preprocessing ---------------------------------------------------------------------------------------


def test_preprocess_round_trip_and_normalise():
    preprocess = Preprocess(input_size=(20, 30), mean=0.4, std=0.2, in_chans=3)
    assert Preprocess.from_dict(json.loads(json.dumps(preprocess.to_dict()))) == preprocess
    frames = np.full((2, 10, 15), 0.6, dtype=np.float32)
    tensor = preprocess.normalise(frames)
    assert tensor.shape == (2, 3, 20, 30)
    torch.testing.assert_close(tensor, torch.ones_like(tensor))
    single = Preprocess().normalise(torch.zeros(7, 9))
    assert single.shape == (1, 1, 7, 9)
    torch.testing.assert_close(single, torch.full_like(single, -2.0))
    with pytest.raises(ValueError, match="grey frames"):
        Preprocess().normalise(np.zeros((2, 3, 8, 8)))


# --- paper model head (torchvision-free parts) -------------------------------------------------------------


def _stand_in_inception() -> PaperInception:
    """The paper model's head and attention on a one-layer stand-in for the Inception blocks."""
    torch.manual_seed(0)
    blocks = OrderedDict(stem=nn.Conv2d(3, INCEPTION_CHANNELS, 8, stride=8))
    return PaperInception(blocks, Preprocess(mean=0.449, std=0.226)).eval()


def test_paper_head_and_dense_map_agree():
    model = _stand_in_inception()
    x = torch.randn(2, 1, 40, 48)
    features = model.forward_features(x)
    assert features.shape == (2, INCEPTION_CHANNELS, 5, 6)
    logit_map = model.forward_logit_map(features)
    torch.testing.assert_close(model(x), logit_map.mean(dim=(2, 3)), rtol=1e-4, atol=1e-5)
    # grey input is repeated to the three channels Inception expects
    torch.testing.assert_close(model.forward_features(x), model.forward_features(x.repeat(1, 3, 1, 1)))
    assert model.cam_layer == "attention"
    assert model.dropout.p == 0.5


def test_paper_model_without_torchvision_says_how_to_install():
    try:
        import torchvision  # noqa: F401
    except ImportError:
        with pytest.raises(ModelError, match=r"pip install stenoscope\[paper\]"):
            create_model("paper")
    else:
        pytest.skip("torchvision is installed: the model builds, checked by the registry tests")


# --- checkpoints -------------------------------------------------------------------------------------------


def test_save_load_round_trip_restores_outputs_preprocess_and_metadata(tmp_path):
    model = tiny_default(heatmap_head=True, pool="lse")
    model.preprocess = Preprocess(mean=0.61, std=0.17)  # e.g. statistics measured on the training set
    path = save_model(model, tmp_path / "model.safetensors", data="synthetic", metrics={"auc": 0.93})
    loaded = load_model(path)
    assert not loaded.training
    assert loaded.preprocess == model.preprocess
    assert loaded.model_name == "default"
    assert loaded.checkpoint_metadata == {"data": "synthetic", "metrics": {"auc": 0.93}}
    x = torch.randn(2, 1, 56, 44)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
        assert torch.equal(loaded.forward_heatmap(x), model.forward_heatmap(x))
    assert not list(tmp_path.glob(".*")), "atomic write left a temporary file"


def test_checkpoint_errors_are_model_errors(tmp_path):
    with pytest.raises(ModelError, match="no such model file"):
        load_model(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a safetensors model file"):
        load_model(tmp_path / "junk.safetensors")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(ModelError, match="without stenoscope model metadata"):
        load_model(tmp_path / "foreign.safetensors")
    with pytest.raises(ModelError, match="JSON-safe"):
        save_model(tiny_default(), tmp_path / "nan.safetensors", auc=float("nan"))
    with pytest.raises(ModelError, match="create_model"):
        save_model(nn.Linear(2, 2), tmp_path / "plain.safetensors")


def test_weights_that_do_not_fit_the_architecture(tmp_path):
    from safetensors.torch import load_file, save_file

    path = save_model(tiny_default(), tmp_path / "model.safetensors")
    header = read_model_metadata(path)
    state = load_file(str(path))
    state.pop("head.bias")
    save_file(state, str(tmp_path / "broken.safetensors"), metadata={"stenoscope": json.dumps(header)})
    with pytest.raises(ModelError, match="do not fit"):
        load_model(tmp_path / "broken.safetensors")


def test_shipped_weights_are_verified(tmp_path, monkeypatch):
    monkeypatch.setenv("STENOSCOPE_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(ModelError, match="no pretrained model is shipped in this build"):
        load_model()
    model = tiny_default()
    path = save_model(model, tmp_path / "tiny.safetensors", data="test")
    manifest = json.loads(write_weights_manifest(path, "tiny").read_text())
    assert manifest["default"] == "tiny"
    assert manifest["models"]["tiny"]["bytes"] == path.stat().st_size
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(load_model()(x), model(x))
        assert torch.equal(load_model("tiny")(x), model(x))
    with pytest.raises(ModelError, match="no shipped model named 'other'"):
        load_model("other")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256 mismatch"):
        load_model()


# --- ensembles ---------------------------------------------------------------------------------------------


def _members(**kwargs) -> list[nn.Module]:
    members = []
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        members.append(create_model("default", **{**TINY_KWARGS["default"], **kwargs}).eval())
    return members


def test_ensemble_averages_probabilities():
    members = _members(heatmap_head=True)
    ensemble = Ensemble(members).eval()
    x = torch.randn(2, 1, 48, 48)
    with torch.no_grad():
        mean_probability = torch.stack([m(x).softmax(dim=1) for m in members]).mean(dim=0)
        torch.testing.assert_close(ensemble(x).softmax(dim=1), mean_probability)
        torch.testing.assert_close(ensemble.forward_head(ensemble.forward_features(x)), ensemble(x))
        frame = torch.stack([m.frame_probability(x) for m in members]).mean(dim=0)
        torch.testing.assert_close(ensemble.frame_probability(x), frame)
        lesion = torch.stack([torch.sigmoid(m.forward_heatmap(x)) for m in members]).mean(dim=0)
        torch.testing.assert_close(torch.sigmoid(ensemble.forward_heatmap(x)), lesion)
        score = torch.stack([m.score_map(x) for m in members]).mean(dim=0)
        torch.testing.assert_close(ensemble.score_map(x), score, rtol=1e-4, atol=1e-5)
    assert ensemble.cam_layers == [f"members.{i}.stages.3.attention" for i in range(3)]


def test_ensemble_save_load_round_trip(tmp_path):
    ensemble = Ensemble(_members(heatmap_head=True))
    path = save_model(ensemble, tmp_path / "ensemble.safetensors", folds=3)
    loaded = load_model(path)
    assert isinstance(loaded, Ensemble)
    assert len(loaded.members) == 3
    assert loaded.checkpoint_metadata == {"folds": 3}
    x = torch.randn(1, 1, 40, 52)
    with torch.no_grad():
        assert torch.equal(loaded(x), ensemble.eval()(x))
        assert torch.equal(loaded.frame_probability(x), ensemble.frame_probability(x))


def _single_view_map(model: nn.Module, x: torch.Tensor, size: tuple[int, int], flip: bool) -> torch.Tensor:
    resize = torch.nn.functional.interpolate
    view = resize(x, size=size, mode="bilinear", align_corners=False)
    heat = torch.sigmoid(model.forward_heatmap(view.flip(-1) if flip else view))
    heat = heat.flip(-1) if flip else heat
    return resize(heat, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]


def test_lesion_map_averages_its_views_and_the_views_travel_with_the_weights(tmp_path):
    model = tiny_default(heatmap_head=True)
    x = torch.randn(1, 1, 48, 64)
    with torch.no_grad():
        single = model.lesion_map(x)
        torch.testing.assert_close(single, _single_view_map(model, x, (48, 64), flip=False))
        model.heatmap_views = HeatmapViews(scales=(0.5, 1.0), flip=True)
        sizes = ((24, 32), (48, 64))
        expected = sum(_single_view_map(model, x, size, f) for size in sizes for f in (False, True)) / 4
        averaged = model.lesion_map(x)
    torch.testing.assert_close(averaged, expected)
    assert not torch.allclose(averaged, single)
    path = save_model(model, tmp_path / "views.safetensors")
    assert read_model_metadata(path)["heatmap_views"] == {"scales": [0.5, 1.0], "flip": True}
    with torch.no_grad():
        torch.testing.assert_close(load_model(path).lesion_map(x), averaged)
    # one view is the default and is not written; old files without the key load with it
    plain = save_model(tiny_default(heatmap_head=True), tmp_path / "plain.safetensors")
    assert "heatmap_views" not in read_model_metadata(plain)
    assert load_model(plain).heatmap_views == HeatmapViews()
    ensemble = Ensemble(_members(heatmap_head=True))
    ensemble.heatmap_views = HeatmapViews(scales=(1.0, 1.25))
    assert load_model(save_model(ensemble, tmp_path / "e.safetensors")).heatmap_views.scales == (1.0, 1.25)
    with pytest.raises(ValueError, match="scales"):
        HeatmapViews(scales=())
    with pytest.raises(ValueError, match="scales"):
        HeatmapViews(scales=(1.0, 10.0))


def test_lesion_peaks_without_a_ranker_are_the_heat_maps_own_peaks():
    from stenoscope.explain import find_peaks

    model = tiny_default(heatmap_head=True)
    x = torch.randn(2, 1, 64, 72)
    with torch.no_grad():
        found = model.lesion_peaks(x, threshold=0.05, max_peaks=4)
        maps = model.lesion_map(x)
    assert found == [find_peaks(heat, 0.05, 4) for heat in maps] and found[0]


def test_a_peak_ranker_scales_reorders_and_drops_the_candidates(monkeypatch):
    """Score = height x the ranker's probability, strongest first, below the threshold dropped."""
    from stenoscope.models import PeakRanker

    model = tiny_default(heatmap_head=True)
    x = torch.randn(1, 1, 64, 72)
    with torch.no_grad():
        heights = model.lesion_peaks(x, threshold=0.05, max_peaks=3)[0]
        assert len(heights) == 3
        model.peak_ranker = PeakRanker(window=32, scale=1).eval()
        seen = []

        def score(frame: torch.Tensor, points: list) -> torch.Tensor:
            seen.append((frame, points))
            return torch.tensor([0.01, 0.5, 1.0])  # the highest peak is a miss, the lowest a sure lesion

        monkeypatch.setattr(model.peak_ranker, "score", score)
        ranked = model.lesion_peaks(x, threshold=0.05, max_peaks=3)[0]
        ((frame, points),) = seen  # the frame as prepared, before the model's normalisation
        torch.testing.assert_close(frame, x[0, 0] * model.preprocess.std + model.preprocess.mean)
        assert points == [(p.x, p.y) for p in heights]
        assert [(p.x, p.y) for p in ranked] == [(heights[2].x, heights[2].y), (heights[1].x, heights[1].y)]
        assert [p.score for p in ranked] == pytest.approx([heights[2].score, heights[1].score * 0.5])
        assert model.lesion_peaks(x, threshold=0.05, max_peaks=3, rank=False)[0] == heights


def test_a_finer_peak_ranker_judges_the_detail_it_is_given_at_the_peaks_place():
    """A ranker of scale 2 cuts its windows from the frame prepared on a grid twice as fine, around the
    peak's place on that grid; without that frame it gets the model's input enlarged."""
    from stenoscope.models import PeakRanker
    from stenoscope.models.ranker import peak_windows

    torch.manual_seed(0)
    model = tiny_default(heatmap_head=True)
    model.peak_ranker = PeakRanker(window=32, scale=2).eval()
    x, detail = torch.randn(1, 1, 64, 72), torch.rand(1, 128, 144)
    with torch.no_grad():
        heights = model.lesion_peaks(x, threshold=0.05, max_peaks=3, rank=False)[0]
        ranked = model.lesion_peaks(x, threshold=0.0, max_peaks=3, detail=detail)[0]
        windows = peak_windows(detail[0], [(2 * p.x, 2 * p.y) for p in heights], 32)
        probability = model.peak_ranker.probability(windows).tolist()
        expected = [p.score * q for p, q in zip(heights, probability, strict=True)]
        assert sorted(p.score for p in ranked) == pytest.approx(sorted(expected))
        prepared = x[:, 0] * model.preprocess.std + model.preprocess.mean
        enlarged = torch.nn.functional.interpolate(prepared[:, None], scale_factor=2, mode="bilinear")[:, 0]
        assert model.lesion_peaks(x, 0.0, 3) == model.lesion_peaks(x, 0.0, 3, detail=enlarged)
        assert model.lesion_peaks(x, 0.0, 3) != ranked
    with pytest.raises(ValueError, match=">= 32"):
        PeakRanker(window=24, scale=2)


def test_the_peak_rankers_answer_does_not_depend_on_the_windows_orientation():
    from stenoscope.models import PeakRanker
    from stenoscope.models.ranker import peak_windows

    torch.manual_seed(0)
    ranker = PeakRanker(window=32, scale=1).eval()
    image = torch.rand(80, 90)
    windows = peak_windows(image, [(0, 0), (40, 30), (89, 79)], 32)
    assert windows.shape == (3, 1, 32, 32)
    assert windows.mean(dim=(1, 2, 3)).abs().max() < 1e-5  # each window standardised
    # at the border the window is the image reflected: its centre is the peak's own pixel
    centre = (image[0, 0] - image[:16, :16].mean()) / image[:16, :16].std(unbiased=False)
    assert float(windows[0, 0, 16, 16]) == pytest.approx(float(centre), rel=0.05)
    turned = torch.rot90(windows, 1, (2, 3)).flip(3)
    for judge in (ranker, PeakRanker(window=32, scale=2).eval()):  # a strided stem is not symmetric
        torch.testing.assert_close(
            judge.probability(turned), judge.probability(windows), atol=1e-5, rtol=1e-4
        )
    with pytest.raises(ValueError, match="window"):
        PeakRanker(window=15)


def test_peak_rankers_travel_in_the_file_of_a_model_and_of_an_ensemble(tmp_path):
    from stenoscope.models import PeakRanker

    torch.manual_seed(0)
    model = tiny_default(heatmap_head=True)
    model.peak_ranker = PeakRanker(window=32, scale=2).eval()
    x = torch.randn(1, 1, 64, 72)
    loaded = load_model(save_model(model, tmp_path / "one.safetensors"))
    assert read_model_metadata(tmp_path / "one.safetensors")["peak_ranker"]["window"] == 32
    with torch.no_grad():
        assert loaded.lesion_peaks(x, 0.05, 5) == model.lesion_peaks(x, 0.05, 5)
    ensemble = Ensemble([model, tiny_default(heatmap_head=True)])
    ensemble.peak_ranker = PeakRanker().eval()
    path = save_model(ensemble, tmp_path / "ensemble.safetensors", weights_dtype=torch.float16)
    again = load_model(path)
    assert (again.peak_ranker.window, again.peak_ranker.scale) == (48, 1)
    assert (again.members[0].peak_ranker.window, again.members[0].peak_ranker.scale) == (32, 2)
    assert not hasattr(again.members[1], "peak_ranker")
    with torch.no_grad():
        expected, found = ensemble.lesion_peaks(x, 0.05, 5)[0], again.lesion_peaks(x, 0.05, 5)[0]
    assert [(p.x, p.y) for p in found] == [(p.x, p.y) for p in expected]
    assert [p.score for p in found] == pytest.approx([p.score for p in expected], abs=2e-3)
    plain = save_model(tiny_default(), tmp_path / "plain.safetensors")
    assert "peak_ranker" not in read_model_metadata(plain)


def test_a_release_8_ranker_without_a_scale_in_its_header_loads_on_the_models_own_grid(tmp_path):
    """Release 8's file names no ranker scale: its ranker saw the model's input itself (scale 1)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from stenoscope.models import PeakRanker
    from stenoscope.models._checkpoint import METADATA_KEY

    model = tiny_default(heatmap_head=True)
    model.peak_ranker = PeakRanker(window=48, scale=1).eval()
    path = save_model(model, tmp_path / "release8.safetensors")
    header = read_model_metadata(path)
    del header["peak_ranker"]["scale"]
    with safe_open(str(path), framework="pt") as handle:
        state = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (not a dict)
    save_file(state, str(path), metadata={METADATA_KEY: json.dumps(header)})
    loaded = load_model(path)
    assert (loaded.peak_ranker.window, loaded.peak_ranker.scale) == (48, 1)
    x = torch.randn(1, 1, 64, 72)
    with torch.no_grad():
        assert loaded.lesion_peaks(x, 0.05, 5) == model.lesion_peaks(x, 0.05, 5)


def test_half_precision_storage_halves_the_file_and_loads_as_float32(tmp_path):
    """How the shipped ensemble fits the 25 MB budget: float16 on disk, float32 in memory, same answers."""
    ensemble = Ensemble(_members(heatmap_head=True)).eval()
    full = save_model(ensemble, tmp_path / "full.safetensors")
    half = save_model(ensemble, tmp_path / "half.safetensors", weights_dtype=torch.float16)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    assert read_model_metadata(half)["weights_dtype"] == "float16"
    loaded = load_model(half)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.randn(2, 1, 40, 52)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), ensemble(x), atol=2e-3, rtol=1e-2)
        torch.testing.assert_close(
            loaded.forward_heatmap(x), ensemble.forward_heatmap(x), atol=2e-2, rtol=1e-2
        )


def test_ensemble_rejects_empty_or_mixed_members():
    with pytest.raises(ModelError, match="at least one"):
        Ensemble([])
    first, second = _members()[:2]
    second.preprocess = Preprocess(mean=0.1)
    with pytest.raises(ModelError, match="share their preprocessing"):
        Ensemble([first, second])
    with pytest.raises(ModelError, match="heat-map head"):
        Ensemble([first]).forward_heatmap(torch.randn(1, 1, 32, 32))


def test_paper_model_starts_from_user_supplied_imagenet_weights(tmp_path):
    """The Inception blocks take a torchvision state-dict file as given (nothing is downloaded); a file of
    another architecture is refused with a one-line ModelError."""
    try:
        from torchvision.models import inception_v3
    except (ImportError, RuntimeError) as error:
        pytest.skip(f"torchvision does not import here: {error}")
    torch.manual_seed(1)
    reference = inception_v3(weights=None, aux_logits=True, init_weights=True).state_dict()
    torch.save(reference, tmp_path / "inception.pth")
    model = create_model("paper", imagenet_weights=tmp_path / "inception.pth")
    loaded = model.backbone.state_dict()
    torch.testing.assert_close(
        loaded["Mixed_7c.branch_pool.conv.weight"], reference["Mixed_7c.branch_pool.conv.weight"]
    )
    torch.save(tiny_default().state_dict(), tmp_path / "other.pth")
    with pytest.raises(ModelError, match="not an Inception-v3 state dict"):
        create_model("paper", imagenet_weights=tmp_path / "other.pth")
