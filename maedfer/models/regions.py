"""Local spatio-temporal regions of LGI-Former.

The token grid (T', H', W') is cut into non-overlapping regions of ``region_size``
tokens. Region r = (it * nh + ih) * nw + iw for region coordinates (it, ih, iw); inside a
region tokens keep raster order. For the official 8x10x10 grid and region (2, 5, 10) this
is exactly the original's regrouping (r = 2 * nt + nh; within-region index t*50 + h*10 + w).

With a mask, only visible tokens enter the encoder. The original regroups them by a fixed
reshape that is right only for its part-window mask. Here every visible
token is sorted into the region its position falls in, so any mask works whose visible
count is the same in every region; any other mask is rejected, because regions of unequal
size cannot be batched into one tensor.
"""

from __future__ import annotations

import torch
from torch import nn


def token_grid(num_frames: int, img_size: int, tubelet_size: int, patch_size: int) -> tuple[int, int, int]:
    """The (T', H', W') token grid of a clip; the clip must tile exactly into tubelets."""
    if num_frames % tubelet_size or img_size % patch_size:
        raise ValueError(
            f"a {num_frames}x{img_size}x{img_size} clip does not tile into "
            f"{tubelet_size}x{patch_size}x{patch_size} tubelets"
        )
    return num_frames // tubelet_size, img_size // patch_size, img_size // patch_size


class RegionPartition(nn.Module):
    """Maps tokens in raster order to region-major order (and back)."""

    def __init__(self, grid: tuple[int, int, int], region_size: tuple[int, int, int]) -> None:
        super().__init__()
        grid, region_size = tuple(int(g) for g in grid), tuple(int(r) for r in region_size)
        if len(region_size) != 3 or any(r <= 0 for r in region_size):
            raise ValueError(f"region_size must be three positive token counts (t, h, w), got {region_size}")
        if any(g % r for g, r in zip(grid, region_size)):
            raise ValueError(
                f"token grid {grid[0]}x{grid[1]}x{grid[2]} (t, h, w) does not divide into regions of "
                f"{region_size[0]}x{region_size[1]}x{region_size[2]} tokens"
            )
        self.grid, self.region_size = grid, region_size
        counts = [g // r for g, r in zip(grid, region_size)]
        self.num_regions = counts[0] * counts[1] * counts[2]
        self.region_tokens = region_size[0] * region_size[1] * region_size[2]
        t, h, w = torch.meshgrid(*(torch.arange(g) for g in grid), indexing="ij")
        rt, rh, rw = (t // region_size[0], h // region_size[1], w // region_size[2])
        region_of = ((rt * counts[1] + rh) * counts[2] + rw).flatten()
        self.register_buffer("region_of", region_of, persistent=False)
        # Full token set: region-major, raster order inside each region.
        n = region_of.numel()
        self.register_buffer("full_order", torch.argsort(region_of * n + torch.arange(n)), persistent=False)

    @property
    def num_tokens(self) -> int:
        return self.region_of.numel()

    def order(self, mask: torch.Tensor | None, batch_size: int) -> torch.Tensor:
        """Raster indices of the encoder's tokens in region-major order, shape (B, R*K).

        ``mask`` (B, N) is True for masked tokens; None keeps every token.
        """
        if mask is None:
            return self.full_order.expand(batch_size, -1)
        n, r = self.num_tokens, self.num_regions
        if mask.dtype != torch.bool or mask.ndim != 2 or mask.shape != (batch_size, n):
            raise ValueError(
                f"mask must be a bool tensor of shape ({batch_size}, {n}) (True = masked), "
                f"got {tuple(mask.shape)} {mask.dtype}"
            )
        visible = torch.zeros(batch_size, r, dtype=torch.long, device=mask.device)
        visible.scatter_add_(1, self.region_of.expand(batch_size, -1), (~mask).long())
        k = int(visible[0, 0])
        if k == 0 or bool((visible != k).any()):
            raise ValueError(
                "LGI-Former needs the same number of visible tokens in every region of every "
                f"clip; this mask keeps {visible.unique().tolist()} per region "
                "(use part-window masking, or a mask with an equal visible count per region)"
            )
        pos = torch.arange(n, device=mask.device)
        key = torch.where(mask, r * n + pos, self.region_of * n + pos)
        return key.argsort(dim=1)[:, : r * k]

    def gather(self, x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
        """Tokens ``x`` (B, N, C) picked in ``order`` (B, M) -> (B, R, M // R, C)."""
        b, _, c = x.shape
        picked = torch.gather(x, 1, order.unsqueeze(-1).expand(-1, -1, c))
        return picked.view(b, self.num_regions, -1, c)

    def extra_repr(self) -> str:
        return f"grid={self.grid}, region_size={self.region_size}, num_regions={self.num_regions}"
