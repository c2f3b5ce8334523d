"""``open_dataset``: one entry point for every layout, with format auto-detection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stenoscope.data._base import SampleDataset
from stenoscope.data.coco import coco_dataset, is_coco_layout
from stenoscope.data.imagefolder import imagefolder_dataset, is_imagefolder_layout
from stenoscope.data.manifest import manifest_dataset
from stenoscope.data.paper import is_paper_layout, paper_dataset
from stenoscope.data.synthetic import synthetic_dataset
from stenoscope.data.voc import is_voc_layout, voc_dataset
from stenoscope.errors import InputError, StenoscopeError

FORMATS = ("auto", "paper", "csv", "coco", "voc", "imagefolder", "synthetic")


def detect_format(path: str | Path) -> str:
    """The layout of ``path``: ``csv``/``coco`` by suffix for files, else by the folders it holds."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".csv":
            return "csv"
        if suffix == ".json":
            return "coco"
        raise InputError(path, "a dataset file must be a .csv manifest or a COCO .json")
    for name, test in (
        ("paper", is_paper_layout),
        ("imagefolder", is_imagefolder_layout),
        ("coco", is_coco_layout),
        ("voc", is_voc_layout),
    ):
        if test(path):
            return name
    raise InputError(
        path,
        "unknown dataset layout (expected N/+A/ clips, positive/+negative/, COCO json, VOC xml or a CSV)",
    )


def open_dataset(path: str | Path | None, format: str = "auto", **options: Any) -> SampleDataset:
    """Open a dataset of any supported layout.

    Args:
        path: dataset file or folder (ignored for ``synthetic``).
        format: ``auto`` or one of ``paper``, ``csv``, ``coco``, ``voc``, ``imagefolder``, ``synthetic``.
        **options: passed to the layout's reader (e.g. ``keyframes``/``count`` for ``paper``,
            ``splits``/``near_duplicates`` for ``coco``, ``n``/``size``/``seed`` for ``synthetic``).

    Example:
        >>> data = open_dataset("../shared/data/patches-ovalle")  # doctest: +SKIP
        >>> data.summary()["samples"]
        247
    """
    if format not in FORMATS:
        raise StenoscopeError(f"unknown dataset format {format!r} (choose from {', '.join(FORMATS)})")
    if format == "synthetic":
        return synthetic_dataset(**options)
    if path is None:
        raise StenoscopeError(f"dataset format {format!r} needs a path")
    if format == "auto":
        format = detect_format(path)
    readers = {
        "paper": paper_dataset,
        "csv": manifest_dataset,
        "coco": coco_dataset,
        "voc": voc_dataset,
        "imagefolder": imagefolder_dataset,
    }
    try:
        return readers[format](path, **options)
    except TypeError as error:
        raise StenoscopeError(f"bad option for the {format} dataset: {error}") from error
