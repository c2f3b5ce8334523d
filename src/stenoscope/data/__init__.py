"""Datasets of every supported layout, all producing :class:`Sample`; transforms; grouped splits."""

from __future__ import annotations

from stenoscope.data._base import Entry, Sample, SampleDataset, read_grey_image
from stenoscope.data.coco import coco_dataset, read_near_duplicate_groups
from stenoscope.data.datasets import FORMATS, detect_format, open_dataset
from stenoscope.data.imagefolder import imagefolder_dataset
from stenoscope.data.manifest import manifest_dataset
from stenoscope.data.paper import paper_dataset
from stenoscope.data.regions import RegionOptions, region_dataset, vesselness
from stenoscope.data.splits import grouped_folds, grouped_split
from stenoscope.data.synthetic import synthetic_dataset
from stenoscope.data.voc import read_voc_boxes, voc_dataset

__all__ = [
    "FORMATS",
    "Entry",
    "RegionOptions",
    "Sample",
    "SampleDataset",
    "coco_dataset",
    "detect_format",
    "grouped_folds",
    "grouped_split",
    "imagefolder_dataset",
    "manifest_dataset",
    "open_dataset",
    "paper_dataset",
    "read_grey_image",
    "read_near_duplicate_groups",
    "read_voc_boxes",
    "region_dataset",
    "synthetic_dataset",
    "vesselness",
    "voc_dataset",
]
