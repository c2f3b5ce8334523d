"""ImageFolder-style patches: ``positive/`` and ``negative/`` folders, optionally under split folders.

Accepts ``root/{positive,negative}`` or ``root/<split>/{positive,negative}`` (e.g. patches-ovalle's
``train/validation/test``), which are pooled: cross-validation makes its own splits. No patient ids exist
in such collections, so every patch is its own group.
"""

from __future__ import annotations

from pathlib import Path

from stenoscope.data._base import Entry, SampleDataset, load_entry_image
from stenoscope.errors import InputError

CLASS_FOLDERS = {"negative": 0, "positive": 1}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _has_class_folders(folder: Path) -> bool:
    return any((folder / name).is_dir() for name in CLASS_FOLDERS)


def _class_roots(root: Path) -> list[Path]:
    """``[root]`` when it holds the class folders, else its split sub-folders that do."""
    if _has_class_folders(root):
        return [root]
    return sorted(child for child in root.iterdir() if child.is_dir() and _has_class_folders(child))


def is_imagefolder_layout(root: Path) -> bool:
    return root.is_dir() and bool(_class_roots(root))


def imagefolder_dataset(root: str | Path) -> SampleDataset:
    """All patches under the class folders, as region samples (they are crops, not whole frames)."""
    root = Path(root)
    if not root.is_dir() or not _class_roots(root):
        raise InputError(root, "not an image folder (expected positive/ and negative/ folders)")
    entries = []
    for class_root in _class_roots(root):
        for name, label in CLASS_FOLDERS.items():
            folder = class_root / name
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    entries.append(Entry(str(path), label, str(path.relative_to(root))))
    if not entries:
        raise InputError(root, "no images in positive/ or negative/")
    return SampleDataset(entries, load_entry_image, kind="region", name="imagefolder")
