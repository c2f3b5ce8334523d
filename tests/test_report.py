"""The report: analyze() on in-memory clips, the report.json schema, the files of a report folder, batch
discovery and the out-of-distribution check. A tiny random model keeps these fast; nothing here needs the
shipped weights.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

from stenoscope import Clip
from stenoscope.errors import ModelError, StenoscopeError

TINY = {"channels": (8, 16, 16, 16), "depths": (1, 1, 1, 1), "stem_chans": 8, "heatmap_chans": 8}


def tiny_model_file(folder: Path, heatmap_head: bool = True, **metadata) -> Path:
    """A small randomly initialised ``default`` model saved like a real checkpoint (untrained: tests only)."""
    import torch

    from stenoscope.models import create_model, save_model

    torch.manual_seed(0)
    model = create_model("default", heatmap_head=heatmap_head, **TINY)
    return save_model(model, folder / f"tiny-{'head' if heatmap_head else 'cam'}.safetensors", **metadata)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    return tiny_model_file(tmp_path_factory.mktemp("model"))


def vessel_clip(n_frames: int = 9, height: int = 96, width: int = 128, static: bool = False) -> Clip:
    """Dark curved 'vessels' on a bright background whose contrast peaks mid-run."""
    rows, cols = np.mgrid[0:height, 0:width]
    frames = []
    for t in range(n_frames):
        fill = 1.0 if static else np.sin(np.pi * (t + 1) / (n_frames + 1))
        vessel = np.exp(-(((rows - height / 2 - 15 * np.sin(cols / 20)) / 3) ** 2))
        frames.append(200 - 120 * fill * vessel)
    return Clip(
        np.stack(frames).astype(np.uint8), frame_time_ms=66.7, source="synthetic-test", format="array"
    )


@pytest.fixture(scope="module")
def report(model_file):
    from stenoscope.report import analyze

    return analyze(vessel_clip(), model=model_file, long_side=128)


def test_vote_is_a_majority_with_ties_broken_by_the_mean():
    from stenoscope.report.pipeline import vote

    assert vote([0.9, 0.8, 0.1, 0.2, 0.7], 0.5).stenosis
    assert vote([0.9, 0.8, 0.1, 0.2, 0.7], 0.5).votes == 3
    assert not vote([0.9, 0.1, 0.1, 0.2, 0.7], 0.5).stenosis
    assert vote([0.6, 0.45], 0.5).stenosis  # tie, mean 0.525
    assert not vote([0.55, 0.2], 0.5).stenosis  # tie, mean 0.375
    assert vote([0.2, 0.4], 0.5).probability == pytest.approx(0.3)


def test_report_json_schema_keys_and_types(report):
    data = json.loads(json.dumps(report.to_json(), allow_nan=False))
    assert data["schema"] == "stenoscope.report/1"
    assert data["n_frames"] == 9 and data["frame_time_ms"] == pytest.approx(66.7)
    assert isinstance(data["input"], str) and isinstance(data["key_frame"], int)
    assert data["key_frame"] in data["key_frames"] and len(data["key_frames"]) == 5
    assert len(data["keyframes"]["scores"]) == 9
    assert [frame["index"] for frame in data["frames"]] == data["key_frames"]
    for frame in data["frames"]:
        assert 0.0 <= frame["probability"] <= 1.0 and isinstance(frame["vote"], bool)
        for peak in frame["peaks"] + frame["gradcam"]["peaks"]:
            assert set(peak) == {"x", "y", "score"}
        for box in frame["boxes"] + frame["gradcam"]["boxes"]:
            assert set(box) == {"x", "y", "w", "h", "score"}
    clip = data["clip"]
    assert set(clip) >= {"probability", "stenosis", "rule", "votes"}
    assert (
        isinstance(clip["stenosis"], bool) and isinstance(clip["votes"], int) and "majority" in clip["rule"]
    )
    assert clip["probability"] == pytest.approx(np.mean([f["probability"] for f in data["frames"]]), abs=1e-3)
    assert set(data["model"]) == {"name", "version", "sha256"}
    assert {"read", "keyframes", "classify", "explain", "clip_heatmaps"} <= set(data["timings"])
    assert data["heatmaps"]["source"] == "lesion heat-map head"
    assert data["heatmaps"]["clip"] == "model run on every frame"


def test_coordinates_and_heat_maps_are_on_the_input_grid(model_file):
    from stenoscope.report import analyze

    clip = vessel_clip(n_frames=3, height=60, width=150)
    result = analyze(clip, model=model_file)
    assert result.heatmaps["model_input"] == [205, 512]  # long side resized to the training scale
    for frame in result.frames:
        assert frame.heatmap.shape == (60, 150)
        for peak in frame.peaks + frame.gradcam_peaks:
            assert 0 <= peak.x < 150 and 0 <= peak.y < 60
        for box in frame.boxes + frame.gradcam_boxes:
            assert box.x + box.w <= 150 and box.y + box.h <= 60
    assert result.clip_heatmaps is not None and result.clip_heatmaps.shape[0] == 3


def test_gradcam_is_the_primary_map_without_a_heatmap_head(tmp_path):
    from stenoscope.report import analyze

    result = analyze(
        vessel_clip(n_frames=4), model=tiny_model_file(tmp_path, heatmap_head=False), long_side=96
    )
    assert result.heatmaps["source"] == "Grad-CAM"
    frame = result.frames[0]
    assert frame.peaks == frame.gradcam_peaks and frame.peaks  # a Grad-CAM map always has its maximum at 1
    assert frame.heatmap.max() == pytest.approx(1.0, abs=1e-3)


def test_a_paper_recipe_model_gets_its_mean_image_and_centre_crop_as_in_evaluate(tmp_path):
    """analyze feeds a paper-recipe checkpoint exactly what evaluate's pipeline does, and its maps come back
    on the whole input grid (zero in the border the crop removed)."""
    import torch

    from stenoscope.models import load_model
    from stenoscope.report import analyze
    from stenoscope.train import get_recipe, inference_pipeline
    from stenoscope.train.recipes import encode_image

    mean_image = np.linspace(0.2, 0.6, 128 * 128, dtype=np.float32).reshape(128, 128)
    training = {
        "recipe": get_recipe("paper").to_json(),
        "kind": "frame",
        "input_size": 128,
        "mean_image": encode_image(mean_image),
    }
    model = load_model(tiny_model_file(tmp_path, heatmap_head=False, training=training))
    seen: list[torch.Tensor] = []
    model.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    clip = vessel_clip(n_frames=6, height=128, width=128)
    result = analyze(clip, model=model, clip_heatmaps=False)

    assert result.heatmaps["model_input"] == [128, 128]
    assert seen[0].shape[-2:] == (125, 125)  # 500 of 512, scaled to 128
    key = clip.as_float()[result.key_frames[0]]
    expected = inference_pipeline(training, model.preprocess.mean, "frame")(key).image
    expected = model.preprocess.normalise(torch.from_numpy(expected)[None, None])
    torch.testing.assert_close(seen[0][:1], expected, atol=2e-3, rtol=0)
    heatmap = result.frames[0].heatmap
    assert heatmap.shape == (128, 128) and heatmap.max() > 0
    assert heatmap[:, 0].max() == 0 and heatmap[0, :].max() == 0  # the cropped-off border has no evidence


def test_model_is_identified_by_the_sha256_of_its_file(report, model_file):
    assert report.model.sha256 == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert report.model.name == "default"


def test_save_writes_every_file_and_one_gif_frame_per_clip_frame(tmp_path, model_file):
    import av

    from stenoscope.report import analyze

    clip = vessel_clip(n_frames=7, static=True)  # identical frames: a GIF writer may merge them
    result = analyze(clip, model=model_file, long_side=128)
    folder = result.save(tmp_path / "run")
    expected = {"report.json", "report.html", "clip.gif", "clip.mp4", "contact_sheet.png"}
    expected |= {f"keyframe_{i}.png" for i in result.key_frames}
    assert {path.name for path in folder.iterdir()} == expected
    with Image.open(folder / "clip.gif") as gif:
        assert sum(1 for _ in ImageSequence.Iterator(gif)) == clip.n_frames
    with av.open(str(folder / "clip.mp4")) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(decoded) == clip.n_frames
    assert decoded[0].shape[1] > decoded[0].shape[0]  # original | overlay side by side
    with Image.open(folder / f"keyframe_{result.key_frame}.png") as png:
        assert png.size == (2 * clip.width + 4, clip.height)
    saved = json.loads((folder / "report.json").read_text())
    assert saved["schema"] == "stenoscope.report/1" and "write_gif" in saved["timings"]


def test_rerun_replaces_the_folder_whole_and_leaves_no_temporary_files(tmp_path, report):
    folder = report.save(tmp_path / "run", videos=False)
    (folder / "stale.txt").write_text("from an older run")
    report.save(tmp_path / "run", videos=False)
    assert not (folder / "stale.txt").exists()
    assert (folder / "report.json").is_file() and not (folder / "clip.gif").exists()
    assert [path.name for path in tmp_path.iterdir()] == ["run"]


def test_a_single_image_is_a_clip_of_one_frame(tmp_path, model_file):
    from stenoscope.report import analyze

    result = analyze(vessel_clip(n_frames=1), model=model_file, long_side=128)
    assert (result.n_frames, result.key_frame, result.key_frames) == (1, 0, [0])
    assert result.decision.n_votes == 1
    folder = result.save(tmp_path / "one")
    with Image.open(folder / "clip.gif") as gif:
        assert sum(1 for _ in ImageSequence.Iterator(gif)) == 1


def test_html_is_self_contained_with_decision_curve_clip_and_disclaimer(report):
    from stenoscope.report.html import DISCLAIMER, render_html

    html = render_html(report, keyframe_pngs=dict.fromkeys(report.key_frames, b"png"), gif=b"GIF89a")
    assert "data:image/gif;base64," in html and html.count("data:image/png;base64,") == 5
    assert "<svg" in html and DISCLAIMER in html and 'id="decision"' in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "<script" not in html
    # what a peak's score means and from which score peaks are marked
    rule = f"{report.heatmaps['peak_score']}; peaks marked from {report.heatmaps['peak_threshold']:g}"
    assert f"<th>peak score</th><td>{rule}</td>" in html


def test_out_of_distribution_properties_are_named():
    from stenoscope.report.ood import distribution_warnings

    ranges = {"long_side": [512, 512], "bits_stored": [8, 8], "mean_intensity": [0.3, 0.8]}
    deep = Clip(np.full((2, 64, 1024), 2000, np.uint16), bits_stored=12)
    warnings = distribution_warnings(deep, ranges)
    assert len(warnings) == 2
    assert "1024 px" in warnings[0] and "bit depth 12" in warnings[1]
    assert distribution_warnings(Clip(np.full((2, 512, 512), 128, np.uint8)), ranges) == []
    assert distribution_warnings(deep, None) == []


def test_training_ranges_in_the_checkpoint_reach_the_report(tmp_path):
    from stenoscope.report import analyze

    path = tiny_model_file(tmp_path, training_distribution={"long_side": [512, 1000]})
    result = analyze(vessel_clip(n_frames=2), model=path, clip_heatmaps=False)
    assert len(result.warnings) == 1 and "frame size 128 px" in result.warnings[0]
    assert result.to_json()["warnings"] == result.warnings


def test_without_a_shipped_model_the_error_says_so(tmp_path, monkeypatch):
    from stenoscope.report import analyze

    monkeypatch.setenv("STENOSCOPE_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(ModelError, match="no pretrained model is shipped"):
        analyze(vessel_clip(n_frames=2))
    with pytest.raises(ModelError, match="no such model file"):
        analyze(vessel_clip(n_frames=2), model=tmp_path / "missing.safetensors")


def test_discovery_treats_a_frame_folder_as_one_clip_and_keeps_names_unique(tmp_path):
    from stenoscope.report import discover

    frames = tmp_path / "in" / "run_a"
    frames.mkdir(parents=True)
    for index in range(3):
        Image.fromarray(np.full((8, 8), index * 50, np.uint8)).save(frames / f"f{index}.png")
    (frames / "f0.xml").write_text("<annotation/>")  # sidecar annotations do not split the folder
    for sub in ("x", "y"):
        (tmp_path / "in" / sub).mkdir()
        np.save(tmp_path / "in" / sub / "run.npy", np.zeros((2, 8, 8), np.uint8))
    (tmp_path / "in" / "notes.txt").write_text("not a clip")
    items = discover([tmp_path / "in"])
    assert [(item.path.relative_to(tmp_path).as_posix(), item.name) for item in items] == [
        ("in/run_a", "run_a"),
        ("in/x/run.npy", "run"),
        ("in/y/run.npy", "run-2"),
    ]
    with pytest.raises(StenoscopeError, match="no such file"):
        discover([tmp_path / "missing"])


def test_clip_stride_runs_the_model_on_fewer_frames_and_blends_between(model_file):
    from stenoscope.report import analyze

    clip = vessel_clip(n_frames=5)
    every = analyze(clip, model=model_file, long_side=128, count=1).clip_heatmaps.astype(int)
    strided = analyze(clip, model=model_file, long_side=128, count=1, clip_stride=2)
    assert strided.heatmaps["clip"].startswith("model run on 1 frame in 2")
    maps = strided.clip_heatmaps.astype(int)
    assert np.abs(maps[[0, 2, 4]] - every[[0, 2, 4]]).max() <= 1  # computed frames are the model's own
    assert np.abs(maps[1] - (every[0] + every[2]) / 2).max() <= 1  # the frame between is the blend
    with pytest.raises(StenoscopeError, match="clip_stride"):
        analyze(clip, model=model_file, clip_stride=0)


def test_the_default_clip_stride_pays_for_every_heat_map_view(model_file, tmp_path, monkeypatch):
    from stenoscope.models import HeatmapViews, load_model, save_model
    from stenoscope.report import analyze, pipeline

    clip = vessel_clip(n_frames=9)
    # a budget of 5 frames at the working size (96x128 for long side 128): 1 frame in 2 with one view
    monkeypatch.setattr(pipeline, "CLIP_PIXEL_BUDGET", 5 * 96 * 128)
    assert analyze(clip, model=model_file, long_side=128, count=1).heatmaps["clip_stride"] == 2
    mirrored = load_model(model_file)
    mirrored.heatmap_views = HeatmapViews(scales=(1.0,), flip=True)  # twice the pixels: 2 frames affordable
    views_file = save_model(mirrored, tmp_path / "views.safetensors")
    assert analyze(clip, model=views_file, long_side=128, count=1).heatmaps["clip_stride"] == 8
