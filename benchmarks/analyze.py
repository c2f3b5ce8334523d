"""End-to-end speed and memory of ``stenoscope analyze`` on a 60-frame 512x512 clip, per stage.

Run: ``python benchmarks/analyze.py [--threads 2 1] [--repeats 3]``; writes ``benchmarks/results/analyze.md``.
Targets (issue 6), on 2 CPU cores: up to report.json in at most 3 s; GIF, MP4 and HTML (with the whole-clip
heat maps they show) in at most 5 s more; peak memory under 2 GB.

Each configuration runs in a fresh subprocess (so its peak resident memory, ``ru_maxrss``, is its own): it
synthesises the clip, writes it as a DICOM (so reading is measured too), then analyses and saves it
``repeats`` times after one warm-up run; the table shows the median seconds of each stage. The shipped model
is used when the build has one, else the default architecture with its heat-map head and untrained weights
(speed does not depend on the weights).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from _machine import cpu_name
from stenoscope._fs import write_text_atomic

RESULTS = Path(__file__).resolve().parent / "results" / "analyze.md"
N_FRAMES, SIZE = 60, 512
TO_JSON_STAGES = ("read", "load_model", "keyframes", "classify", "explain", "write_json")
OUTPUT_STAGES = ("clip_heatmaps", "write_png", "write_mp4", "write_gif", "write_html")
# (label, analyze options) per column; each is run once per thread count given on the command line
CONFIGS = {"default": {}, "clip_stride=1": {"clip_stride": 1}}


def child(options: dict, threads: int, repeats: int, workdir: Path) -> dict:
    """Runs inside the subprocess: one configuration, ``repeats`` timed runs, peak memory."""
    import resource
    import time

    import torch

    from stenoscope.errors import ModelError
    from stenoscope.models import create_model, load_model
    from stenoscope.report import analyze
    from stenoscope.synth import synthesize

    torch.set_num_threads(threads)
    try:
        model, model_name = load_model(), "shipped model"
    except ModelError:
        model, model_name = (
            create_model("default", heatmap_head=True).eval(),
            "default, heat-map head, untrained",
        )
    clip_path, _ = synthesize(seed=1, n_frames=N_FRAMES, size=SIZE).save(workdir / "bench.dcm")
    runs = []
    for repeat in range(repeats + 1):
        report = analyze(clip_path, model=model, **options)
        start = time.perf_counter()
        (workdir / "report.json").write_text(report.to_json_line())
        report.timings["write_json"] = time.perf_counter() - start
        report.save(workdir / f"out{repeat}")
        if repeat:  # the first run warms up caches and lazy imports
            runs.append(dict(report.timings))
    return {
        "model": model_name,
        "stages": {stage: statistics.median(run[stage] for run in runs) for stage in runs[0]},
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "heatmaps": report.heatmaps["clip"],
        "model_input": "x".join(str(side) for side in report.heatmaps["model_input"]),
    }


def run_config(options: dict, threads: int, repeats: int, workdir: Path) -> dict:
    workdir.mkdir(parents=True)
    command = [sys.executable, __file__, "--child", json.dumps(options), "--threads", str(threads)]
    command += ["--repeats", str(repeats), "--workdir", str(workdir)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def load_average() -> str:
    path = Path("/proc/loadavg")
    return path.read_text().split()[0] if path.is_file() else "unknown"


def to_markdown(results: dict[str, dict], repeats: int, load_before: str) -> str:
    import torch

    names = list(results)
    lines = [
        "# analyze: a 60-frame 512x512 clip end to end",
        "",
        f"Median seconds per stage of {repeats} runs after a warm-up, each configuration in its own process "
        f"with `torch.set_num_threads(N)`; model: {results[names[0]]['model']}; input: a synthetic run "
        "(seed 1) written as DICOM.",
        f"Machine: {cpu_name()}, torch {torch.__version__}, "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, 1-minute load average {load_before} before the "
        "run (other jobs share the 2 cores; a load above 2 slows every number here).",
        "Columns: `analyze` with its default policy for the whole-clip heat maps (for clip.gif / clip.mp4: a "
        "budget of 16 frames of 512x512 model input, frames between blended), and with the model on every "
        "frame (`clip_stride=1`), each with N torch threads. On a busy machine 2 threads can be far slower "
        "than 1 (the two threads wait for each other while the other jobs hold the cores).",
        "",
        "| stage | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    lines.append("| model input, px | " + " | ".join(results[n]["model_input"] for n in names) + " |")
    lines.append("| whole-clip heat maps | " + " | ".join(results[n]["heatmaps"] for n in names) + " |")
    for stage in (*TO_JSON_STAGES, *OUTPUT_STAGES):
        lines.append(
            f"| {stage} | " + " | ".join(f"{results[n]['stages'].get(stage, 0.0):.3f}" for n in names) + " |"
        )
    to_json = {n: sum(results[n]["stages"].get(s, 0.0) for s in TO_JSON_STAGES) for n in names}
    outputs = {n: sum(results[n]["stages"].get(s, 0.0) for s in OUTPUT_STAGES) for n in names}
    lines += [
        "| **up to report.json** (target <= 3 s) | "
        + " | ".join(f"**{to_json[n]:.2f}**" for n in names)
        + " |",
        "| **heat maps + PNG, MP4, GIF, HTML** (target <= 5 s) | "
        + " | ".join(f"**{outputs[n]:.2f}**" for n in names)
        + " |",
        "| peak memory, MB (target < 2048) | "
        + " | ".join(f"{results[n]['peak_mb']:.0f}" for n in names)
        + " |",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(json.loads(args.child), args.threads[0], args.repeats, args.workdir)))
        return
    import tempfile

    load_before = load_average()
    with tempfile.TemporaryDirectory() as tmp:
        columns = [
            (f"{name}, {n} thread(s)", options, n) for n in args.threads for name, options in CONFIGS.items()
        ]
        results = {
            label: run_config(options, threads, args.repeats, Path(tmp) / f"config{index}")
            for index, (label, options, threads) in enumerate(columns)
        }
    text = to_markdown(results, args.repeats, load_before)
    write_text_atomic(RESULTS, text)
    print(text)


if __name__ == "__main__":
    main()
