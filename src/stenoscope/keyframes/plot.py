"""PNG figures for key frames: the score curve with thumbnails, and the distance histogram (Fig. 5).

matplotlib is imported inside the functions (Agg backend, no display needed) so the CLI starts fast.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stenoscope._fs import atomic_path
from stenoscope.clip import Clip
from stenoscope.keyframes import KeyFrames
from stenoscope.keyframes.evaluate import KeyFrameEvaluation


def _figure(**kwargs):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _save(figure, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    return Path(path)


def plot_key_frames(clip: Clip, keys: KeyFrames, path: str | Path) -> Path:
    """Score curve over all frames with the chosen frames marked, above thumbnails of the chosen frames."""
    count = len(keys.key_frames)
    figure = _figure(figsize=(max(6.0, 1.6 * count), 5.0), layout="constrained")
    grid = figure.add_gridspec(2, count, height_ratios=(1.3, 1.0))
    curve = figure.add_subplot(grid[0, :])
    frames = np.arange(keys.n_frames)
    curve.plot(frames, keys.scores, color="0.3", marker=".", label="score")
    chosen = list(keys.key_frames)
    curve.plot(chosen, keys.scores[chosen], "o", color="tab:blue", label="chosen frames")
    curve.plot(
        [keys.key_frame], [keys.scores[keys.key_frame]], "*", color="tab:red", ms=14, label="key frame"
    )
    curve.axvspan(chosen[0] - 0.5, chosen[-1] + 0.5, color="tab:blue", alpha=0.1)
    curve.set(
        xlabel="frame", ylabel="score", title=f"{clip.name}: key frame {keys.key_frame} ({keys.method})"
    )
    curve.legend(loc="best", fontsize="small")
    images = clip.as_uint8()
    for column, index in enumerate(chosen):
        axis = figure.add_subplot(grid[1, column])
        axis.imshow(images[index], cmap="gray", vmin=0, vmax=255)
        axis.set_title(f"{index}" + (" (key)" if index == keys.key_frame else ""), fontsize="small")
        axis.axis("off")
    return _save(figure, path)


def plot_distance_histogram(evaluation: KeyFrameEvaluation, path: str | Path) -> Path:
    """Histogram of |detected - reference| frame distances, one panel per method side by side."""
    methods = list(evaluation.methods.values())
    figure = _figure(figsize=(4.5 * len(methods), 3.6), layout="constrained")
    axes = figure.subplots(1, len(methods), squeeze=False, sharey=True)[0]
    largest = max(int(method.distances.max()) for method in methods)
    bins = np.arange(largest + 2) - 0.5
    for axis, method in zip(axes, methods, strict=True):
        summary = method.summary()
        axis.hist(method.distances, bins=bins, color="tab:blue", edgecolor="white")
        axis.set(
            xlabel="|detected - reference| (frames)",
            ylabel="clips",
            title=f"{method.method}: {summary['mean']:.2f} ± {summary['sd']:.2f} (n={summary['n']})",
        )
    return _save(figure, path)
