"""Synthetic X-ray coronary angiograms with ground truth, for tests, demos and training data.

:func:`synthesize` makes a whole cine run (contrast bolus, cardiac motion, stenoses) and its truth;
:func:`synthesize_frame` one filled frame with or without lesions; :func:`contact_sheet` a PNG overview.
"""

from __future__ import annotations

from stenoscope.synth.contact_sheet import contact_sheet
from stenoscope.synth.generator import synthesize, synthesize_frame
from stenoscope.synth.truth import SyntheticRun, SyntheticStenosis, SyntheticTruth, truth_path

__all__ = [
    "SyntheticRun",
    "SyntheticStenosis",
    "SyntheticTruth",
    "contact_sheet",
    "synthesize",
    "synthesize_frame",
    "truth_path",
]
