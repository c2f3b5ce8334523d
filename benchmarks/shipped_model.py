"""Speed of the shipped model as ``analyze`` runs it: one 512x512 frame and 5 key frames on the CPU.

Run: ``python benchmarks/shipped_model.py [--threads 2] [--repeats 10]``; writes
``benchmarks/results/shipped_model.md`` and ``results/arcade/speed.json`` (read by the model card).
Each call resizes the frames to the model's working size (``train_long_side``), runs the frame rule,
the heat-map head with its peaks (re-scored by the peak ranker when the model has one) and Grad-CAM, the way
``stenoscope analyze`` does per key frame batch. Times are the
median (and the best) of ``repeats`` runs after one warm-up, on a real ARCADE frame when ``../shared`` is
present (speed does not depend on the pixels).
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from _machine import cpu_name, seconds
from stenoscope._fs import write_text_atomic
from stenoscope.explain import GradCAM
from stenoscope.models import load_model
from stenoscope.report.pipeline import (
    HEAD_PEAK_THRESHOLD,
    MAX_PEAKS,
    model_metadata,
    ranker_detail,
    to_model_input,
    working_size,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "shipped_model.md"
CARD_RESULTS = ROOT / "results" / "arcade" / "speed.json"
FRAME_SIZE = 512
KEY_FRAMES = 5


def a_frame() -> np.ndarray:
    """A real ARCADE val frame when available, else noise of the same size (in [0, 1])."""
    path = ROOT.parent / "shared" / "data" / "arcade-stenosis" / "val" / "images" / "1.png"
    if path.is_file():
        from stenoscope.data._base import read_grey_image

        return read_grey_image(path)
    return np.random.default_rng(0).random((FRAME_SIZE, FRAME_SIZE), dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model()
    long_side = model_metadata(model).get("train_long_side") or FRAME_SIZE
    size = working_size(FRAME_SIZE, FRAME_SIZE, model, int(long_side))
    frame = a_frame()

    threshold = float(model_metadata(model).get("peak_threshold", HEAD_PEAK_THRESHOLD))

    def run(frames: np.ndarray, net: torch.nn.Module = model, rank: bool = True) -> None:
        x = to_model_input(frames, net, size)
        detail = ranker_detail(frames, net, size) if rank else None  # as analyze prepares them
        with torch.no_grad():
            net.frame_probability(x)
            net.lesion_peaks(x, threshold, MAX_PEAKS, rank=rank, detail=detail)
        with GradCAM(net) as cam:
            cam(x)

    one = seconds(lambda: run(frame[None]), args.repeats)
    ranker = getattr(model, "peak_ranker", None)
    unranked = seconds(lambda: run(frame[None], rank=False), args.repeats) if ranker is not None else None
    five = seconds(lambda: run(np.repeat(frame[None], KEY_FRAMES, axis=0)), max(1, args.repeats // 2))
    # an ensemble's cost against one of its members, measured in the same run
    members = list(getattr(model, "members", []))
    member = seconds(lambda: run(frame[None], members[0]), args.repeats) if members else None
    stamp = f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"
    text = "\n".join(
        [
            "# Shipped model speed",
            "",
            f"Seconds per call, median (best) of {args.repeats} runs after a warm-up: "
            f"{FRAME_SIZE}x{FRAME_SIZE} grey frames resized to the model's working size "
            f"{size[0]}x{size[1]}, frame probability + "
            "heat-map head and its peaks + Grad-CAM (as `analyze` runs its key frames); "
            f"`torch.set_num_threads({args.threads})`.",
            f"Machine: {cpu_name()}, torch {torch.__version__}, {stamp} (shared with other jobs that add "
            "noise: the best time shows the floor).",
            "",
            "| input | seconds |",
            "|---|---:|",
            f"| 1 frame | {one[0]:.3f} ({one[1]:.3f}) |",
            f"| {KEY_FRAMES} key frames (one batch) | {five[0]:.3f} ({five[1]:.3f}) |",
            *(
                [f"| 1 frame, peaks by height alone (no ranker) | {unranked[0]:.3f} ({unranked[1]:.3f}) |"]
                if unranked
                else []
            ),
            *(
                [
                    f"| 1 frame, one of the ensemble's {len(members)} members alone | {member[0]:.3f} "
                    f"({member[1]:.3f}) |"
                ]
                if member
                else []
            ),
            "",
        ]
    )
    write_text_atomic(RESULTS, text)
    speed = {
        "threads": args.threads,
        "cpu": cpu_name(),
        "repeats": args.repeats,
        "frame_size": FRAME_SIZE,
        "working_size": list(size),
        "one_frame_seconds": one[0],
        "key_frames": KEY_FRAMES,
        "key_frames_seconds": five[0],
        "ensemble_members": len(members),
        "one_member_one_frame_seconds": member[0] if member else None,
        "one_frame_without_ranker_seconds": unranked[0] if unranked else None,
    }
    write_text_atomic(CARD_RESULTS, json.dumps(speed, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
