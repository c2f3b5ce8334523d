"""Grouped k-fold cross-validation: a fresh model per fold, per-fold and mean +- SD metrics, out-of-fold
predictions, a ROC plot, ``results.json`` and the ensemble of the fold models as one loadable file.

Run folder layout (``config.out``)::

    results.json          config, data summary, per-fold metrics, mean +- SD, file names
    predictions.csv       out-of-fold probability of every validation sample
    roc.png               ROC curve of each fold
    ensemble.safetensors  the fold models averaged (stenoscope.models.Ensemble), loadable by load_model
    fold_1/model.safetensors, fold_1/result.json, fold_1/checkpoint.pt (per-epoch, for --resume) ...
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from stenoscope._fs import write_text_atomic
from stenoscope._version import __version__
from stenoscope.data._base import Entry, SampleDataset
from stenoscope.data.datasets import open_dataset
from stenoscope.data.regions import region_dataset
from stenoscope.data.splits import Fold, grouped_folds
from stenoscope.data.transforms import Compose, Resize
from stenoscope.errors import ModelError, StenoscopeError
from stenoscope.evaluate.evaluate import EvaluationResult, evaluate_model
from stenoscope.evaluate.metrics import auc, balanced_threshold, mean_sd, roc_curve_png
from stenoscope.train.config import TrainConfig
from stenoscope.train.loop import FitOptions, fit, predict, resolve_device
from stenoscope.train.recipes import (
    Recipe,
    decode_image,
    encode_image,
    get_recipe,
    inference_pipeline,
    input_transforms,
)

RESULTS_SCHEMA = "stenoscope.cv/1"
FOLD_PLACEHOLDER = "{fold}"  # in ``init``: the fold's number, to start each fold from the same fold of a run
SUMMARY_KEYS = ("auc", "accuracy", "sensitivity", "specificity")
# Fewest training samples of each class for a decision threshold of a fold's own (``decision_threshold``).
MIN_CLASS_SAMPLES = 20


@dataclass
class TrainingData:
    """The base samples that folds split (frames or patches), what each head trains on, and the extra
    training-only data (``data.train_extra``) that every fold's training side gets."""

    base: SampleDataset
    samples: SampleDataset  # classification samples (the base itself, or region crops of it)
    extra_base: SampleDataset | None = None
    extra_samples: SampleDataset | None = None

    def samples_of(self, base_indices: np.ndarray) -> SampleDataset:
        """Classification samples belonging to the chosen base entries (by group when they are crops)."""
        if self.samples is self.base:
            return self.base.subset(base_indices)
        groups = {self.base.entries[int(i)].group for i in base_indices}
        return self.samples.subset([i for i, e in enumerate(self.samples.entries) if e.group in groups])

    def training_side(self, base_indices: np.ndarray) -> tuple[SampleDataset, SampleDataset]:
        """A fold's training base and classification samples: its share of the data plus the extra data."""
        base, samples = self.base.subset(base_indices), self.samples_of(base_indices)
        if self.extra_base is None or self.extra_samples is None:
            return base, samples
        return _joined(base, self.extra_base), _joined(samples, self.extra_samples)

    def summary(self) -> dict[str, Any]:
        summary = {"base": self.base.summary(), "samples": self.samples.summary()}
        if self.extra_base is not None and self.extra_samples is not None:
            extra = {"base": self.extra_base.summary(), "samples": self.extra_samples.summary()}
            summary["train_extra"] = extra
        return summary


def _require_same_kind(first: SampleDataset, second: SampleDataset) -> None:
    if first.kind != second.kind:
        raise StenoscopeError(
            f"data.train_extra gives {second.kind} samples where the data has {first.kind} samples"
        )


def _joined(first: SampleDataset, second: SampleDataset) -> SampleDataset:
    """Both datasets' entries in one dataset, each entry still read by its own dataset's loader."""
    _require_same_kind(first, second)
    return SampleDataset(first.entries + second.entries, _JoinedLoader(first, second), first.kind, first.name)


