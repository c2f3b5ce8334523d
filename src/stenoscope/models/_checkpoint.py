"""Checkpoints: one safetensors file per model (or ensemble) with everything needed to rebuild it.

The file's header metadata holds one JSON document under the key ``stenoscope``::

    {"format": "stenoscope.model/1", "name": "default", "kwargs": {...}, "preprocess": {...},
     "version": "0.1.0", "metadata": {...user metadata: training data, recipe, metrics...}}

An ensemble stores ``"name": "ensemble"`` and a ``members`` list of ``{name, kwargs, preprocess}``. A model
whose lesion map averages several views also stores ``"heatmap_views": {"scales": [...], "flip": ...}``;
one with a peak ranker (:mod:`stenoscope.models.ranker`) stores ``"peak_ranker": {"window": ..., ...}``
beside its ``name`` (an ensemble's own ranker at the top level, its members' in their entries).

Shipped weights live in ``models/weights/`` (or ``$STENOSCOPE_WEIGHTS_DIR``) beside ``manifest.json``::

    {"schema": "stenoscope.weights/1", "default": "arcade",
     "models": {"arcade": {"file": "stenonet-arcade.safetensors", "sha256": "...", "bytes": 123}}}

Nothing is ever downloaded: a build either ships a manifest and its files or has no pretrained model.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stenoscope._fs import atomic_path, write_text_atomic
from stenoscope._version import __version__
from stenoscope.errors import ModelError
from stenoscope.models._base import HeatmapViews, Preprocess
from stenoscope.models._registry import create_model
from stenoscope.models.ensemble import Ensemble
from stenoscope.models.ranker import PeakRanker

FORMAT = "stenoscope.model/1"
MANIFEST_SCHEMA = "stenoscope.weights/1"
MANIFEST_NAME = "manifest.json"
METADATA_KEY = "stenoscope"
WEIGHTS_DIR_ENV = "STENOSCOPE_WEIGHTS_DIR"


def weights_dir() -> Path:
    """Folder of the shipped weights: ``$STENOSCOPE_WEIGHTS_DIR`` if set, else the package's ``weights``."""
    override = os.environ.get(WEIGHTS_DIR_ENV)
    return Path(override) if override else Path(__file__).resolve().parent / "weights"


def _architecture(model: nn.Module) -> dict[str, Any]:
    name, kwargs = getattr(model, "model_name", None), getattr(model, "model_kwargs", None)
    if name is None or kwargs is None:
        raise ModelError(f"{type(model).__name__} was not built by create_model(), so it cannot be rebuilt")
    return {"name": name, "kwargs": kwargs, "preprocess": model.preprocess.to_dict(), **_peak_ranker(model)}


def _peak_ranker(model: nn.Module) -> dict[str, Any]:
    ranker = getattr(model, "peak_ranker", None)
    return {} if ranker is None else {"peak_ranker": ranker.ranker_kwargs}


def _attach_peak_ranker(model: nn.Module, description: dict[str, Any]) -> None:
    if description.get("peak_ranker"):
        # files from before the ranker's scale existed (release 8) hold a ranker on the model's own grid
        model.peak_ranker = PeakRanker(**({"scale": 1} | description["peak_ranker"]))


def _heatmap_views(model: nn.Module) -> dict[str, Any]:
    views = getattr(model, "heatmap_views", HeatmapViews())
    return {} if views == HeatmapViews() else {"heatmap_views": views.to_dict()}


def save_model(
    model: nn.Module, path: str | Path, *, weights_dtype: torch.dtype | None = None, **metadata: Any
) -> Path:
    """Write ``model`` (a registry model or an :class:`Ensemble`) to a safetensors file, atomically.

    Args:
        model: built by :func:`create_model`, or an ensemble of such models.
        path: target file (``.safetensors`` recommended).
        weights_dtype: store floating-point tensors in this type (``torch.float16`` halves a shipped
            ensemble's size); :func:`load_model` always loads them into the model's own (float32) tensors.
        **metadata: JSON-safe facts to keep with the weights (training data, recipe, metrics...).
    """
    from safetensors.torch import save_file

    header: dict[str, Any] = {"format": FORMAT, "version": __version__, "metadata": metadata}
    if isinstance(model, Ensemble):
        header |= {"name": "ensemble", "members": [_architecture(member) for member in model.members]}
        header["preprocess"] = model.preprocess.to_dict()
        header |= _peak_ranker(model)
    else:
        header |= _architecture(model)
    header |= _heatmap_views(model)
    if weights_dtype is not None:
        header["weights_dtype"] = str(weights_dtype).removeprefix("torch.")
    try:
        text = json.dumps(header, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ModelError(f"model metadata must be JSON-safe (no NaN, no objects): {error}") from error
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    if weights_dtype is not None:
        state = {
            key: value.to(weights_dtype) if value.is_floating_point() else value
            for key, value in state.items()
        }
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={METADATA_KEY: text})
    return Path(path)


