"""Training one model: batches with repeatable augmentation, classification and heat-map losses, per-epoch
checkpoints that ``--resume`` continues from, and prediction with the rule each sample kind needs.

Repeatability: epoch ``e`` of fold ``k`` draws its sample order and augmentation from
``numpy.random.default_rng([seed, k, e])`` and seeds torch the same way, so a resumed run continues exactly
as an uninterrupted one would (on the same device).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from stenoscope._fs import atomic_path
from stenoscope.data._base import SampleDataset
from stenoscope.data.transforms import Compose
from stenoscope.errors import StenoscopeError
from stenoscope.train.config import PRECISIONS
from stenoscope.train.recipes import Recipe

CHECKPOINT_NAME = "checkpoint.pt"


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when available, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise StenoscopeError(f"unknown device {device!r} (use auto, cpu, cuda or cuda:N)") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise StenoscopeError("device cuda requested but CUDA is not available")
    return resolved


@dataclass
class Batch:
    images: torch.Tensor  # (B, 1, H, W) float in [0, 1]-ish, before the model's Preprocess
    labels: torch.Tensor  # (B,)
    boxes: list[np.ndarray]


def make_batch(
    dataset: SampleDataset, indices: Sequence[int], pipeline: Compose, rng: np.random.Generator | None
) -> Batch:
    """Load, transform and stack samples; ``rng=None`` means no randomness is expected (evaluation)."""
    images, labels, boxes = [], [], []
    for index in indices:
        sample = dataset[int(index)]
        result = pipeline(sample.image, sample.boxes, rng if rng is not None else np.random.default_rng(0))
        images.append(result.image)
        labels.append(sample.label)
        boxes.append(result.boxes)
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise StenoscopeError(
            f"samples of different sizes {sorted(shapes)} in one batch; set data.input_size to resize frames"
        )
    return Batch(torch.from_numpy(np.stack(images))[:, None], torch.tensor(labels, dtype=torch.long), boxes)


def gaussian_targets(
    boxes: Sequence[np.ndarray], out_shape: tuple[int, int], in_shape: tuple[int, int], sigma_scale: float
) -> torch.Tensor:
    """CenterNet targets ``(B, 1, h, w)``: a Gaussian peaking at exactly 1 on each box centre's cell."""
    height, width = out_shape
    scale_y, scale_x = height / in_shape[0], width / in_shape[1]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    targets = np.zeros((len(boxes), 1, height, width), dtype=np.float32)
    for index, image_boxes in enumerate(boxes):
        for x, y, w, h in np.asarray(image_boxes).reshape(-1, 4):
            centre_x = min(width - 1, max(0, int((x + w / 2) * scale_x)))
            centre_y = min(height - 1, max(0, int((y + h / 2) * scale_y)))
            sigma = max(1.0, sigma_scale * math.sqrt(max(w * scale_x, 1) * max(h * scale_y, 1)))
            blob = np.exp(-((xx - centre_x) ** 2 + (yy - centre_y) ** 2) / (2 * sigma**2))
            np.maximum(targets[index, 0], blob, out=targets[index, 0])
    return torch.from_numpy(targets)


def centernet_focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 2.0, beta: float = 4.0):
    """CenterNet's penalty-reduced focal loss (Zhou et al. 2019), summed and divided by the lesion count.

    Cells at a centre (target 1) pull the prediction up; the rest push it down, less so near a centre
    (weight ``(1 - target) ** beta``), so a peak one cell off is barely punished.
    """
    logits = logits.float()  # bfloat16 under autocast: the loss in float32
    log_p = F.logsigmoid(logits)
    log_not_p = F.logsigmoid(-logits)
    probability = log_p.exp()
    positive = targets.eq(1).float()
    positive_loss = ((1 - probability) ** alpha) * log_p * positive
    negative_loss = ((1 - targets) ** beta) * (probability**alpha) * log_not_p * (1 - positive)
    return -(positive_loss.sum() + negative_loss.sum()) / positive.sum().clamp_min(1.0)


