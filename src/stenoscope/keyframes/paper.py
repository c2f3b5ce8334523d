"""The key-frame method of Moon et al. (2021), reproduced step by step (``method="paper"``).

Per frame, in float arithmetic on the 8-bit grey scale (0..255, as the paper's 8-bit frames):

1. ``enhanced = I + white_tophat(I, disk(10)) - min(black_tophat(I, disk(10)), I)``. We read ``min`` as
   the element-wise minimum: the black top-hat (the dark vessels) is subtracted, but never by more than
   the pixel's own value, so the result of that subtraction stays >= 0 as the paper's saturating 8-bit
   arithmetic would keep it. Nothing is clipped at the top (float arithmetic).
2. Optionally (on by default, as in the paper) the upper-right text corner, rows 0-159 and columns
   310-511 of a 512x512 frame, scaled with the frame size, is occluded: painted with the frame's median
   enhanced value before the vessel filter (a flat patch, no ridges) and left out of the threshold and
   the count (so the patch's border cannot add pixels either).
3. Frangi vesselness for dark ridges, ``skimage.filters.frangi`` with sigmas 1, 3, 5, 7, 9 and the
   library's defaults otherwise (alpha = beta = 0.5, gamma = half the largest Hessian norm, reflect mode).
4. Otsu's threshold, computed per frame on the vesselness of the frame's non-occluded pixels.
5. The score is the count of pixels above the threshold.

The key frame is the highest score within the middle third of the clip (indices ``N//3 .. 2N//3 - 1``;
the first one on ties). Clips too short to have a middle third (``N < 2``) use all frames. The disk
radius and the sigmas are in pixels of the frame as given (the paper's frames were 512x512); we do not
rescale them for other sizes, so the method stays the paper's.
"""

from __future__ import annotations

import numpy as np

from stenoscope.clip import Clip
from stenoscope.keyframes._registry import Scoring, register_keyframe_method

DISK_RADIUS = 10
FRANGI_SIGMAS = (1, 3, 5, 7, 9)
FRANGI_GAMMA = 15.0
# The paper's text corner at 512x512: rows [0, 160), columns [310, 512).
TEXT_CORNER_512 = (160, 310)


def text_corner_mask(height: int, width: int) -> np.ndarray:
    """Boolean mask of the upper-right text corner, scaled from the paper's 512x512 coordinates."""
    rows = round(TEXT_CORNER_512[0] * height / 512)
    first_column = round(TEXT_CORNER_512[1] * width / 512)
    mask = np.zeros((height, width), dtype=bool)
    mask[:rows, first_column:] = True
    return mask


def enhance(frame: np.ndarray) -> np.ndarray:
    """Top-hat contrast enhancement of one float frame (step 1 of the module docstring)."""
    from skimage.morphology import black_tophat, disk, white_tophat

    footprint = disk(DISK_RADIUS)
    return frame + white_tophat(frame, footprint) - np.minimum(black_tophat(frame, footprint), frame)


def vessel_pixel_count(frame: np.ndarray, occluded: np.ndarray | None) -> int:
    """Steps 1-5 for one frame on the 0..255 float scale: the number of vessel pixels."""
    from skimage.filters import frangi, threshold_otsu

    enhanced = enhance(frame)
    if occluded is not None:
        enhanced[occluded] = np.median(enhanced[~occluded])
    vesselness = frangi(enhanced, sigmas=FRANGI_SIGMAS, gamma=FRANGI_GAMMA, black_ridges=True)
    counted = vesselness if occluded is None else vesselness[~occluded]
    if counted.size == 0 or np.ptp(counted) == 0:
        return 0
    return int(np.count_nonzero(counted > threshold_otsu(counted)))


def middle_third(n_frames: int) -> range:
    """Indices ``N//3 .. 2N//3 - 1``, or every index when that range is empty (``N < 2``)."""
    window = range(n_frames // 3, 2 * n_frames // 3)
    return window if len(window) else range(n_frames)


@register_keyframe_method("paper")
def paper_scoring(clip: Clip, occlude_text: bool = True) -> Scoring:
    """Vessel-pixel counts of every frame and the best frame of the middle third (Moon et al. 2021)."""
    frames = clip.as_float().astype(np.float64) * 255.0
    occluded = text_corner_mask(clip.height, clip.width) if occlude_text else None
    scores = np.array([vessel_pixel_count(frame, occluded) for frame in frames], dtype=np.float64)
    window = middle_third(clip.n_frames)
    key_frame = window.start + int(np.argmax(scores[window.start : window.stop]))
    return Scoring(scores=scores, key_frame=key_frame)
