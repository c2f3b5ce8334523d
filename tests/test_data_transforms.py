"""Transforms: the paper preset's exact numbers, repeatability from a seed, boxes following geometry."""

from __future__ import annotations

import numpy as np
import pytest

from stenoscope.data.transforms import (
    PAPER_OFFSETS,
    CenterCrop,
    Compose,
    IntensityShift,
    OffsetCrop,
    RandomBlur,
    RandomFlip,
    RandomGamma,
    RandomNoise,
    RandomRotation,
    RandomSharpen,
    RandomShutters,
    RandomZoom,
    Resize,
    SubtractImage,
)
from stenoscope.errors import StenoscopeError
from stenoscope.train.recipes import get_recipe, inference_pipeline, input_transforms


def _ramp(size: int = 512) -> np.ndarray:
    return (np.arange(size * size, dtype=np.float32).reshape(size, size) % 251) / 255.0


def test_paper_recipe_numbers():
    recipe = get_recipe("paper")
    assert (recipe.optimizer, recipe.lr, recipe.batch_size, recipe.epochs) == ("adam", 1e-5, 15, 10)
    assert recipe.mean_image and recipe.center_crop and recipe.schedule == "constant"
    shift, crop = recipe.train_transforms("frame")
    assert isinstance(shift, IntensityShift) and shift.values == (-10, -5, 0, 5, 10)
    assert isinstance(crop, OffsetCrop) and crop.size == 500 and crop.reference == 512
    assert crop.offsets == ((0, 0), (0, 12), (12, 0), (6, 6), (12, 12))
    (center,) = recipe.eval_transforms()
    assert isinstance(center, CenterCrop) and center.size == 500


def test_paper_intensity_shifts_are_the_five_grey_levels():
    image = np.full((8, 8), 0.5, np.float32)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        result = IntensityShift()(image, rng=rng)
        shift = result.history[0][1]["shift"]
        seen.add(shift)
        np.testing.assert_allclose(result.image, 0.5 + shift / 255.0, atol=1e-6)
    assert seen == {-10, -5, 0, 5, 10}


def test_paper_crops_500_of_512_at_the_five_offsets():
    image = _ramp()
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(200):
        result = OffsetCrop()(image, rng=rng)
        x, y = result.history[0][1]["x"], result.history[0][1]["y"]
        seen.add((x, y))
        assert result.image.shape == (500, 500)
        np.testing.assert_array_equal(result.image, image[y : y + 500, x : x + 500])
    assert seen == set(PAPER_OFFSETS)
    centre = CenterCrop()(image)
    np.testing.assert_array_equal(centre.image, image[6:506, 6:506])


def test_paper_crops_scale_with_the_input_size():
    rng = np.random.default_rng(2)
    seen = set()
    for _ in range(100):
        result = OffsetCrop()(_ramp(256), rng=rng)
        assert result.image.shape == (250, 250)
        seen.add((result.history[0][1]["x"], result.history[0][1]["y"]))
    assert seen == {(0, 0), (0, 6), (6, 0), (3, 3), (6, 6)}
    assert CenterCrop()(_ramp(256)).image.shape == (250, 250)


def test_same_seed_same_augmentation_and_history():
    pipeline = Compose(get_recipe("default").train_transforms("region"))
    image = _ramp(64)
    boxes = np.array([[10, 12, 20, 8]], np.float32)
    first = pipeline(image, boxes, np.random.default_rng(7))
    second = pipeline(image, boxes, np.random.default_rng(7))
    other = pipeline(image, boxes, np.random.default_rng(8))
    np.testing.assert_array_equal(first.image, second.image)
    np.testing.assert_array_equal(first.boxes, second.boxes)
    assert first.history == second.history
    assert first.history != other.history
    assert [name for name, _ in first.history] == [
        "RandomFlip",
        "RandomRotation",
        "RandomGamma",
        "IntensityShift",
        "RandomBlur",
        "RandomNoise",
    ]


def test_default_recipe_never_flips_whole_frames():
    names = [type(t).__name__ for t in get_recipe("default").train_transforms("frame")]
    assert "RandomFlip" not in names
    assert "RandomFlip" in [type(t).__name__ for t in get_recipe("default").train_transforms("region")]


