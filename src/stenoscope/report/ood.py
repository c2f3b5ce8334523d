"""Out-of-distribution warnings: say when a clip does not look like the frames the model was trained on.

The ranges come from the model's checkpoint metadata, key ``training_distribution`` (written by whoever
trains the model), for example::

    {"long_side": [512, 512], "bits_stored": [8, 8], "mean_intensity": [0.35, 0.75],
     "intensity_range": [0.4, 1.0]}

``long_side`` is the frame's longer side in pixels before any resizing; ``mean_intensity`` the mean of the
frames scaled to [0, 1] by their bit depth; ``intensity_range`` the spread between the 1st and 99th
percentiles on the same scale. A missing key (or a model without metadata) means that property is not
checked. The model still runs: a warning is information for the reader, not a refusal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from stenoscope.clip import Clip

# The frames sampled for the intensity statistics (they vary little across a run; sampling keeps it fast).
_SAMPLE_FRAMES = 8


def clip_statistics(clip: Clip) -> dict[str, float]:
    """The properties the training ranges are checked against."""
    step = max(1, clip.n_frames // _SAMPLE_FRAMES)
    sample = clip.with_frames(clip.frames[::step]).as_float()[:, ::2, ::2]
    low, high = np.percentile(sample, [1.0, 99.0])
    return {
        "long_side": float(max(clip.height, clip.width)),
        "bits_stored": float(clip.bits_stored),
        "mean_intensity": float(sample.mean()),
        "intensity_range": float(high - low),
    }


_DESCRIPTIONS = {
    "long_side": ("frame size {value:g} px (long side)", "{range} px", "{:g}"),
    "bits_stored": ("bit depth {value:g}", "{range} bits", "{:g}"),
    "mean_intensity": ("mean intensity {value:.2f}", "{range}", "{:.2f}"),
    "intensity_range": ("intensity range (1st-99th percentile) {value:.2f}", "{range}", "{:.2f}"),
}


def distribution_warnings(clip: Clip, training_distribution: Mapping[str, Any] | None) -> list[str]:
    """One sentence per property of ``clip`` that falls outside the model's training range."""
    if not training_distribution:
        return []
    stats = clip_statistics(clip)
    warnings = []
    for key, (what, allowed, number) in _DESCRIPTIONS.items():
        bounds = training_distribution.get(key)
        if bounds is None:
            continue
        low, high = float(bounds[0]), float(bounds[1])
        value = stats[key]
        if not low <= value <= high:
            span = number.format(low) if low == high else f"{number.format(low)}-{number.format(high)}"
            warnings.append(
                f"outside the training distribution: {what.format(value=value)} "
                f"(the model was trained on {allowed.format(range=span)}); treat the result with caution"
            )
    return warnings
