"""Classification and localisation metrics, with bootstrap confidence intervals.

Classification: AUC, accuracy, sensitivity, specificity at a threshold; clip-wise accuracy by the paper's
majority vote of key frames and by mean probability. Localisation: the pointing game (is the top peak of a
heat map inside a lesion box?) and lesion-level sensitivity at 0.5/1/2 false positives per image (FROC
operating points). A peak counts as a hit inside a box widened by ``margin`` pixels (8 by default): box
annotations are loose, and a peak on the vessel just past a box's edge still points at the lesion.

Everything returns plain floats (``None`` where undefined, e.g. an AUC with one class), JSON-safe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FP_RATES = (0.5, 1.0, 2.0)
HIT_MARGIN = 8.0

Metric = Callable[[np.ndarray, np.ndarray], float | None]


def auc(labels: Sequence[int], probabilities: Sequence[float]) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with tied scores counted half, as sklearn computes it);
    ``None`` when only one class is present. Rank-based, so thousands of bootstrap resamples stay cheap."""
    from scipy.stats import rankdata

    labels_array = np.asarray(labels)
    positive = labels_array == 1
    n_positive = int(positive.sum())
    n_negative = labels_array.size - n_positive
    if n_positive == 0 or n_negative == 0:
        return None
    ranks = rankdata(np.asarray(probabilities, dtype=np.float64))
    return float((ranks[positive].sum() - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative))


