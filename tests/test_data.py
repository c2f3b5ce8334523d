"""Datasets of every layout, region crops, and grouped splits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from stenoscope.data import (
    RegionOptions,
    detect_format,
    grouped_folds,
    grouped_split,
    open_dataset,
    region_dataset,
    synthetic_dataset,
    vesselness,
)
from stenoscope.data._base import Entry, SampleDataset
from stenoscope.errors import InputError, StenoscopeError


def _write_png(path, array) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)


def test_imagefolder_reads_ovalle_patches(ovalle_dir):
    data = open_dataset(ovalle_dir)
    assert data.name == "imagefolder" and data.kind == "region"
    assert len(data) == 247
    assert data.labels.sum() == 50 + 13 + 59
    sample = data[0]
    assert sample.image.shape == (32, 32) and sample.image.dtype == np.float32
    assert 0.0 <= sample.image.min() <= sample.image.max() <= 1.0
    assert len(set(data.groups)) == len(data)  # no patient ids: every patch is its own group


def test_coco_reads_arcade_with_near_duplicate_groups(arcade_dir):
    data = open_dataset(arcade_dir)
    assert detect_format(arcade_dir) == "coco"
    assert len(data) == 1200
    assert sum(len(entry.boxes) for entry in data.entries) == 1625 + 406
    by_source = {entry.source.split("arcade-stenosis/")[-1]: entry.group for entry in data.entries}
    # pairs listed in near_duplicates.csv (also across train/val) share a group; chains are merged
    assert by_source["train/images/148.png"] == by_source["train/images/799.png"]
    assert by_source["train/images/218.png"] == by_source["val/images/58.png"]
    assert (
        by_source["train/images/698.png"]
        == by_source["train/images/886.png"]
        == by_source["train/images/429.png"]
    )
    assert by_source["train/images/1.png"] != by_source["train/images/2.png"]
    val_only = open_dataset(arcade_dir, "coco", splits=["val"])
    assert len(val_only) == 200
    sample = val_only[0]
    assert sample.image.shape == (512, 512) and sample.boxes.shape[1] == 4 and sample.label == 1


def test_grouped_folds_never_split_arcade_duplicate_groups(arcade_dir):
    data = open_dataset(arcade_dir)
    groups = np.array(data.groups)
    folds = grouped_folds(data.labels, data.groups, n_folds=5, seed=3)
    assert len(folds) == 5
    seen = np.concatenate([val for _, val in folds])
    assert np.array_equal(np.sort(seen), np.arange(len(data)))  # every frame validated exactly once
    for train, val in folds:
        assert not set(groups[train]) & set(groups[val])
    assert [v.tolist() for _, v in grouped_folds(data.labels, data.groups, 5, 3)] == [
        v.tolist() for _, v in folds
    ]


def test_grouped_split_is_stratified_and_grouped():
    labels = np.r_[np.zeros(40, int), np.ones(40, int)]
    groups = [f"g{i // 4}" for i in range(80)]  # groups of 4 frames, each of one label
    train, val = grouped_split(labels, groups, val_fraction=0.25, seed=0)
    assert not {groups[i] for i in train} & {groups[i] for i in val}
    assert 0.4 <= labels[val].mean() <= 0.6
    assert 15 <= len(val) <= 25
    with pytest.raises(StenoscopeError, match="cannot be split"):
        grouped_folds(labels[:8], groups[:8], n_folds=5)


def test_voc_reads_danilov_runs(danilov_dir):
    data = open_dataset(danilov_dir)
    assert data.name == "voc"
    assert set(data.groups) == {"14_021_1", "14_088_2", "14_092_2"}
    first = next(i for i, entry in enumerate(data.entries) if entry.source.endswith("14_021_1_0031.png"))
    np.testing.assert_allclose(data.entries[first].boxes, [[182, 488, 108, 72]])
    assert data[first].image.shape == (800, 800)
    assert (data.labels == 1).all()


def test_csv_manifest_reads_images_and_clip_frames(tmp_path):
    _write_png(tmp_path / "a.png", np.full((16, 16), 255))
    np.save(tmp_path / "clip.npy", np.stack([np.full((16, 16), v, np.uint8) for v in (0, 51, 102)]))
    (tmp_path / "list.csv").write_text("path,label,group,frame\na.png,1,p1,\nclip.npy,0,p2,2\n")
    data = open_dataset(tmp_path / "list.csv")
    assert data.name == "csv" and data.labels.tolist() == [1, 0] and data.groups == ["p1", "p2"]
    assert data[0].image.max() == pytest.approx(1.0)
    assert data[1].image.mean() == pytest.approx(102 / 255, abs=1e-3)
    assert data[1].frame == 2
    (tmp_path / "bad.csv").write_text("path,label\na.png,1\n")
    with pytest.raises(InputError, match="group"):
        open_dataset(tmp_path / "bad.csv")


def test_paper_layout_gives_key_frames_per_clip(tmp_path):
    rng = np.random.default_rng(0)
    for folder, count in (("N", 2), ("A", 3)):
        for index in range(count):
            frames = rng.integers(0, 255, size=(12, 32, 32), dtype=np.uint8)
            (tmp_path / folder).mkdir(exist_ok=True)
            np.save(tmp_path / folder / f"clip{index}.npy", frames)
    assert detect_format(tmp_path) == "paper"
    data = open_dataset(tmp_path, count=5)
    assert len(data) == 5 * 5
    assert data.labels.sum() == 3 * 5
    for group in set(data.groups):
        members = [e for e in data.entries if e.group == group]
        assert len(members) == 5 and len({e.label for e in members}) == 1
        assert len({e.frame for e in members}) == 5


def test_unknown_layout_and_format_are_user_errors(tmp_path):
    with pytest.raises(InputError, match="layout"):
        open_dataset(tmp_path)
    with pytest.raises(StenoscopeError, match="format"):
        open_dataset(tmp_path, "nifti")


def _frames_with_boxes() -> SampleDataset:
    return synthetic_dataset(n=6, size=256, seed=4, positive_fraction=1.0)


def test_region_crops_hold_whole_lesions_and_negatives_avoid_boxes():
    frames = _frames_with_boxes()
    options = RegionOptions(
        size=48, window=128, positives_per_box=2, negatives_per_frame=4, dilate=16, seed=1
    )
    regions = region_dataset(frames, options)
    assert regions.kind == "region"
    by_source = {entry.source: entry for entry in frames.entries}
    positives = [e for e in regions.entries if e.label == 1]
    negatives = [e for e in regions.entries if e.label == 0]
    assert len(positives) == 2 * sum(len(e.boxes) for e in frames.entries)
    assert len(negatives) >= 3 * len(frames)
    for entry in positives:
        x0, y0, side = entry.region
        inside = [
            bx >= x0 and by >= y0 and bx + bw <= x0 + side and by + bh <= y0 + side
            for bx, by, bw, bh in by_source[entry.source].boxes
        ]
        assert any(inside)
        assert entry.image.shape == (48, 48)
    dilate = 16 * 256 / 512
    for entry in negatives:
        x0, y0, side = entry.region
        for bx, by, bw, bh in by_source[entry.source].boxes:
            touches = x0 < bx + bw + dilate and x0 + side > bx - dilate and y0 < by + bh + dilate
            assert not (touches and y0 + side > by - dilate)
    # same seed, same crops
    again = region_dataset(frames, options)
    assert [e.region for e in again.entries] == [e.region for e in regions.entries]


def test_negative_crops_sit_on_vessels_more_than_chance():
    frames = _frames_with_boxes()
    regions = region_dataset(
        frames, RegionOptions(window=64, negatives_per_frame=6, positives_per_box=0, seed=2)
    )
    rng = np.random.default_rng(0)
    chosen, random = [], []
    for entry in frames.entries:
        image = frames[frames.entries.index(entry)].image
        score = vesselness(image, 2)
        for crop in (e for e in regions.entries if e.source == entry.source):
            x0, y0, side = crop.region
            chosen.append(score[(y0 + side // 2) // 2, (x0 + side // 2) // 2])
        random.extend(score[rng.integers(16, 112, 20), rng.integers(16, 112, 20)])
    assert np.mean(chosen) > 2 * np.mean(random)


def test_frames_without_boxes_give_negative_crops_only():
    data = SampleDataset([Entry("x", 0, "g", image=np.zeros((64, 64), np.float32))])
    assert len(region_dataset(data, RegionOptions(window=200, negatives_per_frame=2))) == 2


def test_coco_json_file_and_missing_category(tmp_path):
    _write_png(tmp_path / "images" / "1.png", np.zeros((20, 20)))
    annotation = {
        "images": [{"id": 1, "file_name": "1.png"}],
        "annotations": [{"image_id": 1, "category_id": 7, "bbox": [2, 3, 4, 5]}],
        "categories": [{"id": 7, "name": "stenosis"}],
    }
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "a.json").write_text(json.dumps(annotation))
    data = open_dataset(tmp_path / "annotations" / "a.json")
    np.testing.assert_allclose(data.entries[0].boxes, [[2, 3, 4, 5]])
    with pytest.raises(InputError, match="category"):
        open_dataset(tmp_path / "annotations" / "a.json", category="plaque")


def test_prepared_frames_train_exactly_as_frames_read_each_time(tmp_path):
    """Resizing once up front, then augmenting, yields the batches that reading, resizing and augmenting
    every epoch yields (the deterministic steps draw no random numbers)."""
    from stenoscope.data.transforms import Compose, Resize
    from stenoscope.train import get_recipe
    from stenoscope.train.loop import make_batch

    rng = np.random.default_rng(0)
    entries = []
    for index in range(3):
        path = tmp_path / f"{index}.png"
        Image.fromarray((rng.random((96, 96)) * 255).astype(np.uint8)).save(path)
        entries.append(Entry(str(path), 1, str(index), np.array([[10.0, 20.0, 30.0, 12.0]], np.float32)))
    frames = SampleDataset(entries, lambda entry: np.asarray(Image.open(entry.source), np.float32) / 255)
    augment = get_recipe("default").train_transforms("frame")
    prepared = frames.prepared(Compose([Resize(48)]))
    assert all(entry.image is not None for entry in prepared.entries) and prepared.labels.tolist() == [
        1,
        1,
        1,
    ]
    once = make_batch(prepared, [0, 1, 2], Compose(augment), np.random.default_rng(7))
    each = make_batch(frames, [0, 1, 2], Compose([Resize(48), *augment]), np.random.default_rng(7))
    torch.testing.assert_close(once.images, each.images)
    for a, b in zip(once.boxes, each.boxes, strict=True):
        np.testing.assert_array_equal(a, b)
    # frames too big to hold stay read on demand
    assert frames.prepared(Compose([]), max_bytes=1000) is frames
