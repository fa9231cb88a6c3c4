"""Mask generators for MAE pre-training. A mask is a bool tensor over the tokens in raster
order, True = masked (hidden from the encoder).

Part-window masking (the official one): every token frame is cut into
windows (5x10 tokens officially: top and bottom half), int(ratio * window area) tokens of
each window are masked uniformly at random, and the frame mask is repeated over all
temporal slices (a tube). Plain tube masking (VideoMAE) is the same with one window
covering the whole frame.
"""

from __future__ import annotations

import torch

MASK_TYPES = ("part_window", "tube")


class WindowMasking:
    """Tube masking by windows over a (T', H', W') token grid: each token frame is cut into
    ``window``-sized windows and the same share of every window is hidden; the frame mask
    repeats over time. The two masks of the paper are its two cases (below)."""

    def __init__(self, grid: tuple[int, int, int], mask_ratio: float, window: tuple[int, int]) -> None:
        self.grid = tuple(int(g) for g in grid)
        self.window = tuple(int(w) for w in window)
        _, h, w = self.grid
        wh, ww = self.window
        if wh <= 0 or ww <= 0 or h % wh or w % ww:
            raise ValueError(f"mask window {wh}x{ww} does not tile a {h}x{w} token frame")
        area = wh * ww
        self.num_masked_per_window = int(mask_ratio * area)
        if not 0 < self.num_masked_per_window < area:
            raise ValueError(
                f"mask ratio {mask_ratio} masks {self.num_masked_per_window} of {area} tokens per "
                "window; it must hide some and keep some"
            )
        self.mask_ratio = mask_ratio

    @property
    def num_tokens(self) -> int:
        t, h, w = self.grid
        return t * h * w

    @property
    def num_masked(self) -> int:
        t, h, w = self.grid
        wh, ww = self.window
        return t * (h // wh) * (w // ww) * self.num_masked_per_window

    def __call__(self, batch_size: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """A fresh mask per clip: shape (N,), or (batch_size, N) when a batch size is given;
        drawn on the generator's device (a GPU run then never waits for masks from the CPU)."""
        b = 1 if batch_size is None else batch_size
        t, h, w = self.grid
        wh, ww = self.window
        nh, nw = h // wh, w // ww
        scores = torch.rand(b, nh, nw, wh * ww, generator=generator, device=generator.device if generator else None)
        rank = scores.argsort(dim=-1).argsort(dim=-1)  # a random permutation per window
        masked = rank < self.num_masked_per_window
        frame = masked.view(b, nh, nw, wh, ww).permute(0, 1, 3, 2, 4).reshape(b, h * w)
        mask = frame.repeat(1, t)  # same frame mask in every temporal slice
        return mask[0] if batch_size is None else mask

    def __repr__(self) -> str:
        return f"{type(self).__name__}(grid={self.grid}, mask_ratio={self.mask_ratio}, window={self.window})"


class PartWindowMasking(WindowMasking):
    """The official part-window masking: windows of part of the frame (5x10 tokens: the
    top and bottom halves), so every part of the face keeps some visible tokens."""


class TubeMasking(WindowMasking):
    """VideoMAE tube masking: one window covering the whole token frame."""

    def __init__(self, grid: tuple[int, int, int], mask_ratio: float) -> None:
        super().__init__(grid, mask_ratio, window=(grid[1], grid[2]))


def make_masking(
    mask_type: str, grid: tuple[int, int, int], mask_ratio: float, window: tuple[int, int] | None = None
) -> WindowMasking:
    """Build a mask generator by name; part-window masking needs its window size."""
    if mask_type == "tube":
        return TubeMasking(grid, mask_ratio)
    if mask_type == "part_window":
        if window is None:
            raise ValueError("part_window masking needs a window size (rows, columns) in tokens")
        return PartWindowMasking(grid, mask_ratio, window)
    raise ValueError(f"unknown mask type {mask_type!r}; expected one of {', '.join(MASK_TYPES)}")
