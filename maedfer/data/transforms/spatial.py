"""Clip transforms on torch tensors (no torchvision).

A clip is a float tensor (T, C, H, W): pixel values 0..255 until :class:`Normalize`,
normalised after. Random transforms draw their parameters once per clip from torch's RNG
(which DataLoader seeds per worker), so every frame gets the same crop, flip or box.
"""

from __future__ import annotations

import abc
import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from ...constants import IMAGENET_MEAN, IMAGENET_STD


def _uniform(lo: float, hi: float) -> float:
    return lo + (hi - lo) * torch.rand(()).item()


def _randint(lo: int, hi: int) -> int:
    """Uniform integer in [lo, hi] (inclusive)."""
    return int(torch.randint(lo, hi + 1, ()).item())


def _resize(clip: torch.Tensor, size: tuple[int, int], antialias: bool) -> torch.Tensor:
    if tuple(clip.shape[-2:]) == tuple(size):
        return clip
    return F.interpolate(clip, size=size, mode="bilinear", align_corners=False, antialias=antialias)


class Compose:
    def __init__(self, transforms: Sequence[Callable[[torch.Tensor], torch.Tensor]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        for t in self.transforms:
            clip = t(clip)
        return clip

    def __repr__(self) -> str:
        return "Compose(\n" + "".join(f"  {t!r},\n" for t in self.transforms) + ")"


class FramesToTensor:
    """Reader output (T, H, W, 3) uint8 -> (T, 3, H, W) float32 in 0..255."""

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected frames of shape (T, H, W, 3), got {tuple(frames.shape)}")
        return frames.permute(0, 3, 1, 2).float().contiguous()

    def __repr__(self) -> str:
        return "FramesToTensor()"


class Resize:
    """Resize every frame to ``size`` (an int squashes to size x size, ignoring the aspect
    ratio, as the original's fine-tuning pipeline does); bilinear with antialiasing."""

    def __init__(self, size: int | tuple[int, int]) -> None:
        self.size = (size, size) if isinstance(size, int) else tuple(size)

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        return _resize(clip, self.size, antialias=True)

    def __repr__(self) -> str:
        return f"Resize(size={self.size})"


class TopCenterCrop:
    """The VoxCeleb2 crop of the original: rows 0..size-1, columns centred (32..191 of 224)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def left(self, h: int, w: int) -> int:
        """The crop's first column (its first row is 0)."""
        if h < self.size or w < self.size:
            raise ValueError(
                f"TopCenterCrop({self.size}) needs frames of at least {self.size}x{self.size}, got {h}x{w}"
            )
        return (w - self.size) // 2

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        left = self.left(*clip.shape[-2:])
        return clip[..., : self.size, left : left + self.size]

    def __repr__(self) -> str:
        return f"TopCenterCrop(size={self.size})"


class _RandomCropResize(abc.ABC):
    """A random crop (``params``: top, left, height, width) resized to size x size."""

    size: int

    @abc.abstractmethod
    def params(self, h: int, w: int) -> tuple[int, int, int, int]: ...

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        top, left, ch, cw = self.params(*clip.shape[-2:])
        return _resize(clip[..., top : top + ch, left : left + cw], (self.size, self.size), antialias=False)


class MultiScaleCrop(_RandomCropResize):
    """GroupMultiScaleCrop of the original pre-training: a crop whose sides come from
    ``scales`` x the short side (neighbouring scales at most ``max_distort`` apart), at one
    of 13 fixed offsets, resized to ``size``; the same crop for every frame."""

    def __init__(self, size: int, scales: Sequence[float] = (1, 0.875, 0.75, 0.66), max_distort: int = 1) -> None:
        self.size, self.scales, self.max_distort = size, tuple(scales), max_distort

    def params(self, h: int, w: int) -> tuple[int, int, int, int]:
        """(top, left, crop_h, crop_w)."""
        base = min(h, w)
        sides = [int(base * s) for s in self.scales]
        sides = [self.size if abs(s - self.size) < 3 else s for s in sides]
        pairs = [(ch, cw) for i, ch in enumerate(sides) for j, cw in enumerate(sides) if abs(i - j) <= self.max_distort]
        ch, cw = pairs[_randint(0, len(pairs) - 1)]
        hs, ws = (h - ch) // 4, (w - cw) // 4
        offsets = [
            (0, 0),
            (0, 4 * ws),
            (4 * hs, 0),
            (4 * hs, 4 * ws),
            (2 * hs, 2 * ws),
            (2 * hs, 0),
            (2 * hs, 4 * ws),
            (4 * hs, 2 * ws),
            (0, 2 * ws),
            (hs, ws),
            (hs, 3 * ws),
            (3 * hs, ws),
            (3 * hs, 3 * ws),
        ]
        top, left = offsets[_randint(0, len(offsets) - 1)]
        return top, left, ch, cw

    def __repr__(self) -> str:
        return f"MultiScaleCrop(size={self.size}, scales={self.scales}, max_distort={self.max_distort})"


class RandomResizedCrop(_RandomCropResize):
    """Random area ``scale`` and log-uniform aspect ``ratio`` crop of the whole clip, 10
    tries then a centre crop, resized bilinearly (align_corners False) to ``size``."""

    def __init__(
        self, size: int, scale: tuple[float, float] = (0.08, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3)
    ) -> None:
        if not (0 < scale[0] <= scale[1] <= 1) or not (0 < ratio[0] <= ratio[1]):
            raise ValueError(f"RandomResizedCrop: bad scale {scale} or ratio {ratio}")
        self.size, self.scale, self.ratio = size, tuple(scale), tuple(ratio)

    def params(self, h: int, w: int) -> tuple[int, int, int, int]:
        area = h * w
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(10):
            target = area * _uniform(*self.scale)
            aspect = math.exp(_uniform(log_lo, log_hi))
            cw, ch = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
            if 0 < cw <= w and 0 < ch <= h:
                return _randint(0, h - ch), _randint(0, w - cw), ch, cw
        in_ratio = w / h  # fallback: centre crop of the whole frame within the ratio range
        if in_ratio < self.ratio[0]:
            cw, ch = w, int(round(w / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            ch, cw = h, int(round(h * self.ratio[1]))
        else:
            cw, ch = w, h
        return (h - ch) // 2, (w - cw) // 2, ch, cw

    def __repr__(self) -> str:
        return f"RandomResizedCrop(size={self.size}, scale={self.scale}, ratio={self.ratio})"


class RandomHorizontalFlip:
    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        return clip.flip(-1) if torch.rand(()).item() < self.p else clip

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Normalize:
    """0..255 pixels -> (x / 255 - mean) / std, per channel."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        self.mean = torch.tensor(mean).view(1, -1, 1, 1)
        self.std = torch.tensor(std).view(1, -1, 1, 1)

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        return (clip / 255.0 - self.mean) / self.std

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()})"


class RandomErasing:
    """Random erasing in 'pixel' mode: with probability ``p`` one box (area fraction in
    ``area``, log-uniform aspect in ``aspect``) is filled with N(0, 1) values; the box is the
    same in every frame (the original's cube mode), the noise is drawn per frame. Apply
    after :class:`Normalize`."""

    def __init__(
        self, p: float = 0.25, area: tuple[float, float] = (0.02, 1 / 3), aspect: tuple[float, float] = (0.3, 1 / 0.3)
    ) -> None:
        self.p, self.area, self.aspect = p, tuple(area), tuple(aspect)

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        if torch.rand(()).item() >= self.p:
            return clip
        t, c, h, w = clip.shape
        log_lo, log_hi = math.log(self.aspect[0]), math.log(self.aspect[1])
        for _ in range(10):
            target = _uniform(*self.area) * h * w
            ratio = math.exp(_uniform(log_lo, log_hi))
            bh, bw = int(round(math.sqrt(target * ratio))), int(round(math.sqrt(target / ratio)))
            if bw < w and bh < h:
                top, left = _randint(0, h - bh), _randint(0, w - bw)
                clip = clip.clone()
                clip[:, :, top : top + bh, left : left + bw] = torch.randn(t, c, bh, bw)
                break
        return clip

    def __repr__(self) -> str:
        return f"RandomErasing(p={self.p}, area={self.area}, aspect={self.aspect})"


class ToModelLayout:
    """(T, C, H, W) -> (C, T, H, W), the models' input layout."""

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        return clip.permute(1, 0, 2, 3).contiguous()

    def __repr__(self) -> str:
        return "ToModelLayout()"
