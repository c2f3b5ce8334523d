"""Single images (png, jpg, bmp, tif; multi-page TIFF as a run) and folders of frame images.

A folder is read in natural order (``frame_2`` before ``frame_10``); files that are not images (the
``.xml`` box annotations beside each Danilov frame, ``.txt`` notes) are ignored. A folder with no images
but DICOM files is read as a run exported one DICOM file per frame. Grey conversion and
bit depth follow :mod:`stenoscope.io._grey`. Frame folders carry no timing: ``frame_time_ms`` is None.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np

from stenoscope._fs import atomic_dir
from stenoscope.clip import Clip
from stenoscope.errors import InputError
from stenoscope.io._detect import IMAGE_SUFFIXES
from stenoscope.io._grey import luma, to_clip_depth
from stenoscope.io._util import first_line

_DIGITS = re.compile(r"(\d+)")


def natural_key(path: Path) -> tuple:
    """Sort key that orders embedded numbers by value: ``frame_2`` before ``frame_10``."""
    parts = _DIGITS.split(path.name.lower())
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in parts)


def read_image(path: Path) -> Clip:
    """One image as a one-frame clip (a multi-page TIFF as one frame per page)."""
    pages, colour = _read_pages(path)
    frames = np.stack(pages)
    return _clip(frames, path, "image", colour)


def read_frame_folder(folder: Path) -> Clip:
    """Every image in ``folder`` (not recursive), in natural order, as one clip of equal-sized frames."""
    files = sorted(
        (
            entry
            for entry in folder.iterdir()
            if entry.is_file() and not entry.name.startswith(".") and entry.suffix.lower() in IMAGE_SUFFIXES
        ),
        key=natural_key,
    )
    if not files:
        dicom_files = _dicom_files(folder)
        if dicom_files:
            from stenoscope.io.dicom import read_dicom_folder

            return read_dicom_folder(folder, dicom_files)
        suffixes = ", ".join(sorted(suffix[1:] for suffix in IMAGE_SUFFIXES))
        raise InputError(folder, f"folder holds no image frames ({suffixes}) and no DICOM files")
    pages: list[np.ndarray] = []
    owners: list[Path] = []
    colour = False
    for file in files:
        file_pages, file_colour = _read_pages(file)
        pages.extend(file_pages)
        owners.extend([file] * len(file_pages))
        colour = colour or file_colour
    _check_one_size(folder, pages, owners)
    return _clip(np.stack(pages), folder, "frames", colour, extra={"n_files": len(files)})


def _dicom_files(folder: Path) -> list[Path]:
    """Files in ``folder`` whose content is DICOM, in natural order (DICOMDIR indexes excluded)."""
    from stenoscope.io.dicom import looks_like_dicom

    found = []
    for entry in sorted(folder.iterdir(), key=natural_key):
        if not entry.is_file() or entry.name.startswith(".") or entry.name.upper() == "DICOMDIR":
            continue
        with entry.open("rb") as handle:
            if looks_like_dicom(handle.read(132)):
                found.append(entry)
    return found


def write_frame_folder(clip: Clip, folder: Path) -> Path:
    """Write ``frame_0000.png``, ... (8- or 16-bit grey PNG); the folder appears whole or not at all."""
    from PIL import Image

    digits = max(4, len(str(clip.n_frames - 1)))
    frames = clip.frames if clip.frames.dtype in (np.uint8, np.uint16) else clip.as_uint8()
    with atomic_dir(folder) as tmp:
        for index, frame in enumerate(frames):
            Image.fromarray(np.ascontiguousarray(frame)).save(tmp / f"frame_{index:0{digits}d}.png")
    return Path(folder)


def _read_pages(path: Path) -> tuple[list[np.ndarray], bool]:
    """Grey pages of one image file and whether the file was colour."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            converted = [_grey_page(page.copy()) for page in ImageSequence.Iterator(image)]
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        cause = (
            "not an image" if isinstance(error, UnidentifiedImageError) else "unreadable or truncated image"
        )
        raise InputError(path, f"{cause} ({first_line(error)})") from error
    if not converted:
        raise InputError(path, "image has zero frames")
    return [page for page, _ in converted], any(colour for _, colour in converted)


def _grey_page(image) -> tuple[np.ndarray, bool]:
    """One PIL page as a 2-D integer or float array and whether it was colour."""
    mode = image.mode
    if mode in ("1", "L", "LA"):
        return np.asarray(image.convert("L")), False
    if mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16), False
    if mode in ("I", "F"):
        return np.asarray(image), False
    rgb = np.asarray(image.convert("RGB"))
    colour = not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))
    return luma(rgb), colour


def _check_one_size(folder: Path, pages: list[np.ndarray], owners: list[Path]) -> None:
    sizes = Counter(page.shape for page in pages)
    if len(sizes) == 1:
        return
    common = sizes.most_common(1)[0][0]
    odd = [
        f"{owner.name} ({page.shape[1]}x{page.shape[0]})"
        for page, owner in zip(pages, owners, strict=True)
        if page.shape != common
    ]
    shown = ", ".join(odd[:3]) + (f" and {len(odd) - 3} more" if len(odd) > 3 else "")
    raise InputError(folder, f"frames differ in size: most are {common[1]}x{common[0]} but {shown}")


def _clip(frames: np.ndarray, source: Path, fmt: str, colour: bool, extra: dict | None = None) -> Clip:
    frames, bits = to_clip_depth(frames, source)
    extra = dict(extra or {})
    if colour:
        extra["converted_from"] = "colour (BT.601 luma)"
    return Clip(frames=frames, bits_stored=bits, source=str(source), format=fmt, extra=extra)
