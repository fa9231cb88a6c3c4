"""RandAugment on video clips, torch-only, following timm's ``rand_augment_transform``
(the original's ``rand-m7-n4-mstd0.5-inc1``): ``n`` ops drawn with replacement from the 15
"increasing" ops, each applied with probability ``p`` at magnitude ~ N(m, mstd) clipped to
[0, 10]. One draw per clip: every frame gets the same ops and magnitudes.

Clips are (T, C, H, W) float with 0..255 pixel values; each op rounds and clamps to
0..255 as PIL's uint8 images do. Geometric ops fill uncovered pixels with 128.
"""

from __future__ import annotations

import math
import re
from typing import Callable

import torch
import torch.nn.functional as F

MAX_LEVEL = 10.0
FILL = 128.0


def _quantise(x: torch.Tensor) -> torch.Tensor:
    return x.round_().clamp_(0, 255)


def _gray(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601-2 luma, rounded to integers as PIL's convert('L'), (T, 1, H, W)."""
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return ((r * 299 + g * 587 + b * 114) / 1000).round()


def _blend(degenerate: torch.Tensor, x: torch.Tensor, factor: float) -> torch.Tensor:
    return _quantise(degenerate + factor * (x - degenerate))


def _affine(x: torch.Tensor, matrix: tuple[float, ...], mode: str = "bicubic") -> torch.Tensor:
    """PIL-style affine: output pixel (u, v) samples input (a u + b v + c, d u + e v + f)
    in pixel coordinates; outside pixels are FILL."""
    t, c, h, w = x.shape
    a, b, cc, d, e, f = matrix
    v, u = torch.meshgrid(torch.arange(h, dtype=x.dtype) + 0.5, torch.arange(w, dtype=x.dtype) + 0.5, indexing="ij")
    src_x, src_y = a * u + b * v + cc, d * u + e * v + f
    grid = torch.stack([src_x / w * 2 - 1, src_y / h * 2 - 1], dim=-1).expand(t, h, w, 2)
    out = F.grid_sample(x - FILL, grid, mode=mode, padding_mode="zeros", align_corners=False) + FILL
    return _quantise(out)


def _sign() -> float:
    return -1.0 if torch.rand(()).item() < 0.5 else 1.0


# --- the ops: (clip, magnitude level 0..10) -> clip -------------------------------------


def auto_contrast(x, level):
    lo = x.amin(dim=(2, 3), keepdim=True)
    hi = x.amax(dim=(2, 3), keepdim=True)
    scale = torch.where(hi > lo, 255.0 / (hi - lo), torch.ones_like(hi))
    return _quantise(torch.where(hi > lo, (x - lo) * scale, x))


def equalize(x, level):
    """PIL ImageOps.equalize per frame and channel."""
    x = x.contiguous()
    out = x.clone()
    flat = x.to(torch.long).view(x.shape[0] * x.shape[1], -1)
    for i, values in enumerate(flat):
        hist = torch.bincount(values, minlength=256)
        nonzero = hist[hist > 0]
        step = int((hist.sum() - nonzero[-1]) // 255)
        if step == 0:
            continue
        lut = ((torch.cumsum(hist, 0) - hist + step // 2) // step).clamp(0, 255)
        out.view(flat.shape)[i] = lut[values].to(x.dtype)
    return out


def invert(x, level):
    return 255.0 - x


def rotate(x, level):
    degrees = _sign() * level / MAX_LEVEL * 30.0
    h, w = x.shape[-2:]
    cx, cy = w / 2, h / 2
    a = -math.radians(degrees)  # PIL Image.rotate's inverse map about the centre
    cos, sin = math.cos(a), math.sin(a)
    return _affine(x, (cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy))


def posterize_increasing(x, level):
    bits = 4 - int(level / MAX_LEVEL * 4)
    if bits <= 0:
        return torch.zeros_like(x)
    shift = 8 - bits
    return (x.to(torch.uint8) >> shift << shift).to(x.dtype)


def solarize_increasing(x, level):
    threshold = 256 - int(level / MAX_LEVEL * 256)
    return torch.where(x < threshold, x, 255.0 - x)


def solarize_add(x, level):
    add = int(level / MAX_LEVEL * 110)
    return torch.where(x < 128, (x + add).clamp_(max=255), x)


def _enhance_factor(level):
    return 1.0 + _sign() * level / MAX_LEVEL * 0.9


def color_increasing(x, level):
    return _blend(_gray(x).expand_as(x), x, _enhance_factor(level))


def contrast_increasing(x, level):
    mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)  # PIL: mean of the L image
    return _blend((mean + 0.5).floor().expand_as(x), x, _enhance_factor(level))


def brightness_increasing(x, level):
    return _blend(torch.zeros_like(x), x, _enhance_factor(level))


def sharpness_increasing(x, level):
    """PIL ImageEnhance.Sharpness: blend with the SMOOTH-filtered frame (border unchanged)."""
    kernel = torch.tensor([[1.0, 1, 1], [1, 5, 1], [1, 1, 1]]) / 13
    t, c, h, w = x.shape
    smooth = F.conv2d(x.reshape(t * c, 1, h, w), kernel.view(1, 1, 3, 3)).round_().view(t, c, h - 2, w - 2)
    degenerate = x.clone()
    degenerate[..., 1:-1, 1:-1] = smooth
    return _blend(degenerate, x, _enhance_factor(level))


def shear_x(x, level):
    s = _sign() * level / MAX_LEVEL * 0.3
    return _affine(x, (1, s, 0, 0, 1, 0))


def shear_y(x, level):
    s = _sign() * level / MAX_LEVEL * 0.3
    return _affine(x, (1, 0, 0, s, 1, 0))


def translate_x_rel(x, level):
    pixels = _sign() * level / MAX_LEVEL * 0.45 * x.shape[-1]
    return _affine(x, (1, 0, pixels, 0, 1, 0))


def translate_y_rel(x, level):
    pixels = _sign() * level / MAX_LEVEL * 0.45 * x.shape[-2]
    return _affine(x, (1, 0, 0, 0, 1, pixels))


INCREASING_OPS: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
    "AutoContrast": auto_contrast,
    "Equalize": equalize,
    "Invert": invert,
    "Rotate": rotate,
    "PosterizeIncreasing": posterize_increasing,
    "SolarizeIncreasing": solarize_increasing,
    "SolarizeAdd": solarize_add,
    "ColorIncreasing": color_increasing,
    "ContrastIncreasing": contrast_increasing,
    "BrightnessIncreasing": brightness_increasing,
    "SharpnessIncreasing": sharpness_increasing,
    "ShearX": shear_x,
    "ShearY": shear_y,
    "TranslateXRel": translate_x_rel,
    "TranslateYRel": translate_y_rel,
}


class RandAugment:
    """RandAugment for clips; build it from a timm policy string with :meth:`from_policy`."""

    def __init__(self, num_ops: int = 2, magnitude: float = 9.0, magnitude_std: float = 0.0, p: float = 0.5) -> None:
        self.num_ops, self.magnitude, self.magnitude_std, self.p = num_ops, magnitude, magnitude_std, p
        self.ops = list(INCREASING_OPS)

    @classmethod
    def from_policy(cls, policy: str) -> "RandAugment":
        """Parse ``rand-m7-n4-mstd0.5-inc1`` style strings (keys m, n, mstd, p, inc).

        Only the "increasing" op set exists here, so ``inc`` must be 1.
        """
        parts = policy.split("-")
        if parts[0] != "rand":
            raise ValueError(f"RandAugment policy {policy!r} must start with 'rand'")
        kwargs: dict[str, float] = {}
        for part in parts[1:]:
            m = re.fullmatch(r"(mstd|inc|m|n|p)(\d+(?:\.\d+)?)", part)
            if not m:
                raise ValueError(
                    f"RandAugment policy {policy!r}: cannot parse {part!r} (known keys: m, n, mstd, p, inc)"
                )
            key, value = m.group(1), float(m.group(2))
            if key == "inc":
                if value != 1:
                    raise ValueError(f"RandAugment policy {policy!r}: only the increasing op set (inc1) is available")
                continue
            kwargs[{"m": "magnitude", "n": "num_ops", "mstd": "magnitude_std", "p": "p"}[key]] = value
        if "num_ops" in kwargs:
            kwargs["num_ops"] = int(kwargs["num_ops"])
        return cls(**kwargs)

    def sample(self) -> list[tuple[str, float]]:
        """The ops (with replacement) and magnitudes to apply to one clip; ops skipped with
        probability 1 - p are left out."""
        chosen = []
        for i in torch.randint(len(self.ops), (self.num_ops,)).tolist():
            if torch.rand(()).item() >= self.p:
                continue
            level = self.magnitude
            if self.magnitude_std > 0:
                level = level + self.magnitude_std * torch.randn(()).item()
            chosen.append((self.ops[i], min(MAX_LEVEL, max(0.0, level))))
        return chosen

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        for name, level in self.sample():
            clip = INCREASING_OPS[name](clip, level)
        return clip

    def __repr__(self) -> str:
        return (
            f"RandAugment(num_ops={self.num_ops}, magnitude={self.magnitude}, "
            f"magnitude_std={self.magnitude_std}, p={self.p})"
        )
