"""``stenoscope demo``: a deterministic synthetic run with a known stenosis, analysed end to end.

It shows a new user every output on a machine with no data of their own, and lets them check the answer:
the ground truth is written beside the clip and the demo says whether the top peak of the key frame falls
on the synthetic lesion.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stenoscope.report.pipeline import ModelSpec, analyze
from stenoscope.report.results import Report

DEMO_SEED = 7
DEMO_FRAMES = 40
DEMO_DEGREES = (70.0, 90.0)  # a clearly visible lesion (percent diameter reduction), not a borderline one
DEMO_NAME = "demo_run"
# A peak counts as on the lesion inside its box widened by this margin (as in the model card's metrics).
HIT_MARGIN_PX = 8


@dataclass(frozen=True, eq=False)
class DemoResult:
    """Where the demo wrote its files, its report, and which peak (1 = strongest) of the key frame lies on
    the synthetic lesion (``None``: none of them)."""

    clip_path: Path
    truth_path: Path
    report_dir: Path
    report: Report
    lesion_peak_rank: int | None

    @property
    def html(self) -> Path:
        return self.report_dir / "report.html"


def _lesion_peak_rank(report: Report, boxes_per_frame: list[list[list[int]]]) -> int | None:
    """Rank (1 = strongest) of the key frame's first peak inside a true lesion box, widened by the margin."""
    key = next(frame for frame in report.frames if frame.index == report.key_frame)
    for rank, peak in enumerate(key.peaks, start=1):
        for boxes in boxes_per_frame:
            x, y, w, h = boxes[report.key_frame]
            inside_x = x - HIT_MARGIN_PX <= peak.x <= x + w + HIT_MARGIN_PX
            if inside_x and y - HIT_MARGIN_PX <= peak.y <= y + h + HIT_MARGIN_PX:
                return rank
    return None


def run_demo(out_dir: str | Path, model: ModelSpec = None, seed: int = DEMO_SEED) -> DemoResult:
    """Synthesise the demo run into ``out_dir`` (DICOM + truth JSON), analyse it and save the full report.

    Args:
        out_dir: folder for ``demo_run.dcm``, ``demo_run.truth.json`` and the report folder ``demo_run/``.
        model: as for :func:`stenoscope.analyze`; the shipped model by default (tests pass an untrained one).
        seed: the synthetic run's seed (every demo run has one stenosis of 70-90 % diameter reduction).
    """
    from stenoscope.synth import synthesize

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = synthesize(seed=seed, n_frames=DEMO_FRAMES, n_stenoses=1, stenosis_degrees=DEMO_DEGREES)
    clip_path, truth_path = run.save(out_dir / f"{DEMO_NAME}.dcm", format="dicom")
    report = analyze(clip_path, model=model, name=DEMO_NAME)
    report_dir = report.save(out_dir / DEMO_NAME)
    rank = _lesion_peak_rank(report, [stenosis.boxes for stenosis in run.truth.stenoses])
    return DemoResult(Path(clip_path), Path(truth_path), report_dir, report, rank)
