"""Which reader a file needs, decided by its first bytes; the suffix only breaks ties.

Users rename files (``IM0001`` without suffix, ``.dcm`` that is really a JPEG), so content wins.
"""

from __future__ import annotations

from pathlib import Path

from stenoscope.io.dicom import looks_like_dicom

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".gif"})
ARRAY_SUFFIXES = frozenset({".npy", ".npz"})
DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic"})
SUPPORTED_SUFFIXES = tuple(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES | ARRAY_SUFFIXES | DICOM_SUFFIXES))
WRITE_FORMATS = ("dicom", "mp4", "avi", "gif", "npy", "npz", "frames")

_HEAD_BYTES = 132
# First box of an MP4/MOV file: ISO base media starts with 'ftyp'; old QuickTime files with other atoms.
_QUICKTIME_ATOMS = frozenset({b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})


def sniff_format(path: str | Path) -> str | None:
    """``dicom``, ``image``, ``video``, ``gif``, ``npy`` or ``npz`` from the content, else from the suffix.

    Returns None when neither the bytes nor the suffix say what the file is.
    """
    path = Path(path)
    with path.open("rb") as handle:
        head = handle.read(_HEAD_BYTES)
    by_content = _format_from_head(head)
    return by_content if by_content is not None else _format_from_suffix(path.suffix.lower())


def _format_from_head(head: bytes) -> str | None:
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "npz"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"II*\x00", b"MM\x00*")):
        return "image"
    if head[4:8] in _QUICKTIME_ATOMS or (head.startswith(b"RIFF") and head[8:12] == b"AVI "):
        return "video"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska / WebM
        return "video"
    if looks_like_dicom(head):
        return "dicom"
    return None


def _format_from_suffix(suffix: str) -> str | None:
    if suffix in DICOM_SUFFIXES:
        return "dicom"
    if suffix == ".gif":
        return "gif"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in ARRAY_SUFFIXES:
        return suffix[1:]
    return None
