"""docs/training.md quotes measured numbers: each quoted here must still be what the committed result file
says, so a rebuild that changes a result fails until the prose is updated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "arcade"


@pytest.fixture(scope="module")
def training_doc() -> str:
    """The guide with its line breaks folded, so a quoted phrase may wrap anywhere."""
    return " ".join((ROOT / "docs" / "training.md").read_text(encoding="utf-8").split())


def _result(name: str) -> dict:
    return json.loads((RESULTS / name).read_text(encoding="utf-8"))


def _heatmap(evaluation: str) -> dict:
    """The lesion heat map's localisation in a committed ``stenoscope evaluate`` output folder."""
    return _result(f"{evaluation}/evaluation.json")["localisation"]["heatmap"]


def _by_run(heatmap: dict) -> str:
    """Each run's pointing game as the guide lists them: "a, b and c"."""
    *first, last = (f"{run['pointing_game']:.3f}" for run in heatmap["by_group"].values())
    return f"{', '.join(first)} and {last}"


def _with_ci(value: float, interval: list[float]) -> str:
    return f"{value:.3f} ({interval[0]:.3f}-{interval[1]:.3f})"


def test_label_agreement_as_measured(training_doc: str) -> None:
    found = _result("annotation_agreement.json")
    assert f"in {_with_ci(found['pointing_game'], found['ci95']['pointing_game'])} of frames" in training_doc
    assert (
        f"find {_with_ci(found['sensitivity'], found['ci95']['sensitivity'])} of its lesions" in training_doc
    )
    assert f"at {found['false_positives_per_frame']:.2f} false positives per frame" in training_doc


def test_held_out_fits_as_measured(training_doc: str) -> None:
    short, long = (_result(name)["folds"][0] for name in ("fit_holdout.json", "fit_holdout_56.json"))
    trained, held_out = long["training_frames"], long["validation_frames"]
    assert (
        f"{_with_ci(trained['pointing_game'], trained['pointing_game_ci95'])} of its own training frames "
        f"with a sensitivity at 1 FP per frame of {trained['sensitivity_at_1_fp']:.3f}"
    ) in training_doc
    assert (
        f"against {short['training_frames']['pointing_game']:.3f} and "
        f"{short['training_frames']['sensitivity_at_1_fp']:.3f} at 28 epochs"
    ) in training_doc
    assert (
        f"only from {short['validation_frames']['pointing_game']:.3f} to "
        f"{_with_ci(held_out['pointing_game'], held_out['pointing_game_ci95'])} and from "
        f"{short['validation_frames']['sensitivity_at_1_fp']:.3f} to {held_out['sensitivity_at_1_fp']:.3f}"
    ) in training_doc


@pytest.mark.parametrize("evaluation", ["danilov-keyframes", "danilov-keyframes-release6"])
def test_danilov_key_frames_as_measured(training_doc: str, evaluation: str) -> None:
    heatmap = _heatmap(evaluation)
    hits = round(heatmap["pointing_game"] * heatmap["n_images"])
    assert (
        f"in {hits} of {heatmap['n_images']} ({heatmap['pointing_game']:.3f}; by run {_by_run(heatmap)}), "
        f"sensitivity at 1 FP per frame {heatmap['sensitivity_at_1_fp']:.3f}"
    ) in training_doc


def test_shipped_procedure_held_out_as_measured(training_doc: str) -> None:
    heatmap = _heatmap("ensemble-gain/release6-cv-ensemble-of-5")
    assert f"lesion in {_with_ci(heatmap['pointing_game'], heatmap['pointing_game_ci95'])} of all 200" in (
        training_doc
    )
    assert f"{_with_ci(heatmap['sensitivity_at_1_fp'], heatmap['sensitivity_at_1_fp_ci95'])}, the fold" in (
        training_doc
    )


