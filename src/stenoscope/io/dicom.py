"""DICOM cine runs in and out: grey XA/RF (or any grey modality), every common transfer syntax.

Decoding goes through pydicom 3's pixel plugins, which here means only permissively licensed decoders:
python-gdcm (JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000), pylibjpeg-openjpeg (JPEG 2000),
pylibjpeg-rle and pydicom itself (RLE), pyjpegls (JPEG-LS). The GPL pylibjpeg-libjpeg plugin is never
required. DICOM video (MPEG-2, H.264, HEVC transfer syntaxes) is decoded with PyAV. Only acquisition
metadata is kept; patient identifiers are never read into the Clip.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from stenoscope._fs import atomic_path
from stenoscope.clip import Clip
from stenoscope.errors import InputError
from stenoscope.io._util import first_line

# Which permissively licensed package decodes each compressed transfer syntax (named in errors).
_PLUGIN_FOR_SYNTAX = {
    "1.2.840.10008.1.2.4.50": "python-gdcm",  # JPEG Baseline (Process 1)
    "1.2.840.10008.1.2.4.51": "python-gdcm",  # JPEG Extended (Process 2 & 4)
    "1.2.840.10008.1.2.4.57": "python-gdcm",  # JPEG Lossless, Non-Hierarchical (Process 14)
    "1.2.840.10008.1.2.4.70": "python-gdcm",  # JPEG Lossless, Process 14 SV1 (the usual XA export)
    "1.2.840.10008.1.2.4.80": "pyjpegls",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81": "pyjpegls",  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90": "pylibjpeg-openjpeg",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91": "pylibjpeg-openjpeg",  # JPEG 2000
    "1.2.840.10008.1.2.4.201": "pylibjpeg-openjpeg",  # HTJ2K Lossless
    "1.2.840.10008.1.2.4.202": "pylibjpeg-openjpeg",  # HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.4.203": "pylibjpeg-openjpeg",  # HTJ2K
    "1.2.840.10008.1.2.5": "pylibjpeg-rle",  # RLE Lossless
}

# DICOM video transfer syntaxes: the fragments form one MPEG-2 / H.264 / HEVC elementary stream, decoded
# with PyAV. Their photometric interpretation is YBR 4:2:0 by rule; the luma plane is the grey picture.
_VIDEO_DEMUXER = {
    **dict.fromkeys(
        (
            "1.2.840.10008.1.2.4.100",
            "1.2.840.10008.1.2.4.100.1",
            "1.2.840.10008.1.2.4.101",
            "1.2.840.10008.1.2.4.101.1",
        ),
        "mpegvideo",
    ),
    **{
        f"1.2.840.10008.1.2.4.{number}{variant}": "h264"
        for number in range(102, 107)
        for variant in ("", ".1")
    },
    "1.2.840.10008.1.2.4.107": "hevc",
    "1.2.840.10008.1.2.4.108": "hevc",
}

_XA_STORAGE = "1.2.840.10008.5.1.4.1.1.12.1"  # X-Ray Angiographic Image Storage
_FRAME_TIME_TAG = 0x00181063
_SYNTHETIC_MANUFACTURER = "stenoscope synthetic"


def looks_like_dicom(head: bytes) -> bool:
    """True for a Part 10 file ('DICM' at byte 128) or a bare dataset starting with group 0002/0008."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    return len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00") and head[3:4] == b"\x00"


