"""A CSV manifest ``path,label,group[,frame]``: the most general layout, for a group's own data.

``path`` is relative to the CSV's folder (or absolute) and may be an image or any clip stenoscope reads;
``frame`` picks a frame of a clip (default 0); ``group`` is the patient or clip id used to keep folds apart.
"""

from __future__ import annotations

import csv
from pathlib import Path

from stenoscope.data._base import Entry, SampleDataset, load_entry_image
from stenoscope.errors import InputError

REQUIRED_COLUMNS = ("path", "label", "group")


def manifest_dataset(csv_path: str | Path) -> SampleDataset:
    """Read the manifest's rows (pixels are read on access)."""
    csv_path = Path(csv_path)
    try:
        with csv_path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = [name.strip() for name in reader.fieldnames or []]
            missing = [name for name in REQUIRED_COLUMNS if name not in columns]
            if missing:
                raise InputError(csv_path, f"manifest lacks column(s) {', '.join(missing)}")
            rows = [{key.strip(): (value or "").strip() for key, value in row.items()} for row in reader]
    except OSError as error:
        raise InputError(csv_path, f"cannot read manifest ({error.strerror or error})") from error
    entries = []
    for line, row in enumerate(rows, start=2):
        try:
            label = int(row["label"])
            frame = int(row["frame"]) if row.get("frame") else None
        except ValueError as error:
            raise InputError(csv_path, f"line {line}: label and frame must be integers") from error
        if label not in (0, 1):
            raise InputError(csv_path, f"line {line}: label must be 0 or 1, got {label}")
        path = Path(row["path"])
        path = path if path.is_absolute() else csv_path.parent / path
        entries.append(Entry(str(path), label, row["group"] or str(path), frame=frame))
    if not entries:
        raise InputError(csv_path, "manifest has no rows")
    return SampleDataset(entries, load_entry_image, kind="frame", name="csv")