def read_model_metadata(path: str | Path) -> dict[str, Any]:
    """The JSON header of a stenoscope model file, without loading its weights."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = (handle.metadata() or {}).get(METADATA_KEY)
    except Exception as error:
        raise ModelError(f"{path}: not a safetensors model file ({error})") from error
    if raw is None:
        raise ModelError(f"{path}: a safetensors file without stenoscope model metadata")
    header = json.loads(raw)
    if header.get("format") != FORMAT:
        raise ModelError(f"{path}: unsupported model format {header.get('format')!r} (expected {FORMAT})")
    return header


def _build(architecture: dict[str, Any]) -> nn.Module:
    model = create_model(architecture["name"], **architecture["kwargs"])
    model.preprocess = Preprocess.from_dict(architecture["preprocess"])
    _attach_peak_ranker(model, architecture)
    return model


def load_model(path_or_name: str | Path | None = None, *, device: str | torch.device = "cpu") -> nn.Module:
    """Load a saved model or ensemble in eval mode; with no argument, the model shipped in the package.

    Args:
        path_or_name: a file written by :func:`save_model`, the name of a shipped model (see
            ``manifest.json``), or ``None`` for the shipped default (sha256-verified before loading).
        device: where to put the weights.

    The loaded model carries the checkpoint's user metadata as ``checkpoint_metadata``.
    """
    from safetensors.torch import load_file

    if path_or_name is None:
        path = shipped_weights_path()
    else:
        path = Path(path_or_name)
        if not path.is_file():
            if path.suffix or path.name != str(path_or_name):
                raise ModelError(f"{path}: no such model file")
            path = shipped_weights_path(str(path_or_name))
    header = read_model_metadata(path)
    if header["name"] == "ensemble":
        model: nn.Module = Ensemble([_build(member) for member in header["members"]])
        _attach_peak_ranker(model, header)
    else:
        model = _build(header)
    try:
        model.load_state_dict(load_file(str(path), device="cpu"))
    except RuntimeError as error:
        name = header["name"]
        raise ModelError(f"{path}: weights do not fit the {name!r} architecture ({error})") from error
    model.heatmap_views = HeatmapViews.from_dict(header.get("heatmap_views"))
    model.checkpoint_metadata = header.get("metadata", {})
    return model.to(device).eval()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_manifest(folder: Path) -> dict[str, Any]:
    manifest = folder / MANIFEST_NAME
    if not manifest.is_file():
        raise ModelError(
            f"no pretrained model is shipped in this build (no {manifest}); "
            "train one with `stenoscope train` and pass its file"
        )
    data = json.loads(manifest.read_text(encoding="utf-8"))
    if data.get("schema") != MANIFEST_SCHEMA:
        raise ModelError(f"{manifest}: unsupported manifest schema {data.get('schema')!r}")
    return data


def shipped_weights_path(name: str | None = None) -> Path:
    """The verified path of a shipped weights file (the default one when ``name`` is None).

    Raises:
        ModelError: no manifest, unknown name, missing file, or a sha256 that does not match the manifest.
    """
    folder = weights_dir()
    manifest = _read_manifest(folder)
    name = name or manifest["default"]
    entry = manifest["models"].get(name)
    if entry is None:
        raise ModelError(f"no shipped model named {name!r}; shipped: {', '.join(sorted(manifest['models']))}")
    path = folder / entry["file"]
    if not path.is_file():
        raise ModelError(f"{path}: shipped weights file missing; reinstall stenoscope")
    actual = _sha256(path)
    if actual != entry["sha256"]:
        raise ModelError(
            f"{path}: sha256 mismatch (manifest {entry['sha256'][:12]}..., file {actual[:12]}...); "
            "the weights are damaged or replaced: reinstall stenoscope"
        )
    return path


def write_weights_manifest(path: str | Path, name: str, *, default: bool = True) -> Path:
    """Record a model file in the ``manifest.json`` beside it (sha256, size), making it a shipped model.

    Used when publishing weights: ``save_model(model, weights_dir() / "x.safetensors")`` then
    ``write_weights_manifest(that_path, "x")``. Returns the manifest's path.
    """
    path = Path(path)
    read_model_metadata(path)
    manifest_path = path.parent / MANIFEST_NAME
    manifest: dict[str, Any] = {"schema": MANIFEST_SCHEMA, "default": name, "models": {}}
    if manifest_path.is_file():
        manifest = _read_manifest(path.parent)
    manifest["models"][name] = {"file": path.name, "sha256": _sha256(path), "bytes": path.stat().st_size}
    if default:
        manifest["default"] = name
    write_text_atomic(manifest_path, json.dumps(manifest, indent=2) + "\n")
    return manifest_path
