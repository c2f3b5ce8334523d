"""How long the synthetic angiogram generator takes (run on demand, not in CI).

    python benchmarks/synth_speed.py

Writes ``benchmarks/results/synth_speed.md``: median seconds over several seeds, on this machine.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

from stenoscope.synth import synthesize, synthesize_frame

RESULTS = Path(__file__).resolve().parent / "results" / "synth_speed.md"


def _median_seconds(action, seeds: range) -> tuple[float, float]:
    """Median wall-clock and CPU seconds: CPU time shows the cost when other work shares the cores."""
    wall, cpu = [], []
    for seed in seeds:
        start, start_cpu = time.perf_counter(), time.process_time()
        action(seed)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    synthesize(0, n_frames=2, size=64)  # imports and font loading are not what we measure
    cases = [
        (
            "synthesize, 60 frames",
            "512 x 512",
            range(1, 6),
            lambda s: synthesize(s, n_frames=60, size=512),
            60,
        ),
        (
            "synthesize, 60 frames",
            "256 x 256",
            range(1, 6),
            lambda s: synthesize(s, n_frames=60, size=256),
            60,
        ),
        ("synthesize_frame, positive", "256 x 256", range(20), lambda s: synthesize_frame(s, True, 256), 1),
        ("synthesize_frame, negative", "256 x 256", range(20), lambda s: synthesize_frame(s, False, 256), 1),
    ]
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [
        "# synth speed",
        "",
        f"Median over seeds on {platform.machine()} ({cpus} CPUs shared with other work), Python "
        f"{platform.python_version()}; one process, no threads; load average {os.getloadavg()[0]:.1f} "
        "before the run (other work slows it).",
        "",
        "| call | frame size | seeds | wall seconds | CPU seconds | CPU ms per frame |",
        "|---|---|---|---|---|---|",
    ]
    for name, size, seeds, action, frames in cases:
        wall, cpu = _median_seconds(action, seeds)
        lines.append(
            f"| {name} | {size} | {len(seeds)} | {wall:.3f} | {cpu:.3f} | {cpu / frames * 1000:.1f} |"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
