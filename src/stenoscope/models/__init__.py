"""Stenosis classifiers: a registry of models with one interface, checkpoints, ensembles and shipped weights.

Example:
    >>> from stenoscope.models import create_model, list_models
    >>> model = create_model("default", heatmap_head=True).eval()
    >>> x = model.preprocess.normalise(frames)  # float frames in [0, 1]
    >>> model.frame_probability(x)  # the one rule for whole frames
    >>> model.lesion_peaks(x, threshold=0.1, max_peaks=5)  # the one rule for lesion candidates
"""

from stenoscope.models import inception, stenonet  # noqa: F401  (register the model families)
from stenoscope.models._base import HeatmapViews, Preprocess, StenosisModel
from stenoscope.models._checkpoint import (
    load_model,
    read_model_metadata,
    save_model,
    shipped_weights_path,
    weights_dir,
    write_weights_manifest,
)
from stenoscope.models._registry import create_model, list_models, register_model
from stenoscope.models.attention import AttentionModule
from stenoscope.models.ensemble import Ensemble
from stenoscope.models.ranker import PeakRanker

__all__ = [
    "AttentionModule",
    "Ensemble",
    "HeatmapViews",
    "PeakRanker",
    "Preprocess",
    "StenosisModel",
    "create_model",
    "list_models",
    "load_model",
    "read_model_metadata",
    "register_model",
    "save_model",
    "shipped_weights_path",
    "weights_dir",
    "write_weights_manifest",
]
