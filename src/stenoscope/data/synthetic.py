"""Synthetic frames (:func:`stenoscope.synth.synthesize_frame`): labelled data with known lesion boxes
for tests, demos and pre-training, generated in memory so nothing needs to be downloaded.
"""

from __future__ import annotations

import numpy as np

from stenoscope.data._base import Entry, SampleDataset, as_boxes


def synthetic_dataset(
    n: int = 200,
    size: int = 128,
    seed: int = 0,
    positive_fraction: float = 0.5,
    stenosis_degrees: tuple[float, float] = (50.0, 90.0),
) -> SampleDataset:
    """``n`` synthetic frames, a ``positive_fraction`` of them with one to three stenoses (boxes given).

    Frame ``i`` uses seed ``seed * 1_000_003 + i``, so datasets with different seeds do not overlap and
    every frame is its own group (each is an independent random vessel tree). ``stenosis_degrees`` is the
    range of diameter reduction (%); small frames need severe lesions to show them at all.
    """
    from stenoscope.synth import synthesize_frame

    rng = np.random.default_rng(seed)
    n_positive = round(n * positive_fraction)
    labels = rng.permutation(np.r_[np.ones(n_positive, dtype=int), np.zeros(n - n_positive, dtype=int)])
    entries = []
    for index, label in enumerate(labels):
        frame_seed = seed * 1_000_003 + index
        frame, boxes = synthesize_frame(
            frame_seed, stenosis=bool(label), size=size, stenosis_degrees=tuple(stenosis_degrees)
        )
        image = np.asarray(frame, dtype=np.float32) / 255.0
        entries.append(
            Entry(f"synthetic:{frame_seed}", int(label), f"synth-{frame_seed}", as_boxes(boxes), image=image)
        )
    return SampleDataset(entries, kind="frame", name="synthetic")
