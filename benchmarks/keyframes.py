"""Key-frame detection: seconds per clip for both methods, and their distance to synthetic ground truth.

    python benchmarks/keyframes.py [--runs 30] [--frames 40] [--size 256]

Writes ``benchmarks/results/keyframes.md``. Speed: one 60-frame 512x512 synthetic clip and the real runs
in ``../shared/data`` (skipped when absent), both methods in the same process on the same machine (default:
median of 3 runs; paper: one run, it is slow). Accuracy: ``--runs`` seeded synthetic runs (seeds 0..N-1,
burnt-in text on odd seeds, catheter always) whose maximal-filling frame the generator places anywhere
from early to late; |detected - truth| in frames, overall and split by whether the truth lies in the
paper's middle third. The accuracy runs are smaller than 512 px by default so that the paper's method
finishes in minutes (its filters are per frame and about 1-2 s per 512x512 frame here).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from stenoscope.clip import Clip
from stenoscope.keyframes import detect_key_frames
from stenoscope.keyframes.paper import middle_third
from stenoscope.synth import synthesize

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results" / "keyframes.md"
REAL_RUNS = (
    ("cine-vukicevic", "sample2_proj0"),
    ("cine-vukicevic", "sample2_proj1"),
    ("cine-danilov", "14_088_2"),
    ("cine-danilov", "14_021_1"),
)


def seconds_of(clip: Clip, method: str, repeats: int) -> tuple[float, int]:
    """Median wall seconds of ``repeats`` detections, and the key frame found."""
    times, key_frame = [], 0
    for _ in range(repeats):
        keys = detect_key_frames(clip, method=method)
        times.append(keys.seconds)
        key_frame = keys.key_frame
    return statistics.median(times), key_frame


def speed_rows() -> list[str]:
    from stenoscope.io import read_clip

    clips = [("synthetic seed 0 (60 x 512 x 512)", synthesize(0, n_frames=60, size=512).clip)]
    for parts in REAL_RUNS:
        path = DATA.joinpath(*parts)
        if path.exists():
            clip = read_clip(path)
            clips.append((f"{'/'.join(parts)} ({clip.n_frames} x {clip.height} x {clip.width})", clip))
    rows = []
    for name, clip in clips:
        detect_key_frames(clip.with_frames(clip.frames[:3]))  # warm imports outside the timing
        default_seconds, default_key = seconds_of(clip, "default", repeats=3)
        paper_seconds, paper_key = seconds_of(clip, "paper", repeats=1)
        rows.append(
            f"| {name} | {default_seconds:.3f} | {paper_seconds:.1f} "
            f"| {paper_seconds / default_seconds:.0f}x | {default_key} | {paper_key} |"
        )
        print(rows[-1], flush=True)
    return rows


def summary(distances: np.ndarray) -> str:
    if len(distances) == 0:
        return "- | - | - | -"
    sd = float(distances.std(ddof=1)) if len(distances) > 1 else 0.0
    within = " / ".join(f"{np.mean(distances <= k):.0%}" for k in (0, 1, 2, 5))
    return f"{distances.mean():.2f} ± {sd:.2f} | {distances.max():.0f} | {within} | {len(distances)}"


def accuracy_rows(runs: int, n_frames: int, size: int) -> tuple[list[str], list[str]]:
    detected: dict[str, list[int]] = {"default": [], "paper": []}
    truths, per_run = [], []
    for seed in range(runs):
        run = synthesize(seed, n_frames=n_frames, size=size, text=bool(seed % 2))
        truths.append(run.truth.key_frame)
        for method in detected:
            detected[method].append(detect_key_frames(run.clip, method=method).key_frame)
        per_run.append(
            f"| {seed} | {'yes' if seed % 2 else 'no'} | {truths[-1]} | {detected['default'][-1]} "
            f"| {detected['paper'][-1]} |"
        )
        print(per_run[-1], flush=True)
    truth = np.array(truths)
    inside = np.isin(truth, list(middle_third(n_frames)))
    rows = []
    for method, keys in detected.items():
        distances = np.abs(np.array(keys) - truth)
        subsets = (("all", slice(None)), ("truth in middle third", inside), ("outside", ~inside))
        for subset, selected in subsets:
            rows.append(f"| {method} | {subset} | {summary(distances[selected])} |")
    return rows, per_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()

    started = time.perf_counter()
    speed = speed_rows()
    accuracy, per_run = accuracy_rows(args.runs, args.frames, args.size)
    lines = [
        "# Key-frame detection benchmark",
        "",
        f"`python benchmarks/keyframes.py --runs {args.runs} --frames {args.frames} --size {args.size}` on "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs, "
        f"numpy {np.__version__}; {time.perf_counter() - started:.0f} s in all.",
        "",
        "## Seconds per clip (same process, same machine)",
        "",
        "`default`: median of 3 runs; `paper`: one run. Key frames as found by each method.",
        "",
        "| clip | default s | paper s | paper / default | default key | paper key |",
        "|---|---|---|---|---|---|",
        *speed,
        "",
        f"## Distance to the synthetic maximal-filling frame ({args.runs} seeded runs, {args.frames} frames, "
        f"{args.size} x {args.size} px, 15 fps)",
        "",
        "|detected - truth| in frames; the paper searches only its middle third "
        f"({middle_third(args.frames).start}..{middle_third(args.frames).stop - 1} here).",
        "",
        "| method | runs | mean ± SD | max | within 0 / 1 / 2 / 5 frames | n |",
        "|---|---|---|---|---|---|",
        *accuracy,
        "",
        "### Per run",
        "",
        "| seed | text overlay | truth | default | paper |",
        "|---|---|---|---|---|",
        *per_run,
        "",
    ]
    from stenoscope._fs import write_text_atomic

    write_text_atomic(RESULTS, "\n".join(lines))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
