"""End-to-end analysis and the reports people look at.

``analyze`` runs one clip through key frames -> classifier -> heat maps -> clip vote and returns a
:class:`Report`; ``Report.save(dir)`` writes report.json, key-frame PNGs, a contact sheet, clip.gif,
clip.mp4 and report.html atomically; ``analyze_batch`` does the same for every clip under some folders
and writes summary.csv.

Example:
    >>> import stenoscope
    >>> report = stenoscope.analyze("run.dcm")
    >>> report.decision.stenosis, report.decision.probability
    >>> report.save("out/run")
"""

from __future__ import annotations

from stenoscope.report.batch import BatchItem, BatchResult, analyze_batch, discover
from stenoscope.report.pipeline import analyze
from stenoscope.report.results import (
    SCHEMA,
    ClipDecision,
    FrameResult,
    ModelInfo,
    Report,
)

__all__ = [
    "SCHEMA",
    "BatchItem",
    "BatchResult",
    "ClipDecision",
    "FrameResult",
    "ModelInfo",
    "Report",
    "analyze",
    "analyze_batch",
    "discover",
]
