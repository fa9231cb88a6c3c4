"""Everything between files on disk and batches of normalised clips.

- readers: video files (PyAV), frame folders, single images -> uint8 (T, H, W, 3)
- annotations: the original '<path> <label>' files, with path remapping
- sampling: the original's pre-training, training and test-view frame sampling
- transforms: tensor-only clip transforms, RandAugment, Mixup/CutMix, official presets
- datasets: labelled clips (train/test views) and unlabelled videos with masks
- prepare / check: annotation files from official layouts; reading every clip once
- synth: the built-in synthetic face-expression dataset
"""

from .annotations import AnnotationError, Item, read_annotations, write_annotations
from .catalog import DATASETS, DatasetInfo, dataset_info
from .datasets import ClipDataset, VideoDataset
from .readers import VideoReadError, open_clip

__all__ = [
    "AnnotationError",
    "ClipDataset",
    "DATASETS",
    "DatasetInfo",
    "Item",
    "VideoDataset",
    "VideoReadError",
    "dataset_info",
    "open_clip",
    "read_annotations",
    "write_annotations",
]
