"""Mixup / CutMix for video batches with label smoothing (timm's Mixup in 'batch' mode,
as the original fine-tuning uses it): one lambda per batch, each clip mixed with the clip at
the mirrored batch position, CutMix boxes shared by all frames."""

from __future__ import annotations

import math

import torch


def smooth_one_hot(
    labels: torch.Tensor, num_classes: int, smoothing: float, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """(B, num_classes) targets on the labels' device: 1 - smoothing + smoothing / C on the
    label, smoothing / C elsewhere."""
    off = smoothing / num_classes
    out = torch.full((labels.shape[0], num_classes), off, dtype=dtype, device=labels.device)
    return out.scatter_(1, labels.view(-1, 1), 1.0 - smoothing + off)


class Mixup:
    """``mixup_alpha`` 0.8, ``cutmix_alpha`` 1.0, ``switch_prob`` 0.5 (CutMix instead of
    Mixup), ``prob`` 1.0, ``label_smoothing`` 0.1 by default, as the original.

    ``__call__(clips (B, C, T, H, W), labels (B,))`` returns mixed clips and soft targets
    (B, num_classes) whose rows sum to 1.
    """

    def __init__(
        self,
        num_classes: int,
        mixup_alpha: float = 0.8,
        cutmix_alpha: float = 1.0,
        prob: float = 1.0,
        switch_prob: float = 0.5,
        label_smoothing: float = 0.1,
    ) -> None:
        if mixup_alpha <= 0 and cutmix_alpha <= 0:
            raise ValueError("Mixup needs mixup_alpha > 0 or cutmix_alpha > 0")
        self.num_classes, self.mixup_alpha, self.cutmix_alpha = num_classes, mixup_alpha, cutmix_alpha
        self.prob, self.switch_prob, self.label_smoothing = prob, switch_prob, label_smoothing

    def _lambda(self) -> tuple[float, bool]:
        if torch.rand(()).item() >= self.prob:
            return 1.0, False
        use_cutmix = self.mixup_alpha <= 0 or (self.cutmix_alpha > 0 and torch.rand(()).item() < self.switch_prob)
        alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
        lam = torch.distributions.Beta(alpha, alpha).sample().item()
        return float(lam), use_cutmix

    @staticmethod
    def cutmix_box(h: int, w: int, lam: float) -> tuple[int, int, int, int]:
        """A box of area ~(1 - lam), centred uniformly and clipped to the frame: (top, bottom, left, right)."""
        ratio = math.sqrt(1 - lam)
        ch, cw = int(h * ratio), int(w * ratio)
        cy, cx = int(torch.randint(h, ()).item()), int(torch.randint(w, ()).item())
        return (max(cy - ch // 2, 0), min(cy + ch // 2, h), max(cx - cw // 2, 0), min(cx + cw // 2, w))

    def __call__(self, clips: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if clips.shape[0] % 2:
            raise ValueError(f"Mixup needs an even batch size, got {clips.shape[0]} (use drop_last=True)")
        # Checked where it is free: on a GPU it would wait for the device every step (the
        # datasets check labels against the class count when they read the annotations).
        if labels.device.type == "cpu" and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"Mixup: labels must lie in 0..{self.num_classes - 1}, got {labels.tolist()}")
        lam, use_cutmix = self._lambda()
        clips = clips.clone()
        if lam < 1.0:
            if use_cutmix:
                h, w = clips.shape[-2:]
                top, bottom, left, right = self.cutmix_box(h, w, lam)
                clips[..., top:bottom, left:right] = clips.flip(0)[..., top:bottom, left:right]
                lam = 1.0 - (bottom - top) * (right - left) / (h * w)  # the area actually pasted
            else:
                clips = clips * lam + clips.flip(0) * (1.0 - lam)
        y = smooth_one_hot(labels, self.num_classes, self.label_smoothing)
        return clips, y * lam + y.flip(0) * (1.0 - lam)

    def __repr__(self) -> str:
        return (
            f"Mixup(num_classes={self.num_classes}, mixup_alpha={self.mixup_alpha}, "
            f"cutmix_alpha={self.cutmix_alpha}, prob={self.prob}, switch_prob={self.switch_prob}, "
            f"label_smoothing={self.label_smoothing})"
        )
