"""Metrics (classification, clip votes, localisation, bootstrap CIs) and model evaluation on any dataset."""

from stenoscope.evaluate.evaluate import EvaluationResult, evaluate_model, evaluate_path
from stenoscope.evaluate.metrics import (
    FP_RATES,
    HIT_MARGIN,
    accuracy,
    auc,
    bootstrap_ci,
    classification_metrics,
    clip_accuracy,
    froc_curve,
    lesion_sensitivity,
    pointing_game,
    roc_curve_png,
    sensitivity,
    specificity,
)

__all__ = [
    "FP_RATES",
    "HIT_MARGIN",
    "EvaluationResult",
    "accuracy",
    "auc",
    "bootstrap_ci",
    "classification_metrics",
    "clip_accuracy",
    "evaluate_model",
    "evaluate_path",
    "froc_curve",
    "lesion_sensitivity",
    "pointing_game",
    "roc_curve_png",
    "sensitivity",
    "specificity",
]
