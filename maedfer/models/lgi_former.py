"""LGI-Former: local-global interaction transformer (the encoder of MAE-DFER, Sun et al., ACM MM 2023).

Tokens are grouped into local spatio-temporal regions. Each region gets one learnable
region token, prepended to it. One LGI block is:

  S1  local intra-region self-attention over the region token + its local tokens;
  S2  global self-attention among the region tokens of a clip;
  S3  local-global interaction: every local token cross-attends to the clip's region tokens;
  FFN one MLP shared by region and local tokens.

Attention cost is O(R * (N/R)^2 + R^2 + N * R) instead of O(N^2).
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import (
    DropPath,
    GeneralAttention,
    LayerNorm,
    Mlp,
    PatchEmbed3d,
    classifier_head,
    drop_path_rates,
    init_weights,
    scale_head,
    sinusoid_table,
)
from .regions import RegionPartition, token_grid


class LGIBlock(nn.Module):
    """One LGI block on x of shape (B*R, 1 + L, C); position 0 of each row is the region token.

    ``global_step`` / ``local_global_step`` switch S2 / S3 off for the paper's ablations.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        global_step: bool = True,
        local_global_step: bool = True,
    ) -> None:
        super().__init__()
        self.first_attn_norm0 = LayerNorm(dim)
        self.first_attn = GeneralAttention(dim, num_heads)
        self.global_step, self.local_global_step = global_step, local_global_step
        if global_step:
            self.second_attn_norm0 = LayerNorm(dim)
            self.second_attn = GeneralAttention(dim, num_heads)
        if local_global_step:
            self.third_attn_norm0 = LayerNorm(dim)  # queries: local tokens
            self.third_attn_norm1 = LayerNorm(dim)  # keys/values: region tokens
            self.third_attn = GeneralAttention(dim, num_heads)
        # One DropPath for all four residuals, as the original: it drops per (clip, region)
        # in S1 and the FFN and per clip in S2/S3, because of the tensor shapes there.
        self.drop_path = DropPath(drop_path)
        self.norm2 = LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, batch_size: int, with_local: bool = True) -> torch.Tensor:
        """Returns (B*R, 1 + L, C), or only the region tokens (B*R, 1, C) if not ``with_local``."""
        x = x + self.drop_path(self.first_attn(self.first_attn_norm0(x)))  # S1
        rows, length, dim = x.shape
        regions = rows // batch_size
        s = x[:, 0].reshape(batch_size, regions, dim)
        if self.global_step:  # S2
            s = s + self.drop_path(self.second_attn(self.second_attn_norm0(s)))
        if not with_local:
            # Nothing after this block reads the local tokens (a classifier's last block):
            # S3 and their FFN cannot change the output, so skip them.
            s = s.reshape(rows, 1, dim)
            return s + self.drop_path(self.mlp(self.norm2(s)))
        local = x[:, 1:].reshape(batch_size, regions * (length - 1), dim)
        if self.local_global_step:  # S3: region tokens are keys/values only, not updated
            context = self.third_attn_norm1(s)
            local = local + self.drop_path(self.third_attn(self.third_attn_norm0(local), context))
        x = torch.cat([s.reshape(rows, 1, dim), local.reshape(rows, length - 1, dim)], dim=1)
        return x + self.drop_path(self.mlp(self.norm2(x)))


