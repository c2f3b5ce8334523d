"""Frame folders, single images, arrays and video: real cine folders and write/read round trips."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stenoscope.clip import Clip
from stenoscope.io import read_clip, sniff_format, write_clip
from stenoscope.io.images import natural_key


def _smooth_frames(n_frames: int = 6, height: int = 64, width: int = 80) -> np.ndarray:
    """A moving dark blob on a bright gradient: lossy codecs keep it close, so round trips can be checked."""
    rows, columns = np.mgrid[0:height, 0:width]
    frames = []
    for index in range(n_frames):
        blob = np.exp(-(((rows - height / 2) ** 2 + (columns - 10 - 8 * index) ** 2) / 60.0))
        frames.append(150 + 60 * columns / width - 120 * blob)
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


def test_vukicevic_cine_folders_in_order(vukicevic_dir: Path) -> None:
    proj0 = read_clip(vukicevic_dir / "sample2_proj0")
    proj1 = read_clip(vukicevic_dir / "sample2_proj1")
    assert (proj0.n_frames, proj1.n_frames) == (37, 40)
    assert proj0.format == "frames" and proj0.frame_time_ms is None and proj0.frames.dtype == np.uint8
    first = sorted((vukicevic_dir / "sample2_proj0").iterdir(), key=natural_key)[0]
    np.testing.assert_array_equal(proj0.frames[0], np.asarray(Image.open(first).convert("L")))


def test_danilov_folder_ignores_box_annotations(danilov_dir: Path) -> None:
    folder = danilov_dir / "14_088_2"
    assert any(path.suffix == ".xml" for path in folder.iterdir())
    clip = read_clip(folder)
    assert clip.n_frames == 26 and (clip.height, clip.width) == (800, 800)


def test_single_jpeg_frame(vukicevic_dir: Path) -> None:
    clip = read_clip(vukicevic_dir / "sample1_single_frames" / "Projection 0.jpg")
    assert clip.n_frames == 1 and clip.format == "image" and clip.frames.std() > 5


def test_natural_order_puts_frame_2_before_frame_10(tmp_path: Path) -> None:
    for number in (10, 2, 1):
        Image.fromarray(np.full((4, 6), number, np.uint8)).save(tmp_path / f"frame_{number}.png")
    (tmp_path / "notes.txt").write_text("not a frame")
    clip = read_clip(tmp_path)
    assert [int(frame[0, 0]) for frame in clip.frames] == [1, 2, 10]


def test_sixteen_bit_png_keeps_depth_and_infers_bits(tmp_path: Path) -> None:
    frame = (np.arange(48 * 40).reshape(48, 40) * 2 % 4096).astype(np.uint16)
    Image.fromarray(frame).save(tmp_path / "deep.png")
    clip = read_clip(tmp_path / "deep.png")
    assert clip.frames.dtype == np.uint16 and clip.bits_stored == 12
    np.testing.assert_array_equal(clip.frames[0], frame)


def test_grey_stored_as_rgb_is_exact_and_colour_becomes_luma(tmp_path: Path) -> None:
    grey = _smooth_frames(1)[0]
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "grey_rgb.png")
    clip = read_clip(tmp_path / "grey_rgb.png")
    np.testing.assert_array_equal(clip.frames[0], grey)
    assert "converted_from" not in clip.extra
    colour = np.zeros((4, 4, 3), np.uint8)
    colour[..., 0] = 200
    Image.fromarray(colour).save(tmp_path / "red.png")
    red = read_clip(tmp_path / "red.png")
    assert int(red.frames[0, 0, 0]) == round(0.299 * 200) and "converted_from" in red.extra


def test_content_decides_over_suffix(tmp_path: Path) -> None:
    Image.fromarray(_smooth_frames(1)[0]).save(tmp_path / "frame.png")
    misnamed = tmp_path / "frame.dcm"
    misnamed.write_bytes((tmp_path / "frame.png").read_bytes())
    assert sniff_format(misnamed) == "image"
    assert read_clip(misnamed).format == "image"


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_array_round_trip(tmp_path: Path, suffix: str) -> None:
    clip = Clip(
        frames=_smooth_frames().astype(np.uint16) * 16, bits_stored=12, frame_time_ms=50.0, primary_angle=10.0
    )
    back = read_clip(write_clip(clip, tmp_path / f"clip{suffix}"))
    np.testing.assert_array_equal(back.frames, clip.frames)
    assert back.bits_stored == 12 and back.format == "array"
    if suffix == ".npz":
        assert (back.frame_time_ms, back.primary_angle, back.pixel_spacing_mm) == (50.0, 10.0, None)


def test_arrays_of_one_frame_floats_and_single_unnamed_npz(tmp_path: Path) -> None:
    np.save(tmp_path / "one.npy", np.full((5, 7), 200, np.uint8))
    assert read_clip(tmp_path / "one.npy").frames.shape == (1, 5, 7)
    np.save(tmp_path / "float.npy", np.linspace(0, 1, 2 * 3 * 4).reshape(2, 3, 4))
    floats = read_clip(tmp_path / "float.npy")
    assert floats.frames.dtype == np.uint16 and floats.bits_stored == 16 and floats.frames.max() == 65535
    np.savez(tmp_path / "unnamed.npz", np.zeros((3, 4, 4), np.uint8))
    assert read_clip(tmp_path / "unnamed.npz").n_frames == 3


@pytest.mark.parametrize(("suffix", "tolerance"), [(".mp4", 3.0), (".avi", 4.0)])
def test_video_round_trip_recovers_frames_and_rate(tmp_path: Path, suffix: str, tolerance: float) -> None:
    clip = Clip(frames=_smooth_frames(), frame_time_ms=1000 / 15)
    back = read_clip(write_clip(clip, tmp_path / f"run{suffix}"))
    assert back.format == "video" and back.frames.shape == clip.frames.shape
    assert back.frame_time_ms == pytest.approx(1000 / 15, rel=1e-3)
    assert np.abs(back.frames.astype(int) - clip.frames).mean() < tolerance


def test_mp4_pads_odd_sizes_and_keeps_slow_rates(tmp_path: Path) -> None:
    clip = Clip(frames=_smooth_frames(n_frames=3, height=33, width=41), frame_time_ms=1000 / 7.5)
    back = read_clip(write_clip(clip, tmp_path / "odd.mp4"))
    assert back.frames.shape == (3, 34, 42)
    assert back.frame_time_ms == pytest.approx(1000 / 7.5, rel=1e-3)


def test_mov_from_another_writer(tmp_path: Path) -> None:
    import av

    path = tmp_path / "export.mov"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 80, 64, "yuvj420p"
        for frame in _smooth_frames(4):
            rgb = np.stack([frame] * 3, axis=-1)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
    clip = read_clip(path)
    assert clip.n_frames == 4 and clip.frame_time_ms == pytest.approx(40.0)
    assert np.abs(clip.frames.astype(int) - _smooth_frames(4)).mean() < 4


def test_gif_round_trip_is_exact_with_centisecond_delays(tmp_path: Path) -> None:
    clip = Clip(frames=_smooth_frames(), frame_time_ms=1000 / 15)
    back = read_clip(write_clip(clip, tmp_path / "run.gif"))
    np.testing.assert_array_equal(back.frames, clip.frames)
    assert back.frame_time_ms == 70.0  # GIF delays are whole 1/100 s


def test_frame_folder_round_trip(tmp_path: Path) -> None:
    clip = Clip(frames=_smooth_frames(n_frames=12))
    folder = write_clip(clip, tmp_path / "frames")
    assert sorted(path.name for path in folder.iterdir())[:2] == ["frame_0000.png", "frame_0001.png"]
    np.testing.assert_array_equal(read_clip(folder).frames, clip.frames)


def test_writing_replaces_an_existing_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "run.npy"
    write_clip(Clip(frames=np.zeros((5, 8, 8), np.uint8)), target)
    write_clip(Clip(frames=np.ones((2, 4, 4), np.uint8)), target)
    assert read_clip(target).frames.shape == (2, 4, 4)
    assert [path.name for path in tmp_path.iterdir()] == ["run.npy"]


def test_multi_page_tiff_is_one_frame_per_page(tmp_path: Path) -> None:
    frames = _smooth_frames(n_frames=3)
    pages = [Image.fromarray(frame) for frame in frames]
    pages[0].save(tmp_path / "run.tif", save_all=True, append_images=pages[1:])
    clip = read_clip(tmp_path / "run.tif")
    assert clip.format == "image"
    np.testing.assert_array_equal(clip.frames, frames)


def test_folder_mixing_8_and_16_bit_frames_is_16_bit(tmp_path: Path) -> None:
    Image.fromarray(np.full((4, 4), 200, np.uint8)).save(tmp_path / "a_1.png")
    Image.fromarray(np.full((4, 4), 1000, np.uint16)).save(tmp_path / "a_2.png")
    clip = read_clip(tmp_path)
    assert clip.frames.dtype == np.uint16 and clip.bits_stored == 10
    assert [int(frame[0, 0]) for frame in clip.frames] == [200, 1000]
