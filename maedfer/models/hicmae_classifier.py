"""HiCMAE's fine-tuning model: the audio-visual classifier of the pre-trained encoders and
fusion (the official ``AudioVisionTransformer``)."""

from __future__ import annotations

import torch
from torch import nn

from .hicmae import AudioEncoder, CrossModalFusion, encode_layers, video_encoder_module
from .layers import classifier_head, init_weights


class HiCMAEClassifier(nn.Module):
    """HiCMAE fine-tuning model (the official ``AudioVisionTransformer``): per stream a
    softmax-weighted mean over all encoder layers of the token-mean LayerNorm'd features,
    the fusion encoder on the last layers, cat[video, audio, fused video, fused audio] ->
    LayerNorm -> head. The head keeps PyTorch's default init, as in the original.

    ``video_encoder="lgi_former"`` (ours; see :class:`~.hicmae.HiCMAE`): the video stream is
    LGI-Former on all 800 tokens, read the same way (its local tokens, every layer; the
    region tokens are not pooled), so that :class:`~.hicmae.HiCMAE`'s LGI form initialises it.
    """

    def __init__(
        self,
        img_size: int = 160,
        num_frames: int = 16,
        tubelet_size: int = 2,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 512,
        depth: int = 10,
        num_heads: int = 8,
        audio_size: tuple[int, int] = (256, 128),
        audio_patch_size: int = 16,
        audio_in_chans: int = 1,
        audio_embed_dim: int = 512,
        audio_depth: int = 10,
        audio_num_heads: int = 8,
        fusion_depth: int = 2,
        fusion_num_heads: int = 8,
        mlp_ratio: float = 4.0,
        num_classes: int = 6,
        drop_path_rate: float = 0.1,
        video_encoder: str = "vit",
        region_size: tuple[int, int, int] = (2, 5, 10),
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.video_layer_weights = nn.Parameter(torch.ones(depth) / depth)
        self.audio_layer_weights = nn.Parameter(torch.ones(audio_depth) / audio_depth)
        self.encoder = video_encoder_module(
            video_encoder,
            region_size,
            img_size=img_size,
            num_frames=num_frames,
            tubelet_size=tubelet_size,
            patch_size=patch_size,
            in_chans=in_chans,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            drop_path_rate=drop_path_rate,
        )
        self.encoder_audio = AudioEncoder(
            audio_size, audio_patch_size, audio_in_chans, audio_embed_dim, audio_depth, audio_num_heads, mlp_ratio,
            drop_path_rate,
        )  # fmt: skip
        self.encoder_fusion = CrossModalFusion(
            embed_dim, audio_embed_dim, fusion_depth, fusion_num_heads, mlp_ratio, drop_path_rate
        )
        self.fc_norm, self.head = classifier_head(2 * (embed_dim + audio_embed_dim), num_classes)
        self.input_shape, self.audio_shape = self.encoder.input_shape, self.encoder_audio.input_shape
        init_weights(self.encoder, "finetune")
        init_weights(self.encoder_audio, "finetune")
        init_weights(self.encoder_fusion, "pretrain")
        if video_encoder == "lgi_former":  # as LGI-Former's fine-tuning starts them
            nn.init.trunc_normal_(self.encoder.lg_region_tokens, std=0.02)

    def forward_features(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        pooled, last = [], []
        for enc, x, weights in (
            (self.encoder, video, self.video_layer_weights),
            (self.encoder_audio, audio, self.audio_layer_weights),
        ):
            _, layers, _ = encode_layers(enc, x, tuple(range(len(enc.blocks))))
            means = torch.stack([h.mean(dim=1) for h in layers], dim=1)  # (B, layers, C)
            pooled.append((means * weights.softmax(dim=0).view(1, -1, 1)).sum(dim=1))
            last.append(layers[-1])
        fused = self.encoder_fusion(*last)
        return self.fc_norm(torch.cat([*pooled, *(f.mean(dim=1) for f in fused)], dim=-1))

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(video, audio))

    def example_inputs(self, batch_size: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randn(batch_size, *self.input_shape), torch.randn(batch_size, *self.audio_shape)
