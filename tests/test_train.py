"""Training: heat-map targets and loss, schedule, config, CV + ensemble + evaluate end to end, resume."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from stenoscope.errors import ModelError, StenoscopeError
from stenoscope.evaluate.metrics import accuracy, balanced_threshold
from stenoscope.train import (
    centernet_focal_loss,
    config_from_dict,
    cross_validate,
    gaussian_targets,
    load_config,
    spatial_softmax_loss,
)
from stenoscope.train.loop import lr_factor

torch.set_num_threads(1)  # the CI machine has 2 cores shared by parallel jobs

TINY_MODEL = {
    "name": "default",
    "kwargs": {"channels": [8, 16, 24, 32], "depths": [1, 1, 1, 1], "stem_chans": 8},
}


def test_gaussian_targets_peak_at_box_centres():
    boxes = [np.array([[16, 8, 8, 8]], np.float32), np.zeros((0, 4), np.float32)]
    targets = gaussian_targets(boxes, (16, 16), (64, 64), sigma_scale=0.15)
    assert targets.shape == (2, 1, 16, 16)
    assert targets[0, 0, 3, 5] == 1.0  # centre (20, 12) / stride 4
    assert int((targets == 1).sum()) == 1
    assert targets[1].sum() == 0


def test_focal_loss_rewards_the_right_peak():
    targets = gaussian_targets([np.array([[16, 8, 8, 8]], np.float32)], (16, 16), (64, 64), 0.15)
    right = torch.full_like(targets, -6.0)
    right[0, 0, 3, 5] = 4.0
    wrong = torch.full_like(targets, -6.0)
    wrong[0, 0, 12, 12] = 4.0
    flat = torch.zeros_like(targets)
    assert centernet_focal_loss(right, targets) < centernet_focal_loss(wrong, targets)
    assert centernet_focal_loss(right, targets) < centernet_focal_loss(flat, targets)


def test_spatial_softmax_loss_ranks_the_lesion_first_within_each_frame():
    targets = gaussian_targets(
        [np.array([[16, 8, 8, 8]], np.float32), np.zeros((0, 4), np.float32)], (16, 16), (64, 64), 0.15
    )
    right = torch.full_like(targets, -6.0)
    right[0, 0, 3, 5] = 4.0
    wrong = right.clone()
    wrong[0, 0, 12, 12] = 6.0  # a stronger false peak elsewhere in the same frame
    assert spatial_softmax_loss(right, targets) < spatial_softmax_loss(wrong, targets)
    # only the ranking within a frame counts: a shift of every logit leaves it as it is
    assert torch.isclose(spatial_softmax_loss(right + 3.0, targets), spatial_softmax_loss(right, targets))
    # the lesion-free second frame is left out, whatever its map shows
    noisy = right.clone()
    noisy[1] = torch.randn(1, 16, 16) * 5
    assert torch.isclose(spatial_softmax_loss(noisy, targets), spatial_softmax_loss(right[:1], targets[:1]))
    nothing = spatial_softmax_loss(noisy[1:].requires_grad_(), targets[1:])
    assert nothing == 0 and nothing.requires_grad


def test_dense_region_targets_mark_lesion_cells_background_and_the_ring_between():
    from stenoscope.train.loop import dense_region_targets

    boxes = [np.array([[40.0, 40.0, 20.0, 20.0]]), np.zeros((0, 4)), np.zeros((0, 4))]
    cells = dense_region_targets(boxes, [1, 0, 1], (8, 8), (128, 128), dilate=16.0).numpy()
    # frame 0: 16 px cells; centres at 8, 24, 40, 56, ...; the box spans 40-60 px
    assert cells[0, 3, 3] == 1  # centre (56, 56) inside the box
    assert cells[0, 2, 2] == 1  # centre (40, 40) on the box edge
    assert cells[0, 1, 1] == -100  # centre (24, 24): within 16 px of the box, ignored
    assert cells[0, 0, 0] == 0 and cells[0, 7, 7] == 0  # far away: background
    assert (cells[1] == 0).all()  # a normal frame is background everywhere
    assert (cells[2] == -100).all()  # stenotic without boxes: the lesion could be anywhere
    tiny = dense_region_targets([np.array([[70.0, 70.0, 2.0, 2.0]])], [1], (8, 8), (128, 128), 16.0)
    assert tiny[0, 4, 4] == 1  # a box smaller than a cell still marks the cell holding its centre


def test_dense_region_loss_counts_only_the_hardest_background_cells():
    from stenoscope.train.loop import dense_region_loss

    targets = torch.zeros(1, 4, 4, dtype=torch.long)
    targets[0, 0, 0] = 1
    logits = torch.zeros(1, 2, 4, 4)
    logits[0, 1] = -5.0  # confident "normal" everywhere: right on background, wrong on the lesion
    easy = dense_region_loss(logits, targets, hard_negatives=2)
    logits[0, 1, 3, 3] = 5.0  # one background cell now looks like a lesion
    hard = dense_region_loss(logits, targets, hard_negatives=2)
    # the false alarm (loss 5) is half of the background term (+1.25), not a 15th of it (+0.17)
    assert hard > easy + 1.0
    nothing = dense_region_loss(logits.requires_grad_(), torch.full_like(targets, -100), hard_negatives=2)
    assert nothing == 0 and nothing.requires_grad  # a batch with no labelled cell still backpropagates


def _tiny_fit(tmp_path, frames, heat_frames=None, lr: float = 1e-2, **changes):
    """A seeded tiny heat-map model, one epoch of ``fit`` on ``frames`` (batches of 3): the model before
    (a state-dict copy) and after, and the options used."""
    from stenoscope.data.transforms import Compose
    from stenoscope.models import create_model
    from stenoscope.train import FitOptions, fit, get_recipe

    torch.manual_seed(0)
    model = create_model("default", heatmap_head=True, **TINY_MODEL["kwargs"])
    before = {name: value.clone() for name, value in model.state_dict().items()}
    options = FitOptions(
        recipe=get_recipe("default", epochs=1, batch_size=3, lr=lr),
        epochs=1,
        seed=0,
        fold=0,
        device=torch.device("cpu"),
        checkpoint_dir=tmp_path / str(len(list(tmp_path.iterdir()))),
        heatmap_batch_size=3,
        **changes,
    )
    fit(model, frames, Compose([]), options, heat_frames if heat_frames is not None else frames, Compose([]))
    return before, model, options


def _lesion_frames(n: int = 6, seed: int = 3):
    from stenoscope.data import synthetic_dataset

    return synthetic_dataset(n=n, size=64, seed=seed, positive_fraction=1.0, stenosis_degrees=(80.0, 90.0))


def test_dense_loss_trains_the_classifier_in_joint_and_separate_heat_map_modes(tmp_path):
    """The dense term reaches the head whether the frames are the training samples (joint) or a separate
    heat-map stream: the same seeded run ends with a different head than without it."""
    from stenoscope.data import synthetic_dataset

    frames = _lesion_frames()
    for joint in (True, False):
        heat = frames if joint else synthetic_dataset(n=3, size=64, seed=4)
        _, plain, _ = _tiny_fit(tmp_path, frames, heat, dense_weight=0.0)
        _, dense, _ = _tiny_fit(tmp_path, frames, heat, dense_weight=1.0)
        assert not torch.allclose(plain.head.weight, dense.head.weight)


def test_softmax_weight_trains_the_heat_map_decoder(tmp_path):
    frames = _lesion_frames()
    _, plain, _ = _tiny_fit(tmp_path, frames, softmax_weight=0.0)
    _, ranked, _ = _tiny_fit(tmp_path, frames, softmax_weight=1.0)
    assert not torch.allclose(plain.decoder.out.weight, ranked.decoder.out.weight)


def test_freeze_keeps_named_modules_and_their_statistics_while_the_rest_trains(tmp_path):
    from stenoscope.data.transforms import Compose
    from stenoscope.train import fit

    frames = _lesion_frames()
    before, model, options = _tiny_fit(
        tmp_path, frames, dense_weight=1.0, freeze=("stem", "stages", "decoder")
    )
    after = model.state_dict()
    kept = [name for name in before if not name.startswith("head.")]
    assert any("running_mean" in name for name in kept)
    for name in kept:
        torch.testing.assert_close(after[name], before[name], msg=name)
    assert not torch.equal(after["head.weight"], before["head.weight"])
    with pytest.raises(StenoscopeError, match="names no parameter"):
        fit(model, frames, Compose([]), replace(options, freeze=("stage",)))
    with pytest.raises(StenoscopeError, match="no parameter to train"):
        fit(model, frames, Compose([]), replace(options, freeze=("stem", "stages", "decoder", "head")))


def test_bfloat16_training_follows_float32_closely(tmp_path):
    """Autocast changes the arithmetic, not the procedure: one seeded epoch in each precision ends near the
    same weights (and not at the start), and an unknown precision is refused."""
    frames = _lesion_frames()
    before, float32, _ = _tiny_fit(tmp_path, frames, lr=1e-3, precision="float32")
    _, bfloat16, _ = _tiny_fit(tmp_path, frames, lr=1e-3, precision="bfloat16")
    start, a, b = (
        before["decoder.out.weight"],
        float32.decoder.out.weight.detach(),
        bfloat16.decoder.out.weight,
    )
    assert b.dtype == torch.float32
    step = (a - start).abs().max()
    assert step > 0 and (b.detach() - a).abs().max() < 0.2 * step
    assert not torch.equal(b.detach(), a)  # autocast did change the arithmetic
    with pytest.raises(StenoscopeError, match="precision"):
        config_from_dict({"precision": "float16"})


def test_learning_rate_warms_up_then_decays():
    assert lr_factor(0, 100, 10, "cosine") == pytest.approx(0.1)
    assert lr_factor(10, 100, 10, "cosine") == pytest.approx(1.0)
    assert lr_factor(55, 100, 10, "cosine") == pytest.approx(0.5)
    assert lr_factor(99, 100, 10, "cosine") < 0.01
    assert lr_factor(99, 100, 0, "constant") == 1.0


def test_config_rejects_unknown_keys_and_resolves_paths(tmp_path):
    with pytest.raises(StenoscopeError, match="unknown key"):
        config_from_dict({"epoch": 3})
    with pytest.raises(StenoscopeError, match="samples"):
        config_from_dict({"data": {"samples": "patches"}})
    with pytest.raises(StenoscopeError, match="augment"):
        config_from_dict({"augment": {"mirror": True}})
    assert config_from_dict({"augment": {"zoom": 0.2}}).augment == {"zoom": 0.2}
    with pytest.raises(StenoscopeError, match="freeze"):
        config_from_dict({"freeze": "stages"})
    with pytest.raises(StenoscopeError, match="test_scales"):
        config_from_dict({"heatmap": {"test_scales": [0.0]}})
    views = config_from_dict({"heatmap": {"test_scales": [1, 1.25], "test_flip": True}}).heatmap.views()
    assert views.scales == (1.0, 1.25) and views.flip
    (tmp_path / "c.yaml").write_text("data: {path: sub/data, format: imagefolder}\nfolds: 3\n")
    config = load_config(tmp_path / "c.yaml")
    assert config.folds == 3 and Path(config.data.path) == (tmp_path / "sub" / "data").resolve()


def test_shipped_example_configs_load():
    configs = Path(__file__).resolve().parents[1] / "configs"
    for path in sorted(configs.glob("*.yaml")):
        if "model" in yaml.safe_load(path.read_text()):
            assert load_config(path).model["name"]


def test_train_without_data_is_a_one_line_error(cli):
    result = cli("train")
    assert result.code == 2 and result.err.startswith("error: ") and result.err.count("\n") == 1


def _ovalle_config(tmp_path: Path, ovalle_dir: Path, **changes) -> Path:
    config = {
        "seed": 0,
        "recipe": "default",
        "folds": 2,
        "epochs": 1,
        "batch_size": 32,
        "bootstrap": 100,
        "device": "cpu",
        "model": TINY_MODEL,
        "data": {"path": str(ovalle_dir), "format": "imagefolder"},
    } | changes
    path = tmp_path / "ovalle.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_cv_ensemble_and_evaluate_on_ovalle(cli, tmp_path, ovalle_dir):
    from stenoscope.models import Ensemble, load_model

    config = _ovalle_config(tmp_path, ovalle_dir)
    result = cli("train", config, "--out", tmp_path / "run", "--json")
    assert result.code == 0, result.err
    run = tmp_path / "run"
    results = json.loads((run / "results.json").read_text())
    assert results["schema"] == "stenoscope.cv/1" and len(results["folds"]) == 2
    assert results["data"]["samples"]["samples"] == 247
    assert sum(fold["n_val"] for fold in results["folds"]) == 247
    for key in ("auc", "accuracy", "sensitivity", "specificity"):
        summary = results["summary"][key]
        assert set(summary) == {"mean", "sd", "ci95"}
        assert summary["ci95"][0] <= summary["mean"] <= summary["ci95"][1]
        assert 0.0 <= summary["mean"] <= 1.0
    assert (run / "roc.png").read_bytes()[:4] == b"\x89PNG"
    assert len((run / "predictions.csv").read_text().splitlines()) == 248
    # each fold calls its validation crops at the threshold set on its own training crops
    predictions = list(csv.DictReader((run / "predictions.csv").open()))
    for number, fold in enumerate(results["folds"], start=1):
        threshold = fold["metrics"]["threshold"]
        assert 0.0 < threshold < 1.0 and threshold != 0.5
        rows = [row for row in predictions if int(row["fold"]) == number]
        labels = [int(row["label"]) for row in rows]
        probabilities = [float(row["probability"]) for row in rows]
        assert fold["metrics"]["accuracy"] == pytest.approx(
            accuracy(labels, probabilities, threshold), abs=1e-5
        )
    ensemble = load_model(run / "ensemble.safetensors")
    assert isinstance(ensemble, Ensemble) and len(ensemble.members) == 2
    assert ensemble.checkpoint_metadata["training"]["kind"] == "region"
    assert ensemble.checkpoint_metadata["training"]["input_size"] is None  # patches keep their 32 px

    evaluated = cli(
        "evaluate",
        run / "ensemble.safetensors",
        ovalle_dir,
        "--json",
        "--bootstrap",
        "100",
        "--out",
        tmp_path / "eval",
    )
    assert evaluated.code == 0, evaluated.err
    report = evaluated.json()
    assert report["dataset"]["samples"] == 247 and report["localisation"] is None
    low, high = report["ci95"]["auc"]
    assert low <= report["metrics"]["auc"] <= high
    assert (tmp_path / "eval" / "evaluation.json").is_file()
    table = cli("evaluate", run / "fold_1" / "model.safetensors", ovalle_dir, "--bootstrap", "50")
    assert table.code == 0 and "sensitivity" in table.out


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_same_seed_same_run_and_resume_continues_exactly(tmp_path, ovalle_dir, monkeypatch, ema_decay):
    import stenoscope.train.loop as loop

    config = load_config(_ovalle_config(tmp_path, ovalle_dir, epochs=2, folds=2, ema_decay=ema_decay))
    config.out = str(tmp_path / "straight")
    cross_validate(config, show_progress=False)

    original = loop._save_checkpoint

    def interrupt_after_first_epoch(path, model, optimizer, scheduler, state, average):
        original(path, model, optimizer, scheduler, state, average)
        if state.epoch == 1:
            raise KeyboardInterrupt

    config.out = str(tmp_path / "resumed")
    monkeypatch.setattr(loop, "_save_checkpoint", interrupt_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        cross_validate(config, show_progress=False)
    assert (tmp_path / "resumed" / "fold_1" / "checkpoint.pt").is_file()
    assert not (tmp_path / "resumed" / "fold_1" / "model.safetensors").exists()
    monkeypatch.setattr(loop, "_save_checkpoint", original)
    cross_validate(config, resume=True, show_progress=False)
    straight = (tmp_path / "straight" / "predictions.csv").read_text()
    assert (tmp_path / "resumed" / "predictions.csv").read_text() == straight
    history = json.loads((tmp_path / "resumed" / "results.json").read_text())["folds"][0]["history"]
    assert [record["epoch"] for record in history] == [1, 2]


def test_ema_ends_training_with_the_moving_average_of_the_weights(tmp_path, ovalle_dir):
    from stenoscope.models import load_model

    config = load_config(_ovalle_config(tmp_path, ovalle_dir, epochs=2, folds=2, ema_decay=0.9))
    config.out = str(tmp_path / "ema")
    cross_validate(config, show_progress=False, only_folds=[1])
    fold = tmp_path / "ema" / "fold_1"
    model = load_model(fold / "model.safetensors")
    saved = model.state_dict()
    checkpoint = torch.load(fold / "checkpoint.pt", weights_only=False)
    average = {name.removeprefix("module."): value for name, value in checkpoint["average"].items()}
    weights = [name for name, value in saved.items() if value.is_floating_point()]
    assert all(torch.equal(saved[name], average[name]) for name in weights)
    assert not all(torch.equal(saved[name], checkpoint["model"][name]) for name in weights)
    assert model.checkpoint_metadata["training"]["recipe"]["ema_decay"] == 0.9


def test_resuming_a_run_without_a_moving_average_with_one_is_refused(tmp_path, ovalle_dir):
    config = load_config(_ovalle_config(tmp_path, ovalle_dir, epochs=1, folds=2))
    config.out = str(tmp_path / "plain")
    cross_validate(config, show_progress=False, only_folds=[1])
    config.epochs, config.ema_decay = 2, 0.9
    with pytest.raises(StenoscopeError, match="without ema_decay"):
        cross_validate(config, resume=True, show_progress=False, only_folds=[1])


@pytest.mark.parametrize(
    ("augment", "message"),
    [
        ({"zoom": 1.5}, "zoom change must lie in"),
        ({"shutters": 0.7}, "shutter share must lie in"),
        ({"sharpen": -1}, "sharpen amount must be"),
        ({"sharpen": "strong"}, "could not convert"),
    ],
)
def test_augmentation_out_of_range_is_a_config_error_at_load(tmp_path, ovalle_dir, augment, message):
    with pytest.raises(StenoscopeError, match=f"config 'augment': {message}"):
        load_config(_ovalle_config(tmp_path, ovalle_dir, augment=augment))


@pytest.mark.parametrize("name", ["weight", "softmax_weight", "dense_weight"])
@pytest.mark.parametrize("value", [-1, "high", True])
def test_heat_map_loss_weights_must_be_numbers_at_least_0(name, value):
    with pytest.raises(StenoscopeError, match=f"heatmap.{name} must be a number at least 0"):
        config_from_dict({"model": TINY_MODEL, "heatmap": {name: value}})


def test_split_seed_keeps_the_folds_while_another_seed_trains_again(tmp_path, ovalle_dir):
    import csv

    def run(name: str, **changes) -> tuple[dict[str, str], dict[str, str]]:
        config = load_config(_ovalle_config(tmp_path, ovalle_dir, **changes))
        config.out = str(tmp_path / name)
        cross_validate(config, show_progress=False)
        with (tmp_path / name / "predictions.csv").open() as file:
            rows = list(csv.DictReader(file))
        folds = {row["source"]: row["fold"] for row in rows}
        return folds, {row["source"]: row["probability"] for row in rows}

    folds, probabilities = run("first")
    same_folds, other_probabilities = run("again", seed=1, split_seed=0)
    new_folds, _ = run("reshuffled", seed=1)
    assert same_folds == folds and other_probabilities != probabilities
    assert new_folds != folds


@pytest.mark.parametrize("name", ["seed", "split_seed"])
@pytest.mark.parametrize("value", [1.5, "one", True])
def test_seeds_must_be_integers(name, value):
    with pytest.raises(StenoscopeError, match=f"{name} must be an integer"):
        config_from_dict({"model": TINY_MODEL, name: value})


@pytest.mark.parametrize("decay", [1.0, -0.1, "high", True])
def test_ema_decay_outside_0_to_1_is_a_config_error(tmp_path, ovalle_dir, decay):
    with pytest.raises(StenoscopeError, match="ema_decay"):
        load_config(_ovalle_config(tmp_path, ovalle_dir, ema_decay=decay))


def test_folds_trained_apart_then_resumed_equal_one_run_and_reevaluate_keeps_history(
    cli, tmp_path, ovalle_dir
):
    config = _ovalle_config(tmp_path, ovalle_dir, epochs=1, folds=2)
    together, apart = tmp_path / "together", tmp_path / "apart"
    assert cli("train", config, "--out", together, "--json").code == 0
    for fold in (2, 1):  # as two processes would, in any order
        trained = cli("train", config, "--out", apart, "--fold", fold)
        assert trained.code == 0 and f"trained fold(s) {fold}" in trained.out
        assert not (apart / "results.json").exists()
    assert (apart / "fold_1" / "model.safetensors").is_file()
    assert cli("train", config, "--out", apart, "--resume", "--json").code == 0
    assert (apart / "predictions.csv").read_text() == (together / "predictions.csv").read_text()

    before = json.loads((apart / "results.json").read_text())
    (apart / "fold_1" / "checkpoint.pt").unlink()  # re-evaluating must not need (or use) checkpoints
    assert cli("train", config, "--out", apart, "--reevaluate", "--json").code == 0
    after = json.loads((apart / "results.json").read_text())
    assert [fold["history"] for fold in after["folds"]] == [fold["history"] for fold in before["folds"]]
    assert after["summary"]["auc"] == before["summary"]["auc"]

    outside = cli("train", config, "--out", apart, "--fold", 3)
    assert outside.code != 0 and "fold 3 does not exist" in outside.err and outside.err.count("\n") == 1
    (apart / "fold_2" / "model.safetensors").unlink()
    missing = cli("train", config, "--out", apart, "--reevaluate")
    assert missing.code != 0 and "no " in missing.err and "re-evaluate" in missing.err


def _arcade_subset(arcade_dir: Path, target: Path, count: int = 20) -> Path:
    """A COCO folder of the first ``count`` ARCADE train frames (images linked, not copied)."""
    data = json.loads((arcade_dir / "train" / "annotations" / "train.json").read_text())
    images = sorted(data["images"], key=lambda item: item["id"])[:count]
    keep = {item["id"] for item in images}
    (target / "images").mkdir(parents=True)
    (target / "annotations").mkdir()
    for item in images:
        (target / "images" / item["file_name"]).symlink_to(
            arcade_dir / "train" / "images" / item["file_name"]
        )
    subset = data | {
        "images": images,
        "annotations": [a for a in data["annotations"] if a["image_id"] in keep],
    }
    (target / "annotations" / "subset.json").write_text(json.dumps(subset))
    return target


def test_cv_and_evaluate_on_an_arcade_subset(cli, tmp_path, arcade_dir):
    subset = _arcade_subset(arcade_dir, tmp_path / "arcade")
    config = {
        "seed": 1,
        "folds": 2,
        "epochs": 1,
        "batch_size": 16,
        "bootstrap": 50,
        "device": "cpu",
        "model": TINY_MODEL | {"kwargs": TINY_MODEL["kwargs"] | {"heatmap_head": True, "heatmap_chans": 8}},
        "data": {
            "path": str(subset),
            "format": "coco",
            "samples": "regions",
            "input_size": 256,
            "regions": {"size": 48, "negatives_per_frame": 2},
        },
        "heatmap": {"batch_size": 4, "test_scales": [1.0, 1.25], "test_flip": True},
    }
    (tmp_path / "arcade.yaml").write_text(yaml.safe_dump(config))
    result = cli("train", tmp_path / "arcade.yaml", "--out", tmp_path / "run", "--json")
    assert result.code == 0, result.err
    summary = result.json()["summary"]
    assert {"localisation_heatmap", "localisation_gradcam"} <= set(summary)
    before = json.loads((tmp_path / "run" / "results.json").read_text())
    fold = before["folds"][0]
    assert fold["dataset"]["kind"] == "region"
    assert set(fold["localisation"]) == {"heatmap", "gradcam"}

    # the third stage: each fold model gets a ranker of the other fold's peaks, the ensemble one of both's
    from stenoscope.models import load_model

    # rankers on the frame prepared at twice the model's input size (the option's whole path; default 1)
    ranked = cli(
        "train-ranker", tmp_path / "run", "--epochs", "1", "--window", "64", "--scale", "2", "--json"
    )
    assert ranked.code == 0, ranked.err
    record = ranked.json()
    assert record["peaks"] >= 64 and 0 < record["hit_share"] < 1
    after = json.loads((tmp_path / "run" / "results.json").read_text())
    assert after["peak_ranker"] == record
    assert [f["history"] for f in after["folds"]] == [f["history"] for f in before["folds"]]
    fold_ranker = load_model(tmp_path / "run" / "fold_1" / "model.safetensors").peak_ranker
    assert (fold_ranker.window, fold_ranker.scale) == (64, 2) == (record["window"], record["scale"])
    ensemble = load_model(tmp_path / "run" / "ensemble.safetensors")
    assert ensemble.peak_ranker is not None
    assert not any(hasattr(member, "peak_ranker") for member in ensemble.members)
    # measuring the fold models again keeps the ensemble's ranker and its record
    again = cli("train", tmp_path / "arcade.yaml", "--out", tmp_path / "run", "--reevaluate", "--json")
    assert again.code == 0, again.err
    assert json.loads((tmp_path / "run" / "results.json").read_text())["peak_ranker"] == record
    kept = load_model(tmp_path / "run" / "ensemble.safetensors").state_dict()
    assert kept.keys() == ensemble.state_dict().keys()
    assert all(torch.equal(kept[key], value) for key, value in ensemble.state_dict().items())

    evaluated = cli(
        "evaluate", tmp_path / "run" / "ensemble.safetensors", subset, "--json", "--bootstrap", "50"
    )
    assert evaluated.code == 0, evaluated.err
    report = evaluated.json()
    assert report["dataset"]["samples"] == 20 and report["dataset"]["boxes"] > 0
    for source in ("heatmap", "gradcam"):
        local = report["localisation"][source]
        assert 0.0 <= local["pointing_game"] <= local["pointing_game_top3"] <= 1.0
        assert local["sensitivity_at_0.5_fp"] <= local["sensitivity_at_1_fp"] <= local["sensitivity_at_2_fp"]
    table = cli("evaluate", tmp_path / "run" / "ensemble.safetensors", subset, "--bootstrap", "20")
    assert table.code == 0 and "heatmap: lesion among top 3 peaks" in table.out
    regions = cli(
        "evaluate",
        tmp_path / "run" / "ensemble.safetensors",
        subset,
        "--samples",
        "regions",
        "--json",
        "--bootstrap",
        "50",
    )
    assert regions.code == 0, regions.err
    assert regions.json()["metrics"]["auc"] is not None

    # published, the ensemble carries a crop threshold set on its training crops, which evaluate then uses
    from stenoscope.data import open_dataset
    from stenoscope.evaluate.evaluate import crops_as_trained
    from stenoscope.train.cv import decision_threshold
    from stenoscope.train.publish import publish_run

    card = {"model_name": "tiny", "model_version": "1", "title": "Tiny", "label": "L.", "data": {}}
    (tmp_path / "card.yaml").write_text(yaml.safe_dump(card | {"intended_use": "Tests."}))
    published = publish_run(
        tmp_path / "run", tmp_path / "card.yaml", tmp_path / "results", weights_folder=tmp_path / "weights"
    )
    shipped = load_model(published.weights)
    assert shipped.peak_ranker is not None  # the ranker ships with the ensemble
    assert json.loads((tmp_path / "results" / "model.json").read_text())["peak_ranker"]["window"] == 64
    # the configured heat-map views travel from the fold models to the ensemble and the published file
    views = {"scales": [1.0, 1.25], "flip": True}
    assert load_model(tmp_path / "run" / "fold_1" / "model.safetensors").heatmap_views.to_dict() == views
    assert shipped.heatmap_views.to_dict() == views
    assert json.loads((tmp_path / "results" / "model.json").read_text())["heatmap_views"] == views
    training = shipped.checkpoint_metadata["training"]
    crops = crops_as_trained(open_dataset(subset, "coco"), training, training["regions"]["seed"])
    expected = decision_threshold(shipped, training, crops, torch.device("cpu"))
    assert expected != 0.5 and shipped.checkpoint_metadata["region_threshold"] == pytest.approx(expected)
    called = cli("evaluate", published.weights, subset, "--samples", "regions", "--json", "--bootstrap", "20")
    assert called.json()["metrics"]["threshold"] == pytest.approx(expected)


def test_train_extra_joins_every_training_side_and_never_validation(tmp_path, arcade_dir, ovalle_dir, cli):
    from stenoscope.train.cv import load_training_data

    subset = _arcade_subset(arcade_dir, tmp_path / "arcade", count=12)
    config = {
        "seed": 0,
        "folds": 2,
        "epochs": 1,
        "batch_size": 4,
        "bootstrap": 20,
        "device": "cpu",
        "model": TINY_MODEL | {"kwargs": TINY_MODEL["kwargs"] | {"heatmap_head": True, "heatmap_chans": 8}},
        "data": {
            "path": str(subset),
            "format": "coco",
            "input_size": 128,
            "train_extra": [{"format": "synthetic", "options": {"n": 6, "size": 96}}],
        },
    }
    (tmp_path / "extra.yaml").write_text(yaml.safe_dump(config))
    data = load_training_data(load_config(tmp_path / "extra.yaml"))
    assert len(data.base) == 12 and len(data.extra_base) == 6
    base, samples = data.training_side(np.arange(5))
    assert len(base) == len(samples) == 11
    assert base[0].image.shape == (512, 512) and base[10].image.shape == (96, 96)  # each by its own reader
    assert base[10].source.startswith("synthetic:")

    result = cli("train", tmp_path / "extra.yaml", "--out", tmp_path / "run", "--json")
    assert result.code == 0, result.err
    run = json.loads((tmp_path / "run" / "results.json").read_text())
    assert run["data"]["train_extra"]["base"]["samples"] == 6
    for fold in run["folds"]:
        assert fold["n_train"] + fold["n_val"] == 12 + 6
        assert fold["dataset"]["samples"] == fold["n_val"]  # validated on ARCADE frames only
    (tmp_path / "bad.yaml").write_text(
        yaml.safe_dump(config | {"data": config["data"] | {"train_extra": [{"path": "x"}]}})
    )
    bad = cli("train", tmp_path / "bad.yaml")
    assert bad.code != 0 and "train_extra" in bad.err and bad.err.count("\n") == 1
    patches = {"format": "imagefolder", "path": str(ovalle_dir)}
    (tmp_path / "bad.yaml").write_text(
        yaml.safe_dump(config | {"data": config["data"] | {"train_extra": [patches]}})
    )
    mixed = cli("train", tmp_path / "bad.yaml")
    assert mixed.code != 0 and "region samples where the data has frame samples" in mixed.err


def _paper_run_config(
    tmp_path: Path, clips_per_class: int, frame_shape: tuple[int, int, int], model: dict, input_size: int
):
    """Noise clips in the paper's layout (``clips/N``, ``clips/A``) and a 2-fold, 1-epoch paper-recipe
    config over them."""
    rng = np.random.default_rng(0)
    for folder in ("N", "A"):
        (tmp_path / "clips" / folder).mkdir(parents=True)
        for index in range(clips_per_class):
            frames = rng.integers(0, 255, size=frame_shape, dtype=np.uint8)
            np.save(tmp_path / "clips" / folder / f"clip{index}.npy", frames)
    return config_from_dict(
        {
            "out": str(tmp_path / "run"),
            "recipe": "paper",
            "folds": 2,
            "epochs": 1,
            "bootstrap": 20,
            "device": "cpu",
            "model": model,
            "data": {"path": str(tmp_path / "clips"), "format": "paper", "input_size": input_size},
        }
    )


def test_paper_recipe_on_the_paper_layout_stores_the_mean_image(tmp_path):
    from stenoscope.models import load_model
    from stenoscope.train.recipes import decode_image

    config = _paper_run_config(tmp_path, 3, (10, 48, 48), TINY_MODEL, input_size=64)
    result = cross_validate(config, show_progress=False)
    fold = result.folds[0]
    assert fold["clip"]["n_clips"] == 3 and fold["dataset"]["samples"] == 15
    assert set(result.summary) >= {"auc", "clip_accuracy_vote", "clip_accuracy_mean"}
    model = load_model(tmp_path / "run" / "fold_1" / "model.safetensors")
    training = model.checkpoint_metadata["training"]
    assert training["recipe"]["name"] == "paper" and training["input_size"] == 64
    mean_image = decode_image(training["mean_image"])
    assert mean_image.shape == (64, 64)
    assert abs(float(mean_image.mean()) - 127 / 255) < 0.02  # uniform noise frames average to mid-grey


def test_the_paper_model_trains_with_the_paper_recipe_and_analyzes_a_clip(tmp_path):
    """Inception-v3 + attention end to end: paper layout, paper recipe (mean image, crops), CV, analyze.
    Runs only where torchvision imports (``pip install stenoscope[paper]``)."""
    from stenoscope.errors import ModelError
    from stenoscope.models import create_model
    from stenoscope.report import analyze

    try:
        create_model("paper")
    except ModelError as error:
        pytest.skip(f"the paper model cannot be built here: {error}")
    config = _paper_run_config(tmp_path, 2, (8, 96, 96), {"name": "paper"}, input_size=96)
    result = cross_validate(config, show_progress=False)
    assert len(result.folds) == 2 and 0.0 <= result.summary["auc"]["mean"] <= 1.0
    report = analyze(
        tmp_path / "clips" / "A" / "clip0.npy", model=tmp_path / "run" / "fold_1" / "model.safetensors"
    )
    assert report.heatmaps["source"] == "Grad-CAM" and report.heatmaps["model_input"] == [96, 96]
    assert len(report.frames) == 5 and report.frames[0].heatmap.shape == (96, 96)


def _frozen_two_fold_config(tmp_path, init: str) -> None:
    """``run.yaml``: two folds, one epoch at learning rate 0 from ``init``: fold models keep its weights."""
    settings = {
        "out": str(tmp_path / "run"),
        "folds": 2,
        "epochs": 1,
        "lr": 0.0,
        "bootstrap": 20,
        "device": "cpu",
        "model": TINY_MODEL,
        "init": init,
        "data": {"format": "synthetic", "options": {"n": 12, "size": 64}},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(settings))


def test_init_starts_every_fold_from_given_weights_and_refuses_another_architecture(tmp_path, cli):
    """With a zero learning rate the fold models keep the init weights exactly (random ones would not)."""
    from stenoscope.models import create_model, load_model, save_model

    torch.manual_seed(5)
    start = create_model(TINY_MODEL["name"], **TINY_MODEL["kwargs"])
    init_file = save_model(start, tmp_path / "start.safetensors")
    _frozen_two_fold_config(tmp_path, "start.safetensors")
    assert load_config(tmp_path / "run.yaml").init == str(init_file.resolve())  # relative to the config
    cross_validate(load_config(tmp_path / "run.yaml"), show_progress=False)
    for fold in (1, 2):
        trained = load_model(tmp_path / "run" / f"fold_{fold}" / "model.safetensors")
        for name, value in start.named_parameters():
            torch.testing.assert_close(trained.get_parameter(name), value, msg=name)

    other = create_model("default", channels=[8, 8, 8, 8], depths=[1, 1, 1, 1], stem_chans=8)
    save_model(other, tmp_path / "other.safetensors")
    result = cli("train", str(tmp_path / "run.yaml"), "--init", str(tmp_path / "other.safetensors"))
    assert result.code == 2 and "init weights do not fit the configured model" in result.err
    assert result.err.count("\n") == 1


def test_a_model_with_a_neck_starts_from_a_file_without_one_and_answers_exactly_as_it(tmp_path):
    """The neck (classifier layers of its own) is absent from a stage-1 file and starts as the identity."""
    from stenoscope.models import create_model, save_model
    from stenoscope.train.cv import _load_initial_weights

    torch.manual_seed(7)
    start = create_model("default", **TINY_MODEL["kwargs"], heatmap_head=True, pool="max").eval()
    save_model(start, tmp_path / "start.safetensors")
    necked = create_model("default", **TINY_MODEL["kwargs"], heatmap_head=True, pool="max", neck_chans=8)
    _load_initial_weights(necked, str(tmp_path / "start.safetensors"))
    frames = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(necked.eval().frame_probability(frames), start.frame_probability(frames))
    # the neck trains: one step moves its weights and so the classifier's answers
    optimizer = torch.optim.SGD(necked.neck.parameters(), lr=0.5)
    necked.train()
    nn.functional.cross_entropy(necked(frames), torch.tensor([0, 1])).backward()
    optimizer.step()
    with torch.no_grad():
        assert not torch.allclose(necked.eval().forward(frames), start.forward(frames))
    # a file with a neck does not fit a model without one
    save_model(necked, tmp_path / "necked.safetensors")
    with pytest.raises(ModelError, match="init weights do not fit"):
        _load_initial_weights(start, str(tmp_path / "necked.safetensors"))


def test_init_with_a_fold_placeholder_starts_each_fold_from_its_own_file(tmp_path):
    """A staged CV: fold k starts from ``stage1/fold_k``, never from weights trained on its val frames."""
    from stenoscope.models import create_model, load_model, save_model

    starts = {}
    for fold in (1, 2):
        torch.manual_seed(10 + fold)
        starts[fold] = create_model(TINY_MODEL["name"], **TINY_MODEL["kwargs"])
        save_model(starts[fold], tmp_path / "stage1" / f"fold_{fold}" / "model.safetensors")
    _frozen_two_fold_config(tmp_path, "stage1/fold_{fold}/model.safetensors")
    cross_validate(load_config(tmp_path / "run.yaml"), show_progress=False)
    for fold in (1, 2):
        trained = load_model(tmp_path / "run" / f"fold_{fold}" / "model.safetensors")
        for name, value in starts[fold].named_parameters():
            torch.testing.assert_close(trained.get_parameter(name), value, msg=name)
    # the two start files differ, so a fold that took the other fold's file would fail above
    assert any(
        not torch.equal(a, b) for a, b in zip(starts[1].parameters(), starts[2].parameters(), strict=True)
    )


def test_decision_threshold_is_set_on_training_samples_with_both_classes(tmp_path, ovalle_dir):
    from stenoscope.data import open_dataset
    from stenoscope.models import create_model
    from stenoscope.train.cv import MIN_CLASS_SAMPLES, decision_threshold
    from stenoscope.train.loop import predict
    from stenoscope.train.recipes import inference_pipeline

    patches = open_dataset(ovalle_dir, "imagefolder")
    torch.manual_seed(0)
    model = create_model("default", **TINY_MODEL["kwargs"]).eval()
    training = {"kind": patches.kind, "recipe": {"name": "default"}}
    device = torch.device("cpu")
    probabilities = predict(
        model, patches, inference_pipeline(training, model.preprocess.mean, patches.kind), device
    )
    assert decision_threshold(model, training, patches, device) == balanced_threshold(
        patches.labels, probabilities
    )
    positives = [index for index, label in enumerate(patches.labels) if label == 1]
    negatives = [index for index, label in enumerate(patches.labels) if label == 0]
    too_few = patches.subset(positives + negatives[: MIN_CLASS_SAMPLES - 1])
    assert decision_threshold(model, training, too_few, device) == 0.5


def test_evaluate_calls_region_crops_at_the_models_region_threshold(tmp_path, arcade_dir):
    from stenoscope.evaluate import evaluate_path
    from stenoscope.models import create_model, save_model

    subset = _arcade_subset(arcade_dir, tmp_path / "arcade", count=4)
    model = create_model("default", **TINY_MODEL["kwargs"])
    training = {
        "kind": "region",
        "recipe": {"name": "default"},
        "input_size": 48,
        "regions": {"size": 48, "negatives_per_frame": 2},
    }
    results = {}
    for name, metadata in {"plain": {}, "zero": {"region_threshold": 0.0, "threshold": 1.0}}.items():
        path = save_model(model, tmp_path / f"{name}.safetensors", training=training, **metadata)
        results[name] = evaluate_path(path, subset, format="coco", samples="regions", n_boot=10)
    assert results["plain"].metrics["threshold"] == 0.5
    # the whole-frame threshold (1.0) is not used for crops: at 0.0 every crop is called stenotic
    assert results["zero"].metrics["threshold"] == 0.0 and results["zero"].metrics["specificity"] == 0.0


def test_evaluate_calls_whole_frames_at_the_models_own_threshold(tmp_path, arcade_dir):
    from stenoscope.evaluate import evaluate_path
    from stenoscope.models import create_model, save_model

    subset = _arcade_subset(arcade_dir, tmp_path / "arcade", count=4)
    model = create_model("default", **TINY_MODEL["kwargs"])
    results = {}
    for name, metadata in {"plain": {}, "zero": {"threshold": 0.0}}.items():
        path = save_model(model, tmp_path / f"{name}.safetensors", **metadata)
        results[name] = evaluate_path(path, subset, format="coco", n_boot=10)
    assert results["plain"].metrics["threshold"] == 0.5
    # every probability is >= 0: all four frames (each with a lesion) are called stenotic
    assert results["zero"].metrics["threshold"] == 0.0 and results["zero"].metrics["sensitivity"] == 1.0
    assert results["zero"].probabilities == results["plain"].probabilities


def test_key_frame_samples_are_the_frames_analyze_reports_on_in_any_entry_order(danilov_dir):
    from stenoscope.data import open_dataset
    from stenoscope.evaluate.evaluate import key_frame_samples
    from stenoscope.keyframes import detect_key_frames

    frames = open_dataset(danilov_dir, "voc")
    run = [i for i, group in enumerate(frames.groups) if group == "14_088_2"]
    analysed = detect_key_frames(danilov_dir / "14_088_2")  # the folder read as `stenoscope analyze` reads it
    files = sorted(path.name for path in (danilov_dir / "14_088_2").glob("*.png"))
    expected = [files[i] for i in analysed.key_frames]
    for order in (run, run[::-1]):
        chosen, record = key_frame_samples(frames.subset(order))
        assert record == {"method": "default", "count": 5, "groups": {"14_088_2": expected}}
        assert [Path(entry.source).name for entry in chosen.entries] == expected
        assert all(len(entry.boxes) == 1 for entry in chosen.entries)  # each keeps its lesion box


def test_key_frame_samples_refuse_groups_that_are_not_cine_runs():
    from stenoscope.data._base import Entry, SampleDataset
    from stenoscope.evaluate.evaluate import key_frame_samples

    def frames(*shapes: tuple[int, int], group: str = "run") -> SampleDataset:
        entries = [
            Entry(f"{i}.png", 1, group, image=np.zeros(shape, np.float32)) for i, shape in enumerate(shapes)
        ]
        return SampleDataset(entries)

    with pytest.raises(StenoscopeError, match="group 'run' has 5 frame"):
        key_frame_samples(frames(*[(8, 8)] * 5))
    with pytest.raises(StenoscopeError, match="different sizes"):
        key_frame_samples(frames(*[(8, 8)] * 5, (8, 9)))
    crops = frames(*[(8, 8)] * 6)
    crops.kind = "region"
    with pytest.raises(StenoscopeError, match="whole frames"):
        key_frame_samples(crops)


def test_evaluate_names_the_sample_choices_on_an_unknown_one(tmp_path, danilov_dir):
    from stenoscope.evaluate import evaluate_path
    from stenoscope.models import create_model, save_model

    path = save_model(create_model("default", **TINY_MODEL["kwargs"]), tmp_path / "tiny.safetensors")
    with pytest.raises(StenoscopeError, match="'frames', 'regions' or 'keyframes', got 'clips'"):
        evaluate_path(path, danilov_dir, format="voc", samples="clips")


def test_train_ranker_needs_a_finished_cross_validated_run(cli, tmp_path):
    missing = cli("train-ranker", tmp_path / "nowhere")
    assert missing.code == 2 and "not a finished training run" in missing.err
    assert missing.err.count("\n") == 1
    held_out = tmp_path / "held-out"
    held_out.mkdir()
    results = {"config": {"holdout": "val", "model": TINY_MODEL}, "folds": [{"fold": 1}]}
    (held_out / "results.json").write_text(json.dumps(results))
    refused = cli("train-ranker", held_out)
    assert refused.code == 2 and "needs a cross-validated run" in refused.err
    assert refused.err.count("\n") == 1
    too_small = cli("train-ranker", held_out, "--window", "24", "--scale", "2")
    assert too_small.code == 2 and "window must be an even number of pixels >= 32, got 24" in too_small.err
    assert too_small.err.count("\n") == 1
    no_grid = cli("train-ranker", held_out, "--scale", "0")  # 0 is no default: refused, before any work
    assert no_grid.code == 2 and "scale must be a whole number >= 1, got 0" in no_grid.err
    no_epochs = cli("train-ranker", held_out, "--epochs", "0")
    assert no_epochs.code == 2 and "at least 1 epoch, got 0" in no_epochs.err


@pytest.mark.parametrize(
    ("heatmap_head", "message"), [(False, "no heat-map head"), (True, "frames with boxes")]
)
def test_train_ranker_needs_a_heat_map_head_and_frames_with_boxes(
    cli, tmp_path, ovalle_dir, heatmap_head, message
):
    from stenoscope.models import create_model, save_model

    config = load_config(_ovalle_config(tmp_path, ovalle_dir))
    run = tmp_path / "run"
    for fold in (1, 2):
        (run / f"fold_{fold}").mkdir(parents=True)
        model = create_model("default", heatmap_head=heatmap_head, **TINY_MODEL["kwargs"])
        save_model(model, run / f"fold_{fold}" / "model.safetensors")
    results = {"config": config.to_json(), "folds": [{"fold": 1}, {"fold": 2}]}
    (run / "results.json").write_text(json.dumps(results))
    refused = cli("train-ranker", run)
    assert refused.code == 2 and message in refused.err and refused.err.count("\n") == 1
