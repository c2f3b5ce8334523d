"""Speed of one training step of the shipped model's stage 1 in each ``precision`` a config may ask for.

Run: ``python benchmarks/training_step.py [--threads 2] [--repeats 5]``; writes
``benchmarks/results/training_step.md``. One step is what ``stenoscope train`` does per batch of stage 1
(``configs/arcade-heatmap.yaml``): 8 whole frames at 256 px through StenoNet with its heat-map head, the
classification and CenterNet focal losses, backward and an AdamW step. Times are the median (and the best)
of ``repeats`` steps after one warm-up, with random frames (speed does not depend on the pixels).
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F

from _machine import cpu_name, seconds
from stenoscope._fs import write_text_atomic
from stenoscope.models import create_model
from stenoscope.train.config import PRECISIONS
from stenoscope.train.loop import centernet_focal_loss

RESULTS = Path(__file__).resolve().parent / "results" / "training_step.md"
BATCH, SIZE = 8, 256


def step_seconds(precision: str, repeats: int) -> tuple[float, float]:
    torch.manual_seed(0)
    model = create_model("default", heatmap_head=True, pool="max").train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    frames = torch.rand(BATCH, 1, SIZE, SIZE)
    labels = torch.ones(BATCH, dtype=torch.long)
    targets = torch.zeros(BATCH, 1, SIZE // 4, SIZE // 4)
    targets[:, :, SIZE // 8, SIZE // 8] = 1.0

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
            features, heatmap = model.forward_with_heatmap(model.preprocess.normalise(frames))
            loss = F.cross_entropy(model.forward_head(features).float(), labels)
            loss = loss + centernet_focal_loss(heatmap, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return seconds(step, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    before = os.getloadavg()[0]
    times = {precision: step_seconds(precision, args.repeats) for precision in PRECISIONS}
    after = os.getloadavg()[0]
    stamp = f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"
    baseline = times["float32"][0]
    lines = [
        "# Training step speed",
        "",
        f"Seconds per stage-1 training step ({BATCH} frames at {SIZE} px, StenoNet with its heat-map head, "
        f"losses, backward, AdamW), median (best) of {args.repeats} steps after a warm-up; "
        f"`torch.set_num_threads({args.threads})`.",
        f"Machine: {cpu_name()}, torch {torch.__version__}, {stamp}; load average {before:.1f} before and "
        f"{after:.1f} after (other jobs slow every row alike only if the load stayed level).",
        "",
        "| precision | seconds per step | speed-up over float32 |",
        "|---|---:|---:|",
    ]
    for precision, (median, best) in times.items():
        lines.append(f"| {precision} | {median:.3f} ({best:.3f}) | {baseline / median:.2f}x |")
    write_text_atomic(RESULTS, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