class LGIBackbone(nn.Module):
    """Tubelet embedding, fixed sinusoid positions, region tokens and LGI blocks.

    Shared by the classifier (:class:`LGIFormer`) and the pre-training encoder
    (:class:`LGIEncoder`); subclasses add their own output layers so that parameter names
    stay those of the official checkpoints.
    """

    def __init__(
        self,
        img_size: int = 160,
        num_frames: int = 16,
        tubelet_size: int = 2,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 512,
        depth: int = 16,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        drop_path_rate: float = 0.0,
        region_size: tuple[int, int, int] = (2, 5, 10),
        global_step: bool = True,
        local_global_step: bool = True,
    ) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.input_shape = (in_chans, num_frames, img_size, img_size)
        self.tubelet_size, self.patch_size, self.embed_dim = tubelet_size, patch_size, embed_dim
        self.grid = token_grid(num_frames, img_size, tubelet_size, patch_size)
        self.regions = RegionPartition(self.grid, region_size)
        self.patch_embed = PatchEmbed3d(in_chans, embed_dim, tubelet_size, patch_size)
        self.register_buffer("pos_embed", sinusoid_table(self.regions.num_tokens, embed_dim), persistent=False)
        self.lg_region_tokens = nn.Parameter(torch.zeros(self.regions.num_regions, embed_dim))
        self.blocks = nn.ModuleList(
            LGIBlock(embed_dim, num_heads, mlp_ratio, dp, global_step, local_global_step)
            for dp in drop_path_rates(drop_path_rate, depth)
        )

    def check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 5 or tuple(x.shape[1:]) != self.input_shape:
            c, t, h, w = self.input_shape
            raise ValueError(
                f"{type(self).__name__} expects clips of shape (B, {c}, {t}, {h}, {w}), got {tuple(x.shape)}"
            )

    def forward_tokens(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, with_local: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Run the trunk on a clip batch (B, C, T, H, W), optionally keeping only unmasked tokens.

        Returns region tokens (B, R, C), local tokens (B, M, C) in region-major order (None
        if not ``with_local``: the last block then skips work only local tokens need) and
        ``order`` (B, M): the raster index of each local token.
        """
        h, order = self.embed_regions(x, mask)
        b = x.shape[0]
        last = len(self.blocks) - 1
        for i, blk in enumerate(self.blocks):
            h = blk(h, b, with_local=with_local or i < last)
        h = h.view(b, -1, h.shape[1], h.shape[2])
        return h[:, :, 0], self.local_tokens(h, b) if with_local else None, order

    def embed_regions(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The blocks' input: embedded tokens (all, or the unmasked ones) grouped by region,
        each region's token first, (B*R, 1 + K, C); and ``order`` (B, R*K), the raster index
        of each local token."""
        self.check_input(x)
        b = x.shape[0]
        tokens = self.patch_embed(x) + self.pos_embed.to(x.dtype)
        order = self.regions.order(mask, b)
        local = self.regions.gather(tokens, order)  # (B, R, K, C)
        r, k = local.shape[1], local.shape[2]
        region = self.lg_region_tokens.to(local.dtype).expand(b, -1, -1).unsqueeze(2)
        return torch.cat([region, local], dim=2).reshape(b * r, k + 1, -1), order

    @staticmethod
    def local_tokens(h: torch.Tensor, batch_size: int) -> torch.Tensor:
        """The local tokens (B, R*K, C), region-major, of a blocks' state (B*R, 1 + K, C)
        or (B, R, 1 + K, C)."""
        return h.reshape(batch_size, -1, h.shape[-2], h.shape[-1])[:, :, 1:].flatten(1, 2)


class LGIFormer(LGIBackbone):
    """LGI-Former classifier: mean of the region tokens -> LayerNorm -> linear head."""

    def __init__(self, num_classes: int = 7, init_scale: float = 0.001, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.fc_norm, self.head = classifier_head(self.embed_dim, num_classes)
        init_weights(self, "finetune")
        nn.init.trunc_normal_(self.lg_region_tokens, std=0.02)
        # Only region tokens reach the head, so the last block's local-global step can never
        # change the output (forward_features skips it). Its weights stay in the state dict
        # (official keys) but are frozen: no optimiser state, and DDP needs every trainable
        # parameter to receive a gradient.
        last = self.blocks[-1]
        if last.local_global_step:
            for module in (last.third_attn, last.third_attn_norm0, last.third_attn_norm1):
                module.requires_grad_(False)
        scale_head(self.head, init_scale)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled clip features (B, C): what the head sees."""
        region, _, _ = self.forward_tokens(x, with_local=False)
        return self.fc_norm(region.mean(dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))

    def example_inputs(self, batch_size: int = 1) -> tuple[torch.Tensor]:
        return (torch.randn(batch_size, *self.input_shape),)


class LGIEncoder(LGIBackbone):
    """The pre-training encoder: LGI-Former on visible tokens, then a final LayerNorm."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.norm = LayerNorm(self.embed_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoded visible tokens (B, M, C) in region-major order and their raster indices (B, M)."""
        _, local, order = self.forward_tokens(x, mask)
        return self.norm(local), order

    def forward_layers(
        self, x: torch.Tensor, mask: torch.Tensor | None, layers: tuple[int, ...]
    ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """:meth:`forward` (all tokens without ``mask``) that also returns the local tokens
        after the blocks at the 0-based ``layers``, each through the final ``norm``, in the
        order asked for (HiCMAE's intermediate features). Region tokens are left out, as in
        the output. Returns (output (B, M, C), [(B, M, C) per layer], order (B, M))."""
        h, order = self.embed_regions(x, mask)
        b, kept = x.shape[0], {}
        for i, blk in enumerate(self.blocks):
            h = blk(h, b)
            if i in layers:
                kept[i] = self.norm(self.local_tokens(h, b))
        return self.norm(self.local_tokens(h, b)), [kept[i] for i in layers], order