class _JoinedLoader:
    """Reads an entry of a joined dataset with the loader of the dataset it came from."""

    def __init__(self, first: SampleDataset, second: SampleDataset) -> None:
        self.second_ids = {id(entry) for entry in second.entries}
        self.first, self.second = first, second

    def __call__(self, entry: Entry) -> np.ndarray:
        source = self.second if id(entry) in self.second_ids else self.first
        if source.loader is None:
            raise RuntimeError("this dataset has no loader and an entry without pixels")
        return source.loader(entry)


def _samples_for(config: TrainConfig, base: SampleDataset) -> SampleDataset:
    """What the classification head trains on: the frames themselves, or region crops cut from them."""
    if config.data.samples == "frames" or base.kind == "region":
        return base
    if not base.has_boxes:
        raise StenoscopeError(
            "data.samples 'regions' needs a dataset with lesion boxes (COCO, VOC or synthetic)"
        )
    return region_dataset(base, config.data.region_options(config.seed))


def _open(config: TrainConfig, path: str | None, format: str, options: dict[str, Any]) -> SampleDataset:
    options = dict(options)
    if format == "synthetic":
        options.setdefault("seed", config.fold_seed)
    return open_dataset(path, format, **options)


def load_training_data(config: TrainConfig) -> TrainingData:
    """Open the configured dataset (and any training-only extra data) and, for ``samples: regions``, cut
    their region crops (once, seeded)."""
    data = config.data
    base = _open(config, data.path, data.format, data.options)
    training = TrainingData(base, _samples_for(config, base))
    if data.train_extra:
        extras = [_open(config, item["path"], item["format"], item["options"]) for item in data.train_extra]
        extra = extras[0]
        for more in extras[1:]:
            extra = _joined(extra, more)
        training.extra_base, training.extra_samples = extra, _samples_for(config, extra)
        _require_same_kind(training.samples, training.extra_samples)  # a one-line error now, not in fold 1
    return training


def holdout_split(base: SampleDataset, root: str | None, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Train on the frames outside ``root/split``, validate on those inside it, minus every held-out frame
    whose group also has a training frame (near-duplicates would leak the answer).

    Raises:
        StenoscopeError: no dataset root, or the split holds no frame or leaves nothing to train on.
    """
    if root is None:
        raise StenoscopeError("holdout needs data.path (a root whose sub-folders are splits)")
    folder = Path(root).absolute() / split
    inside = np.array([Path(entry.source).absolute().is_relative_to(folder) for entry in base.entries])
    train = np.flatnonzero(~inside)
    train_groups = {base.entries[int(i)].group for i in train}
    val = np.array([i for i in np.flatnonzero(inside) if base.entries[int(i)].group not in train_groups])
    if not train.size or not val.size:
        raise StenoscopeError(f"holdout {split!r}: {train.size} training and {val.size} held-out frames")
    return train, val.astype(np.int64)


def training_splits(config: TrainConfig, base: SampleDataset) -> list[Fold]:
    """The (training, validation) frame indices of each fold the config trains: its held-out split, or its
    grouped folds; scripts that score a trained run's folds again call this to see the same frames."""
    if config.holdout:
        return [holdout_split(base, config.data.path, config.holdout)]
    return grouped_folds(base.labels, base.groups, config.folds, config.fold_seed)


def _mean_image(dataset: SampleDataset, pipeline: Compose) -> np.ndarray:
    """Pixel-wise mean of the (resized) training samples: the paper's per-fold normalisation image."""
    total: np.ndarray | None = None
    for index in range(len(dataset)):
        image = pipeline(dataset[index].image).image.astype(np.float64)
        total = image if total is None else total + image
    if total is None:
        raise StenoscopeError("cannot compute a mean image of an empty training set")
    return (total / len(dataset)).astype(np.float32)


@dataclass
class FoldResult:
    fold: int
    n_train: int
    n_val: int
    evaluation: EvaluationResult
    history: list[dict[str, Any]]
    model_file: str

    def to_json(self) -> dict[str, Any]:
        return {
            "fold": self.fold + 1,
            "n_train": self.n_train,
            "n_val": self.n_val,
            "model": self.model_file,
            "history": self.history,
            **self.evaluation.to_json(),
        }


@dataclass
class CVResult:
    """Everything ``results.json`` holds; ``summary`` has mean and SD over folds of each metric."""

    config: dict[str, Any]
    data: dict[str, Any]
    folds: list[dict[str, Any]]
    summary: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": RESULTS_SCHEMA,
            "version": __version__,
            "config": self.config,
            "data": self.data,
            "folds": self.folds,
            "summary": self.summary,
            "files": self.files,
        }


