"""Metrics against hand-computed values and sklearn; bootstrap CIs; localisation on constructed cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from stenoscope.evaluate.metrics import (
    accuracy,
    annotation_agreement,
    auc,
    balanced_threshold,
    bootstrap_ci,
    classification_metrics,
    clip_accuracy,
    froc_curve,
    lesion_sensitivity,
    mean_sd,
    pointing_game,
    roc_curve_png,
    sensitivity,
    specificity,
)

LABELS = np.array([0, 0, 0, 1, 1, 1, 1])
PROBS = np.array([0.1, 0.6, 0.3, 0.4, 0.7, 0.9, 0.5])


def test_classification_metrics_by_hand():
    # predictions at 0.5: 0 1 0 | 0 1 1 1 -> TN 2, FP 1, FN 1, TP 3
    assert accuracy(LABELS, PROBS) == pytest.approx(5 / 7)
    assert sensitivity(LABELS, PROBS) == pytest.approx(3 / 4)
    assert specificity(LABELS, PROBS) == pytest.approx(2 / 3)
    assert auc(LABELS, PROBS) == pytest.approx(roc_auc_score(LABELS, PROBS))
    # AUC by hand: pairs (pos > neg) = 0.4>{0.1,0.3}, 0.7,0.9 > all, 0.5>{0.1,0.3} -> 10 of 12
    assert auc(LABELS, PROBS) == pytest.approx(10 / 12)
    result = classification_metrics(LABELS, PROBS)
    assert result["n"] == 7 and result["n_positive"] == 4 and result["threshold"] == 0.5
    # at 0.35: 0 1 0 | 1 1 1 1 -> TN 2, FP 1, FN 0, TP 4
    lower = classification_metrics(LABELS, PROBS, threshold=0.35)
    assert lower["sensitivity"] == 1.0 and lower["accuracy"] == pytest.approx(6 / 7)
    assert lower["auc"] == result["auc"] and lower["threshold"] == 0.35
    assert auc([1, 1], [0.2, 0.9]) is None
    assert specificity([1, 1], [0.2, 0.9]) is None


def test_balanced_threshold_takes_the_point_of_most_sensitivity_plus_specificity():
    # at 0.4: every lesion called and 1 of 3 normals (J = 2/3); at 0.7: half the lesions, no normal (J = 1/2)
    assert balanced_threshold(LABELS, PROBS) == pytest.approx(0.4)
    at_it = classification_metrics(LABELS, PROBS, balanced_threshold(LABELS, PROBS))
    assert at_it["sensitivity"] == 1.0 and at_it["specificity"] == pytest.approx(2 / 3)
    # scores all below 0.5 still separate the classes: the threshold follows the model's own scale
    assert balanced_threshold([0, 0, 1, 1], [0.05, 0.1, 0.2, 0.3]) == pytest.approx(0.2)
    assert balanced_threshold([1, 1, 1], [0.2, 0.5, 0.9]) is None


def test_bootstrap_ci_contains_the_estimate_and_is_repeatable():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    probs = np.clip(labels * 0.3 + rng.random(200) * 0.7, 0, 1)
    estimate = auc(labels, probs)
    low, high = bootstrap_ci(auc, labels, probs, n_resamples=300, seed=1)
    assert low < estimate < high
    assert high - low < 0.2
    assert bootstrap_ci(auc, labels, probs, n_resamples=300, seed=1) == (low, high)
    grouped = bootstrap_ci(
        auc, labels, probs, n_resamples=300, seed=1, groups=[str(i // 10) for i in range(200)]
    )
    assert grouped[0] < estimate < grouped[1]
    assert bootstrap_ci(auc, [1, 1, 1], [0.1, 0.2, 0.3], n_resamples=50) is None


def test_clip_majority_vote_and_mean_probability():
    labels = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    probs = [0.9, 0.8, 0.7, 0.1, 0.1, 0.6, 0.6, 0.6, 0.1, 0.0]
    groups = ["a"] * 5 + ["b"] * 5
    # a: 3 of 5 frames positive -> positive (right); mean 0.52 -> positive (right)
    # b: 3 of 5 positive -> positive (wrong); mean 0.38 -> negative (right)
    assert clip_accuracy(labels, probs, groups, "vote") == pytest.approx(0.5)
    assert clip_accuracy(labels, probs, groups, "mean") == pytest.approx(1.0)
    # frames called at 0.65: a has 3 of 5 (positive, right), b none (negative, right)
    assert clip_accuracy(labels, probs, groups, "vote", threshold=0.65) == pytest.approx(1.0)
    # mean at 0.6: a 0.52 -> negative (wrong), b 0.38 -> negative (right)
    assert clip_accuracy(labels, probs, groups, "mean", threshold=0.6) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="rule"):
        clip_accuracy(labels, probs, groups, "max")


BOXES = [
    np.array([[10, 10, 20, 20]]),  # image 0: one lesion
    np.array([[100, 100, 10, 10], [0, 0, 5, 5]]),  # image 1: two lesions
    np.zeros((0, 4)),  # image 2: none
]


def test_pointing_game_with_the_8px_margin():
    peaks = [
        [(35.0, 20.0, 0.9), (20.0, 20.0, 0.5)],  # top peak 5 px right of the box: a hit within 8 px
        [(50.0, 50.0, 0.8), (105.0, 105.0, 0.7)],  # top peak misses
        [(1.0, 1.0, 0.9)],  # no boxes: not counted
    ]
    assert pointing_game(peaks, BOXES) == pytest.approx(0.5)
    assert pointing_game(peaks, BOXES, margin=0) == pytest.approx(0.0)
    assert pointing_game([[], [], []], BOXES) == pytest.approx(0.0)
    # among the 2 strongest peaks both images hit: their second peaks lie inside the boxes themselves
    assert pointing_game(peaks, BOXES, top=2) == pytest.approx(1.0)
    assert pointing_game(peaks, BOXES, margin=0, top=2) == pytest.approx(1.0)
    unsorted = [[(105.0, 105.0, 0.1), (50.0, 50.0, 0.8), (60.0, 60.0, 0.7)]]  # the hit is the weakest of 3
    assert pointing_game(unsorted, BOXES[1:2], top=2) == 0.0
    assert pointing_game(unsorted, BOXES[1:2], top=3) == 1.0


def test_lesion_sensitivity_at_false_positives_per_image():
    # 3 images, 3 lesions. Sorted by score:
    # 0.9 img0 hit (1/3, fp 0) | 0.8 img2 FP (fp 1/3) | 0.7 img1 hit (2/3) | 0.6 img0 same lesion (ignored)
    # 0.5 img1 FP (fp 2/3) | 0.4 img2 FP (fp 1) | 0.3 img1 FP (fp 4/3) | 0.2 img1 hit (3/3, fp 4/3)
    peaks = [
        [(15.0, 15.0, 0.9), (20.0, 20.0, 0.6)],
        [(105.0, 105.0, 0.7), (60.0, 60.0, 0.5), (70.0, 70.0, 0.3), (2.0, 2.0, 0.2)],
        [(200.0, 200.0, 0.8), (50.0, 50.0, 0.4)],
    ]
    result = lesion_sensitivity(peaks, BOXES)
    assert result["0.5"] == pytest.approx(2 / 3)
    assert result["1"] == pytest.approx(2 / 3)
    assert result["2"] == pytest.approx(1.0)
    fp_rate, sens = froc_curve(peaks, BOXES)
    assert fp_rate[-1] == pytest.approx(4 / 3) and sens[-1] == pytest.approx(1.0)
    assert np.all(np.diff(fp_rate) >= 0) and np.all(np.diff(sens) >= 0)
    assert lesion_sensitivity([[], []], [np.zeros((0, 4)), np.zeros((0, 4))])["1"] is None


def test_tied_scores_enter_together():
    boxes = [np.array([[0, 0, 10, 10]])]
    peaks = [[(5.0, 5.0, 0.5), (50.0, 50.0, 0.5)]]  # a hit and a FP at the same score
    assert lesion_sensitivity(peaks, boxes, fp_rates=(0.5,))["0.5"] == pytest.approx(0.0)


def test_roc_png_and_mean_sd(tmp_path):
    path = roc_curve_png([("fold 1", LABELS, PROBS), ("one class", [1, 1], [0.1, 0.2])], tmp_path / "roc.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = mean_sd([1.0, 3.0, None])
    assert summary["mean"] == 2.0 and summary["sd"] == pytest.approx(np.sqrt(2))
    # t(0.975, 1) = 12.706: two folds say almost nothing about the mean
    assert summary["ci95"] == pytest.approx([2.0 - 12.706, 2.0 + 12.706], abs=1e-3)
    assert mean_sd([0.5]) == {"mean": 0.5, "sd": 0.0}
    assert mean_sd([0.0, 0.02], bounds=(0.0, 1.0))["ci95"][0] == 0.0  # a rate's interval stops at 0
    assert mean_sd([None]) == {"mean": None, "sd": None}


def test_localisation_lists_each_run_when_frames_come_from_a_few_runs():
    from stenoscope.evaluate.evaluate import GROUPS_LISTED, LOCALISATION_METRICS, localisation_metrics

    box = np.array([[0.0, 0.0, 10.0, 10.0]])
    hit, miss = [(5.0, 5.0, 0.9)], [(60.0, 60.0, 0.9), (5.0, 5.0, 0.5)]
    peaks = [hit, hit, hit, miss, miss, [(5.0, 5.0, 0.95)]]
    groups = ["run_a", "run_a", "run_a", "run_b", "run_b", "run_b"]
    result = localisation_metrics(peaks, [box] * 6, n_boot=50, seed=0, groups=groups)
    # the numbers the measuring scripts read are those reported, each with its interval, and only those
    numbers = [key for key in result if isinstance(result[key], float) and f"{key}_ci95" in result]
    assert tuple(numbers) == LOCALISATION_METRICS
    assert result["pointing_game"] == pytest.approx(4 / 6)
    assert result["pointing_game_top3"] == 1.0  # each miss's second peak hits
    assert result["pointing_game_top3_ci95"] == [1.0, 1.0]
    run_a, run_b = result["by_group"]["run_a"], result["by_group"]["run_b"]
    assert run_b["pointing_game_top3"] == 1.0
    assert (run_a["n_images"], run_a["pointing_game"], run_a["sensitivity_at_1_fp"]) == (3, 1.0, 1.0)
    assert run_b["pointing_game"] == pytest.approx(1 / 3)
    # run b: its top hit first, then its two misses' wrong peaks (2/3 FP per frame), then their hits
    assert run_b["sensitivity_at_0.5_fp"] == pytest.approx(1 / 3)
    assert run_b["sensitivity_at_1_fp"] == pytest.approx(1.0)
    # one frame per group (ARCADE's near-duplicate sets are mostly single frames), or too many groups: no list
    assert "by_group" not in localisation_metrics(peaks, [box] * 6, 50, 0, groups=list("abcdef"))
    many = [f"run_{i}" for i in range(GROUPS_LISTED + 1) for _ in range(2)]
    assert "by_group" not in localisation_metrics([hit] * len(many), [box] * len(many), 50, 0, groups=many)
    assert "by_group" not in localisation_metrics(peaks, [box] * 6, 50, 0)


def test_annotation_agreement_scores_one_labelling_against_another():
    truth = np.array([[0, 0, 20, 20], [100, 100, 20, 20]], np.float64)
    # the same boxes listed in another order agree fully: the centres are unordered
    assert annotation_agreement([truth[::-1]], [truth]) == {
        "pointing_game": 1.0,
        "sensitivity": 1.0,
        "false_positives_per_frame": 0.0,
    }
    # one box kept, one box elsewhere: half the centres point at a lesion, half the lesions found, 1 FP
    copy = np.array([[2, 2, 16, 16], [300, 300, 20, 20]], np.float64)
    assert annotation_agreement([copy], [truth]) == {
        "pointing_game": 0.5,
        "sensitivity": 0.5,
        "false_positives_per_frame": 1.0,
    }
    # a frame left unannotated in the copy is a miss; one unannotated in the truth is not scored
    empty = np.zeros((0, 4))
    assert annotation_agreement([empty, truth], [truth, empty])["pointing_game"] == 0.0
    assert annotation_agreement([truth], [empty])["pointing_game"] is None
    # centres 8 px outside a box still hit it (the heat map's margin), 9 px do not
    near, far = np.array([[18, 18, 20, 20]]), np.array([[19, 19, 20, 20]])  # centres at 28 and 29
    assert annotation_agreement([near, far], [truth, truth])["pointing_game"] == 0.5
