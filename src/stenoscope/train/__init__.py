"""Training: recipes (``paper``, ``default``), the training loop, grouped k-fold CV and ensemble export.

Example:
    >>> from stenoscope.train import cross_validate, load_config
    >>> result = cross_validate(load_config("configs/synthetic.yaml"))  # doctest: +SKIP
    >>> result.summary["auc"]
"""

from stenoscope.train.config import DataConfig, HeatmapConfig, TrainConfig, config_from_dict, load_config
from stenoscope.train.cv import CVResult, cross_validate, load_training_data
from stenoscope.train.loop import (
    FitOptions,
    centernet_focal_loss,
    fit,
    gaussian_targets,
    predict,
    resolve_device,
    spatial_softmax_loss,
)
from stenoscope.train.ranker import fit_ranker, ranker_samples, train_peak_ranker
from stenoscope.train.recipes import RECIPES, Recipe, get_recipe, inference_pipeline

__all__ = [
    "RECIPES",
    "CVResult",
    "DataConfig",
    "FitOptions",
    "HeatmapConfig",
    "Recipe",
    "TrainConfig",
    "centernet_focal_loss",
    "config_from_dict",
    "cross_validate",
    "fit",
    "fit_ranker",
    "gaussian_targets",
    "get_recipe",
    "inference_pipeline",
    "load_config",
    "load_training_data",
    "predict",
    "ranker_samples",
    "resolve_device",
    "spatial_softmax_loss",
    "train_peak_ranker",
]
