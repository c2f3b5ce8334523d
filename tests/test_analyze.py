"""``stenoscope analyze`` and ``demo`` through the CLI, on real and synthetic inputs of every kind, in batches
with bad files among good ones, with --json and --workers. A tiny random model stands in for the shipped one.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

TINY = {"channels": (8, 16, 16, 16), "depths": (1, 1, 1, 1), "stem_chans": 8, "heatmap_chans": 8}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """An untrained tiny ``default`` model with a heat-map head (a stand-in for tests only)."""
    import torch

    from stenoscope.models import create_model, save_model

    torch.manual_seed(0)
    model = create_model("default", heatmap_head=True, **TINY)
    return save_model(model, tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture(scope="module")
def synthetic_mp4(tmp_path_factory) -> Path:
    from stenoscope.synth import synthesize

    run = synthesize(seed=3, n_frames=10, size=128)
    clip_path, _ = run.save(tmp_path_factory.mktemp("synth") / "synthetic.mp4")
    return Path(clip_path)


def single_png(folder: Path) -> Path:
    from stenoscope.synth import synthesize

    path = folder / "single.png"
    Image.fromarray(synthesize(seed=4, n_frames=1, size=128).clip.frames[0]).save(path)
    return path


def reports(out: Path, result) -> list[dict]:
    assert result.code == 0, result.err
    return [json.loads(line) for line in result.out.splitlines()]


def test_phantom_dicom(cli, phantom_dir, model_file, tmp_path):
    result = cli("analyze", phantom_dir / "IM1.dcm", "--model", model_file, "--out", tmp_path, "--json")
    (data,) = reports(tmp_path, result)
    assert data["schema"] == "stenoscope.report/1" and data["n_frames"] == 14
    assert data["frame_time_ms"] == pytest.approx(66.667, abs=0.01)
    assert data["input"].endswith("IM1.dcm") and (tmp_path / "IM1" / "report.html").is_file()


def test_vukicevic_cine_folder(cli, vukicevic_dir, model_file, tmp_path):
    folder = vukicevic_dir / "sample2_proj0"
    result = cli("analyze", folder, "--model", model_file, "--out", tmp_path, "--json", "--no-videos")
    (data,) = reports(tmp_path, result)
    assert data["name"] == "sample2_proj0" and data["n_frames"] == 37 and len(data["key_frames"]) == 5
    assert data["heatmaps"]["clip"] == "not computed"
    assert not (tmp_path / "sample2_proj0" / "clip.gif").exists()
    for frame in data["frames"]:  # coordinates in the input's pixels, whatever size the model saw
        for peak in frame["peaks"] + frame["gradcam"]["peaks"]:
            assert 0 <= peak["x"] < data["width"] and 0 <= peak["y"] < data["height"]


def test_synthetic_mp4_and_single_png(cli, synthetic_mp4, model_file, tmp_path):
    png = single_png(tmp_path)
    result = cli("analyze", synthetic_mp4, png, "--model", model_file, "--out", tmp_path / "out", "--json")
    video, image = reports(tmp_path, result)
    assert video["n_frames"] == 10 and (video["height"], video["width"]) == (128, 128)
    assert (image["n_frames"], image["key_frame"], image["key_frames"]) == (1, 0, [0])
    assert len(image["frames"]) == 1 and image["clip"]["n_votes"] == 1


def test_a_corrupt_file_fails_its_row_and_the_others_complete(cli, synthetic_mp4, model_file, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    single_png(inputs)
    (inputs / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00garbage")
    (inputs / "truncated.mp4").write_bytes(synthetic_mp4.read_bytes()[:300])
    result = cli("analyze", inputs, "--model", model_file, "--out", tmp_path / "out")
    assert result.code == 1
    errors = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and "broken.dcm" in errors[0] and "truncated.mp4" in errors[1]
    with (tmp_path / "out" / "summary.csv").open() as handle:
        rows = {row["name"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"single", "broken", "truncated"}
    assert rows["single"]["status"] == "ok" and rows["single"]["error"] == ""
    assert 0.0 <= float(rows["single"]["probability"]) <= 1.0 and rows["single"]["stenosis"] in {"yes", "no"}
    assert rows["broken"]["status"] == "failed" and "broken.dcm" in rows["broken"]["error"]
    assert (tmp_path / "out" / "single" / "report.json").is_file()
    assert not (tmp_path / "out" / "broken").exists()


def test_a_blank_clip_is_refused_with_one_line_by_analyze_keyframes_and_the_api(cli, model_file, tmp_path):
    import numpy as np

    import stenoscope
    from stenoscope.errors import InputError

    np.save(tmp_path / "blank.npy", np.full((6, 64, 64), 17, dtype=np.uint8))
    result = cli("analyze", tmp_path / "blank.npy", "--model", model_file, "--out", tmp_path / "out")
    errors = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert result.code == 1 and len(errors) == 1
    assert errors[0].endswith("blank.npy: blank: every pixel of every frame has the value 17")
    keyframes = cli("keyframes", tmp_path / "blank.npy")
    assert keyframes.code != 0 and "blank: every pixel of every frame has the value 17" in keyframes.err
    with pytest.raises(InputError, match="blank: every pixel"):
        stenoscope.analyze(stenoscope.Clip(np.zeros((3, 32, 32), dtype=np.uint8)), model=model_file)


def test_json_prints_one_report_per_line_and_a_rerun_overwrites(cli, synthetic_mp4, model_file, tmp_path):
    args = ("analyze", synthetic_mp4, single_png(tmp_path), "--model", model_file, "--out", tmp_path / "out")
    first = reports(tmp_path, cli(*args, "--json"))
    assert [data["name"] for data in first] == ["synthetic", "single"]
    saved = json.loads((tmp_path / "out" / "synthetic" / "report.json").read_text())
    assert saved["clip"] == first[0]["clip"] and saved["frames"] == first[0]["frames"]
    (tmp_path / "out" / "synthetic" / "leftover.tmp").write_text("x")
    second = cli(*args)
    assert second.code == 0 and "synthetic: " in second.out and "summary.csv" in second.out
    assert not (tmp_path / "out" / "synthetic" / "leftover.tmp").exists()
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "single",
        "summary.csv",
        "synthetic",
    ]


def test_workers_run_clips_in_parallel_processes(cli, synthetic_mp4, model_file, tmp_path):
    inputs = [synthetic_mp4, single_png(tmp_path)]
    result = cli(
        "analyze", *inputs, "--model", model_file, "--out", tmp_path / "out", "--workers", "2", "--json"
    )
    parallel = reports(tmp_path, result)
    assert [data["name"] for data in parallel] == ["synthetic", "single"]
    serial = reports(
        tmp_path, cli("analyze", *inputs, "--model", model_file, "--out", tmp_path / "serial", "--json")
    )
    for one, other in zip(parallel, serial, strict=True):
        assert one["clip"]["probability"] == pytest.approx(other["clip"]["probability"], abs=1e-3)


@pytest.mark.parametrize(
    "args, message",
    [
        (("--keyframes", "bogus"), "--keyframes must be one of"),
        (("--workers", "0"), "--workers must be at least 1"),
        (("--count", "0"), "--count must be at least 1"),
        (("--threads", "0"), "--threads must be at least 1"),
    ],
)
def test_usage_errors_exit_2(cli, synthetic_mp4, model_file, tmp_path, args, message):
    result = cli("analyze", synthetic_mp4, "--model", model_file, "--out", tmp_path, *args)
    assert result.code == 2 and message in result.err


def test_missing_input_or_model_exits_2(cli, synthetic_mp4, model_file, tmp_path):
    missing = cli("analyze", tmp_path / "nope.dcm", "--model", model_file, "--out", tmp_path)
    assert missing.code == 2 and "nope.dcm: no such file" in missing.err
    no_model = cli("analyze", synthetic_mp4, "--model", tmp_path / "nope.safetensors", "--out", tmp_path)
    assert no_model.code == 2 and "no such model file" in no_model.err


def test_demo_runs_end_to_end_with_a_given_model(tmp_path, model_file):
    from stenoscope.report.demo import DEMO_NAME, run_demo

    result = run_demo(tmp_path, model=model_file)
    truth = json.loads(result.truth_path.read_text())
    assert len(truth["stenoses"]) == 1
    assert result.html.is_file() and (result.report_dir / "clip.gif").is_file()
    assert result.report.n_frames == truth["n_frames"] and result.report.name == DEMO_NAME
    key = next(frame for frame in result.report.frames if frame.index == result.report.key_frame)
    assert result.lesion_peak_rank is None or 1 <= result.lesion_peak_rank <= len(key.peaks)


def test_demo_without_a_shipped_model_says_what_it_needs(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("STENOSCOPE_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    result = cli("demo", "--out", tmp_path / "demo")
    assert result.code == 2 and "the demo needs the shipped pretrained model" in result.err


def test_analyze_accepts_an_in_memory_clip(model_file):
    import stenoscope

    clip = stenoscope.synthesize(seed=5, n_frames=6, size=96).clip
    report = stenoscope.analyze(stenoscope.Clip(clip.frames), model=model_file, long_side=96)
    assert report.input == "<in-memory clip>" and report.to_json()["n_frames"] == 6


def test_analyze_reports_the_peaks_a_peak_ranker_rescored(model_file, monkeypatch):
    """Reports take their peaks from the model's own rule, ``lesion_peaks``: with a ranker that says 0.5
    for every window, the same places at half the height. A ranker of scale 2 judges the key frames
    themselves resized to twice the model's grid (not the model's input enlarged)."""
    import torch

    import stenoscope
    from stenoscope.models import PeakRanker, load_model
    from stenoscope.report.pipeline import to_model_input

    clip = stenoscope.synthesize(seed=5, n_frames=6, size=128).clip
    plain, ranked = load_model(model_file), load_model(model_file)
    ranked.peak_ranker = PeakRanker(scale=2).eval()
    with torch.no_grad():
        ranked.peak_ranker.head[-1].weight.zero_()
        ranked.peak_ranker.head[-1].bias.zero_()  # sigmoid(0) = 0.5
    seen, score = [], ranked.peak_ranker.score
    monkeypatch.setattr(
        ranked.peak_ranker, "score", lambda detail, points: seen.append(detail) or score(detail, points)
    )
    for model in (plain, ranked):  # the untrained head's map lies near 0.1: keep its halved peaks too
        model.checkpoint_metadata = {"peak_threshold": 0.02}
    options = {"long_side": 96, "clip_heatmaps": False}
    before, after = (stenoscope.analyze(clip, model=model, **options) for model in (plain, ranked))
    assert before.heatmaps["peak_score"] == "heat-map height (lesion-centre probability)"
    assert after.heatmaps["peak_score"] == "heat-map height x the peak ranker's lesion probability"
    before, halved = before.frames, after.frames
    for mine, theirs in zip(halved, before, strict=True):
        assert theirs.peaks and all(0 <= p.x < 128 and 0 <= p.y < 128 for p in theirs.peaks)
        assert [(p.x, p.y) for p in mine.peaks] == [(p.x, p.y) for p in theirs.peaks]
        assert [p.score for p in mine.peaks] == pytest.approx([0.5 * p.score for p in theirs.peaks], rel=1e-4)
    key_frames = clip.with_frames(clip.frames[[frame.index for frame in halved]]).as_float()
    expected = to_model_input(key_frames, ranked, (192, 192), normalise=False)[:, 0]
    assert len(seen) == len(halved)
    for detail, frame in zip(seen, expected, strict=True):
        torch.testing.assert_close(detail, frame)