def test_recipe_augment_settings_add_frame_flips_and_zoom():
    names = [
        type(t).__name__ for t in get_recipe("default", frame_flip=True, zoom=0.2).train_transforms("frame")
    ]
    assert names[:3] == ["RandomFlip", "RandomZoom", "RandomRotation"]
    with pytest.raises(StenoscopeError, match="unknown recipe setting"):
        get_recipe("default", mirror=True)


def test_recipe_sharpens_frames_and_crops_and_shutters_whole_frames_only():
    recipe = get_recipe("default", sharpen=1.5, shutters=0.12)
    frame = [type(t).__name__ for t in recipe.train_transforms("frame")]
    region = [type(t).__name__ for t in recipe.train_transforms("region")]
    assert frame.index("RandomRotation") < frame.index("RandomShutters") < frame.index("RandomGamma")
    assert "RandomSharpen" in frame and "RandomSharpen" in region and "RandomShutters" not in region
    plain = [type(t).__name__ for t in get_recipe("default").train_transforms("frame")]
    assert "RandomSharpen" not in plain and "RandomShutters" not in plain


def test_sharpening_raises_contrast_across_an_edge_and_stays_in_range():
    image = np.full((256, 256), 0.3, np.float32)
    image[:, 128:] = 0.6
    result = RandomSharpen(1.5, p=1.0)(image, rng=np.random.default_rng(0))
    assert result.history[0][1]["amount"] > 0
    # overshoot on both sides of the edge, none far from it
    assert result.image[:, 127].mean() < 0.29 and result.image[:, 128].mean() > 0.61
    np.testing.assert_allclose(result.image[:, :20], 0.3, atol=1e-6)
    assert result.image.min() >= 0.0 and result.image.max() <= 1.0
    unchanged = RandomSharpen(1.5, p=0.0)(image, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(unchanged.image, image)


def test_shutters_cover_the_sides_but_never_a_lesion_box():
    image = _ramp(128) * 0.5
    boxes = np.array([[6, 50, 20, 20]], np.float32)  # 6 px from the left side
    shutters = RandomShutters(0.3, p=1.0)
    params = {"depths": {"left": 0.3, "top": 0.3}, "level": 0.9, "edge": 2.0}
    covered, kept = shutters.apply(image, boxes, params)
    np.testing.assert_array_equal(kept, boxes)
    # the top band goes 0.3 x 128 = 38 px deep (its last 2 px fade); the left one stops short of the box
    np.testing.assert_allclose(covered[:36, 64:], 0.9)
    assert np.allclose(covered[80:, :3], 0.9) and not np.allclose(covered[80:, 6:26], 0.9)
    np.testing.assert_array_equal(covered[50:70, 6:26], image[50:70, 6:26])
    np.testing.assert_array_equal(covered[60:, 40:], image[60:, 40:])
    drawn = [shutters(image, boxes, np.random.default_rng(seed)) for seed in range(20)]
    assert any(result.history[0][1]["depths"] for result in drawn)
    for result in drawn:
        np.testing.assert_array_equal(result.image[50:70, 6:26], image[50:70, 6:26])


def _dot_image(x: int, y: int, size: int = 64) -> np.ndarray:
    image = np.zeros((size, size), np.float32)
    image[y - 1 : y + 2, x - 1 : x + 2] = 1.0
    return image


def _brightest(image: np.ndarray) -> tuple[int, int]:
    y, x = np.unravel_index(np.argmax(image), image.shape)
    return int(x), int(y)


@pytest.mark.parametrize("angle", [-25.0, 10.0, 30.0])
def test_rotation_moves_boxes_with_the_content(angle):
    image = _dot_image(44, 20)
    boxes = np.array([[40, 16, 8, 8]], np.float32)
    rotated, moved = RandomRotation(45).apply(image, boxes, {"angle": angle})
    x, y = _brightest(rotated)
    bx, by, bw, bh = moved[0]
    assert bx <= x <= bx + bw and by <= y <= by + bh


@pytest.mark.parametrize("scale", [0.8, 1.25])
def test_zoom_moves_boxes_with_the_content(scale):
    image = _dot_image(44, 20)
    boxes = np.array([[40, 16, 8, 8]], np.float32)
    zoomed, moved = RandomZoom(0.3).apply(image, boxes, {"scale": scale})
    assert zoomed.shape == image.shape
    x, y = _brightest(zoomed)
    bx, by, bw, bh = moved[0]
    assert bx <= x <= bx + bw and by <= y <= by + bh
    np.testing.assert_allclose([bw, bh], [8 * scale, 8 * scale], rtol=1e-5)
    # the dot moves away from the centre when zooming in, towards it when zooming out
    assert (abs(x - 31.5) > abs(44 - 31.5)) == (scale > 1)


def test_flip_and_crop_and_resize_move_boxes():
    image = _dot_image(10, 20)
    boxes = np.array([[8, 18, 5, 5]], np.float32)
    flipped, moved = RandomFlip(True, True).apply(image, boxes, {"horizontal": True, "vertical": True})
    x, y = _brightest(flipped)
    assert moved[0][0] <= x <= moved[0][0] + moved[0][2] and moved[0][1] <= y <= moved[0][1] + moved[0][3]
    cropped = OffsetCrop(size=60, offsets=[(4, 4)], reference=64)(image, boxes, np.random.default_rng(0))
    np.testing.assert_allclose(cropped.boxes, [[4, 14, 5, 5]])
    resized = Resize(32)(image, boxes)
    np.testing.assert_allclose(resized.boxes, [[4, 9, 2.5, 2.5]])
    gone = OffsetCrop(size=8, offsets=[(40, 40)], reference=64)(image, boxes, np.random.default_rng(0))
    assert gone.boxes.shape == (0, 4)


def test_a_finer_pipeline_takes_the_same_steps_on_a_grid_twice_as_fine():
    """What a peak ranker of scale 2 sees: every resize twice as large, the other steps as they are."""
    image = np.add.outer(np.linspace(0, 0.5, 64), np.linspace(0, 0.5, 64)).astype(np.float32)
    pipeline = Compose([Resize(32), SubtractImage(image[::2, ::2] * 0.5), CenterCrop(500, 512)])
    finer = pipeline.finer(2)
    assert [type(step).__name__ for step in finer.transforms] == ["Resize", "SubtractImage", "CenterCrop"]
    coarse, fine = pipeline(image).image, finer(image).image
    assert coarse.shape == (31, 31) and fine.shape == (62, 62)
    blocks = fine.reshape(31, 2, 31, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(blocks, coarse, atol=0.02)  # the same picture, sampled twice as densely
    assert Compose([SubtractImage(image)]).finer(2) is None  # frames at their own size: no finer grid


def test_intensity_transforms_keep_shape_and_change_pixels():
    image = _ramp(64) * 0.8 + 0.1
    rng = np.random.default_rng(3)
    for transform in (RandomGamma(0.5), RandomBlur(3.0, p=1.0), RandomNoise(0.05, p=1.0)):
        result = transform(image, rng=rng)
        assert result.image.shape == image.shape and result.image.dtype == np.float32
        assert not np.allclose(result.image, image)


def test_mean_image_is_stored_and_reproduced_at_inference():
    from stenoscope.train.recipes import encode_image

    mean_image = _ramp(64)
    training = {
        "recipe": get_recipe("paper").to_json(),
        "kind": "frame",
        "input_size": 64,
        "mean_image": encode_image(mean_image),
    }
    frame = np.full((128, 128), 0.6, np.float32)
    pipeline = inference_pipeline(training, preprocess_mean=0.5, kind="frame")
    result = pipeline(frame)
    side = round(500 * 64 / 512)
    offset = (64 - side) // 2
    expected = 0.6 - mean_image + 0.5  # + preprocess mean, which the model's own normalise removes again
    np.testing.assert_allclose(
        result.image, expected[offset : offset + side, offset : offset + side], atol=2e-3
    )
    steps = [type(t).__name__ for t in input_transforms(training, 0.5)]
    assert steps == ["Resize", "SubtractImage"]
    # a reference of another size is resized to the image it is subtracted from
    subtracted, _ = SubtractImage(mean_image).apply(np.ones((32, 32), np.float32), np.zeros((0, 4)), {})
    assert subtracted.shape == (32, 32)
