"""``read_clip`` and ``write_clip``: route a path to the reader or writer that handles it."""

from __future__ import annotations

from pathlib import Path

from stenoscope.clip import Clip
from stenoscope.errors import InputError, StenoscopeError
from stenoscope.io._detect import DICOM_SUFFIXES, WRITE_FORMATS, sniff_format

_EXPECTED = "expected DICOM, mp4/avi/mov/gif video, png/jpg/bmp/tif image, .npy/.npz or a folder of frames"
_SUFFIX_TO_WRITE_FORMAT = {
    **dict.fromkeys(DICOM_SUFFIXES, "dicom"),
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".avi": "avi",
    ".gif": "gif",
    ".npy": "npy",
    ".npz": "npz",
    "": "frames",
}


def read_clip(path: str | Path) -> Clip:
    """Read a clip from a DICOM file, video, single image, ``.npy``/``.npz`` or a folder of frames.

    The reader is chosen by the file's content (magic bytes); the suffix is only a fallback.

    Raises:
        InputError: the path is missing or is not a readable grey clip; the message names the cause.

    Example:
        >>> clip = read_clip("run.dcm")  # doctest: +SKIP
        >>> clip.n_frames, clip.frame_time_ms  # doctest: +SKIP
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(path, "no such file or folder")
    if path.is_dir():
        from stenoscope.io.images import read_frame_folder

        try:
            return read_frame_folder(path)
        except PermissionError as error:
            raise InputError(error.filename or path, "permission denied") from error
    try:
        kind = sniff_format(path)
    except OSError as error:
        raise InputError(path, f"cannot open ({error.strerror or error})") from error
    if path.stat().st_size == 0:
        raise InputError(path, "empty file")
    if kind is None:
        raise InputError(path, f"not a clip stenoscope can read ({_EXPECTED})")
    return _read_known(path, kind)


def _read_known(path: Path, kind: str) -> Clip:
    if kind == "dicom":
        from stenoscope.io.dicom import looks_like_dicom, read_dicom

        with path.open("rb") as handle:
            if not looks_like_dicom(handle.read(132)):
                raise InputError(path, "not a DICOM file (no 'DICM' marker and no DICOM header)")
        return read_dicom(path)
    if kind == "image":
        from stenoscope.io.images import read_image

        return read_image(path)
    if kind in ("video", "gif"):
        from stenoscope.io.video import read_gif, read_video

        return read_gif(path) if kind == "gif" else read_video(path)
    from stenoscope.io.arrays import read_array

    return read_array(path, kind)


def write_clip(clip: Clip, path: str | Path, format: str | None = None) -> Path:
    """Write ``clip`` atomically and return the path written.

    Args:
        clip: the clip to write.
        path: target file, or a folder for ``frames`` (``frame_0000.png``, ...).
        format: one of ``dicom``, ``mp4``, ``avi``, ``gif``, ``npy``, ``npz``, ``frames``; by default from
            the suffix (no suffix means a folder of PNG frames).

    Raises:
        StenoscopeError: the format is unknown or cannot be inferred.
    """
    path = Path(path).expanduser()
    chosen = format.lower() if format else _SUFFIX_TO_WRITE_FORMAT.get(path.suffix.lower())
    if chosen in ("dcm", "png"):
        chosen = {"dcm": "dicom", "png": "frames"}[chosen]
    if chosen not in WRITE_FORMATS:
        raise StenoscopeError(
            f"{path}: cannot write format {format or path.suffix!r}; choose one of {', '.join(WRITE_FORMATS)}"
        )
    if chosen == "dicom":
        from stenoscope.io.dicom import write_dicom

        return write_dicom(clip, path)
    if chosen in ("mp4", "avi"):
        from stenoscope.io.video import write_video

        return write_video(clip, path, chosen)
    if chosen == "gif":
        from stenoscope.io.video import write_gif

        return write_gif(clip, path)
    if chosen == "frames":
        from stenoscope.io.images import write_frame_folder

        return write_frame_folder(clip, path)
    from stenoscope.io.arrays import write_array

    return write_array(clip, path, chosen)
