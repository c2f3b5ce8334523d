"""Every bad input a user can give ends as one line on stderr naming the file, exit code 2, no traceback."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from stenoscope.clip import Clip
from stenoscope.io import write_clip


def _grey_dicom(tmp_path: Path, name: str = "base.dcm") -> Path:
    frames = (np.arange(2 * 40 * 40).reshape(2, 40, 40) % 251).astype(np.uint8)
    return write_clip(Clip(frames=frames, frame_time_ms=66.7), tmp_path / name)


def _edited_dicom(tmp_path: Path, name: str, edit) -> Path:
    ds = pydicom.dcmread(_grey_dicom(tmp_path))
    edit(ds)
    ds.save_as(tmp_path / name)
    return tmp_path / name


def _expect_one_line_error(cli, path: Path, *causes: str) -> str:
    result = cli("info", path)
    assert result.code == 2, result.out
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    line = lines[0]
    assert line.startswith("error: ") and path.name in line
    for cause in causes:
        assert cause in line, line
    return line


def test_missing_path(cli, tmp_path: Path) -> None:
    _expect_one_line_error(cli, tmp_path / "nowhere.dcm", "no such file")


def test_truncated_phantom_dicom(cli, phantom_dir: Path, tmp_path: Path) -> None:
    data = (phantom_dir / "IM1.dcm").read_bytes()
    truncated = tmp_path / "IM1_truncated.dcm"
    truncated.write_bytes(data[: len(data) // 2])
    with warnings.catch_warnings(record=True) as caught:  # a warning would be a second stderr line
        warnings.simplefilter("always")
        _expect_one_line_error(cli, truncated, "truncated DICOM file")
    assert not caught, [str(warning.message) for warning in caught]


def test_dicom_cut_right_after_its_preamble(cli, phantom_dir: Path, tmp_path: Path) -> None:
    cut = tmp_path / "IM2_header_only.dcm"
    cut.write_bytes((phantom_dir / "IM2.dcm").read_bytes()[:132])
    _expect_one_line_error(cli, cut, "truncated DICOM file")


def test_truncated_uncompressed_dicom(cli, tmp_path: Path) -> None:
    data = _grey_dicom(tmp_path).read_bytes()
    truncated = tmp_path / "cut.dcm"
    truncated.write_bytes(data[:-500])
    _expect_one_line_error(cli, truncated, "truncated")


def test_dicom_without_pixel_data(cli, tmp_path: Path) -> None:
    path = _edited_dicom(tmp_path, "no_pixels.dcm", lambda ds: delattr(ds, "PixelData"))
    _expect_one_line_error(cli, path, "no pixel data")


def test_colour_dicom(cli, tmp_path: Path) -> None:
    def to_rgb(ds: pydicom.Dataset) -> None:
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        ds.PixelData = np.repeat(np.frombuffer(ds.PixelData, np.uint8), 3).tobytes()

    _expect_one_line_error(cli, _edited_dicom(tmp_path, "colour.dcm", to_rgb), "colour")


def test_text_file_named_dcm(cli, tmp_path: Path) -> None:
    path = tmp_path / "notes.dcm"
    path.write_text("patient notes, not an image\n" * 20)
    _expect_one_line_error(cli, path, "not a DICOM file")


def test_text_file_named_png(cli, tmp_path: Path) -> None:
    path = tmp_path / "frame.png"
    path.write_text("hello")
    _expect_one_line_error(cli, path, "not an image")


def test_unknown_file(cli, tmp_path: Path) -> None:
    path = tmp_path / "readme.txt"
    path.write_text("hello")
    _expect_one_line_error(cli, path, "not a clip")


def test_empty_file(cli, tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    _expect_one_line_error(cli, path, "empty file")


def test_truncated_png(cli, tmp_path: Path) -> None:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(
        tmp_path / "f.png"
    )
    cut = tmp_path / "cut.png"
    cut.write_bytes((tmp_path / "f.png").read_bytes()[:300])
    _expect_one_line_error(cli, cut, "truncated")


def test_truncated_video(cli, tmp_path: Path) -> None:
    frames = np.random.default_rng(0).integers(0, 255, (4, 32, 32), dtype=np.uint8)
    data = write_clip(Clip(frames=frames, frame_time_ms=40.0), tmp_path / "full.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[:200])
    _expect_one_line_error(cli, cut, "video")


def test_empty_folder(cli, tmp_path: Path) -> None:
    folder = tmp_path / "empty_run"
    folder.mkdir()
    (folder / "frame_0001.xml").write_text("<annotation/>")
    _expect_one_line_error(cli, folder, "no image frames")


def test_folder_with_mixed_sizes_names_the_odd_frame(cli, tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    for index in range(3):
        Image.fromarray(np.zeros((16, 16), np.uint8)).save(folder / f"frame_{index}.png")
    Image.fromarray(np.zeros((16, 20), np.uint8)).save(folder / "frame_3.png")
    _expect_one_line_error(cli, folder, "differ in size", "16x16", "frame_3.png (20x16)")


def test_zero_frames(cli, tmp_path: Path) -> None:
    path = tmp_path / "none.npy"
    np.save(path, np.zeros((0, 8, 8), np.uint8))
    _expect_one_line_error(cli, path, "zero frames")


@pytest.mark.parametrize(
    ("array", "cause"),
    [
        (np.full((2, 4, 4), 1.5), "[0, 1]"),
        (np.zeros((2, 3, 4, 4), np.uint8), "shape"),
        (np.zeros((4, 4), bool), "mask"),
    ],
)
def test_arrays_that_are_not_frames(cli, tmp_path: Path, array: np.ndarray, cause: str) -> None:
    path = tmp_path / "bad.npy"
    np.save(path, array)
    _expect_one_line_error(cli, path, cause)


def test_unsupported_transfer_syntax(cli, tmp_path: Path) -> None:
    def as_jpip(ds: pydicom.Dataset) -> None:
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.94"  # JPIP Referenced: pixels elsewhere
        ds.PixelData = pydicom.encaps.encapsulate([bytes(64)])

    path = _edited_dicom(tmp_path, "jpip.dcm", as_jpip)
    _expect_one_line_error(cli, path, "unsupported transfer syntax", "JPIP")


def test_missing_decoder_names_the_plugin(cli, tmp_path: Path, monkeypatch) -> None:
    import pydicom.pixels

    class Unavailable:
        is_available = False

    path = _edited_dicom(tmp_path, "jpegls.dcm", lambda ds: ds.compress(pydicom.uid.JPEGLSLossless))
    monkeypatch.setattr(pydicom.pixels, "get_decoder", lambda syntax: Unavailable())
    _expect_one_line_error(cli, path, "JPEG-LS", "pip install pyjpegls")


def test_info_json_has_exactly_the_issue_keys(cli, phantom_dir: Path) -> None:
    result = cli("info", phantom_dir / "IM5.dcm", "--json")
    assert result.code == 0, result.err
    info = result.json()
    assert list(info) == [
        "n_frames",
        "height",
        "width",
        "bits_stored",
        "frame_time_ms",
        "pixel_spacing_mm",
        "primary_angle",
        "secondary_angle",
        "modality",
        "format",
    ]
    assert info["n_frames"] == 16 and info["frame_time_ms"] == pytest.approx(66.67, abs=0.01)
    assert info["format"] == "dicom" and info["pixel_spacing_mm"] == pytest.approx([0.3021, 0.3021], abs=1e-4)


def test_info_table_and_unknown_values(cli, vukicevic_dir: Path) -> None:
    result = cli("info", vukicevic_dir / "sample2_proj1")
    assert result.code == 0, result.err
    assert "n_frames" in result.out and "40" in result.out and "unknown" in result.out
