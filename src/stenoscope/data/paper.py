"""The paper's layout: a root with folders ``N`` (normal, label 0) and ``A`` (abnormal, label 1) of clips.

Each clip (any format :func:`stenoscope.io.read_clip` reads: DICOM, video, frame folder...) gives its key
frames (:func:`stenoscope.keyframes.detect_key_frames`, 5 by default as in Moon et al.); every key frame
inherits the clip's label and the clip is the group, so one clip never straddles two folds.
"""

from __future__ import annotations

from pathlib import Path

from stenoscope.data._base import Entry, SampleDataset
from stenoscope.errors import InputError

LABEL_FOLDERS = {"N": 0, "A": 1}


def is_paper_layout(root: Path) -> bool:
    return root.is_dir() and all((root / name).is_dir() for name in LABEL_FOLDERS)


def paper_dataset(root: str | Path, keyframes: str = "default", count: int = 5) -> SampleDataset:
    """Key frames of every clip under ``root/N`` and ``root/A``, decoded once and kept in memory.

    Args:
        root: folder holding ``N/`` and ``A/``.
        keyframes: key-frame method name (see ``list_keyframe_methods()``).
        count: key frames per clip.
    """
    from stenoscope.io import read_clip
    from stenoscope.keyframes import detect_key_frames

    root = Path(root)
    if not is_paper_layout(root):
        raise InputError(root, "not the paper layout (expected folders N/ and A/ of clips)")
    entries: list[Entry] = []
    for folder, label in LABEL_FOLDERS.items():
        for clip_path in sorted((root / folder).iterdir()):
            if clip_path.name.startswith("."):
                continue
            clip = read_clip(clip_path)
            keys = detect_key_frames(clip, method=keyframes, count=count)
            frames = clip.as_float()
            group = f"{folder}/{clip_path.name}"
            entries.extend(
                Entry(str(clip_path), label, group, frame=int(index), image=frames[int(index)])
                for index in keys.key_frames
            )
    if not entries:
        raise InputError(root, "no clips found under N/ and A/")
    return SampleDataset(entries, kind="frame", name="paper")
