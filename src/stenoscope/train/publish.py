"""Publishing a trained run as a shipped model: weights with everything the commands need in their metadata,
the sha256 manifest, and the result files the model card is generated from.

What goes into the weights' metadata (read by ``analyze``, ``evaluate`` and ``report/ood.py``):

- ``training``: the run's inference record (frame size, recipe, region crop settings), so evaluation
  prepares frames exactly as training did;
- ``train_long_side``: the long side frames are resized to before the model (``analyze``'s resizing rule);
- ``training_distribution``: the ranges of frame size, bit depth, mean intensity and intensity spread seen
  over the training frames, measured with :func:`stenoscope.report.ood.clip_statistics` (the very
  statistics the out-of-distribution warning checks), so the warning and the training data cannot drift;
- ``threshold`` (the key-frame vote; see ``THRESHOLD_QUANTILE``), ``region_threshold`` (region crops, for a
  classifier trained on them: set on the training crops), ``model_name``, ``model_version``,
  ``label``, ``data``, ``intended_use``, ``card_summary``.

A cross-validated run ships the ensemble of its fold models (the paper's ensemble; together they trained on
every frame), a held-out run its one model; either in half precision (``WEIGHTS_DTYPE``).

The result folder (e.g. ``results/arcade``) receives ``training.json`` (the run's ``results.json``) and
``model.json`` (the shipped file's sha256, size, parameters and metadata, minus bulky entries);
``stenoscope model-card`` renders ``MODEL_CARD.md`` from that folder alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stenoscope._fs import write_text_atomic
from stenoscope.errors import InputError, StenoscopeError

# The key-frame vote threshold is the 10th percentile of the frame probabilities of the training frames
# (almost every ARCADE frame holds a lesion): about 90% of lesion frames are called stenotic. With next to
# no lesion-free frames, no threshold can be set for a known specificity; this one at least ties the
# decision to the model's own scale instead of an arbitrary 0.5 that a soft heat-map peak may never reach.
THRESHOLD_QUANTILE = 0.10
# Heat-map peaks shown in reports: the lowest peak score at which the training frames have at most this many
# false-positive peaks per frame (the FROC operating point the model card reports sensitivity at), measured
# on every PEAK_FRAME_STEP-th training frame (peak finding on all of them costs minutes on a CPU).
PEAK_FP_PER_FRAME = 1.0
PEAK_FRAME_STEP = 5
# Shipped weights are stored in half precision (loaded as float32): an ensemble of five fold models fits the
# 25 MB budget, and the rounding moves no output by more than about 1e-3 (tests/test_models.py).
WEIGHTS_DTYPE = torch.float16
TRAINING_RESULTS = "training.json"
MODEL_RESULTS = "model.json"
TIMING_RESULTS = "training_time.json"

_TIME_LINE = re.compile(r"^(real|user|sys)\s+(?:(\d+)m)?([\d.]+)s?\s*$")


def read_time_log(path: str | Path) -> dict[str, float]:
    """Wall and CPU seconds from the ``real``/``user``/``sys`` lines a shell's ``time`` wrote to a log,
    summed when the log holds several (a run trained in stages, each appending its own)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise InputError(path, f"cannot read time log ({error.strerror or error})") from error
    found: dict[str, float] = {}
    for line in text.splitlines():
        match = _TIME_LINE.match(line.strip())
        if match:
            found[match[1]] = found.get(match[1], 0.0) + 60.0 * int(match[2] or 0) + float(match[3])
    if set(found) != {"real", "user", "sys"}:
        raise InputError(path, "no 'real', 'user' and 'sys' lines of a shell's `time` found")
    return {"wall_seconds": found["real"], "cpu_seconds": found["user"] + found["sys"]}


def training_distribution(sources: list[str]) -> dict[str, list[float]]:
    """``[min, max]`` over the training frames of each property ``report/ood.py`` checks."""
    from stenoscope.io import read_clip
    from stenoscope.report.ood import clip_statistics

    if not sources:
        raise StenoscopeError("no training frames to measure the training distribution on")
    rows = [clip_statistics(read_clip(source)) for source in sources]
    return {key: [float(min(r[key] for r in rows)), float(max(r[key] for r in rows))] for key in rows[0]}


def _split_frames(config: dict[str, Any]) -> tuple[Any, Any]:
    """The frames the run trained on (every frame outside the held-out split, if any) and the held-out
    frames it was evaluated on (``None`` for a cross-validated run)."""
    from stenoscope.data.datasets import open_dataset
    from stenoscope.train.cv import holdout_split

    data = config["data"]
    base = open_dataset(data["path"], data["format"], **data.get("options", {}))
    if not config.get("holdout"):
        return base, None
    train, val = holdout_split(base, data["path"], config["holdout"])
    return base.subset(train), base.subset(val)


