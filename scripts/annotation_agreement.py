"""How far ARCADE's annotations agree with themselves, written as JSON (the card's CV section): the frame
pairs of ``near_duplicates.csv`` (the same or nearly the same frame, each annotated on its own) scored against
each other with the heat map's metrics, one frame's box centres taken as peaks and the other's boxes as the
lesions, both ways. What a copy of one annotation scores against its twin is what a model that reproduced the
labels exactly would score there: a ceiling the goal's pointing game (0.9) and sensitivity (0.85) must fit.

    python scripts/annotation_agreement.py ../shared/data/arcade-stenosis \
        results/arcade/annotation_agreement.json
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from stenoscope._fs import write_text_atomic
from stenoscope.data import open_dataset
from stenoscope.data.coco import NEAR_DUPLICATES
from stenoscope.evaluate.metrics import HIT_MARGIN, annotation_agreement, bootstrap_intervals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="ARCADE stenosis root (train/, val/, near_duplicates.csv)")
    parser.add_argument("out", type=Path, help="JSON file to write")
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    frames = open_dataset(args.root, "coco")
    by_source = {Path(entry.source).resolve(): index for index, entry in enumerate(frames.entries)}
    with (args.root / NEAR_DUPLICATES).open(newline="") as handle:
        pairs = [(row["image_a"], row["image_b"]) for row in csv.DictReader(handle)]
    copies, truths, pair_ids, identical = [], [], [], []
    for number, names in enumerate(pairs):
        first, second = (by_source[(args.root / name).resolve()] for name in names)
        boxes = (frames.entries[first].boxes, frames.entries[second].boxes)
        copies += [boxes[0], boxes[1]]
        truths += [boxes[1], boxes[0]]
        pair_ids += [str(number)] * 2
        if np.array_equal(frames[first].image, frames[second].image):
            both_ways = annotation_agreement([boxes[0], boxes[1]], [boxes[1], boxes[0]])
            identical.append(
                {
                    "frames": list(names),
                    "boxes": [len(b) for b in boxes],
                    # every box of each frame holds a centre of the other's, and no centre misses
                    "boxes_agree": both_ways["sensitivity"] in (None, 1.0)
                    and both_ways["false_positives_per_frame"] in (None, 0.0),
                }
            )
    intervals = bootstrap_intervals(
        annotation_agreement,
        copies,
        truths,
        n_resamples=args.bootstrap,
        seed=0,
        groups=pair_ids,
    )
    result = {
        "dataset": str(args.root),
        "pairs": len(pairs),
        "margin_px": HIT_MARGIN,
        **annotation_agreement(copies, truths),
        "ci95": {key: list(value) if value else None for key, value in intervals.items()},
        "pixel_identical_pairs": identical,
    }
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
