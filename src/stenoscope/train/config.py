"""Training configuration: a YAML file (see ``configs/*.yaml``) whose values command-line flags override.

Example ``configs/synthetic.yaml``::

    out: runs/synthetic
    seed: 0
    recipe: default
    folds: 5
    model: {name: default, kwargs: {heatmap_head: true}}
    data: {format: synthetic, options: {n: 200, size: 128}}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stenoscope.data.regions import RegionOptions
from stenoscope.errors import InputError, StenoscopeError

if TYPE_CHECKING:
    from stenoscope.models import HeatmapViews

# training arithmetic: float32, or bfloat16 autocast of the forward passes
PRECISIONS = ("float32", "bfloat16")
# the recipe's augmentation settings a config may replace
AUGMENT_KEYS = {"frame_flip", "zoom", "sharpen", "shutters"}


@dataclass
class DataConfig:
    """Which data, and what the classification head learns from.

    Attributes:
        format: dataset layout (``auto``, ``paper``, ``csv``, ``coco``, ``voc``, ``imagefolder`` or
            ``synthetic``).
        path: dataset file or folder (relative paths are relative to the config file).
        options: extra arguments of the layout's reader (e.g. ``splits: [train]`` for COCO).
        samples: ``frames`` (whole frames) or ``regions`` (crops around lesions and on vessels; needs boxes).
        input_size: frames are resized to this square size first (``null`` keeps their size; then all
            frames must share it). Region crops have their own ``regions.size``.
        regions: crop settings for ``samples: regions``.
        train_extra: more datasets, each ``{format, path, options}``, added to the training side of every
            fold and never validated on: e.g. synthetic frames beside real ones, whose effect is then
            measured on real frames alone.
    """

    format: str = "auto"
    path: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    samples: str = "frames"
    input_size: int | None = None
    regions: dict[str, Any] = field(default_factory=dict)
    train_extra: list[dict[str, Any]] = field(default_factory=list)

    def region_options(self, seed: int) -> RegionOptions:
        try:
            return RegionOptions(**{"seed": seed, **self.regions})
        except TypeError as error:
            raise StenoscopeError(f"bad regions setting: {error}") from error


@dataclass
class HeatmapConfig:
    """Training of the lesion heat-map head (when the model has one and the frames have boxes).

    Attributes:
        enabled: ``auto`` (when possible), ``true`` (error if impossible) or ``false``.
        weight: weight of the focal loss beside the classification loss.
        batch_size: whole frames per heat-map step.
        sigma_scale: Gaussian sigma as a share of the box's geometric-mean side (at least one map cell);
            twice the default (0.3) measured no better on the shipped stage 1 under the CV (docs/training.md).
        softmax_weight: weight of a second heat-map loss that ranks each frame's lesion cells above all its
            other cells (a spatial softmax against the normalised targets; ``loop.spatial_softmax_loss``):
            the pointing game's question, which the cell-by-cell focal loss does not ask; on the shipped
            stage 1 under the CV it changed nothing measurable (docs/training.md). 0 turns it off.
        dense_weight: weight of a second loss on the same frames that trains the classification head at
            every cell of its dense logit map (lesion cells vs the hardest background cells; see
            ``loop.dense_region_loss``), so that the classifier, and hence Grad-CAM, points at the lesion
            on whole frames and not only on crops. 0 turns it off.
        hard_negatives: background cells per frame that count in that loss.
        test_scales: the scales whose heat maps the trained model averages when it localises (stored with
            its weights as ``HeatmapViews``; used in its evaluation and by every command after).
        test_flip: also average each scale's mirror image.
    """

    enabled: bool | str = "auto"
    weight: float = 1.0
    batch_size: int = 8
    sigma_scale: float = 0.15
    softmax_weight: float = 0.0
    dense_weight: float = 0.0
    hard_negatives: int = 16
    test_scales: list[float] = field(default_factory=lambda: [1.0])
    test_flip: bool = False

    def views(self) -> HeatmapViews:
        """The test-time views these settings give a trained model."""
        from stenoscope.models import HeatmapViews

        return HeatmapViews(tuple(float(scale) for scale in self.test_scales), bool(self.test_flip))


@dataclass
class TrainConfig:
    """Everything ``stenoscope train`` needs; :meth:`to_json` is stored in ``results.json``.

    ``holdout`` names a split folder of the dataset (e.g. ``val`` of an ARCADE root) used as the one
    validation set instead of ``folds``-fold CV: the model trains on every other frame and is evaluated on
    the held-out frames whose group (near-duplicate set) does not also occur in training.

    ``augment`` replaces the recipe's augmentation settings (``frame_flip``, ``zoom``, ``sharpen``,
    ``shutters``: see :class:`~stenoscope.train.recipes.Recipe`).

    ``freeze`` lists parameter-name prefixes (module paths such as ``stages`` or ``decoder``) that keep the
    weights they start with (from ``init``), batch-norm statistics included: e.g. a stage that trains the
    classification head alone and leaves the heat map exactly as the previous stage made it.

    ``split_seed`` seeds the fold split (and generated synthetic data) alone; by default ``seed`` seeds
    them with everything else. A run with another ``seed`` and the same ``split_seed`` trains again on the
    same folds (region crops drawn anew), so its fold models pair with the first run's: how far training
    noise alone moves a cross-validated result.

    ``ema_decay`` (0 to below 1; 0: off) ends each fold with the exponential moving average of its weights
    (see :class:`~stenoscope.train.recipes.Recipe`).

    ``precision: bfloat16`` runs training's forward passes under bfloat16 autocast (about twice as fast on
    CPUs with AVX-512 BF16 or AMX; weights and losses stay float32); evaluation is always float32.

    ``init`` is a stenoscope model file (``.safetensors``: the shipped model, another run's fold model)
    whose weights every fold starts from instead of random ones: fine-tuning, e.g. on a centre's own
    labelled clips, or training in stages. Its architecture must match ``model``. ``{fold}`` in it stands
    for the fold's number (1-based), so a cross-validated stage starts each fold from the same fold of
    the previous stage, whose validation frames it never trained on.
    """

    out: str = "runs/train"
    seed: int = 0
    split_seed: int | None = None
    recipe: str = "default"
    folds: int = 5
    holdout: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    device: str = "auto"
    threads: int | None = None
    precision: str = "float32"
    ema_decay: float = 0.0
    augment: dict[str, Any] = field(default_factory=dict)
    bootstrap: int = 1000
    model: dict[str, Any] = field(default_factory=lambda: {"name": "default", "kwargs": {}})
    init: str | None = None
    freeze: list[str] = field(default_factory=list)
    data: DataConfig = field(default_factory=DataConfig)
    heatmap: HeatmapConfig = field(default_factory=HeatmapConfig)

    @property
    def fold_seed(self) -> int:
        """The seed the fold split is drawn with."""
        return fold_seed(self.seed, self.split_seed)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _section(cls: type, values: Any, name: str) -> Any:
    if values is None:
        return cls()
    if not isinstance(values, dict):
        raise StenoscopeError(f"config section {name!r} must be a mapping")
    known = {item.name for item in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise StenoscopeError(f"unknown key(s) in {name!r}: {', '.join(sorted(unknown))}")
    return cls(**values)


def config_from_dict(values: dict[str, Any], base_dir: Path | None = None) -> TrainConfig:
    """Build a :class:`TrainConfig`, resolving the data path relative to ``base_dir``."""
    values = dict(values)
    data = _section(DataConfig, values.pop("data", None), "data")
    heatmap = _section(HeatmapConfig, values.pop("heatmap", None), "heatmap")
    config = _section(TrainConfig, values, "config")
    if data.path and base_dir is not None and not Path(data.path).is_absolute():
        data.path = str((base_dir / data.path).resolve())
    if config.init and base_dir is not None and not Path(config.init).is_absolute():
        config.init = str((base_dir / config.init).resolve())
    data.train_extra = [_extra_dataset(item, base_dir) for item in data.train_extra or []]
    if data.samples not in ("frames", "regions"):
        raise StenoscopeError(f"data.samples must be 'frames' or 'regions', got {data.samples!r}")
    config.data, config.heatmap = data, heatmap
    try:
        heatmap.views()
    except (TypeError, ValueError) as error:
        raise StenoscopeError(f"heatmap.test_scales / test_flip: {error}") from error
    if config.precision not in PRECISIONS:
        raise StenoscopeError(f"precision must be one of {', '.join(PRECISIONS)}, got {config.precision!r}")
    for name in ("weight", "softmax_weight", "dense_weight"):
        value = getattr(heatmap, name)
        if not _is_number(value) or value < 0:
            raise StenoscopeError(f"heatmap.{name} must be a number at least 0, got {value!r}")
    if not _is_integer(config.seed):
        raise StenoscopeError(f"seed must be an integer, got {config.seed!r}")
    if config.split_seed is not None and not _is_integer(config.split_seed):
        raise StenoscopeError(f"split_seed must be an integer, got {config.split_seed!r}")
    decay = config.ema_decay
    if not _is_number(decay) or not 0.0 <= decay < 1.0:
        raise StenoscopeError(f"ema_decay must be a number at least 0 and below 1, got {decay!r}")
    if not isinstance(config.freeze, list) or not all(isinstance(item, str) for item in config.freeze):
        raise StenoscopeError("config 'freeze' must be a list of parameter-name prefixes")
    if not isinstance(config.augment, dict) or set(config.augment) - AUGMENT_KEYS:
        raise StenoscopeError(f"config 'augment' takes only {', '.join(sorted(AUGMENT_KEYS))}")
    _check_augment(config)
    if not isinstance(config.model, dict) or "name" not in config.model:
        raise StenoscopeError("config 'model' must be a mapping with a 'name' (and optional 'kwargs')")
    return config


def fold_seed(seed: int, split_seed: int | None) -> int:
    """The seed a run's folds are drawn with: ``split_seed`` when set, else ``seed`` (also for the stored
    configs of runs written before ``split_seed`` existed)."""
    return seed if split_seed is None else split_seed


def _is_number(value: Any) -> bool:
    """An int or float from YAML; ``true``/``false`` are bools, which Python would also count as ints."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    """An int from YAML, not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def _check_augment(config: TrainConfig) -> None:
    """Build the configured augmentation once, so a value out of a transform's range (a zoom of 1.5, a
    negative sharpening) is a config error at load, not a failure when the first batch is drawn."""
    from stenoscope.train.recipes import get_recipe

    try:
        recipe = get_recipe(config.recipe, **config.augment)
        for kind in ("frame", "region"):
            recipe.train_transforms(kind)
    except (TypeError, ValueError) as error:
        raise StenoscopeError(f"config 'augment': {error}") from error


def _extra_dataset(item: Any, base_dir: Path | None) -> dict[str, Any]:
    """One ``data.train_extra`` entry, checked, with its path resolved like ``data.path``."""
    if not isinstance(item, dict) or set(item) - {"format", "path", "options"} or "format" not in item:
        raise StenoscopeError("each data.train_extra entry must be a mapping of format, path and options")
    extra = {"format": item["format"], "path": item.get("path"), "options": dict(item.get("options") or {})}
    if extra["path"] and base_dir is not None and not Path(extra["path"]).is_absolute():
        extra["path"] = str((base_dir / extra["path"]).resolve())
    return extra


def load_config(path: str | Path) -> TrainConfig:
    """Read a YAML training configuration."""
    import yaml

    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise InputError(path, f"cannot read config ({error.strerror or error})") from error
    except yaml.YAMLError as error:
        raise InputError(path, f"not valid YAML ({str(error).splitlines()[0]})") from error
    if not isinstance(values, dict):
        raise InputError(path, "a training config must be a YAML mapping")
    return config_from_dict(values, path.parent)