def spatial_softmax_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy between each frame's heat map read as one distribution over its cells (a softmax of
    all its logits) and its targets normalised to sum 1; frames without a lesion are left out.

    The focal loss judges each cell on its own, so a frame's strongest false peak costs it little once every
    cell is near its target; the pointing game asks only which cell ranks first. This term ranks the lesion
    cells against every other cell of the same frame, and being shift-invariant leaves the focal loss to set
    the logits' level.
    """
    logits, targets = logits.float().flatten(1), targets.flatten(1)
    mass = targets.sum(dim=1)
    with_lesion = mass > 0
    if not with_lesion.any():
        return logits.sum() * 0.0  # keeps the graph: a batch of lesion-free frames still backpropagates
    share = targets[with_lesion] / mass[with_lesion, None]
    return -(share * F.log_softmax(logits[with_lesion], dim=1)).sum(dim=1).mean()


def dense_region_targets(
    boxes: Sequence[np.ndarray],
    labels: Sequence[int],
    out_shape: tuple[int, int],
    in_shape: tuple[int, int],
    dilate: float,
) -> torch.Tensor:
    """Per-cell labels ``(B, h, w)`` for the dense logit map: the crop classifier's question asked at
    every cell of a whole frame.

    A cell is 1 when its centre lies in a lesion box (the cell holding a box's centre always is), 0 when
    its centre is more than ``dilate`` input pixels from every box, and ignored (-100) in between. A frame
    labelled stenotic without boxes is ignored whole (its lesion could be anywhere); one labelled normal
    is 0 everywhere.
    """
    height, width = out_shape
    step_y, step_x = in_shape[0] / height, in_shape[1] / width
    centre_y = (np.arange(height, dtype=np.float32) + 0.5) * step_y
    centre_x = (np.arange(width, dtype=np.float32) + 0.5) * step_x
    targets = np.full((len(boxes), height, width), -100, dtype=np.int64)
    for index, (image_boxes, label) in enumerate(zip(boxes, labels, strict=True)):
        image_boxes = np.asarray(image_boxes, dtype=np.float32).reshape(-1, 4)
        if not len(image_boxes):
            if int(label) == 0:
                targets[index] = 0
            continue
        near = np.zeros((height, width), dtype=bool)
        inside = np.zeros((height, width), dtype=bool)
        for x, y, w, h in image_boxes:
            near |= (
                (centre_y[:, None] >= y - dilate)
                & (centre_y[:, None] <= y + h + dilate)
                & (centre_x[None, :] >= x - dilate)
                & (centre_x[None, :] <= x + w + dilate)
            )
            inside |= (
                (centre_y[:, None] >= y)
                & (centre_y[:, None] <= y + h)
                & (centre_x[None, :] >= x)
                & (centre_x[None, :] <= x + w)
            )
            row = min(height - 1, int((y + h / 2) / step_y))
            col = min(width - 1, int((x + w / 2) / step_x))
            inside[row, col] = True
        targets[index][~near] = 0
        targets[index][inside] = 1
    return torch.from_numpy(targets)


def dense_region_loss(
    logit_map: torch.Tensor, targets: torch.Tensor, hard_negatives: int = 16
) -> torch.Tensor:
    """Cross-entropy of the lesion cells plus that of each frame's ``hard_negatives`` worst background
    cells, the two weighted equally.

    Only the hardest background cells count (online hard-example mining): most of a frame is plain
    background the model gets right at once, and what spoils a frame's answer (and its Grad-CAM) is the
    one vessel segment that looks narrowed.
    """
    losses = F.cross_entropy(logit_map.float(), targets.clamp_min(0), reduction="none").flatten(1)
    flat = targets.flatten(1)
    parts = []
    if bool((flat == 1).any()):
        parts.append(losses[flat == 1].mean())
    negative = torch.where(flat == 0, losses, torch.full_like(losses, -1.0))
    k = min(hard_negatives, negative.shape[1])
    worst = negative.topk(k, dim=1).values
    worst = worst[worst >= 0]
    if worst.numel():
        parts.append(worst.mean())
    return torch.stack(parts).mean() if parts else logit_map.sum() * 0.0


def lr_factor(step: int, total_steps: int, warmup_steps: int, schedule: str) -> float:
    """Learning-rate multiplier: linear warm-up, then constant or cosine decay to zero."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """The recipe's optimiser over the parameters that train (frozen ones left out)."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    if recipe.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=recipe.lr, weight_decay=recipe.weight_decay)
    raise StenoscopeError(f"unknown optimizer {recipe.optimizer!r} (adam or adamw)")


@torch.no_grad()
def predict(
    model: nn.Module, dataset: SampleDataset, pipeline: Compose, device: torch.device, batch_size: int = 16
) -> np.ndarray:
    """Stenosis probability per sample: ``frame_probability`` for whole frames (the one frame rule), the
    classification head's softmax for region crops (what it was trained on)."""
    model.eval()
    probabilities = []
    for start in range(0, len(dataset), batch_size):
        indices = range(start, min(len(dataset), start + batch_size))
        batches = [make_batch(dataset, [i], pipeline, None) for i in indices]
        for group in _same_shape_runs(batches):
            images = torch.cat([batch.images for batch in group]).to(device)
            x = model.preprocess.normalise(images)
            if dataset.kind == "frame":
                probability = model.frame_probability(x)
            else:
                probability = model(x).softmax(dim=1)[:, 1]
            probabilities.append(probability.float().cpu().numpy())
    return np.concatenate(probabilities) if probabilities else np.zeros(0)


def _same_shape_runs(batches: list[Batch]) -> Iterator[list[Batch]]:
    run: list[Batch] = []
    for batch in batches:
        if run and batch.images.shape[-2:] != run[0].images.shape[-2:]:
            yield run
            run = []
        run.append(batch)
    if run:
        yield run


@dataclass
class TrainState:
    """What a checkpoint holds besides the weights."""

    epoch: int = 0
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FitOptions:
    recipe: Recipe
    epochs: int
    seed: int
    fold: int
    device: torch.device
    checkpoint_dir: Path
    resume: bool = False
    heatmap_weight: float = 1.0
    heatmap_batch_size: int = 8
    sigma_scale: float = 0.15
    softmax_weight: float = 0.0
    dense_weight: float = 0.0
    dense_dilate: float = 16.0
    hard_negatives: int = 16
    freeze: tuple[str, ...] = ()
    precision: str = "float32"


def freeze_modules(model: nn.Module, prefixes: Sequence[str]) -> None:
    """Stop the parameters whose names start with one of ``prefixes`` from training.

    Raises:
        StenoscopeError: a prefix that names no parameter (a typo would otherwise freeze nothing).
    """
    names = [name for name, _ in model.named_parameters()]
    for prefix in prefixes:
        if not any(_under(name, prefix) for name in names):
            raise StenoscopeError(f"freeze: {prefix!r} names no parameter of the model")
    for name, parameter in model.named_parameters():
        if any(_under(name, prefix) for prefix in prefixes):
            parameter.requires_grad_(False)
    if prefixes and not any(parameter.requires_grad for parameter in model.parameters()):
        raise StenoscopeError("freeze leaves no parameter to train")


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _hold_frozen_statistics(model: nn.Module, prefixes: Sequence[str]) -> None:
    """Frozen modules in eval mode while the rest trains, so their batch-norm statistics stay too."""
    for name, module in model.named_modules():
        if any(_under(name, prefix) for prefix in prefixes):
            module.eval()


def _save_checkpoint(
    path: Path, model: nn.Module, optimizer, scheduler, state: TrainState, average: AveragedModel | None
) -> None:
    payload = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": state.epoch,
        "step": state.step,
        "history": state.history,
        "average": average.state_dict() if average is not None else None,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def fit(
    model: nn.Module,
    train_data: SampleDataset,
    train_pipeline: Compose,
    options: FitOptions,
    heatmap_data: SampleDataset | None = None,
    heatmap_pipeline: Compose | None = None,
    on_epoch: Callable[[TrainState], dict[str, Any]] | None = None,
    progress: Any = None,
) -> TrainState:
    """Train ``model`` in place for ``options.epochs`` epochs, checkpointing after each.

    Args:
        model: a fresh (or resumed) model on ``options.device``.
        train_data: samples for the classification head (cross-entropy).
        train_pipeline: deterministic input steps plus the recipe's augmentation.
        heatmap_data: whole frames with boxes for the heat-map head (focal loss), trained jointly: each
            step adds ``heatmap_weight`` x the focal loss of one heat-map batch. When it is ``train_data``
            itself, one forward pass serves both losses. With ``options.dense_weight``, those frames also
            train the classification head cell by cell (:func:`dense_region_loss`), in both cases.
        on_epoch: called after each epoch (e.g. validation metrics); its dict joins the epoch's history.
        progress: a ``rich.progress.Progress`` to report steps on, or ``None``.
    """
    recipe = options.recipe
    if options.precision not in PRECISIONS:
        raise StenoscopeError(f"precision must be one of {', '.join(PRECISIONS)}, got {options.precision!r}")
    freeze_modules(model, options.freeze)
    steps_per_epoch = max(1, math.ceil(len(train_data) / recipe.batch_size))
    total_steps = steps_per_epoch * options.epochs
    warmup_steps = round(recipe.warmup_epochs * steps_per_epoch)
    optimizer = make_optimizer(model, recipe)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total_steps, warmup_steps, recipe.schedule)
    )
    # the moving average covers batch-norm statistics too, so the averaged weights meet matching ones
    average = None
    if recipe.ema_decay:
        average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(recipe.ema_decay), use_buffers=True)
    state = TrainState()
    checkpoint = options.checkpoint_dir / CHECKPOINT_NAME
    if options.resume and checkpoint.is_file():
        saved = torch.load(checkpoint, map_location=options.device, weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        if average is not None:
            if saved.get("average") is None:
                raise StenoscopeError(f"{checkpoint} was trained without ema_decay: cannot resume with it")
            average.load_state_dict(saved["average"])
        state = TrainState(saved["epoch"], saved["step"], saved["history"])
    joint = heatmap_data is train_data
    task = None
    if progress is not None:
        task = progress.add_task(
            f"fold {options.fold + 1}", total=total_steps, completed=state.step, status=""
        )
    for epoch in range(state.epoch, options.epochs):
        rng = np.random.default_rng([options.seed, options.fold, epoch])
        torch.manual_seed(int(rng.integers(2**31)))
        order = rng.permutation(len(train_data))
        heat_order: Iterator[int] = iter(())
        if heatmap_data is not None and not joint:
            heat_order = _cycle(heatmap_data, rng)
        model.train()
        _hold_frozen_statistics(model, options.freeze)
        losses = []
        for step in range(steps_per_epoch):
            indices = order[step * recipe.batch_size : (step + 1) * recipe.batch_size]
            if len(indices) < 2 and len(order) >= 2:  # a batch of one breaks batch norm statistics
                continue
            batch = make_batch(train_data, indices, train_pipeline, rng)
            x = model.preprocess.normalise(batch.images.to(options.device))
            labels = batch.labels.to(options.device)
            with _autocast(options):
                if joint:
                    features, heat_logits = model.forward_with_heatmap(x)
                    loss = F.cross_entropy(model.forward_head(features).float(), labels)
                    loss = _add_frame_terms(loss, model, features, heat_logits, batch, x, options)
                else:
                    loss = F.cross_entropy(model(x).float(), labels)
                    if heatmap_data is not None and heatmap_pipeline is not None:
                        heat_indices = [next(heat_order) for _ in range(options.heatmap_batch_size)]
                        heat_batch = make_batch(heatmap_data, heat_indices, heatmap_pipeline, rng)
                        heat_x = model.preprocess.normalise(heat_batch.images.to(options.device))
                        heat_features, heat_logits = model.forward_with_heatmap(heat_x)
                        loss = _add_frame_terms(
                            loss, model, heat_features, heat_logits, heat_batch, heat_x, options
                        )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if average is not None:
                average.update_parameters(model)
            state.step += 1
            losses.append(float(loss.detach()))
            if progress is not None:
                progress.update(
                    task, advance=1, status=f"epoch {epoch + 1}/{options.epochs} loss {losses[-1]:.3f}"
                )
        record: dict[str, Any] = {"epoch": epoch + 1, "loss": float(np.mean(losses)) if losses else None}
        if on_epoch is not None:
            record |= on_epoch(state)
        state.history.append(record)
        state.epoch = epoch + 1
        _save_checkpoint(checkpoint, model, optimizer, scheduler, state, average)
    if progress is not None and task is not None:
        progress.update(task, completed=total_steps)
    if average is not None:
        model.load_state_dict(average.module.state_dict())
    return state


def _autocast(options: FitOptions) -> Any:
    """bfloat16 autocast of the forward passes when ``options.precision`` asks for it (about twice as
    fast on CPUs with AVX-512 BF16); weights, optimiser state and the losses stay float32."""
    enabled = options.precision == "bfloat16"
    return torch.autocast(options.device.type, dtype=torch.bfloat16, enabled=enabled)


def _add_frame_terms(
    loss: torch.Tensor,
    model: nn.Module,
    features: torch.Tensor,
    heat_logits: torch.Tensor,
    batch: Batch,
    x: torch.Tensor,
    options: FitOptions,
) -> torch.Tensor:
    """``loss`` plus the whole-frame terms of one batch: the weighted focal loss of the heat map, with
    ``options.softmax_weight`` its spatial-softmax term and, with ``options.dense_weight``, the dense
    classification term."""
    targets = gaussian_targets(batch.boxes, heat_logits.shape[-2:], x.shape[-2:], options.sigma_scale)
    targets = targets.to(x.device)
    loss = loss + options.heatmap_weight * centernet_focal_loss(heat_logits, targets)
    if options.softmax_weight:
        loss = loss + options.softmax_weight * spatial_softmax_loss(heat_logits, targets)
    if options.dense_weight:
        loss = loss + _dense_term(model, features, batch, x, options)
    return loss


def _dense_term(
    model: nn.Module, features: torch.Tensor, batch: Batch, x: torch.Tensor, options: FitOptions
) -> torch.Tensor:
    """``dense_weight`` x the cell-by-cell classification loss of one batch of whole frames."""
    logit_map = model.forward_logit_map(features)
    cells = dense_region_targets(
        batch.boxes, batch.labels.tolist(), logit_map.shape[-2:], x.shape[-2:], options.dense_dilate
    )
    return options.dense_weight * dense_region_loss(logit_map, cells.to(x.device), options.hard_negatives)


def _cycle(dataset: SampleDataset, rng: np.random.Generator) -> Iterator[int]:
    """Endless shuffled passes over ``dataset``'s indices."""
    while True:
        yield from (int(i) for i in rng.permutation(len(dataset)))