def read_dicom(path: Path) -> Clip:
    """Read a single- or multi-frame grey DICOM as a Clip, keeping its integer depth."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    with warnings.catch_warnings(record=True) as caught:  # pydicom warns (to stderr) about damaged files
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(path, force=True)
        except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError) as error:
            raise InputError(path, f"not a readable DICOM file ({first_line(error)})") from error
    if any("End of file" in str(warning.message) for warning in caught):
        raise InputError(path, "truncated DICOM file (it ends inside an element, usually the pixel data)")
    if "PixelData" not in ds:
        if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
            raise InputError(path, "DICOM holds floating-point pixel data, not an X-ray image")
        if len(ds) == 0:
            raise InputError(path, "truncated DICOM file (nothing after the file header)")
        raise InputError(path, "DICOM has no pixel data (a truncated file, or a report rather than an image)")
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    video = _VIDEO_DEMUXER.get(_transfer_syntax(ds))
    if video is None and (samples != 1 or not photometric.startswith("MONOCHROME")):
        cause = f"colour DICOM ({photometric}, {samples} samples per pixel); stenoscope reads grey X-ray only"
        raise InputError(path, cause)
    if not _transfer_syntax(ds):
        _assume_read_encoding(ds)
    frames = _decode_video(ds, path, video) if video else _decode_pixels(ds, path)
    bits_stored = 8 if video else int(ds.get("BitsStored", ds.get("BitsAllocated", 8)) or 8)
    frames, bits_stored = _to_unsigned(frames, bits_stored, int(ds.get("PixelRepresentation", 0) or 0))
    if photometric == "MONOCHROME1":
        frames = ((1 << bits_stored) - 1 - frames).astype(frames.dtype)
    spacing, spacing_source = _pixel_spacing(ds)
    extra: dict[str, Any] = {
        "transfer_syntax": _transfer_syntax(ds),
        "photometric": photometric,
    }
    if spacing_source:
        extra["pixel_spacing_source"] = spacing_source
    return Clip(
        frames=frames,
        bits_stored=bits_stored,
        frame_time_ms=_frame_time_ms(ds),
        pixel_spacing_mm=spacing,
        primary_angle=_float(_lookup(ds, "PositionerPrimaryAngle")),
        secondary_angle=_float(_lookup(ds, "PositionerSecondaryAngle")),
        modality=_text(ds.get("Modality")),
        manufacturer=_text(ds.get("Manufacturer")),
        source=str(path),
        format="dicom",
        extra=extra,
    )


def _decode_pixels(ds: Any, path: Path) -> np.ndarray:
    """Decode every frame to ``(T, H, W)``, naming the missing plugin when no decoder is available."""
    from pydicom.pixels import get_decoder

    syntax = _transfer_syntax(ds)
    if syntax:
        try:
            decoder = get_decoder(syntax)
        except NotImplementedError:
            cause = f"unsupported transfer syntax {_syntax_name(syntax)}; export it uncompressed"
            raise InputError(path, cause) from None
        if not decoder.is_available:
            plugin = _PLUGIN_FOR_SYNTAX.get(syntax, "python-gdcm")
            cause = f"no decoder for transfer syntax {_syntax_name(syntax)}; pip install {plugin}"
            raise InputError(path, cause)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pixels = ds.pixel_array
    except Exception as error:  # decoders raise many types for damaged data
        raise InputError(path, f"truncated or corrupt pixel data ({first_line(error)})") from error
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    pixels = np.asarray(pixels)
    if frames == 1 and pixels.ndim == 2:
        pixels = pixels[None]
    if pixels.ndim != 3 or pixels.shape[0] == 0:
        raise InputError(path, f"DICOM pixel data has shape {pixels.shape}, expected frames x rows x columns")
    return pixels


def _decode_video(ds: Any, path: Path, demuxer: str) -> np.ndarray:
    """Decode an MPEG-2/H.264/HEVC DICOM video (all fragments are one stream) to grey ``uint8`` frames."""
    import io

    import av
    from pydicom.encaps import generate_frames

    try:
        stream = next(generate_frames(ds.PixelData, number_of_frames=1))
        with av.open(io.BytesIO(stream), format=demuxer) as container:
            frames = [frame.to_ndarray(format="gray") for frame in container.decode(video=0)]
    except (av.FFmpegError, StopIteration, ValueError) as error:
        raise InputError(path, f"truncated or corrupt DICOM video stream ({first_line(error)})") from error
    if not frames:
        raise InputError(path, "DICOM video stream has zero frames")
    rows, columns = int(ds.get("Rows") or frames[0].shape[0]), int(ds.get("Columns") or frames[0].shape[1])
    return np.stack(frames)[:, :rows, :columns]  # encoders pad to whole macroblocks


def _assume_read_encoding(ds: Any) -> None:
    """A bare dataset (no file meta) is uncompressed in the encoding pydicom detected while reading it."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    implicit, little = ds.original_encoding
    if not hasattr(ds, "file_meta") or ds.file_meta is None:
        ds.file_meta = FileMetaDataset()
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    else:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def _transfer_syntax(ds: Any) -> str:
    return str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")


