"""VideoMAE ViT: the joint space-time attention baseline of the paper, VideoMAE ViT-B."""

from __future__ import annotations

import torch
from torch import nn

from .layers import (
    Block,
    LayerNorm,
    PatchEmbed3d,
    classifier_head,
    drop_path_rates,
    init_weights,
    scale_head,
    sinusoid_table,
)
from .regions import token_grid


class ViTBackbone(nn.Module):
    """Tubelet embedding, fixed sinusoid positions and joint space-time attention blocks.

    Shared by the classifier (:class:`VisionTransformer`) and the pre-training encoder
    (:class:`ViTEncoder`); subclasses add their own output layers, so that an encoder's
    weights initialise the classifier under the same names.
    """

    def __init__(
        self,
        img_size: int = 160,
        num_frames: int = 16,
        tubelet_size: int = 2,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.input_shape = (in_chans, num_frames, img_size, img_size)
        self.tubelet_size, self.patch_size, self.embed_dim = tubelet_size, patch_size, embed_dim
        self.grid = token_grid(num_frames, img_size, tubelet_size, patch_size)
        num_tokens = self.grid[0] * self.grid[1] * self.grid[2]
        self.patch_embed = PatchEmbed3d(in_chans, embed_dim, tubelet_size, patch_size)
        self.register_buffer("pos_embed", sinusoid_table(num_tokens, embed_dim), persistent=False)
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio, dp) for dp in drop_path_rates(drop_path_rate, depth)
        )

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens (B, N, C) of a clip batch (B, C, T, H, W) in raster order, with positions."""
        if x.ndim != 5 or tuple(x.shape[1:]) != self.input_shape:
            c, t, h, w = self.input_shape
            raise ValueError(
                f"{type(self).__name__} expects clips of shape (B, {c}, {t}, {h}, {w}), got {tuple(x.shape)}"
            )
        return self.patch_embed(x) + self.pos_embed.to(x.dtype)


class VisionTransformer(ViTBackbone):
    """Full self-attention over all tubelet tokens, mean pooling -> LayerNorm -> head."""

    def __init__(self, num_classes: int = 7, init_scale: float = 0.001, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.fc_norm, self.head = classifier_head(self.embed_dim, num_classes)
        init_weights(self, "finetune")
        scale_head(self.head, init_scale)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        for blk in self.blocks:
            h = blk(h)
        return self.fc_norm(h.mean(dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))

    def example_inputs(self, batch_size: int = 1) -> tuple[torch.Tensor]:
        return (torch.randn(batch_size, *self.input_shape),)


class ViTEncoder(ViTBackbone):
    """VideoMAE's pre-training encoder, the paper's baseline: joint attention over the
    visible tokens only, then a final LayerNorm."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.norm = LayerNorm(self.embed_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoded visible tokens (B, M, C) in raster order and their raster indices (B, M)."""
        tokens = self.embed(x)
        b, _, c = tokens.shape
        visible = tokens[~mask].view(b, -1, c)
        order = torch.argsort(mask.to(torch.uint8), dim=1, stable=True)[:, : visible.shape[1]]
        for blk in self.blocks:
            visible = blk(visible)
        return self.norm(visible), order
