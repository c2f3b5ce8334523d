"""Model speed on the CPU: one 512x512 frame (forward, + Grad-CAM, + heat-map head) and 5 key frames.

Run: ``python benchmarks/model_speed.py [--threads 2] [--repeats 10]``; writes
``benchmarks/results/model_speed.md``. The target (issue 4) is forward + Grad-CAM of one 512x512 frame
under 0.15 s on 2 cores. Times are the median (and the best) of ``repeats`` runs after one warm-up, with
untrained weights (speed does not depend on them).
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime, timezone
from pathlib import Path

import torch

from _machine import cpu_name, seconds
from stenoscope._fs import write_text_atomic
from stenoscope.errors import ModelError
from stenoscope.explain import GradCAM
from stenoscope.models import create_model

RESULTS = Path(__file__).resolve().parent / "results" / "model_speed.md"
FRAME_SIZE = 512
KEY_FRAMES = 5
CONFIGS: list[tuple[str, dict]] = [
    ("default", {}),
    ("default", {"heatmap_head": True}),
    ("default", {"heatmap_head": True, "attention_stages": []}),
    ("paper", {}),
]


def measure(name: str, kwargs: dict, repeats: int) -> dict[str, object] | None:
    try:
        model = create_model(name, **kwargs).eval()
    except ModelError as error:
        print(f"skipping {name} {kwargs}: {error}")
        return None
    frame = torch.randn(1, 1, FRAME_SIZE, FRAME_SIZE)
    frames = torch.randn(KEY_FRAMES, 1, FRAME_SIZE, FRAME_SIZE)
    row: dict[str, object] = {
        "model": name + "".join(f" {key}={value}" for key, value in kwargs.items()),
        "params": sum(p.numel() for p in model.parameters()),
    }
    with torch.no_grad():
        row["forward"] = seconds(lambda: model(frame), repeats)
        if model.has_heatmap_head:
            row["forward + heat map"] = seconds(lambda: model.forward_with_heatmap(frame), repeats)
    with GradCAM(model) as cam:
        row["forward + Grad-CAM"] = seconds(lambda: cam(frame), repeats)
        row[f"{KEY_FRAMES} frames: forward + Grad-CAM"] = seconds(lambda: cam(frames), max(1, repeats // 2))
    return row


def to_markdown(rows: list[dict[str, object]], threads: int, repeats: int, load: tuple[float, float]) -> str:
    columns = [
        "forward",
        "forward + Grad-CAM",
        "forward + heat map",
        f"{KEY_FRAMES} frames: forward + Grad-CAM",
    ]
    stamp = f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"
    lines = [
        "# Model speed",
        "",
        f"Seconds per call, median (best) of {repeats} runs after a warm-up; {FRAME_SIZE}x{FRAME_SIZE} grey "
        f"frames, batch 1 unless stated; `torch.set_num_threads({threads})`; untrained weights.",
        "Target: forward + Grad-CAM of one frame under 0.15 s on 2 cores.",
        f"Machine: {cpu_name()}, torch {torch.__version__}, {stamp}. It is shared with other jobs: the load "
        f"average was {load[0]:.1f} before and {load[1]:.1f} after the runs (2 cores), so the best time shows"
        " the floor better than the median.",
        "",
        "| model | parameters | " + " | ".join(columns) + " |",
        "|---|---:|" + "---:|" * len(columns),
    ]
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            cells.append("-" if value is None else f"{value[0]:.3f} ({value[1]:.3f})")
        lines.append(f"| {row['model']} | {row['params'] / 1e6:.2f} M | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load_before = os.getloadavg()[0]
    rows = [row for name, kwargs in CONFIGS if (row := measure(name, kwargs, args.repeats)) is not None]
    text = to_markdown(rows, args.threads, args.repeats, (load_before, os.getloadavg()[0]))
    write_text_atomic(RESULTS, text)
    print(text)


if __name__ == "__main__":
    main()
