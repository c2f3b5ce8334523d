"""COCO box annotations (the ARCADE layout): whole frames with their lesion boxes.

Accepted paths: an annotation ``.json``; a split folder holding ``images/`` and ``annotations/*.json``; or a
root whose sub-folders are such splits (ARCADE: ``train/`` and ``val/``), pooled unless ``splits`` picks some.
Frames listed together in a ``near_duplicates.csv`` beside the splits (columns ``image_a,image_b``, paths
relative to that file) are merged into one group, so identical frames never sit on both sides of a split.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from stenoscope.data._base import Entry, SampleDataset, as_boxes, load_entry_image
from stenoscope.errors import InputError

NEAR_DUPLICATES = "near_duplicates.csv"


def _annotation_files(folder: Path) -> list[Path]:
    return sorted((folder / "annotations").glob("*.json")) if (folder / "annotations").is_dir() else []


def is_coco_layout(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".json"
    return path.is_dir() and bool(_annotation_files(path) or _split_folders(path))


def _split_folders(root: Path) -> list[Path]:
    return sorted(child for child in root.iterdir() if child.is_dir() and _annotation_files(child))


def _images_folder(json_path: Path) -> Path:
    for candidate in (json_path.parent.parent / "images", json_path.parent / "images", json_path.parent):
        if candidate.is_dir():
            return candidate
    return json_path.parent


def read_near_duplicate_groups(csv_path: Path) -> dict[Path, str]:
    """Map each listed frame (resolved path) to its group name (the first member, sorted), by union-find."""
    parent: dict[str, str] = {}

    def find(item: str) -> str:
        parent.setdefault(item, item)
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    try:
        with csv_path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                first, second = find(row["image_a"].strip()), find(row["image_b"].strip())
                if first != second:
                    parent[max(first, second)] = min(first, second)
    except (OSError, KeyError) as error:
        raise InputError(csv_path, f"cannot read near-duplicate pairs ({error})") from error
    return {(csv_path.parent / item).resolve(): f"dup:{find(item)}" for item in parent}


def _find_near_duplicates(path: Path) -> Path | None:
    folder = path if path.is_dir() else path.parent
    for candidate in (folder, folder.parent, folder.parent.parent):
        if (candidate / NEAR_DUPLICATES).is_file():
            return candidate / NEAR_DUPLICATES
    return None


def _read_coco(json_path: Path, category: str, root: Path) -> list[Entry]:
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
        category_ids = {item["id"] for item in data["categories"] if item["name"] == category}
        images = {item["id"]: item["file_name"] for item in data["images"]}
        boxes: dict[int, list[list[float]]] = {image_id: [] for image_id in images}
        for annotation in data["annotations"]:
            if annotation["category_id"] in category_ids:
                boxes[annotation["image_id"]].append(annotation["bbox"])
    except (OSError, ValueError, KeyError) as error:
        raise InputError(json_path, f"not a COCO annotation file ({error})") from error
    images_folder = _images_folder(json_path)
    entries = []
    for image_id, file_name in sorted(images.items()):
        path = images_folder / file_name
        image_boxes = as_boxes(boxes[image_id])
        group = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        entries.append(Entry(str(path), int(len(image_boxes) > 0), group, image_boxes))
    return entries


def coco_dataset(
    path: str | Path,
    category: str = "stenosis",
    splits: Sequence[str] | None = None,
    near_duplicates: str | Path | None = "auto",
) -> SampleDataset:
    """Whole frames with the boxes of ``category``; label 1 when a frame has at least one box.

    Args:
        path: annotation file, split folder or root of split folders.
        category: COCO category name of the lesions.
        splits: sub-folders of a root to use (default all).
        near_duplicates: ``"auto"`` looks for ``near_duplicates.csv`` next to ``path`` and up to two
            folders above; a path uses that file; ``None`` keeps every frame in its own group.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    if path.is_file():
        json_files, root = [path], _images_folder(path).parent
    elif _annotation_files(path):
        json_files, root = _annotation_files(path), path.parent
    else:
        folders = [f for f in _split_folders(path) if splits is None or f.name in splits]
        json_files, root = [file for folder in folders for file in _annotation_files(folder)], path
    if not json_files:
        raise InputError(path, "no COCO annotation files found (expected annotations/*.json)")
    entries = [entry for json_path in json_files for entry in _read_coco(json_path, category, root)]
    duplicates_file = _find_near_duplicates(path) if near_duplicates == "auto" else near_duplicates
    if duplicates_file is not None:
        groups = read_near_duplicate_groups(Path(duplicates_file))
        for entry in entries:
            entry.group = groups.get(Path(entry.source).resolve(), entry.group)
    if not any(len(entry.boxes) for entry in entries):
        raise InputError(path, f"no boxes of category {category!r}")
    return SampleDataset(entries, load_entry_image, kind="frame", name="coco")