def _training_record(
    config: TrainConfig, recipe: Recipe, data: TrainingData, mean_image: np.ndarray | None
) -> dict[str, Any]:
    """The ``training`` metadata stored in each checkpoint: enough to rebuild the inference transforms.

    Crops cut here have the configured region size; samples that are crops already (an image folder of
    patches) keep ``data.input_size`` (``None``: their own size).
    """
    kind = data.samples.kind
    cut_regions = data.samples is not data.base
    input_size = config.data.region_options(config.seed).size if cut_regions else config.data.input_size
    return {
        "recipe": recipe.to_json(),
        "kind": kind,
        "input_size": input_size,
        "frame_input_size": config.data.input_size,
        "mean_image": None if mean_image is None else encode_image(mean_image),
        "data": {"format": config.data.format, "samples": config.data.samples},
        "regions": config.data.region_options(config.seed).to_json() if cut_regions else None,
    }


def _heatmap_enabled(config: TrainConfig, model: nn.Module, data: TrainingData) -> bool:
    possible = (
        bool(getattr(model, "has_heatmap_head", False)) and data.base.kind == "frame" and data.base.has_boxes
    )
    enabled = config.heatmap.enabled
    if enabled is True and not possible:
        raise StenoscopeError(
            "heatmap.enabled is true but the model has no heat-map head or the data no boxes"
        )
    return possible and enabled in (True, "auto")


def _run_fold(
    config: TrainConfig,
    recipe: Recipe,
    data: TrainingData,
    fold: int,
    split: tuple[np.ndarray, np.ndarray],
    device: torch.device,
    resume: bool,
    progress: Any,
    reevaluate: bool = False,
) -> tuple[FoldResult, nn.Module, dict[str, Any], SampleDataset, np.ndarray]:
    """Train (or, on resume, reload a finished) fold; returns its result, model, training record, validation
    samples and their probabilities. ``reevaluate`` measures the fold's saved model again instead."""
    from stenoscope.models import create_model, load_model, save_model

    fold_dir = Path(config.out) / f"fold_{fold + 1}"
    train_base, train_samples = data.training_side(split[0])
    val_base, val_samples = data.base.subset(split[1]), data.samples_of(split[1])
    kind = data.samples.kind
    model_file, result_file = fold_dir / "model.safetensors", fold_dir / "result.json"
    if reevaluate:
        return _reevaluate_fold(
            config, fold, train_samples, val_base, val_samples, device, model_file, result_file
        )
    saved = json.loads(result_file.read_text(encoding="utf-8")) if resume and result_file.is_file() else None
    if saved is not None and model_file.is_file() and len(saved["history"]) >= recipe.epochs:
        # this fold finished earlier with at least the requested epochs: reuse it
        model = load_model(model_file, device=device)
        training = model.checkpoint_metadata["training"]
        evaluation = EvaluationResult(
            saved["dataset"], saved["metrics"], saved["ci95"], saved["clip"], saved["localisation"]
        )
        result = FoldResult(
            fold, len(train_samples), len(val_samples), evaluation, saved["history"], saved["model"]
        )
        return result, model, training, val_samples, np.asarray(saved["probabilities"])

    torch.manual_seed(config.seed * 1000 + fold)
    model = create_model(config.model["name"], **config.model.get("kwargs", {}))
    if config.init:
        _load_initial_weights(model, config.init.replace(FOLD_PLACEHOLDER, str(fold + 1)))
    model = model.to(device)
    preprocess_mean = model.preprocess.mean
    base_training = _training_record(config, recipe, data, None)
    mean_image = None
    if recipe.mean_image:
        mean_image = _mean_image(train_samples, Compose(input_transforms(base_training, preprocess_mean)))
    training = _training_record(config, recipe, data, mean_image)
    # the deterministic input steps run once, before the first epoch; each epoch only augments
    prepared = train_samples.prepared(Compose(input_transforms(training, preprocess_mean)))
    train_pipeline = Compose(recipe.train_transforms(kind))
    eval_pipeline = inference_pipeline(training, preprocess_mean, kind)
    heat_data = heat_pipeline = None
    if _heatmap_enabled(config, model, data):
        heat_data, heat_pipeline = prepared, train_pipeline
        if prepared.kind != "frame":
            resize = [Resize(config.data.input_size)] if config.data.input_size else []
            heat_data = train_base.prepared(Compose(resize))
            heat_pipeline = Compose(recipe.train_transforms("frame"))

    def validate(_: Any) -> dict[str, Any]:
        probabilities = predict(model, val_samples, eval_pipeline, device)
        return {"val_auc": auc(val_samples.labels, probabilities)}

    fold_dir.mkdir(parents=True, exist_ok=True)
    options = FitOptions(
        recipe=recipe,
        epochs=recipe.epochs,
        seed=config.seed,
        fold=fold,
        device=device,
        checkpoint_dir=fold_dir,
        resume=resume,
        heatmap_weight=config.heatmap.weight,
        heatmap_batch_size=config.heatmap.batch_size,
        sigma_scale=config.heatmap.sigma_scale,
        softmax_weight=config.heatmap.softmax_weight,
        dense_weight=config.heatmap.dense_weight,
        dense_dilate=config.data.region_options(config.seed).dilate,
        hard_negatives=config.heatmap.hard_negatives,
        freeze=tuple(config.freeze),
        precision=config.precision,
    )
    state = fit(model, prepared, train_pipeline, options, heat_data, heat_pipeline, validate, progress)
    model.eval()
    evaluation = _evaluate_fold(config, model, training, train_samples, val_base, val_samples, device)
    save_model(model, model_file, training=training, fold=fold + 1, metrics=evaluation.metrics)
    result = FoldResult(
        fold, len(train_samples), len(val_samples), evaluation, state.history, model_file.name
    )
    record = result.to_json() | {"probabilities": evaluation.probabilities}
    write_text_atomic(result_file, json.dumps(record, allow_nan=False) + "\n")
    return result, model, training, val_samples, np.asarray(evaluation.probabilities)