def _to_unsigned(frames: np.ndarray, bits_stored: int, signed: int) -> tuple[np.ndarray, int]:
    """Keep stored values as uint8 (<= 8 bits) or uint16; signed data are shifted to start at zero."""
    bits_stored = min(max(bits_stored, 1), 16)
    if signed:
        frames = frames.astype(np.int32) + (1 << (bits_stored - 1))
    dtype = np.uint8 if bits_stored <= 8 else np.uint16
    return np.clip(frames, 0, (1 << bits_stored) - 1).astype(dtype, copy=False), bits_stored


def _frame_time_ms(ds: Any) -> float | None:
    """FrameTime, else the mean FrameTimeVector step (its first entry is 0), else CineRate/display rate."""
    frame_time = _float(_lookup(ds, "FrameTime"))
    if frame_time and frame_time > 0:
        return frame_time
    vector = _lookup(ds, "FrameTimeVector")
    if vector is not None:
        steps = [float(value) for value in (vector if isinstance(vector, list | tuple) else list(vector))][1:]
        steps = [step for step in steps if step > 0]
        if steps:
            return float(np.mean(steps))
    for rate_key in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = _float(_lookup(ds, rate_key))
        if rate and rate > 0:
            return 1000.0 / rate
    return None


def _pixel_spacing(ds: Any) -> tuple[tuple[float, float] | None, str | None]:
    """Spacing at the isocentre: ImagerPixelSpacing / (SID / SOD) when both distances are known."""
    imager = _pair(_lookup(ds, "ImagerPixelSpacing"))
    if imager is not None:
        sid, sod = (
            _float(_lookup(ds, "DistanceSourceToDetector")),
            _float(_lookup(ds, "DistanceSourceToPatient") or _lookup(ds, "DistanceSourceToIsocenter")),
        )
        magnification = (sid / sod) if sid and sod and sid > 0 and sod > 0 else None
        if magnification is None:
            estimated = _float(_lookup(ds, "EstimatedRadiographicMagnificationFactor"))
            magnification = estimated if estimated and estimated > 0 else None
        if magnification is None:
            return imager, "ImagerPixelSpacing (at detector)"
        return (imager[0] / magnification, imager[1] / magnification), "ImagerPixelSpacing / magnification"
    spacing = _pair(_lookup(ds, "PixelSpacing"))
    return (spacing, "PixelSpacing") if spacing is not None else (None, None)


def _lookup(ds: Any, keyword: str) -> Any:
    """An attribute at the top level or, in enhanced (functional-group) DICOM, inside the shared or the
    first per-frame functional group, one sequence deep (e.g. PixelMeasuresSequence > PixelSpacing)."""
    value = ds.get(keyword)
    if value is not None:
        return value
    for groups_keyword in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        groups = ds.get(groups_keyword)
        if not groups:
            continue
        for element in groups[0]:
            if element.VR == "SQ" and element.value and keyword in element.value[0]:
                return element.value[0].get(keyword)
    return None


