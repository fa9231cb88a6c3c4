"""Pre-training augmentation split in two, so that DataLoader workers only decode.

The workers' half (:class:`DrawPretrainCrop`) keeps the frames as uint8 (after the VoxCeleb2
top-centre crop, a slice) and draws the multi-scale crop for them; the device's half
(:class:`BatchedCropResize`) crops, resizes and normalises a whole batch on the training
device. Together they compute what :func:`~maedfer.data.transforms.pretrain_transform`
computes: the crop is drawn by the same :class:`MultiScaleCrop` from the same random
numbers, and the pixels go through the same float operations in the same order
(``tests/test_fast_pretrain_data.py`` holds them to 1e-5 on the CPU, 1e-4 on a GPU).

Why: float augmentation of a 16x160x160 clip costs a worker about as much as decoding the
prepared (all-intra) video, and a uint8 clip is a quarter of the bytes to pass between
processes and to copy to the GPU.
"""

from __future__ import annotations

import torch

from ...constants import IMAGENET_MEAN, IMAGENET_STD
from .spatial import MultiScaleCrop, Normalize, TopCenterCrop, _resize


class DrawPretrainCrop:
    """Worker half: (T, H, W, 3) uint8 frames -> (the same frames, top-centre cropped when
    ``voxceleb_crop``, still uint8; the multi-scale crop (top, left, height, width) as an int64
    tensor)."""

    def __init__(self, size: int, voxceleb_crop: bool = True) -> None:
        self.top_center = TopCenterCrop(size) if voxceleb_crop else None
        self.crop = MultiScaleCrop(size)

    def __call__(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != torch.uint8:
            raise ValueError(f"expected uint8 frames of shape (T, H, W, 3), got {frames.dtype} {tuple(frames.shape)}")
        if self.top_center is not None:
            size = self.top_center.size
            left = self.top_center.left(*frames.shape[1:3])
            frames = frames[:, :size, left : left + size]
        params = torch.tensor(self.crop.params(*frames.shape[1:3]), dtype=torch.int64)
        return frames.contiguous(), params

    def __repr__(self) -> str:
        return f"DrawPretrainCrop(top_center={self.top_center!r}, crop={self.crop!r})"


class BatchedCropResize:
    """Device half: a batch of uint8 frames (B, T, H, W, 3) on any device and its crops
    (B, 4) -> normalised clips (B, 3, T, size, size), float32, in the models' layout.

    Clips whose crops have the same size are resized in one call (at most 10 sizes occur
    with the official scales), so a batch of 128 costs a few kernel launches, not 128."""

    def __init__(self, size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> None:
        self.size = size
        self.normalize = Normalize(mean, std)

    def __call__(self, frames: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        b, t, _, _, c = frames.shape
        s = self.size
        out = torch.empty(b, t, c, s, s, device=frames.device)
        groups: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
        for i, (top, left, ch, cw) in enumerate(params.tolist()):  # params stay on the host: no sync
            groups.setdefault((ch, cw), []).append((i, top, left))
        for (ch, cw), members in groups.items():
            crops = torch.stack([frames[i, :, top : top + ch, left : left + cw] for i, top, left in members])
            x = crops.permute(0, 1, 4, 2, 3).reshape(len(members) * t, c, ch, cw).float()
            rows = torch.tensor([i for i, _, _ in members], device=frames.device)
            out[rows] = _resize(x, (s, s), antialias=False).view(len(members), t, c, s, s)
        mean, std = (v.to(frames.device) for v in (self.normalize.mean, self.normalize.std))
        return ((out / 255.0 - mean) / std).permute(0, 2, 1, 3, 4).contiguous()

    def __repr__(self) -> str:
        return f"BatchedCropResize(size={self.size})"