def _rate(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def accuracy(labels: Sequence[int], probabilities: Sequence[float], threshold: float = 0.5) -> float | None:
    labels_array = np.asarray(labels)
    predicted = np.asarray(probabilities) >= threshold
    return _rate(int((predicted == (labels_array == 1)).sum()), labels_array.size)


def sensitivity(
    labels: Sequence[int], probabilities: Sequence[float], threshold: float = 0.5
) -> float | None:
    """True-positive rate: share of stenosis samples predicted positive."""
    labels_array, predicted = np.asarray(labels), np.asarray(probabilities) >= threshold
    return _rate(int((predicted & (labels_array == 1)).sum()), int((labels_array == 1).sum()))


def specificity(
    labels: Sequence[int], probabilities: Sequence[float], threshold: float = 0.5
) -> float | None:
    """True-negative rate: share of normal samples predicted negative."""
    labels_array, predicted = np.asarray(labels), np.asarray(probabilities) >= threshold
    return _rate(int((~predicted & (labels_array == 0)).sum()), int((labels_array == 0).sum()))


CLASSIFICATION_METRICS: dict[str, Metric] = {
    "auc": auc,
    "accuracy": accuracy,
    "sensitivity": sensitivity,
    "specificity": specificity,
}


def balanced_threshold(labels: Sequence[int], probabilities: Sequence[float]) -> float | None:
    """The probability threshold with the highest sensitivity + specificity (Youden's J) on these samples;
    ``None`` with one class only. Set on training samples, it puts a decision where the model's own scale
    separates the classes: a head trained against hard negatives may score few lesions above 0.5."""
    from sklearn.metrics import roc_curve

    labels_array = np.asarray(labels)
    if len(np.unique(labels_array)) < 2:
        return None
    false_positive_rate, true_positive_rate, thresholds = roc_curve(labels_array, np.asarray(probabilities))
    best = int(np.argmax(true_positive_rate - false_positive_rate))
    return float(np.clip(thresholds[best], 0.0, 1.0))


def at_threshold(name: str, threshold: float) -> Metric:
    """The classification metric ``name`` with its decision threshold fixed (AUC has none)."""
    metric = CLASSIFICATION_METRICS[name]
    if name == "auc":
        return metric
    return lambda labels, probabilities: metric(labels, probabilities, threshold)


def classification_metrics(
    labels: Sequence[int], probabilities: Sequence[float], threshold: float = 0.5
) -> dict[str, float | None]:
    """AUC, accuracy, sensitivity and specificity (probability >= ``threshold`` is a positive call) plus
    the counts and the threshold."""
    labels_array = np.asarray(labels)
    result: dict[str, Any] = {
        name: at_threshold(name, threshold)(labels_array, np.asarray(probabilities))
        for name in CLASSIFICATION_METRICS
    }
    result |= {
        "n": int(labels_array.size),
        "n_positive": int((labels_array == 1).sum()),
        "threshold": float(threshold),
    }
    return result


def _column(items: Sequence[Any]) -> np.ndarray:
    """Items as an array indexable by an index array; ragged items (peak lists, boxes) as objects."""
    if isinstance(items, np.ndarray):
        return items
    if not any(isinstance(item, (list, tuple, np.ndarray)) for item in items):
        return np.asarray(items)
    column = np.empty(len(items), dtype=object)
    for index, item in enumerate(items):
        column[index] = item
    return column


def bootstrap_ci(
    metric: Callable[..., float | None],
    *arrays: Sequence[Any],
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    groups: Sequence[str] | None = None,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``metric(*arrays)`` over resampled items (or whole groups).

    With ``groups``, whole groups are resampled (cluster bootstrap), since frames of one clip or patient
    are not independent. Resamples where the metric is undefined (e.g. one class) are skipped; ``None``
    when fewer than half of them are defined.
    """
    intervals = bootstrap_intervals(
        lambda *columns: {"value": metric(*columns)},
        *arrays,
        n_resamples=n_resamples,
        level=level,
        seed=seed,
        groups=groups,
    )
    return intervals.get("value")


def bootstrap_intervals(
    metrics: Callable[..., dict[str, float | None]],
    *arrays: Sequence[Any],
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    groups: Sequence[str] | None = None,
) -> dict[str, tuple[float, float] | None]:
    """Like :func:`bootstrap_ci` for a function returning several metrics at once (one pass of resamples,
    e.g. lesion sensitivity at three false-positive rates from one FROC curve)."""
    rng = np.random.default_rng(seed)
    columns = [_column(array) for array in arrays]
    n_items = len(columns[0])
    if n_items == 0:
        return {}
    if groups is None:
        members = [np.array([i]) for i in range(n_items)]
    else:
        group_ids = np.unique(np.asarray(groups, dtype=str), return_inverse=True)[1]
        order = np.argsort(group_ids, kind="stable")
        members = np.split(order, np.flatnonzero(np.diff(group_ids[order])) + 1)
    values: dict[str, list[float]] = {}
    for _ in range(n_resamples):
        picked = rng.integers(len(members), size=len(members))
        index = np.concatenate([members[i] for i in picked])
        for key, value in metrics(*(column[index] for column in columns)).items():
            values.setdefault(key, [])
            if value is not None:
                values[key].append(value)
    tail = (1 - level) / 2 * 100
    intervals: dict[str, tuple[float, float] | None] = {}
    for key, defined in values.items():
        if len(defined) < n_resamples / 2:
            intervals[key] = None
            continue
        low, high = np.percentile(defined, [tail, 100 - tail])
        intervals[key] = (float(low), float(high))
    return intervals


def clip_predictions(
    labels: Sequence[int],
    probabilities: Sequence[float],
    groups: Sequence[str],
    rule: str = "vote",
    threshold: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """One label and one score per group (clip).

    Args:
        rule: ``vote``: the share of the clip's frames predicted positive (probability >= ``threshold``;
            the paper's majority vote: positive when more than half are, a tie counts as positive);
            ``mean``: the mean probability.

    Returns:
        ``(labels, scores)``; a clip's label is positive when any of its frames is.
    """
    labels_array, probability = np.asarray(labels), np.asarray(probabilities, dtype=np.float64)
    names, ids = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    clip_labels = np.zeros(len(names), dtype=np.int64)
    scores = np.zeros(len(names))
    for index in range(len(names)):
        member = ids == index
        clip_labels[index] = int(labels_array[member].max())
        if rule == "vote":
            scores[index] = float((probability[member] >= threshold).mean())
        elif rule == "mean":
            scores[index] = float(probability[member].mean())
        else:
            raise ValueError(f"rule must be 'vote' or 'mean', got {rule!r}")
    return clip_labels, scores


def clip_accuracy(
    labels: Sequence[int],
    probabilities: Sequence[float],
    groups: Sequence[str],
    rule: str = "vote",
    threshold: float = 0.5,
) -> float | None:
    """Clip-wise accuracy by majority vote of frame calls at ``threshold`` (``vote``: positive when at
    least half the frames are) or by mean probability >= ``threshold`` (``mean``)."""
    clip_labels, scores = clip_predictions(labels, probabilities, groups, rule, threshold)
    return accuracy(clip_labels, scores, 0.5 if rule == "vote" else threshold)


# ---------------------------------------------------------------- localisation


def inside_boxes(x: float, y: float, boxes: np.ndarray, margin: float = HIT_MARGIN) -> np.ndarray:
    """Which boxes (``x, y, w, h``, widened by ``margin``) contain the point: ``.any()`` is a hit."""
    if not len(boxes):
        return np.zeros(0, dtype=bool)
    return (
        (x >= boxes[:, 0] - margin)
        & (x <= boxes[:, 0] + boxes[:, 2] + margin)
        & (y >= boxes[:, 1] - margin)
        & (y <= boxes[:, 1] + boxes[:, 3] + margin)
    )


def pointing_game(
    peaks: Sequence[Sequence[tuple[float, float, float]]],
    boxes: Sequence[np.ndarray],
    margin: float = HIT_MARGIN,
    top: int = 1,
) -> float | None:
    """Share of images with boxes whose highest-scoring peak ``(x, y, score)`` lies in a (widened) box.

    With ``top`` > 1, the share whose ``top`` strongest peaks include one in a box: how often the first few
    candidates hold an annotated lesion, whatever their scores. Images without boxes are left out; an image
    with boxes and no peak is a miss.
    """
    hits = []
    for image_peaks, image_boxes in zip(peaks, boxes, strict=True):
        image_boxes = np.asarray(image_boxes, dtype=np.float64).reshape(-1, 4)
        if not len(image_boxes):
            continue
        strongest = sorted(image_peaks, key=lambda peak: -peak[2])[:top]
        hits.append(any(inside_boxes(x, y, image_boxes, margin).any() for x, y, _ in strongest))
    return None if not hits else float(np.mean(hits))


@dataclass(frozen=True)
class ImageHits:
    """One image's peaks scored against its boxes once, so FROC resamples only re-sort (bootstrap)."""

    scores: tuple[float, ...]
    inside: tuple[tuple[bool, ...], ...]  # per peak: which of the image's boxes (widened) hold it
    n_boxes: int

    @classmethod
    def score(
        cls, peaks: Sequence[tuple[float, float, float]], boxes: np.ndarray, margin: float
    ) -> ImageHits:
        image_boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        points = np.asarray(peaks, dtype=np.float64).reshape(-1, 3)
        x, y = points[:, :1], points[:, 1:2]
        hits = (
            (x >= image_boxes[:, 0] - margin)
            & (x <= image_boxes[:, 0] + image_boxes[:, 2] + margin)
            & (y >= image_boxes[:, 1] - margin)
            & (y <= image_boxes[:, 1] + image_boxes[:, 3] + margin)
        )
        return cls(tuple(points[:, 2].tolist()), tuple(map(tuple, hits.tolist())), len(image_boxes))


def froc_from_hits(images: Sequence[ImageHits]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`froc_curve` from images already scored with :meth:`ImageHits.score`."""
    n_lesions = sum(image.n_boxes for image in images)
    flat = [(score, i, j) for i, image in enumerate(images) for j, score in enumerate(image.scores)]
    flat.sort(key=lambda item: -item[0])
    detected = [[False] * image.n_boxes for image in images]
    false_positives, found = 0, 0
    fp_rate, sens = [0.0], [0.0]
    for position, (score, image, index) in enumerate(flat):
        holders = images[image].inside[index]
        if any(holders):
            new = next((k for k, held in enumerate(holders) if held and not detected[image][k]), None)
            if new is not None:
                detected[image][new] = True
                found += 1
        else:
            false_positives += 1
        if position + 1 == len(flat) or flat[position + 1][0] != score:
            fp_rate.append(false_positives / max(len(images), 1))
            sens.append(found / n_lesions if n_lesions else 0.0)
    return np.array(fp_rate), np.array(sens)


def froc_curve(
    peaks: Sequence[Sequence[tuple[float, float, float]]],
    boxes: Sequence[np.ndarray],
    margin: float = HIT_MARGIN,
) -> tuple[np.ndarray, np.ndarray]:
    """Free-response ROC: (false positives per image, lesion sensitivity) as the score threshold falls.

    A peak inside a (widened) lesion box detects that lesion; further peaks on an already detected lesion
    are neither hits nor false positives; a peak outside every box is a false positive. Peaks with equal
    scores enter together.
    """
    return froc_from_hits([ImageHits.score(p, b, margin) for p, b in zip(peaks, boxes, strict=True)])


def sensitivity_at_fp(
    images: Sequence[ImageHits], fp_rates: Sequence[float] = FP_RATES
) -> dict[str, float | None]:
    """Lesion sensitivity at each false-positive rate from scored images (see :func:`lesion_sensitivity`)."""
    n_lesions = sum(image.n_boxes for image in images)
    fp_rate, sens = froc_from_hits(images)
    return {
        f"{rate:g}": None if n_lesions == 0 else float(sens[fp_rate <= rate + 1e-12].max())
        for rate in fp_rates
    }


def lesion_sensitivity(
    peaks: Sequence[Sequence[tuple[float, float, float]]],
    boxes: Sequence[np.ndarray],
    fp_rates: Sequence[float] = FP_RATES,
    margin: float = HIT_MARGIN,
) -> dict[str, float | None]:
    """Lesion-level sensitivity at each rate of false positives per image (the best threshold within it).

    Keys are ``"0.5"``, ``"1"``, ``"2"``; ``None`` when there is no lesion at all.
    """
    return sensitivity_at_fp(
        [ImageHits.score(p, b, margin) for p, b in zip(peaks, boxes, strict=True)], fp_rates
    )


def annotation_agreement(
    copies: Sequence[np.ndarray], truths: Sequence[np.ndarray], margin: float = HIT_MARGIN
) -> dict[str, float | None]:
    """How one annotation of each frame scores against another annotation of the same frame, its boxes'
    centres taken as equally scored peaks: what a model reproducing the first exactly would score on the
    second, a ceiling for any model judged by such labels.

    Over frames whose truth has a box: the pointing game with each centre equally likely the strongest (the
    share of centres in a widened truth box; a copy without boxes is a miss), the share of truth boxes that
    hold any centre (the centres are unordered, so no greedy one-peak-one-lesion matching: overlapping boxes
    may share a centre, which errs towards agreement) and the centres outside every truth box per frame.
    ``None`` without any truth box.
    """
    scored = [
        ImageHits.score(
            [(x + w / 2, y + h / 2, 1.0) for x, y, w, h in np.asarray(copy, dtype=np.float64).reshape(-1, 4)],
            truth,
            margin,
        )
        for copy, truth in zip(copies, truths, strict=True)
    ]
    scored = [hits for hits in scored if hits.n_boxes]
    if not scored:
        return {"pointing_game": None, "sensitivity": None, "false_positives_per_frame": None}
    pointing = [np.mean([any(inside) for inside in hits.inside]) if hits.inside else 0.0 for hits in scored]
    found = sum(any(inside[box] for inside in hits.inside) for hits in scored for box in range(hits.n_boxes))
    missed = sum(sum(not any(inside) for inside in hits.inside) for hits in scored)
    return {
        "pointing_game": float(np.mean(pointing)),
        "sensitivity": found / sum(hits.n_boxes for hits in scored),
        "false_positives_per_frame": missed / len(scored),
    }


# ---------------------------------------------------------------- plots


def roc_curve_png(
    curves: Sequence[tuple[str, Sequence[int], Sequence[float]]], path: str | Path, title: str = "ROC"
) -> Path:
    """Write ROC curves (one per ``(name, labels, probabilities)``, e.g. per fold) to a PNG, atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    from stenoscope._fs import atomic_path

    figure, axes = plt.subplots(figsize=(5, 5), dpi=100)
    for name, labels, probabilities in curves:
        if np.unique(np.asarray(labels)).size < 2:
            continue
        fpr, tpr, _ = roc_curve(np.asarray(labels), np.asarray(probabilities))
        value = auc(labels, probabilities)
        axes.plot(fpr, tpr, label=f"{name} (AUC {value:.3f})")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axes.set(xlabel="1 - specificity", ylabel="sensitivity", title=title, xlim=(0, 1), ylim=(0, 1.01))
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="lower right", fontsize=8)
    else:  # one class only (e.g. ARCADE frames, all positive): no curve is defined
        axes.text(0.5, 0.5, "ROC undefined: one class only", ha="center", va="center")
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    plt.close(figure)
    return Path(path)


def mean_sd(values: Sequence[float | None], bounds: tuple[float, float] | None = None) -> dict[str, Any]:
    """Mean and sample standard deviation of the defined values (``None`` ignored), and with two or more a
    95% interval for the mean: mean +- t(0.975, n-1) * sd / sqrt(n), as CV papers report fold spread,
    clipped to ``bounds`` (rates and AUCs cannot leave [0, 1]).

    Fold estimates share most of their training data, so they are not independent and this interval is
    somewhat narrower than the truth; it is still the honest summary of how much the folds disagree.
    """
    from scipy.stats import t

    defined = np.array([v for v in values if v is not None], dtype=np.float64)
    if defined.size == 0:
        return {"mean": None, "sd": None}
    mean = float(defined.mean())
    if defined.size == 1:
        return {"mean": mean, "sd": 0.0}
    sd = float(defined.std(ddof=1))
    half = float(t.ppf(0.975, defined.size - 1)) * sd / np.sqrt(defined.size)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return {"mean": mean, "sd": sd, "ci95": [low, high]}
