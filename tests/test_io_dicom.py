"""DICOM reading (real phantom runs, every transfer syntax family, metadata) and the XA writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from stenoscope.clip import Clip
from stenoscope.io import read_clip, write_clip

# NumberOfFrames of each phantom file, read from its header (all CineRate 15, FrameTime 66.6667 ms).
PHANTOM_FRAMES = {"IM1": 14, "IM2": 12, "IM3": 12, "IM4": 10, "IM5": 16, "IM6": 9, "IM7": 9, "IM8": 8}


def _clip(frames: np.ndarray, bits: int = 8, **metadata) -> Clip:
    return Clip(frames=frames, bits_stored=bits, **metadata)


def _ramp(n_frames: int = 3, height: int = 24, width: int = 20, top: int = 255) -> np.ndarray:
    """Frames whose every pixel differs from its neighbours, so orientation and order errors show."""
    values = np.arange(n_frames * height * width, dtype=np.int64).reshape(n_frames, height, width)
    return (values * 7919 % (top + 1)).astype(np.uint8 if top <= 255 else np.uint16)


@pytest.mark.parametrize("name", sorted(PHANTOM_FRAMES))
def test_every_phantom_file_decodes_with_its_frame_count_and_time(phantom_dir: Path, name: str) -> None:
    path = phantom_dir / f"{name}.dcm"
    header = pydicom.dcmread(path, stop_before_pixels=True)
    clip = read_clip(path)
    assert clip.n_frames == int(header.NumberOfFrames) == PHANTOM_FRAMES[name]
    assert (clip.height, clip.width) == (512, 512)
    assert clip.frames.dtype == np.uint8 and clip.bits_stored == 8
    assert clip.frame_time_ms == pytest.approx(66.7, abs=0.05)
    assert clip.format == "dicom" and clip.modality == "XA"
    assert clip.primary_angle == pytest.approx(float(header.PositionerPrimaryAngle))
    assert clip.secondary_angle == pytest.approx(float(header.PositionerSecondaryAngle))
    assert clip.frames.std() > 5  # real image content, not a blank decode


def test_phantom_pixel_spacing_is_corrected_to_the_isocentre(phantom_dir: Path) -> None:
    clip = read_clip(phantom_dir / "IM5.dcm")  # ImagerPixelSpacing 0.390625, SID 931, SOD 720
    assert clip.pixel_spacing_mm == pytest.approx((0.390625 * 720 / 931,) * 2)
    assert read_clip(phantom_dir / "IM1.dcm").pixel_spacing_mm is None  # no ImagerPixelSpacing there


def test_phantom_read_by_content_without_suffix(phantom_dir: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "IM0001"
    renamed.write_bytes((phantom_dir / "IM8.dcm").read_bytes())
    assert read_clip(renamed).n_frames == 8


def test_round_trip_keeps_pixels_and_metadata_and_writes_no_identifiers(tmp_path: Path) -> None:
    clip = _clip(
        _ramp(), frame_time_ms=100.0, pixel_spacing_mm=(0.3, 0.3), primary_angle=-30.5, secondary_angle=20.0
    )
    path = write_clip(clip, tmp_path / "run.dcm")
    back = read_clip(path)
    np.testing.assert_array_equal(back.frames, clip.frames)
    assert back.frame_time_ms == pytest.approx(100.0)
    assert back.pixel_spacing_mm == pytest.approx((0.3, 0.3))
    assert (back.primary_angle, back.secondary_angle) == (-30.5, 20.0)
    assert back.manufacturer == "stenoscope synthetic"
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.12.1"  # X-Ray Angiographic Image Storage
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert ds.PhotometricInterpretation == "MONOCHROME2" and int(ds.NumberOfFrames) == 3
    assert ds.FrameIncrementPointer == 0x00181063 and int(ds.CineRate) == 10
    assert str(ds.PatientName) == "" and ds.PatientID == ""
    again = pydicom.dcmread(write_clip(clip, tmp_path / "again.dcm"), stop_before_pixels=True)
    assert again.SOPInstanceUID != ds.SOPInstanceUID and again.StudyInstanceUID != ds.StudyInstanceUID


def test_twelve_bit_round_trip_stays_uint16(tmp_path: Path) -> None:
    frames = _ramp(top=4095)
    back = read_clip(write_clip(_clip(frames, bits=12), tmp_path / "deep.dcm"))
    assert back.frames.dtype == np.uint16 and back.bits_stored == 12
    np.testing.assert_array_equal(back.frames, frames)
    assert pydicom.dcmread(tmp_path / "deep.dcm").BitsAllocated == 16


def _rewrite(path: Path, target: Path, edit) -> Path:
    ds = pydicom.dcmread(path)
    edit(ds)
    ds.save_as(target)
    return target


def test_monochrome1_is_inverted(tmp_path: Path) -> None:
    frames = _ramp(top=4095)
    source = write_clip(_clip(frames, bits=12), tmp_path / "m2.dcm")
    path = _rewrite(
        source, tmp_path / "m1.dcm", lambda ds: setattr(ds, "PhotometricInterpretation", "MONOCHROME1")
    )
    np.testing.assert_array_equal(read_clip(path).frames, 4095 - frames)


@pytest.mark.parametrize(
    ("syntax", "bits"),
    [
        (RLELossless, 8),
        (RLELossless, 12),
        (JPEGLSLossless, 12),
        (JPEG2000Lossless, 8),
        (JPEG2000Lossless, 12),
    ],
)
def test_compressed_transfer_syntaxes_decode_exactly(tmp_path: Path, syntax: str, bits: int) -> None:
    frames = _ramp(height=64, width=48, top=(1 << bits) - 1)  # JPEG 2000 needs tiles of at least 32 px
    source = write_clip(_clip(frames, bits=bits, frame_time_ms=66.7), tmp_path / "plain.dcm")
    path = _rewrite(source, tmp_path / "packed.dcm", lambda ds: ds.compress(syntax))
    assert pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == syntax
    clip = read_clip(path)
    np.testing.assert_array_equal(clip.frames, frames)
    assert clip.bits_stored == bits and clip.frame_time_ms == pytest.approx(66.7)


def test_single_frame_implicit_vr_dicom_without_preamble(tmp_path: Path) -> None:
    frame = _ramp(n_frames=1)[0]
    ds = pydicom.Dataset()
    ds.Modality, ds.SamplesPerPixel, ds.PhotometricInterpretation = "RF", 1, "MONOCHROME2"
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = *frame.shape, 8, 8, 7
    ds.PixelRepresentation = 0
    ds.PixelData = frame.tobytes()
    path = tmp_path / "bare"
    pydicom.filewriter.dcmwrite(path, ds, implicit_vr=True, little_endian=True)
    assert path.read_bytes()[:2] == b"\x08\x00"  # no preamble, no meta: starts with group 0008
    clip = read_clip(path)
    assert clip.modality == "RF" and clip.n_frames == 1
    np.testing.assert_array_equal(clip.frames[0], frame)


def _metadata_file(tmp_path: Path, **attributes) -> Path:
    source = write_clip(_clip(_ramp()), tmp_path / "base.dcm")

    def edit(ds: pydicom.Dataset) -> None:
        for key in ("FrameTime", "CineRate", "RecommendedDisplayFrameRate", "FrameIncrementPointer"):
            if key in ds:
                delattr(ds, key)
        for key, value in attributes.items():
            setattr(ds, key, value)

    return _rewrite(source, tmp_path / "meta.dcm", edit)


@pytest.mark.parametrize(
    ("attributes", "expected_ms"),
    [
        ({"FrameTimeVector": ["0", "50", "70", "60"]}, 60.0),
        ({"FrameTimeVector": ["0", "40", "40"], "CineRate": 10}, 40.0),
        ({"CineRate": 15}, 1000 / 15),
        ({"RecommendedDisplayFrameRate": 30}, 1000 / 30),
        ({"FrameTime": "33.3", "CineRate": 15}, 33.3),
        ({}, None),
    ],
)
def test_frame_time_sources_in_priority_order(tmp_path: Path, attributes: dict, expected_ms) -> None:
    clip = read_clip(_metadata_file(tmp_path, **attributes))
    assert clip.frame_time_ms == (None if expected_ms is None else pytest.approx(expected_ms))


def test_pixel_spacing_sources(tmp_path: Path) -> None:
    magnified = _metadata_file(
        tmp_path,
        ImagerPixelSpacing=["0.2", "0.25"],
        DistanceSourceToDetector="1000",
        DistanceSourceToPatient="750",
    )
    assert read_clip(magnified).pixel_spacing_mm == pytest.approx((0.15, 0.1875))
    at_detector = _metadata_file(tmp_path, ImagerPixelSpacing=["0.2", "0.2"])
    assert read_clip(at_detector).pixel_spacing_mm == pytest.approx((0.2, 0.2))
    calibrated = _metadata_file(tmp_path, PixelSpacing=["0.17", "0.17"])
    assert read_clip(calibrated).pixel_spacing_mm == pytest.approx((0.17, 0.17))


def test_reader_keeps_no_patient_identifiers(tmp_path: Path) -> None:
    path = _metadata_file(tmp_path, PatientName="Doe^Jane", PatientID="MRN123", PatientBirthDate="19500101")
    clip = read_clip(path)
    text = repr(clip.info()) + repr(clip.extra)
    assert "Doe" not in text and "MRN123" not in text and "1950" not in text


def test_implicit_vr_file_meta_round_trip(tmp_path: Path) -> None:
    source = write_clip(_clip(_ramp()), tmp_path / "base.dcm")
    ds = pydicom.dcmread(source)
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.save_as(tmp_path / "implicit.dcm", implicit_vr=True, little_endian=True)
    np.testing.assert_array_equal(read_clip(tmp_path / "implicit.dcm").frames, _ramp())


def test_folder_of_single_frame_dicoms_follows_instance_number(tmp_path: Path) -> None:
    frames = _ramp(n_frames=3)
    folder = tmp_path / "series"
    folder.mkdir()
    series_uid = pydicom.uid.generate_uid()
    for index, frame in enumerate(frames):  # file names in reverse acquisition order
        path = write_clip(_clip(frame, frame_time_ms=80.0), tmp_path / "one.dcm")
        _rewrite(
            path,
            folder / f"IMG{2 - index:04d}",
            lambda ds, number=index + 1: (
                setattr(ds, "SeriesInstanceUID", series_uid),
                setattr(ds, "InstanceNumber", number),
            ),
        )
    (folder / "DICOMDIR.txt").write_text("index")
    clip = read_clip(folder)
    np.testing.assert_array_equal(clip.frames, frames)
    assert clip.format == "dicom" and clip.frame_time_ms == 80.0 and clip.source == str(folder)


def test_folder_of_several_dicom_series_is_refused(tmp_path: Path) -> None:
    from stenoscope.errors import InputError

    for name in ("run1.dcm", "run2.dcm"):
        write_clip(_clip(_ramp()), tmp_path / name)
    with pytest.raises(InputError, match="2 DICOM series"):
        read_clip(tmp_path)


@pytest.mark.parametrize(
    ("syntax", "codec", "muxer"),
    [("1.2.840.10008.1.2.4.102", "libx264", "h264"), ("1.2.840.10008.1.2.4.100", "mpeg2video", "mpeg2video")],
)
def test_dicom_video_transfer_syntaxes_decode_to_grey(
    tmp_path: Path, syntax: str, codec: str, muxer: str
) -> None:
    import io
    from fractions import Fraction

    import av

    rows, columns = np.mgrid[0:64, 0:80]
    frames = np.stack([(100 + rows + columns + 10 * index).clip(0, 255) for index in range(5)]).astype(
        np.uint8
    )
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=muxer) as container:
        stream = container.add_stream(codec, rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 80, 64, "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="gray")))
        container.mux(stream.encode(None))

    def as_video(ds: pydicom.Dataset) -> None:
        ds.file_meta.TransferSyntaxUID = syntax
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "YBR_PARTIAL_420", 0
        ds.NumberOfFrames, ds.Rows, ds.Columns = 5, 64, 80
        ds.PixelData = pydicom.encaps.encapsulate([buffer.getvalue()], has_bot=False)

    source = write_clip(_clip(frames, frame_time_ms=40.0), tmp_path / "plain.dcm")
    clip = read_clip(_rewrite(source, tmp_path / "video.dcm", as_video))
    assert clip.frames.shape == frames.shape and clip.frame_time_ms == 40.0 and clip.format == "dicom"
    assert np.abs(clip.frames.astype(int) - frames).mean() < 3


def test_jpeg_baseline_dicom_decodes_close_to_the_original(tmp_path: Path) -> None:
    import io

    from PIL import Image

    rows, columns = np.mgrid[0:64, 0:48]
    frames = np.stack([(60 + 2 * rows + columns + 5 * index) for index in range(3)]).astype(np.uint8)
    encoded = []
    for frame in frames:
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="JPEG", quality=95)
        encoded.append(buffer.getvalue())

    def as_jpeg(ds: pydicom.Dataset) -> None:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.JPEGBaseline8Bit
        ds.PixelData = pydicom.encaps.encapsulate(encoded)

    source = write_clip(_clip(frames), tmp_path / "plain.dcm")
    clip = read_clip(_rewrite(source, tmp_path / "jpeg.dcm", as_jpeg))
    assert clip.frames.shape == frames.shape
    assert np.abs(clip.frames.astype(int) - frames).mean() < 2


def test_signed_pixels_are_shifted_to_start_at_zero(tmp_path: Path) -> None:
    signed = np.array([[[-2048, -1], [0, 2047]]], dtype=np.int16)

    def as_signed(ds: pydicom.Dataset) -> None:
        ds.PixelRepresentation = 1
        ds.Rows, ds.Columns, ds.NumberOfFrames = 2, 2, 1
        ds.PixelData = signed.tobytes()

    source = write_clip(_clip(_ramp(top=4095), bits=12), tmp_path / "plain.dcm")
    clip = read_clip(_rewrite(source, tmp_path / "signed.dcm", as_signed))
    np.testing.assert_array_equal(clip.frames[0], [[0, 2047], [2048, 4095]])
    assert clip.frames.dtype == np.uint16 and clip.bits_stored == 12


def test_written_dicom_is_read_by_gdcm_as_well(tmp_path: Path) -> None:
    gdcm = pytest.importorskip("gdcm")
    path = write_clip(_clip(_ramp(top=4095), bits=12, frame_time_ms=66.7), tmp_path / "run.dcm")
    reader = gdcm.ImageReader()
    reader.SetFileName(str(path))
    assert reader.Read()
    image = reader.GetImage()
    assert image.GetNumberOfDimensions() == 3 and image.GetDimension(2) == 3
    assert image.GetPixelFormat().GetBitsStored() == 12


def test_enhanced_dicom_metadata_inside_functional_groups(tmp_path: Path) -> None:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    def enhanced(ds: pydicom.Dataset) -> None:
        geometry = Dataset()
        geometry.DistanceSourceToDetector, geometry.DistanceSourceToIsocenter = 1200.0, 800.0
        pixel_properties = Dataset()
        pixel_properties.ImagerPixelSpacing = ["0.3", "0.3"]
        shared = Dataset()
        shared.XRayGeometrySequence = Sequence([geometry])
        shared.FramePixelDataPropertiesSequence = Sequence([pixel_properties])
        position = Dataset()
        position.PositionerPrimaryAngle, position.PositionerSecondaryAngle = "-31", "12.5"
        first_frame = Dataset()
        first_frame.PositionerPositionSequence = Sequence([position])
        ds.SharedFunctionalGroupsSequence = Sequence([shared])
        ds.PerFrameFunctionalGroupsSequence = Sequence([first_frame, Dataset(), Dataset()])

    source = write_clip(_clip(_ramp(), frame_time_ms=40.0), tmp_path / "plain.dcm")
    clip = read_clip(_rewrite(source, tmp_path / "enhanced.dcm", enhanced))
    assert clip.pixel_spacing_mm == pytest.approx((0.2, 0.2))
    assert (clip.primary_angle, clip.secondary_angle) == (-31.0, 12.5)