def test_longer_stage1_under_the_cv_as_measured(training_doc: str) -> None:
    from stenoscope.evaluate.metrics import mean_sd

    earlier, longer = (_result(name) for name in ("release6_training_stage1.json", "training_stage1.json"))
    ours = longer["summary"]["localisation_heatmap"]
    for key in ("pointing_game", "sensitivity_at_1_fp"):
        assert _with_ci(ours[key]["mean"], ours[key]["ci95"]) in training_doc
        assert f"against {earlier['summary']['localisation_heatmap'][key]['mean']:.3f}" in training_doc
        paired = mean_sd(
            [
                mine["localisation"]["heatmap"][key] - other["localisation"]["heatmap"][key]
                for mine, other in zip(longer["folds"], earlier["folds"], strict=True)
            ]
        )
        low, high = paired["ci95"]
        assert f"{paired['mean']:+.3f} ({low:+.3f} to {high:+.3f})" in training_doc
    auc, earlier_auc = (
        _result(name)["summary"]["auc"] for name in ("training.json", "release6_training.json")
    )
    assert (
        f"region AUC is {_with_ci(auc['mean'], auc['ci95'])} against {earlier_auc['mean']:.3f}"
        in training_doc
    )


def test_cv_fits_as_measured(training_doc: str) -> None:
    """Release 6's and the shipped fold models on their own training frames (the fit paragraph)."""
    earlier, shipped = (_result(name)["folds"] for name in ("release6_fit.json", "fit.json"))

    def on_training(folds: list[dict], key: str) -> list[float]:
        return [fold["training_frames"][key] for fold in folds]

    points, found = on_training(earlier, "pointing_game"), on_training(earlier, "sensitivity_at_1_fp")
    assert (
        f"in {sum(points) / len(points):.3f} of them on average ({min(points):.3f} to {max(points):.3f}) "
        f"with a sensitivity at 1 FP per frame of {sum(found) / len(found):.3f}"
    ) in training_doc
    points, found = on_training(shipped, "pointing_game"), on_training(shipped, "sensitivity_at_1_fp")
    assert (
        f"point at a lesion in {sum(points) / len(points):.3f} of their training frames ({min(points):.3f} "
        f"to {max(points):.3f}) with a sensitivity at 1 FP per frame of {sum(found) / len(found):.3f}"
    ) in training_doc


def test_release_7_external_test_as_measured(training_doc: str) -> None:
    """The longer stage 1's bullet: the shipped ensemble against release 6's on the Danilov runs."""
    ours, theirs = _heatmap("danilov-frames"), _heatmap("danilov-frames-release6")
    assert (
        f"in {ours['pointing_game']:.3f} of frames against release 6's {theirs['pointing_game']:.3f} (by run "
        f"{_by_run(ours)} against {_by_run(theirs)})"
    ) in training_doc
    ours, theirs = _heatmap("danilov-keyframes"), _heatmap("danilov-keyframes-release6")
    top3 = [round(found["pointing_game_top3"] * found["n_images"]) for found in (ours, theirs)]
    assert f"in {top3[0]} of those {ours['n_images']} key frames against {top3[1]}" in training_doc
    auc = [
        _result(f"{name}/evaluation.json")["metrics"]["auc"]
        for name in ("danilov-regions", "danilov-regions-release6")
    ]
    assert f"region AUC on the Danilov crops is {auc[0]:.3f} against {auc[1]:.3f}" in training_doc


def test_held_out_seeds_as_measured(training_doc: str) -> None:
    """Release 7's and release 6's held-out stage 1 with three seeds, alone and averaged, on ARCADE val."""

    def found(release: str, key: str) -> tuple[str, str]:
        seeds = [_heatmap(f"ensemble-gain/{release}-seed-{seed}")[key] for seed in range(3)]
        averaged = _heatmap(f"ensemble-gain/{release}-ensemble-of-3")[key]
        return f"{seeds[0]:.3f}, {seeds[1]:.3f} and {seeds[2]:.3f}", f"{averaged:.3f}"

    ours, theirs = found("release7", "pointing_game"), found("release6", "pointing_game")
    assert f"lesion in {ours[0]} of all 200 val frames (release 6's: {theirs[0]})" in training_doc
    found_ours, found_theirs = (
        found("release7", "sensitivity_at_1_fp"),
        found("release6", "sensitivity_at_1_fp"),
    )
    assert f"of {found_ours[0]} (release 6's: {found_theirs[0]})" in training_doc
    assert (
        f"the three averaged: {ours[1]} and {found_ours[1]} (release 6's: {theirs[1]} and {found_theirs[1]})"
        in training_doc
    )
