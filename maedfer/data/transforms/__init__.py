"""Composable clip transforms and presets that build the official pipelines (spec 3)."""

from __future__ import annotations

from .device import BatchedCropResize, DrawPretrainCrop
from .mixup import Mixup, smooth_one_hot
from .randaugment import INCREASING_OPS, RandAugment
from .spatial import (
    Compose,
    FramesToTensor,
    MultiScaleCrop,
    Normalize,
    RandomErasing,
    RandomHorizontalFlip,
    RandomResizedCrop,
    Resize,
    ToModelLayout,
    TopCenterCrop,
)

OFFICIAL_RANDAUGMENT = "rand-m7-n4-mstd0.5-inc1"


def pretrain_transform(size: int = 160, voxceleb_crop: bool = True) -> Compose:
    """Pre-training: (VoxCeleb2's 224x224 frames) top-centre crop, multi-scale crop, normalise.
    No flip, no colour jitter, as the original."""
    steps = [FramesToTensor()]
    if voxceleb_crop:
        steps.append(TopCenterCrop(size))
    steps += [MultiScaleCrop(size), Normalize(), ToModelLayout()]
    return Compose(steps)


def train_transform(
    size: int = 160,
    randaugment: str | None = OFFICIAL_RANDAUGMENT,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip: float = 0.5,
    erasing: float = 0.25,
) -> Compose:
    """Fine-tuning training: squash to size x size, RandAugment, normalise, random resized
    crop of the clip, horizontal flip, random erasing (cube), in the original's order."""
    steps = [FramesToTensor(), Resize(size)]
    if randaugment:
        steps.append(RandAugment.from_policy(randaugment))
    steps += [Normalize(), RandomResizedCrop(size, scale=scale, ratio=ratio), RandomHorizontalFlip(flip)]
    if erasing > 0:
        steps.append(RandomErasing(erasing))
    steps.append(ToModelLayout())
    return Compose(steps)


def eval_transform(size: int = 160) -> Compose:
    """Testing: squash to size x size and normalise. Because frames are squashed, the
    protocol's spatial crops are all the same full frame, as in the original."""
    return Compose([FramesToTensor(), Resize(size), Normalize(), ToModelLayout()])


__all__ = [
    "BatchedCropResize",
    "Compose",
    "DrawPretrainCrop",
    "FramesToTensor",
    "INCREASING_OPS",
    "Mixup",
    "MultiScaleCrop",
    "Normalize",
    "OFFICIAL_RANDAUGMENT",
    "RandAugment",
    "RandomErasing",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "Resize",
    "ToModelLayout",
    "TopCenterCrop",
    "eval_transform",
    "pretrain_transform",
    "smooth_one_hot",
    "train_transform",
]
