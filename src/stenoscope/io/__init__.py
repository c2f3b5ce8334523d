"""Clip input and output: ``read_clip`` picks a reader by file content, ``write_clip`` a writer by suffix.

Readers: DICOM (:mod:`.dicom`), video (:mod:`.video`), single images and folders of frames
(:mod:`.images`), ``.npy``/``.npz`` arrays (:mod:`.arrays`). Each returns a :class:`~stenoscope.clip.Clip`
or raises :class:`~stenoscope.errors.InputError` naming the file and the cause in one line.
"""

from __future__ import annotations

from stenoscope.io._detect import SUPPORTED_SUFFIXES, WRITE_FORMATS, sniff_format
from stenoscope.io._dispatch import read_clip, write_clip

__all__ = [
    "SUPPORTED_SUFFIXES",
    "WRITE_FORMATS",
    "read_clip",
    "sniff_format",
    "write_clip",
]
