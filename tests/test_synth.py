"""Synthetic angiograms: determinism, ground truth that matches the pixels, and every output format."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stenoscope.errors import StenoscopeError
from stenoscope.synth import SyntheticTruth, contact_sheet, synthesize, synthesize_frame
from stenoscope.synth.anatomy import TEXT_REGION


def _central_darkness(frame: np.ndarray, x: float, y: float, radius: float) -> float:
    """How much darker than its surroundings the lumen is at (x, y): proportional to the chord through it."""
    rows, cols = np.mgrid[: frame.shape[0], : frame.shape[1]]
    distance = np.hypot(cols - x, rows - y)
    surroundings = np.percentile(frame[distance <= 4 * radius + 4], 75)
    return float(surroundings - frame[distance <= 1.5].astype(float).mean())


def test_same_seed_same_bytes_and_other_seed_other_bytes():
    first = synthesize(7, n_frames=6, size=128)
    again = synthesize(7, n_frames=6, size=128)
    other = synthesize(8, n_frames=6, size=128)
    assert first.clip.frames.tobytes() == again.clip.frames.tobytes()
    assert first.truth.to_json() == again.truth.to_json()
    assert first.clip.frames.tobytes() != other.clip.frames.tobytes()
    frame, boxes = synthesize_frame(7, stenosis=True, size=96)
    frame_again, boxes_again = synthesize_frame(7, stenosis=True, size=96)
    assert frame.tobytes() == frame_again.tobytes() and boxes == boxes_again


def test_clip_metadata():
    run = synthesize(3, n_frames=5, fps=12.5, size=128, tree="rca")
    clip = run.clip
    assert clip.frames.shape == (5, 128, 128) and clip.frames.dtype == np.uint8
    assert clip.bits_stored == 8 and clip.format == "synthetic" and clip.source == "synthetic:seed=3"
    assert clip.frame_time_ms == pytest.approx(80.0)
    assert clip.pixel_spacing_mm == pytest.approx((1.2, 1.2))
    assert clip.primary_angle is not None and clip.secondary_angle is not None
    assert run.truth.tree == "rca"
    assert synthesize(3, n_frames=2, size=128, tree="lca").truth.tree == "lca"


def test_truth_is_consistent_and_serialisable():
    run = synthesize(11, n_frames=24, size=256, n_stenoses=2)
    truth = run.truth
    assert len(truth.opacification) == 24
    assert truth.key_frame == int(np.argmax(truth.opacification))
    assert all(0.0 <= value <= 1.0 for value in truth.opacification)
    assert len(truth.stenoses) == 2
    for stenosis in truth.stenoses:
        assert 50.0 <= stenosis.degree <= 90.0 and stenosis.length_px > 0
        assert len(stenosis.boxes) == len(stenosis.centre) == 24
        for (x, y, w, h), (cx, cy) in zip(stenosis.boxes, stenosis.centre, strict=True):
            assert min(x, y) >= 0 and w > 0 and h > 0 and x + w <= 256 and y + h <= 256
            assert x <= cx <= x + w and y <= cy <= y + h
        # the lesion follows the heart: its box is not in the same place in every frame
        assert len({tuple(box) for box in stenosis.boxes}) > 1
    text = json.dumps(truth.to_json(), allow_nan=False)
    assert SyntheticTruth.from_json(json.loads(text)) == truth


def test_peak_filling_falls_early_middle_and_late_over_seeds():
    relative_peaks = [synthesize(seed, n_frames=30, size=64).truth.key_frame / 29 for seed in range(14)]
    assert min(relative_peaks) < 1 / 3 and max(relative_peaks) > 2 / 3
    assert any(1 / 3 <= peak <= 2 / 3 for peak in relative_peaks)


def test_contrast_rises_plateaus_and_washes_out():
    for seed in range(6):
        opacification = np.array(synthesize(seed, n_frames=45, size=64).truth.opacification)
        key = int(np.argmax(opacification))
        assert opacification[0] < 0.02, "the run starts before the contrast arrives"
        assert opacification.max() > 0.85
        assert np.all(np.diff(opacification[: key + 1]) >= -1e-3), "filling only increases up to the peak"
        assert np.count_nonzero(opacification > 0.8 * opacification.max()) >= 3, "a plateau, not a spike"
        if key < 25:
            assert opacification[-1] < 0.5 * opacification.max(), "contrast washes out"


def test_proximal_vessels_fill_before_distal_ones():
    run = synthesize(4, n_frames=40, size=256, n_stenoses=0, catheter=False, text=False)
    frames = run.clip.frames.astype(float)
    first_contrast = int(np.nonzero(np.array(run.truth.opacification) > 0.05)[0][0])
    filling = frames[0] - frames[first_contrast]  # darkening since the first frame
    full = frames[0] - frames[run.truth.key_frame]
    # early in the fill only part of the tree that is dark at the peak is dark already
    assert (filling > 25).sum() < 0.7 * (full > 25).sum()


def test_stenosis_narrows_the_lumen_by_about_its_degree():
    clean = synthesize(5, n_frames=10, size=512, n_stenoses=0)
    narrowed = synthesize(5, n_frames=10, size=512, n_stenoses=1)
    key = narrowed.truth.key_frame
    lesion = narrowed.truth.stenoses[0]
    x, y = lesion.centre[key]
    before = _central_darkness(clean.clip.frames[key], x, y, lesion.reference_radius_px)
    after = _central_darkness(narrowed.clip.frames[key], x, y, lesion.reference_radius_px)
    measured_degree = 100.0 * (1.0 - after / before)
    assert before > 40, "the reference lumen is clearly visible"
    assert abs(measured_degree - lesion.degree) < 20
    # nothing else changes: the two runs differ only inside the lesion's box
    difference = np.abs(clean.clip.frames[key].astype(int) - narrowed.clip.frames[key].astype(int))
    bx, by, bw, bh = lesion.boxes[key]
    outside = difference.copy()
    outside[by : by + bh, bx : bx + bw] = 0
    assert difference[by : by + bh, bx : bx + bw].sum() > 20 * outside.sum()


def test_clean_run_has_no_stenoses():
    run = synthesize(2, n_frames=4, size=128, n_stenoses=0)
    assert run.truth.stenoses == [] and run.truth.to_json()["stenoses"] == []


def test_catheter_is_visible_before_the_contrast():
    with_catheter = synthesize(9, n_frames=3, size=256, n_stenoses=0)
    without = synthesize(9, n_frames=3, size=256, n_stenoses=0, catheter=False)
    assert with_catheter.truth.opacification[0] == 0.0
    darker = without.clip.frames[0].astype(int) - with_catheter.clip.frames[0].astype(int)
    tube = darker > 20
    assert tube.sum() > 100, "a dark tube is visible without contrast"
    rows = np.nonzero(tube)[0]
    assert rows.min() < 0.3 * 256 and rows.max() - rows.min() > 30, "it comes down from the top (the aorta)"


def test_text_overlay_only_when_asked_and_only_in_its_corner():
    plain = synthesize(6, n_frames=2, size=256, n_stenoses=0, text=False).clip.frames[0].astype(int)
    annotated = synthesize(6, n_frames=2, size=256, n_stenoses=0, text=True).clip.frames[0].astype(int)
    x0, y0, x1, y1 = (round(v * 256) for v in TEXT_REGION)
    changed = annotated != plain
    assert changed[y0:y1, x0:x1].sum() > 200
    changed[y0:y1, x0:x1] = False
    assert not changed.any()
    assert (annotated - plain).max() > 60, "burned-in text is bright"


def test_single_frames_for_classifiers_differ_only_at_the_lesions():
    positive, boxes = synthesize_frame(21, stenosis=True, size=256)
    negative, no_boxes = synthesize_frame(21, stenosis=False, size=256)
    assert positive.shape == negative.shape == (256, 256) and positive.dtype == np.uint8
    assert no_boxes == [] and 1 <= len(boxes) <= 3
    changed = positive != negative
    assert changed.any()
    for x, y, w, h in boxes:
        assert min(x, y) >= 0 and x + w <= 256 and y + h <= 256
        changed[y : y + h, x : x + w] = False
    assert not changed.any()


def test_bad_parameters_are_user_errors():
    with pytest.raises(StenoscopeError, match="tree"):
        synthesize(1, tree="left")
    with pytest.raises(StenoscopeError, match="n_frames"):
        synthesize(1, n_frames=0)
    with pytest.raises(StenoscopeError, match="degrees"):
        synthesize_frame(1, True, stenosis_degrees=(80.0, 20.0))


def test_contact_sheet(tmp_path):
    from PIL import Image

    run = synthesize(1, n_frames=10, size=128)
    path = contact_sheet(
        run.clip, tmp_path / "sheet.png", n=6, columns=3, tile=64, boxes=[s.boxes for s in run.truth.stenoses]
    )
    with Image.open(path) as image:
        assert image.size == (3 * 68 + 4, 2 * 68 + 4)


def test_cli_synth_dicom_reads_back_with_frames_and_frame_time(cli, tmp_path):
    out = tmp_path / "run.dcm"
    result = cli("synth", "--out", out, "--seed", "3", "--frames", "12", "--fps", "12.5", "--size", "128")
    assert result.code == 0, result.err
    assert str(out) in result.out and "run.truth.json" in result.out
    info = cli("info", out, "--json")
    assert info.code == 0, info.err
    summary = info.json()
    assert summary["n_frames"] == 12 and summary["frame_time_ms"] == pytest.approx(80.0)
    assert summary["height"] == summary["width"] == 128 and summary["modality"] == "XA"
    truth = json.loads((tmp_path / "run.truth.json").read_text())
    assert truth["seed"] == 3 and len(truth["opacification"]) == 12 and len(truth["stenoses"]) == 1

    from stenoscope.io import read_clip

    expected = synthesize(3, n_frames=12, fps=12.5, size=128).clip.frames
    assert np.array_equal(read_clip(out).frames, expected), "DICOM keeps the exact pixels"


@pytest.mark.parametrize(("target", "options"), [("frames_dir", ["--format", "frames"]), ("run.mp4", [])])
def test_cli_synth_frames_and_mp4(cli, tmp_path, target, options):
    from stenoscope.io import read_clip

    out = tmp_path / target
    result = cli(
        "synth",
        "--out",
        out,
        "--seed",
        "4",
        "--frames",
        "8",
        "--size",
        "96",
        "--stenoses",
        "0",
        "--no-text",
        "--no-catheter",
        *options,
    )
    assert result.code == 0, result.err
    clip = read_clip(out)
    assert clip.n_frames == 8 and (clip.height, clip.width) == (96, 96)
    truth = SyntheticTruth.load(tmp_path / f"{out.stem}.truth.json")
    assert truth.stenoses == [] and truth.parameters["catheter"] is False


def test_cli_synth_bad_tree_is_one_line_exit_2(cli, tmp_path):
    result = cli("synth", "--out", tmp_path / "x.dcm", "--seed", "1", "--tree", "left")
    assert (
        result.code == 2
        and result.err.strip().startswith("error:")
        and len(result.err.strip().splitlines()) == 1
    )


def test_lesions_always_fit():
    for seed in range(40):
        _, boxes = synthesize_frame(seed, stenosis=True, size=128)
        assert 1 <= len(boxes) <= 3
    for seed in range(8):
        assert len(synthesize(seed, n_frames=1, size=128, n_stenoses=4).truth.stenoses) == 4
