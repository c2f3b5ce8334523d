"""Where the model looks: class activation maps (Grad-CAM, Grad-CAM++) and heat map -> peaks and boxes.

Example:
    >>> from stenoscope.explain import GradCAM, find_peaks
    >>> with GradCAM(model) as cam:
    ...     maps = cam(x)  # (B, H, W) in [0, 1] on the input grid; hooks removed on exit
    >>> find_peaks(maps[0], threshold=0.5)
"""

from stenoscope.explain.base import BaseCAM
from stenoscope.explain.grad_cam import GradCAM
from stenoscope.explain.grad_cam_plusplus import GradCAMPlusPlus
from stenoscope.explain.peaks import Box, Peak, find_peaks, heatmap_boxes
from stenoscope.explain.targets import ClassifierOutputTarget, StenosisLogOddsTarget

__all__ = [
    "BaseCAM",
    "Box",
    "ClassifierOutputTarget",
    "GradCAM",
    "GradCAMPlusPlus",
    "Peak",
    "StenosisLogOddsTarget",
    "find_peaks",
    "heatmap_boxes",
]
