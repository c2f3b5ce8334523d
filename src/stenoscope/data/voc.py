"""Pascal-VOC boxes (the Danilov layout): each image with a same-name ``.xml`` listing its lesion boxes.

Images are found recursively; the folder holding a frame is its group (Danilov: one folder per cine run,
whose consecutive frames are near-identical and must stay together). Images without an ``.xml`` or without
an object of the lesion class are negatives.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from stenoscope.data._base import Entry, SampleDataset, as_boxes, load_entry_image
from stenoscope.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def is_voc_layout(root: Path) -> bool:
    return root.is_dir() and next(root.rglob("*.xml"), None) is not None


def read_voc_boxes(xml_path: Path, name: str = "stenosis") -> list[list[float]]:
    """Boxes ``x, y, w, h`` of the objects named ``name`` (case-insensitive)."""
    try:
        tree = ET.parse(xml_path)
    except (OSError, ET.ParseError) as error:
        raise InputError(xml_path, f"not a Pascal-VOC file ({error})") from error
    boxes = []
    for item in tree.getroot().iter("object"):
        if (item.findtext("name") or "").strip().lower() != name.lower():
            continue
        box = item.find("bndbox")
        if box is None:
            continue
        x0, y0, x1, y1 = (float(box.findtext(key) or 0) for key in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append([x0, y0, x1 - x0, y1 - y0])
    return boxes


def voc_dataset(root: str | Path, name: str = "stenosis") -> SampleDataset:
    """Whole frames with their boxes; label 1 when a frame has at least one lesion box."""
    root = Path(root)
    if not is_voc_layout(root):
        raise InputError(root, "not a Pascal-VOC layout (expected images with same-name .xml files)")
    entries = []
    for image_path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        xml_path = image_path.with_suffix(".xml")
        boxes = as_boxes(read_voc_boxes(xml_path, name)) if xml_path.is_file() else as_boxes([])
        group = str(image_path.parent.relative_to(root)) if image_path.parent != root else image_path.stem
        entries.append(Entry(str(image_path), int(len(boxes) > 0), group, boxes))
    if not entries:
        raise InputError(root, "no images found")
    return SampleDataset(entries, load_entry_image, kind="frame", name="voc")