def decision_threshold(
    model: nn.Module, training: dict[str, Any], samples: SampleDataset, device: torch.device
) -> float:
    """The probability at which a model calls a sample stenotic, set on its own training ``samples`` (the
    most sensitivity + specificity there); 0.5 when they hold fewer than ``MIN_CLASS_SAMPLES`` of a class
    (whole ARCADE frames nearly all hold a lesion), where no such point can be set."""
    counts = np.bincount(np.asarray(samples.labels, dtype=int), minlength=2)
    if counts.min() < MIN_CLASS_SAMPLES:
        return 0.5
    pipeline = inference_pipeline(training, model.preprocess.mean, samples.kind)
    threshold = balanced_threshold(samples.labels, predict(model, samples, pipeline, device))
    return 0.5 if threshold is None else threshold


def _evaluate_fold(
    config: TrainConfig,
    model: nn.Module,
    training: dict[str, Any],
    train_samples: SampleDataset,
    val_base: SampleDataset,
    val_samples: SampleDataset,
    device: torch.device,
) -> EvaluationResult:
    """The fold's validation metrics, calls at the threshold set on its training samples; localisation
    always on whole frames (the base), even for crops. The model localises with the configured heat-map
    views, which it keeps when saved after."""
    model.heatmap_views = config.heatmap.views()
    mean = model.preprocess.mean
    frame_pipeline = inference_pipeline(training, mean, "frame")
    evaluation = evaluate_model(
        model,
        val_samples,
        inference_pipeline(training, mean, val_samples.kind),
        frame_pipeline=frame_pipeline,
        device=device,
        n_boot=config.bootstrap,
        seed=config.seed,
        localisation=True,
        threshold=decision_threshold(model, training, train_samples, device),
    )
    if val_base.kind == "frame" and val_base.has_boxes and val_samples is not val_base:
        frames_eval = evaluate_model(
            model, val_base, frame_pipeline, device=device, n_boot=config.bootstrap, seed=config.seed
        )
        evaluation.localisation = frames_eval.localisation
    return evaluation