def _frame_calls(
    model: Any, frames: Any, training: dict[str, Any], threshold: float | None = None
) -> tuple[float, dict[str, Any]]:
    """The threshold (when not given: the ``THRESHOLD_QUANTILE`` of these frames' probabilities) and the
    share of the frames whose frame probability reaches it."""
    import torch

    from stenoscope.train.loop import predict
    from stenoscope.train.recipes import inference_pipeline

    pipeline = inference_pipeline(training, model.preprocess.mean, "frame")
    probabilities = predict(model, frames, pipeline, torch.device("cpu"))
    if threshold is None:
        threshold = round(float(np.quantile(probabilities, THRESHOLD_QUANTILE)), 4)
    called = float(np.mean(probabilities >= threshold))
    quartiles = [float(q) for q in np.quantile(probabilities, [0.25, 0.5, 0.75])]
    return threshold, {"frames": len(frames), "called_stenosis": called, "probability_quartiles": quartiles}


def _region_threshold(model: Any, frames: Any, training: dict[str, Any]) -> float | None:
    """For a model whose classifier trained on region crops: the decision threshold for crops (``evaluate
    --samples regions``), set on the training frames' crops as cross-validation sets each fold's."""
    import torch

    from stenoscope.evaluate.evaluate import crops_as_trained
    from stenoscope.train.cv import decision_threshold

    if training.get("kind") != "region" or not frames.has_boxes:
        return None
    crops = crops_as_trained(frames, training, int(training["regions"]["seed"]))
    return decision_threshold(model, training, crops, torch.device("cpu"))


def _peak_threshold(model: Any, frames: Any, training: dict[str, Any]) -> float:
    """The heat-map peak score of the ``PEAK_FP_PER_FRAME`` operating point on ``frames``."""
    import torch

    from stenoscope.evaluate.evaluate import MAX_PEAKS, PEAK_THRESHOLD, prepared_frames
    from stenoscope.evaluate.metrics import inside_boxes
    from stenoscope.models.ranker import ranker_scale
    from stenoscope.train.recipes import inference_pipeline

    pipeline = inference_pipeline(training, model.preprocess.mean, "frame")
    scored: list[tuple[float, bool]] = []  # (peak score, hits a lesion box)
    with torch.no_grad():
        for frame in prepared_frames(model, frames, pipeline, detail_scale=ranker_scale(model)):
            for peak in model.lesion_peaks(frame.x, PEAK_THRESHOLD, MAX_PEAKS, detail=frame.detail[None])[0]:
                hit = inside_boxes(peak.x / frame.scale, peak.y / frame.scale, frame.boxes).any()
                scored.append((float(peak.score), bool(hit)))
    scored.sort(key=lambda item: -item[0])
    allowed = PEAK_FP_PER_FRAME * len(frames)
    false_positives, threshold = 0, PEAK_THRESHOLD
    for score, hit in scored:
        false_positives += not hit
        if false_positives > allowed:
            break
        threshold = score
    return round(threshold, 4)


def _rounded_to_storage(model: Any) -> Any:
    """``model`` with its weights rounded to ``WEIGHTS_DTYPE`` and back, so the thresholds publish measures
    belong to exactly the weights it ships."""
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.to(WEIGHTS_DTYPE))
    return model


def _card_summary(card: dict[str, Any], results: dict[str, Any]) -> str:
    """One paragraph for report pages: what the model is, its label, its held-out localisation."""
    summary = f"{card['title']}. Label: {card['label']} Intended use: {card['intended_use']}"
    from stenoscope.evaluate.model_card import run_localisation

    folds = results.get("folds", [])
    heat = run_localisation(results).get("heatmap") if folds else None
    if heat and heat.get("pointing_game") is not None:
        where = (
            f"Held-out ARCADE val ({heat['n_images']} frames)"
            if len(folds) == 1
            else f"An ensemble of {len(folds)} fold models; grouped {len(folds)}-fold cross-validation on "
            f"ARCADE (mean over folds)"
        )
        summary += (
            f" {where}: pointing game {heat['pointing_game']:.3f}, lesion sensitivity "
            f"{heat['sensitivity_at_1_fp']:.3f} at 1 false positive per frame."
        )
    return summary + " See MODEL_CARD.md."


def _ranker_record(model: Any, results: dict[str, Any]) -> dict[str, Any] | None:
    """The shipped peak ranker's settings and size, with how the run trained it (``train-ranker``)."""
    ranker = getattr(model, "peak_ranker", None)
    if ranker is None:
        return None
    parameters = int(sum(p.numel() for p in ranker.parameters()))
    return results.get("peak_ranker", {}) | ranker.ranker_kwargs | {"parameters": parameters}


@dataclass
class Published:
    weights: Path
    manifest: Path
    results_dir: Path


