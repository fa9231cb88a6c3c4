"""MAE-DFER pre-training model (Sun et al., ACM MM 2023): LGI-Former encoder on the visible
tokens, a small ViT decoder that predicts the appearance and motion of the hidden ones.

An LGI-Former encoder sees only the ~10 % visible tokens; a light ViT decoder gets the
encoded visible tokens plus a shared mask token at every hidden position and predicts,
for each hidden tubelet, its appearance (normalised pixels of the first frame) and its
motion (difference of the normalised frames). Loss: lambda * MSE_appearance +
(1 - lambda) * MSE_motion with lambda = 0.5.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..constants import IMAGENET_MEAN, IMAGENET_STD
from .layers import Block, LayerNorm, init_weights, sinusoid_table
from .lgi_former import LGIEncoder
from .masking import WindowMasking, make_masking
from .vit import ViTEncoder

TARGETS = ("pixel_motion", "pixel")
ENCODERS = ("lgi_former", "vit")


class MAEDecoder(nn.Module):
    """Plain ViT blocks, final LayerNorm, and a linear head over the last (hidden) tokens."""

    def __init__(self, embed_dim: int, depth: int, num_heads: int, out_dim: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth))
        self.norm = LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, out_dim)

    def forward(self, x: torch.Tensor, num_predicted: int) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x[:, -num_predicted:]))


class MAEDFER(nn.Module):
    """Masked autoencoder with an LGI-Former encoder and appearance + motion targets.

    ``target``: ``"pixel_motion"`` (official: first-frame pixels | frame difference, per
    tubelet) or ``"pixel"`` (VideoMAE: normalised pixels of every frame; the paper's
    appearance-only ablation). ``appearance_weight`` is the paper's lambda.
    ``official_decoder_pos`` reproduces the original's permuted decoder positions of
    visible tokens (40 of the 80 get another token's position), needed only to reproduce official pre-training outputs.
    ``decoder_mask_ratio``: share of the hidden tokens that training does *not* reconstruct
    (VideoMAE V2's decoder masking; 0, the original, reconstructs all): the decoder then reads
    fewer tokens, so a step costs less and more steps fit a budget (:meth:`decoder_subset`).
    ``encoder``: ``"lgi_former"`` (MAE-DFER) or ``"vit"`` (VideoMAE's joint attention, the
    paper's baseline, for the LGI-Former-vs-ViT comparison under the same objective).
    """

    def __init__(
        self,
        img_size: int = 160,
        num_frames: int = 16,
        tubelet_size: int = 2,
        patch_size: int = 16,
        in_chans: int = 3,
        encoder_embed_dim: int = 512,
        encoder_depth: int = 16,
        encoder_num_heads: int = 8,
        mlp_ratio: float = 4.0,
        region_size: tuple[int, int, int] = (2, 5, 10),
        global_step: bool = True,
        local_global_step: bool = True,
        decoder_embed_dim: int = 384,
        decoder_depth: int = 4,
        decoder_num_heads: int = 6,
        target: str = "pixel_motion",
        appearance_weight: float = 0.5,
        mask_type: str = "part_window",
        mask_ratio: float = 0.9,
        official_decoder_pos: bool = False,
        decoder_mask_ratio: float = 0.0,
        encoder: str = "lgi_former",
        norm_mean: tuple[float, float, float] = IMAGENET_MEAN,
        norm_std: tuple[float, float, float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
        if target == "pixel_motion" and tubelet_size != 2:
            raise ValueError(f"the pixel_motion target pairs the 2 frames of a tubelet; tubelet_size is {tubelet_size}")
        if not 0.0 <= appearance_weight <= 1.0:
            raise ValueError(f"appearance_weight (lambda) must lie in [0, 1], got {appearance_weight}")
        if not 0.0 <= decoder_mask_ratio < 1.0:
            raise ValueError(f"decoder_mask_ratio must lie in [0, 1), got {decoder_mask_ratio}")
        self.target, self.appearance_weight = target, appearance_weight
        self.decoder_mask_ratio = decoder_mask_ratio
        self.official_decoder_pos = official_decoder_pos
        if encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {encoder!r}; expected one of {', '.join(ENCODERS)}")
        shape = dict(
            img_size=img_size,
            num_frames=num_frames,
            tubelet_size=tubelet_size,
            patch_size=patch_size,
            in_chans=in_chans,
            embed_dim=encoder_embed_dim,
            depth=encoder_depth,
            num_heads=encoder_num_heads,
            mlp_ratio=mlp_ratio,
        )
        self.encoder: LGIEncoder | ViTEncoder = (
            LGIEncoder(**shape, region_size=region_size, global_step=global_step, local_global_step=local_global_step)
            if encoder == "lgi_former"
            else ViTEncoder(**shape)
        )
        self.input_shape = self.encoder.input_shape
        grid = self.encoder.grid
        self.masking: WindowMasking = make_masking(mask_type, grid, mask_ratio, window=tuple(region_size[1:]))
        (wh, ww), (rt, rh, rw) = self.masking.window, region_size
        if rh % wh or rw % ww:
            # Only whole mask windows inside each region give every region the same
            # number of visible tokens, which the encoder needs.
            raise ValueError(
                f"{mask_type} masking draws per {wh}x{ww}-token window, which does not tile "
                f"the {rt}x{rh}x{rw} regions: regions would get unequal visible counts "
                "(use part_window masking, or regions spanning whole windows)"
            )
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        num_tokens = grid[0] * grid[1] * grid[2]
        self.register_buffer("decoder_pos", sinusoid_table(num_tokens, decoder_embed_dim), persistent=False)
        self.target_dim = in_chans * tubelet_size * patch_size * patch_size
        self.decoder = MAEDecoder(decoder_embed_dim, decoder_depth, decoder_num_heads, self.target_dim, mlp_ratio)
        # Registered after the decoder so that state-dict keys come in the official order.
        self.encoder_to_decoder = nn.Linear(encoder_embed_dim, decoder_embed_dim, bias=False)
        self.register_buffer("norm_mean", torch.tensor(norm_mean).view(1, -1, 1, 1, 1), persistent=False)
        self.register_buffer("norm_std", torch.tensor(norm_std).view(1, -1, 1, 1, 1), persistent=False)

        init_weights(self.encoder, "pretrain")
        init_weights(self.decoder, "pretrain")
        # encoder_to_decoder keeps PyTorch's default init, as in the original.
        for p in (getattr(self.encoder, "lg_region_tokens", None), self.mask_token):
            if p is not None:
                nn.init.trunc_normal_(p, std=0.02, a=-0.02, b=0.02)

    def decoder_subset(self, mask: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The hidden tokens the decoder reconstructs in a training step: ``mask`` itself, or
        with ``decoder_mask_ratio`` > 0 a random subset of each clip's hidden tokens, the same
        count per clip (uniform, so every hidden position is reconstructed equally often)."""
        if not self.decoder_mask_ratio:
            return mask
        hidden = int(mask[0].sum())
        keep = max(1, round(hidden * (1 - self.decoder_mask_ratio)))
        scores = torch.rand(mask.shape, generator=generator, device=generator.device if generator else mask.device)
        scores = scores.to(mask.device).masked_fill(~mask, 2.0)  # visible tokens rank last
        chosen = scores.argsort(dim=1)[:, :keep]
        return torch.zeros_like(mask).scatter_(1, chosen, True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, predict: torch.Tensor | None = None) -> torch.Tensor:
        """Predictions (B, N_predicted, target_dim) for the masked tokens in raster order, or
        for those of ``predict`` (a subset of ``mask``: :meth:`decoder_subset`, which returns
        ``mask`` itself without decoder masking)."""
        visible, order = self.encoder(x, mask)
        visible = self.encoder_to_decoder(visible)
        num_visible = visible.shape[1]
        # Raster order of the visible tokens, then of the masked ones.
        raster = torch.argsort(mask.to(torch.uint8), dim=1, stable=True)
        pos = self.decoder_pos.to(visible.dtype)
        # Correct: each encoded token gets its own position. Official: positions in raster
        # order, while the encoder output is region-major (40 of 80 slots swapped).
        visible_pos = pos[raster[:, :num_visible]] if self.official_decoder_pos else pos[order]
        if predict is None or predict is mask:
            queries = raster[:, num_visible:]
        else:
            count = int(predict[0].sum())
            queries = torch.argsort(predict.to(torch.uint8), dim=1, stable=True)[:, -count:]
        hidden = self.mask_token.to(visible.dtype) + pos[queries]
        tokens = torch.cat([visible + visible_pos, hidden], dim=1)
        return self.decoder(tokens, hidden.shape[1])

    def tubelets(self, x: torch.Tensor) -> torch.Tensor:
        """Clips (B, C, T, H, W) cut into tubelets in token raster order:
        (B, N, tubelet_size, patch_size ** 2, C), pixels row by row, channel last."""
        c, t, h, w = self.input_shape
        pt, p = self.encoder.tubelet_size, self.encoder.patch_size
        tubes = x.view(x.shape[0], c, t // pt, pt, h // p, p, w // p, p)
        return tubes.permute(0, 2, 4, 6, 3, 5, 7, 1).reshape(x.shape[0], -1, pt, p * p, c)

    @torch.no_grad()
    def targets(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Reconstruction targets (B, N_masked, target_dim) of the masked tokens, raster order.

        Pixels are un-normalised to [0, 1], cut into tubelets, normalised per tubelet and
        channel (mean, unbiased std over the tubelet's pixels). For ``pixel_motion`` the
        first frame is the appearance target and (frame 2 - frame 1) the motion target;
        values are laid out (frame, row, column, channel), channel fastest.
        """
        b = x.shape[0]
        tubes = self.tubelets(x.float() * self.norm_std + self.norm_mean)
        flat = tubes.flatten(2, 3)  # statistics over all pixels of the tubelet, per channel
        normed = (flat - flat.mean(dim=2, keepdim=True)) / (flat.std(dim=2, keepdim=True) + 1e-6)
        normed = normed.view_as(tubes)
        if self.target == "pixel_motion":
            normed = torch.stack([normed[:, :, 0], normed[:, :, 1] - normed[:, :, 0]], dim=2)
        target = normed.flatten(2)
        return target[mask].view(b, -1, target.shape[-1])

    def target_parts(self) -> dict[str, slice]:
        """Where each part of the target lies in its last dimension: appearance (the first
        frame) and motion (the frame difference), or VideoMAE's pixels."""
        if self.target == "pixel":
            return {"pixel": slice(None)}
        half = self.target_dim // 2
        return {"appearance": slice(0, half), "motion": slice(half, None)}

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training loss and its parts (detached), computed in float32. Beside each part,
        ``*_zero`` is the score of predicting zero on the same batch (the mean squared
        target): a part that stays at its zero score has learned nothing."""
        pred = pred.float()
        parts = {name: F.mse_loss(pred[..., where], target[..., where]) for name, where in self.target_parts().items()}
        if self.target == "pixel":
            loss = parts["pixel"]
        else:
            loss = self.appearance_weight * parts["appearance"] + (1 - self.appearance_weight) * parts["motion"]
        logs = {"loss": loss.detach(), **{name: part.detach() for name, part in parts.items()}}
        for name, where in self.target_parts().items():
            logs[f"{name}_zero"] = target[..., where].pow(2).mean()
        return loss, logs

    def example_inputs(self, batch_size: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randn(batch_size, *self.input_shape), self.masking(batch_size)
