"""VideoMAE ViT: the joint space-time attention baseline of the paper, VideoMAE ViT-B."""
from __future__ import annotations

import torch
from torch import nn

from .layers import Block, LayerNorm, PatchEmbed3d, drop_path_rates, init_weights, sinusoid_table
from .regions import token_grid


class VisionTransformer(nn.Module):
    """Full self-attention over all tubelet tokens, mean pooling -> LayerNorm -> head."""

    def __init__(self, img_size: int = 160, num_frames: int = 16, tubelet_size: int = 2,
                 patch_size: int = 16, in_chans: int = 3, num_classes: int = 7, embed_dim: int = 768,
                 depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0,
                 drop_path_rate: float = 0.0, init_scale: float = 0.001) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.input_shape = (in_chans, num_frames, img_size, img_size)
        self.num_classes, self.embed_dim = num_classes, embed_dim
        self.grid = token_grid(num_frames, img_size, tubelet_size, patch_size)
        num_tokens = self.grid[0] * self.grid[1] * self.grid[2]
        self.patch_embed = PatchEmbed3d(in_chans, embed_dim, tubelet_size, patch_size)
        self.register_buffer("pos_embed", sinusoid_table(num_tokens, embed_dim), persistent=False)
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio, dp) for dp in drop_path_rates(drop_path_rate, depth)
        )
        self.fc_norm = LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        init_weights(self, "finetune")
        if num_classes > 0:
            with torch.no_grad():
                self.head.weight.mul_(init_scale)
                self.head.bias.mul_(init_scale)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or tuple(x.shape[1:]) != self.input_shape:
            c, t, h, w = self.input_shape
            raise ValueError(f"VisionTransformer expects clips of shape (B, {c}, {t}, {h}, {w}), "
                             f"got {tuple(x.shape)}")
        h = self.patch_embed(x) + self.pos_embed.to(x.dtype)
        for blk in self.blocks:
            h = blk(h)
        return self.fc_norm(h.mean(dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))

    def example_inputs(self, batch_size: int = 1) -> tuple[torch.Tensor]:
        return (torch.randn(batch_size, *self.input_shape),)