def _pair(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        row, column = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return (row, column) if row > 0 and column > 0 else None


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _syntax_name(syntax: str) -> str:
    from pydicom.uid import UID

    name = UID(syntax).name
    return f"{name} ({syntax})" if name != syntax else syntax


def write_dicom(clip: Clip, path: Path) -> Path:
    """Write a valid multi-frame XA DICOM (explicit VR little endian, uncompressed, MONOCHROME2).

    Fresh UIDs every time and empty patient attributes: nothing identifies a person.
    """
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

    frames = clip.frames
    if np.issubdtype(frames.dtype, np.floating):
        frames = clip.as_uint8() if clip.bits_stored <= 8 else _float_to_uint16(clip)
    bits_stored = clip.bits_stored if frames.dtype != np.uint8 or clip.bits_stored <= 8 else 8
    dtype = np.uint8 if bits_stored <= 8 else np.uint16
    frames = np.ascontiguousarray(frames.astype(dtype, copy=False))

    sop_instance = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = _XA_STORAGE
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)

    ds.SOPClassUID = _XA_STORAGE
    ds.SOPInstanceUID = sop_instance
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    for empty in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "AccessionNumber",
        "ReferringPhysicianName",
        "StudyID",
        "StudyDate",
        "StudyTime",
    ):
        setattr(ds, empty, "")
    ds.Modality = "XA"
    ds.Manufacturer = clip.manufacturer or _SYNTHETIC_MANUFACTURER
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.ImageType = ["DERIVED", "PRIMARY", "SINGLE A"]
    ds.PixelIntensityRelationship = "LIN"
    ds.PositionerMotion = "STATIC"
    ds.PatientOrientation = ""

    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.NumberOfFrames = clip.n_frames
    ds.Rows, ds.Columns = clip.height, clip.width
    ds.BitsAllocated = 8 if dtype == np.uint8 else 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    if clip.frame_time_ms is not None and clip.frame_time_ms > 0:
        ds.FrameTime = _ds(clip.frame_time_ms)
        ds.FrameIncrementPointer = _FRAME_TIME_TAG
        ds.CineRate = round(1000.0 / clip.frame_time_ms)
        ds.RecommendedDisplayFrameRate = round(1000.0 / clip.frame_time_ms)
    if clip.primary_angle is not None:
        ds.PositionerPrimaryAngle = _ds(clip.primary_angle)
    if clip.secondary_angle is not None:
        ds.PositionerSecondaryAngle = _ds(clip.secondary_angle)
    if clip.pixel_spacing_mm is not None:
        ds.ImagerPixelSpacing = [_ds(value) for value in clip.pixel_spacing_mm]
    ds.PixelData = frames.tobytes()
    ds["PixelData"].VR = "OB" if dtype == np.uint8 else "OW"

    with atomic_path(path) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return Path(path)


def _float_to_uint16(clip: Clip) -> np.ndarray:
    scale = (1 << clip.bits_stored) - 1
    return np.clip(np.rint(clip.as_float() * scale), 0, scale).astype(np.uint16)


def _ds(value: float) -> str:
    """A Decimal String of at most 16 characters."""
    text = f"{value:.6g}"
    return text if len(text) <= 16 else f"{value:.8e}"[:16]


def read_dicom_folder(folder: Path, files: list[Path]) -> Clip:
    """A run exported as one single-frame DICOM file per frame, ordered by InstanceNumber.

    Only one series is accepted: a study folder with several runs is ambiguous, so the error asks for one.
    """
    import pydicom

    headers = []
    for file in files:
        try:
            headers.append(pydicom.dcmread(file, stop_before_pixels=True, force=True))
        except Exception as error:  # pydicom raises many types for damaged headers
            raise InputError(file, f"not a readable DICOM file ({first_line(error)})") from error
    series = {str(header.get("SeriesInstanceUID", "")) for header in headers}
    if len(series) > 1:
        raise InputError(
            folder, f"folder holds {len(series)} DICOM series; pass one file or one series' folder"
        )
    ordered = [
        file
        for _, _, file in sorted(
            (int(header.get("InstanceNumber") or 0), index, file)
            for index, (header, file) in enumerate(zip(headers, files, strict=True))
        )
    ]
    clips = [read_dicom(file) for file in ordered]
    if len(clips) > 1 and any(clip.n_frames > 1 for clip in clips):
        raise InputError(folder, "folder holds several multi-frame DICOM runs; pass one file")
    sizes = {clip.frames.shape[1:] for clip in clips}
    if len(sizes) > 1:
        odd = [
            file.name
            for file, clip in zip(ordered, clips, strict=True)
            if clip.frames.shape[1:] != clips[0].frames.shape[1:]
        ]
        raise InputError(folder, f"DICOM frames differ in size from {ordered[0].name}: {', '.join(odd[:3])}")
    bits = max(clip.bits_stored for clip in clips)
    dtype = np.uint8 if bits <= 8 else np.uint16
    first = clips[0]
    return first.with_frames(
        np.concatenate([clip.frames.astype(dtype) for clip in clips]),
        bits_stored=bits,
        source=str(folder),
        extra={**first.extra, "n_files": len(files)},
    )