def publish_run(
    run_dir: str | Path,
    card_file: str | Path,
    results_dir: str | Path,
    name: str = "arcade",
    weights_folder: str | Path | None = None,
    time_log: str | Path | None = None,
    external: str | Path | None = None,
) -> Published:
    """Turn a ``stenoscope train`` run (one held-out split or folds) into the shipped model ``name``.

    Args:
        run_dir: the run folder (``results.json``, ``fold_*/model.safetensors``, ``ensemble.safetensors``).
        card_file: YAML of facts no measurement produces (data, licence, citation, label, intended use).
        results_dir: where ``training.json``, ``model.json`` and ``training_time.json`` go.
        weights_folder: the weights folder (default: the package's, see ``models.weights_dir``).
        time_log: a log holding the shell's ``time`` output for the training command.
        external: a dataset of frames from elsewhere (any layout) on which to report the share of frames
            called stenotic at the model's threshold (the threshold is set on the training frames).
    """
    import yaml

    from stenoscope.data.datasets import open_dataset
    from stenoscope.data.regions import RegionOptions
    from stenoscope.models import load_model, save_model, weights_dir, write_weights_manifest

    run_dir, results_dir = Path(run_dir), Path(results_dir)
    try:
        results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
        card = yaml.safe_load(Path(card_file).read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError) as error:
        raise StenoscopeError(f"cannot read the run or the card facts: {error}") from error
    config = results["config"]
    folds = results["folds"]
    single = f"fold_1/{folds[0]['model']}"
    model_file = run_dir / (single if len(folds) == 1 else results["files"]["ensemble"])
    model = _rounded_to_storage(load_model(model_file))
    training = dict(model.checkpoint_metadata["training"])
    if training.get("kind") == "region" and not training.get("regions"):  # runs from before it was recorded
        regions = RegionOptions(**{"seed": config["seed"], **config["data"].get("regions", {})})
        training["regions"] = regions.to_json()
    train_frames, held_out = _split_frames(config)
    sources = sorted({entry.source for entry in train_frames.entries})
    threshold, train_calls = _frame_calls(model, train_frames, training)
    frame_calls = {"training frames": train_calls}
    if held_out is not None:
        held_out_name = f"held-out {config['holdout']} frames"
        frame_calls[held_out_name] = _frame_calls(model, held_out, training, threshold)[1]
    if external is not None:
        frames = open_dataset(external)
        frame_calls[f"external: {Path(external).name}"] = _frame_calls(model, frames, training, threshold)[1]
    region_threshold = _region_threshold(model, train_frames, training)
    metadata = {
        "model_name": card["model_name"],
        "model_version": str(card["model_version"]),
        "training": training,
        "train_long_side": training.get("frame_input_size"),
        "training_distribution": training_distribution(sources),
        "threshold": threshold,
        "threshold_rule": f"{THRESHOLD_QUANTILE:g} quantile of the training frames' frame probabilities",
        "peak_threshold": _peak_threshold(
            model, train_frames.subset(range(0, len(train_frames), PEAK_FRAME_STEP)), training
        ),
        "peak_threshold_rule": f"heat-map peak score at {PEAK_FP_PER_FRAME:g} false positive(s) per frame "
        f"on every {PEAK_FRAME_STEP}th training frame",
        **({} if region_threshold is None else {"region_threshold": region_threshold}),
        "label": card["label"],
        "data": card["data"] | {"frames": len(sources), "holdout": config.get("holdout")},
        "intended_use": card["intended_use"],
        "card_summary": _card_summary(card, results),
    }
    folder = Path(weights_folder) if weights_folder is not None else weights_dir()
    weights = save_model(
        model, folder / f"stenonet-{name}.safetensors", weights_dtype=WEIGHTS_DTYPE, **metadata
    )
    manifest = write_weights_manifest(weights, name)
    entry = json.loads(manifest.read_text(encoding="utf-8"))["models"][name]
    described = {key: value for key, value in metadata.items() if key != "training"}
    described["training"] = {key: value for key, value in training.items() if key != "mean_image"}
    members = list(getattr(model, "members", [model]))
    model_record = {
        "name": name,
        "file": entry["file"],
        "sha256": entry["sha256"],
        "bytes": entry["bytes"],
        # an ensemble is described by its (identical) members: architecture, kwargs, parameters each
        "architecture": getattr(members[0], "model_name", None),
        "kwargs": getattr(members[0], "model_kwargs", {}),
        "members": len(members),
        "parameters": int(sum(p.numel() for p in members[0].parameters())),
        "heatmap_views": model.heatmap_views.to_dict(),
        "peak_ranker": _ranker_record(model, results),
        "frame_calls": frame_calls,
        "card": card,
        "metadata": described,
    }
    write_text_atomic(results_dir / MODEL_RESULTS, json.dumps(model_record, indent=2, allow_nan=False) + "\n")
    write_text_atomic(results_dir / TRAINING_RESULTS, json.dumps(results, indent=2, allow_nan=False) + "\n")
    if time_log is not None:
        timing = read_time_log(time_log) | {"threads": config.get("threads")}
        write_text_atomic(results_dir / TIMING_RESULTS, json.dumps(timing, indent=2) + "\n")
    return Published(weights, manifest, results_dir)
