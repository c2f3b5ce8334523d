"""What every benchmark shares: a wall-clock timer and a description of the machine it ran on."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def seconds(task: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median and best wall time of ``task`` over ``repeats`` runs after one warm-up run."""
    task()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        task()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo on Linux, else what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
