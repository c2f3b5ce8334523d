"""stenoscope: coronary stenosis recognition in X-ray angiography cine clips.

The public API is re-exported here and imported lazily, so ``import stenoscope`` and the CLI's ``--help``
stay fast (torch is only imported when a model is needed).

Example:
    >>> import stenoscope
    >>> run = stenoscope.synthesize(seed=1, n_frames=30)
    >>> keys = stenoscope.detect_key_frames(run.clip)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from stenoscope._version import __version__
from stenoscope.clip import Clip
from stenoscope.errors import InputError, ModelError, StenoscopeError

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "read_clip": "stenoscope.io",
    "write_clip": "stenoscope.io",
    "synthesize": "stenoscope.synth",
    "SyntheticRun": "stenoscope.synth",
    "detect_key_frames": "stenoscope.keyframes",
    "KeyFrames": "stenoscope.keyframes",
    "list_keyframe_methods": "stenoscope.keyframes",
    "register_keyframe_method": "stenoscope.keyframes",
    "create_model": "stenoscope.models",
    "list_models": "stenoscope.models",
    "load_model": "stenoscope.models",
    "save_model": "stenoscope.models",
    "register_model": "stenoscope.models",
    "open_dataset": "stenoscope.data",
    "load_config": "stenoscope.train",
    "cross_validate": "stenoscope.train",
    "evaluate_model": "stenoscope.evaluate",
    "evaluate_path": "stenoscope.evaluate",
    "GradCAM": "stenoscope.explain",
    "GradCAMPlusPlus": "stenoscope.explain",
    "analyze": "stenoscope.report",
    "Report": "stenoscope.report",
}

__all__ = [
    "Clip",
    "GradCAM",
    "GradCAMPlusPlus",
    "InputError",
    "KeyFrames",
    "ModelError",
    "Report",
    "StenoscopeError",
    "SyntheticRun",
    "__version__",
    "analyze",
    "create_model",
    "cross_validate",
    "detect_key_frames",
    "evaluate_model",
    "evaluate_path",
    "list_keyframe_methods",
    "list_models",
    "load_config",
    "load_model",
    "open_dataset",
    "read_clip",
    "register_keyframe_method",
    "register_model",
    "save_model",
    "synthesize",
    "write_clip",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from stenoscope.data import open_dataset
    from stenoscope.evaluate import evaluate_model, evaluate_path
    from stenoscope.explain import GradCAM, GradCAMPlusPlus
    from stenoscope.io import read_clip, write_clip
    from stenoscope.keyframes import (
        KeyFrames,
        detect_key_frames,
        list_keyframe_methods,
        register_keyframe_method,
    )
    from stenoscope.models import create_model, list_models, load_model, register_model, save_model
    from stenoscope.report import Report, analyze
    from stenoscope.synth import SyntheticRun, synthesize
    from stenoscope.train import cross_validate, load_config


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stenoscope' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