def _reevaluate_fold(
    config: TrainConfig,
    fold: int,
    train_samples: SampleDataset,
    val_base: SampleDataset,
    val_samples: SampleDataset,
    device: torch.device,
    model_file: Path,
    result_file: Path,
) -> tuple[FoldResult, nn.Module, dict[str, Any], SampleDataset, np.ndarray]:
    """Measure a trained fold's saved model again on the configured data (another copy of the frames, other
    evaluation settings), keeping its training history; rewrites the fold's ``result.json``."""
    from stenoscope.models import load_model

    if not model_file.is_file():
        raise StenoscopeError(f"fold {fold + 1}: no {model_file} to re-evaluate (train the fold first)")
    model = load_model(model_file, device=device).eval()
    training = model.checkpoint_metadata["training"]
    evaluation = _evaluate_fold(config, model, training, train_samples, val_base, val_samples, device)
    history = []
    if result_file.is_file():
        history = json.loads(result_file.read_text(encoding="utf-8"))["history"]
    result = FoldResult(fold, len(train_samples), len(val_samples), evaluation, history, model_file.name)
    record = result.to_json() | {"probabilities": evaluation.probabilities}
    write_text_atomic(result_file, json.dumps(record, allow_nan=False) + "\n")
    return result, model, training, val_samples, np.asarray(evaluation.probabilities)


def _load_initial_weights(model: nn.Module, path: str) -> None:
    """Copy the weights of the model file ``path`` into ``model`` (same architecture, or a one-line error).

    Modules the model starts as the identity (``identity_at_init``, e.g. StenoNet's neck) may be absent from
    the file: they keep their fresh, identity weights, so the model starts as the file's model."""
    from stenoscope.models import load_model

    source = load_model(path)
    fresh = tuple(f"{name}." for name in getattr(model, "identity_at_init", ()))
    try:
        missing, unexpected = model.load_state_dict(source.state_dict(), strict=False)
        absent = [key for key in missing if not key.startswith(fresh)]
        if absent or unexpected:
            raise RuntimeError(f"missing keys {absent[:3]}, unexpected keys {unexpected[:3]}")
    except RuntimeError as error:
        detail = " ".join(str(error).split())[:200]
        raise ModelError(f"{path}: init weights do not fit the configured model ({detail})") from error


