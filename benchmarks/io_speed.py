"""How long reading real clips and writing each output format takes (run on demand, not in CI).

    python benchmarks/io_speed.py

Writes ``benchmarks/results/io_speed.md``: median seconds of 3 runs per input or format, on this machine.
"""

from __future__ import annotations

import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from stenoscope.clip import Clip
from stenoscope.io import read_clip, write_clip

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results" / "io_speed.md"
REPEATS = 3


def _median_seconds(action) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _read_rows() -> list[str]:
    inputs = [
        *sorted(DATA.glob("xa-dicom-phantom/*.dcm")),
        DATA / "cine-vukicevic" / "sample2_proj0",
        DATA / "cine-danilov" / "14_021_1",
    ]
    rows = []
    for path in inputs:
        if not path.exists():
            continue
        clip = read_clip(path)
        seconds = _median_seconds(lambda path=path: read_clip(path))
        rows.append(
            f"| read {path.parent.name}/{path.name} | {clip.format} | {clip.n_frames} x {clip.height} x "
            f"{clip.width} | {seconds:.3f} | {seconds / clip.n_frames * 1000:.1f} |"
        )
    return rows


def _write_rows() -> list[str]:
    rng = np.random.default_rng(0)
    clip = Clip(
        frames=rng.integers(0, 4096, (60, 512, 512), dtype=np.uint16), bits_stored=12, frame_time_ms=66.7
    )
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in ("run.dcm", "run.mp4", "run.avi", "run.gif", "run.npz", "frames"):
            target = Path(folder) / name
            seconds = _median_seconds(lambda target=target: write_clip(clip, target))
            rows.append(
                f"| write {name} | noise, 12-bit | 60 x 512 x 512 | {seconds:.3f} | "
                f"{seconds / clip.n_frames * 1000:.1f} |"
            )
    return rows


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def main() -> None:
    lines = [
        "# io speed",
        "",
        f"Median of {REPEATS} runs on {platform.machine()} ({_cpus()} CPUs shared), Python "
        f"{platform.python_version()}. Noise is the worst case for the compressing writers.",
        "",
        "| operation | format | frames x H x W | seconds | ms per frame |",
        "|---|---|---|---|---|",
        *_read_rows(),
        *_write_rows(),
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
