"""Key-frame methods by name: each method scores every frame and names the frame of maximal filling.

A method is a function ``(clip, **options) -> Scoring``; :func:`stenoscope.keyframes.detect_key_frames`
owns the rest of the flow (timing, the window of ``count`` frames around the key frame, the result type),
so a new method is one new file with one decorated function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from stenoscope.clip import Clip
from stenoscope.errors import StenoscopeError


@dataclass(frozen=True)
class Scoring:
    """What a method returns: one score per frame (all frames) and the index of the key frame."""

    scores: np.ndarray
    key_frame: int


class KeyFrameMethod(Protocol):
    def __call__(self, clip: Clip, **options: Any) -> Scoring: ...


_METHODS: dict[str, KeyFrameMethod] = {}


def register_keyframe_method(name: str) -> Callable[[KeyFrameMethod], KeyFrameMethod]:
    """Decorator that makes a scoring function available as ``detect_key_frames(clip, method=name)``."""

    def register(function: KeyFrameMethod) -> KeyFrameMethod:
        if name in _METHODS:
            raise ValueError(f"key-frame method {name!r} is already registered")
        _METHODS[name] = function
        return function

    return register


def get_keyframe_method(name: str) -> KeyFrameMethod:
    try:
        return _METHODS[name]
    except KeyError:
        known = ", ".join(sorted(_METHODS))
        raise StenoscopeError(f"unknown key-frame method {name!r} (known: {known})") from None


def list_keyframe_methods() -> list[str]:
    """Names of the registered key-frame methods, sorted."""
    return sorted(_METHODS)