def _summary(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, SD and fold-spread interval of every fold metric (all rates or AUCs, so bounded by [0, 1])."""

    def spread(values: list[float | None]) -> dict[str, Any]:
        return mean_sd(values, bounds=(0.0, 1.0))

    summary: dict[str, Any] = {key: spread([fold["metrics"][key] for fold in folds]) for key in SUMMARY_KEYS}
    clips = [fold["clip"] for fold in folds if fold.get("clip")]
    if clips:
        for key in ("accuracy_vote", "accuracy_mean"):
            summary[f"clip_{key}"] = spread([clip[key] for clip in clips])
    locals_ = [fold["localisation"] for fold in folds if fold.get("localisation")]
    for source in ("heatmap", "gradcam"):
        values = [local[source] for local in locals_ if source in local]
        if not values:
            continue
        keys = [
            key for key in values[0] if not key.endswith("_ci95") and key not in ("n_images", "n_lesions")
        ]
        summary[f"localisation_{source}"] = {key: spread([value[key] for value in values]) for key in keys}
    return summary


def _predictions_csv(rows: list[tuple[int, SampleDataset, np.ndarray]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["fold", "source", "frame", "group", "label", "probability"])
    for fold, dataset, probabilities in rows:
        for entry, probability in zip(dataset.entries, probabilities, strict=True):
            frame = "" if entry.frame is None else entry.frame
            writer.writerow([fold, entry.source, frame, entry.group, entry.label, f"{probability:.6f}"])
    return buffer.getvalue()


def cross_validate(
    config: TrainConfig,
    resume: bool = False,
    show_progress: bool = True,
    only_folds: Sequence[int] | None = None,
    reevaluate: bool = False,
) -> CVResult | None:
    """Train and evaluate ``config.folds`` models on grouped stratified folds; write the run folder.

    Args:
        resume: continue from the run folder's checkpoints and reuse finished folds.
        only_folds: train just these folds (numbered from 1), so that several processes or machines can
            share a run folder; nothing run-wide is written and ``None`` is returned. A later call without
            it and with ``resume`` reuses the finished folds and writes the run's files.
        reevaluate: train nothing; measure every fold's saved model again on the configured data.

    Raises:
        StenoscopeError: bad settings, unreadable data, a fold number out of range, too few groups.
    """
    from stenoscope.models import Ensemble, save_model

    if config.threads:
        torch.set_num_threads(config.threads)
    recipe = get_recipe(
        config.recipe,
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        ema_decay=float(config.ema_decay),
        **config.augment,
    )
    device = resolve_device(config.device)
    out = Path(config.out)
    data = load_training_data(config)
    splits = training_splits(config, data.base)
    wanted = range(1, len(splits) + 1)
    if only_folds is not None:
        outside = sorted(set(only_folds) - set(wanted))
        if outside:
            raise StenoscopeError(f"fold {outside[0]} does not exist (folds are 1 to {len(splits)})")
        wanted = sorted(set(only_folds))
    fold_results, models, records, rows = [], [], [], []
    progress = _progress() if show_progress else None
    with progress if progress is not None else nullcontext():
        for fold in (number - 1 for number in wanted):
            result, model, training, val_samples, probabilities = _run_fold(
                config, recipe, data, fold, splits[fold], device, resume, progress, reevaluate
            )
            fold_results.append(result.to_json())
            models.append(model.cpu().eval())
            records.append(training)
            rows.append((fold + 1, val_samples, probabilities))
    if only_folds is not None:
        return None
    roc_curve_png(
        [(f"fold {fold}", dataset.labels, probabilities) for fold, dataset, probabilities in rows],
        out / "roc.png",
        title=f"held-out {config.holdout!r}" if config.holdout else f"{config.folds}-fold cross-validation",
    )
    write_text_atomic(out / "predictions.csv", _predictions_csv(rows))
    ranker, ranker_record = _previous_ranker(out) if reevaluate else (None, None)
    for model in models:  # fold models' own rankers stay in their files; the ensemble ranks with its own
        if hasattr(model, "peak_ranker"):
            del model.peak_ranker
    ensemble = Ensemble(models)
    ensemble.heatmap_views = config.heatmap.views()
    if ranker is not None:
        ensemble.peak_ranker = ranker
    training = dict(records[0])
    if training.get("mean_image"):
        # members share one Preprocess, so the ensemble subtracts the average of the folds' mean images
        training["mean_image"] = encode_image(
            np.mean([decode_image(r["mean_image"]) for r in records], axis=0)
        )
    summary = _summary(fold_results)
    save_model(ensemble, out / "ensemble.safetensors", training=training, folds=config.folds, summary=summary)
    result = CVResult(
        config=config.to_json(),
        data=data.summary(),
        folds=fold_results,
        summary=summary,
        files={"ensemble": "ensemble.safetensors", "roc": "roc.png", "predictions": "predictions.csv"},
    )
    record = result.to_json() | ({"peak_ranker": ranker_record} if ranker_record else {})
    write_text_atomic(out / "results.json", json.dumps(record, indent=2, allow_nan=False) + "\n")
    return result


def _previous_ranker(out: Path) -> tuple[nn.Module | None, dict[str, Any] | None]:
    """The run's ensemble peak ranker and its ``results.json`` record (``stenoscope train-ranker``), which
    re-evaluating the fold models keeps."""
    from stenoscope.models import load_model

    try:
        record = json.loads((out / "results.json").read_text(encoding="utf-8")).get("peak_ranker")
    except (OSError, ValueError):
        return None, None
    ranker = getattr(load_model(out / "ensemble.safetensors"), "peak_ranker", None) if record else None
    return (ranker, record) if ranker is not None else (None, None)


def _progress() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )
