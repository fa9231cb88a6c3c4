"""HiCMAE (Sun et al., Information Fusion 2024): audio-visual masked autoencoder with
hierarchical skip connections, hierarchical cross-modal contrast and cross-modal fusion.

A video ViT (VideoMAE's joint attention) and an audio ViT (AudioMAE's, on a log-mel
spectrogram) encode their visible tokens; at some intermediate layers (official: after
blocks 4, 7 and 10) the mean-pooled features of the two streams are contrasted (CLIP-style,
symmetric), and the same features feed the decoders' cross-attention blocks in U-Net order.
A 2-layer bidirectional cross-attention encoder fuses the streams before decoding. The
classifier reads a softmax-weighted mean over all encoder layers of each stream plus the
fused streams (:mod:`.hicmae_classifier`). Parameter names and order are the official ones
(``tests/data/hicmae_official_keys.json``).

``video_encoder="lgi_former"`` (ours: the original has no such form) puts MAE-DFER's
LGI-Former in place of the video ViT, with MAE-DFER's part-window mask; everything else
(audio, fusion, decoders, targets, losses) stays the same.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..constants import IMAGENET_MEAN, IMAGENET_STD
from .layers import (
    Block,
    CSBlock,
    LayerNorm,
    PatchEmbed2d,
    drop_path_rates,
    init_weights,
    sinusoid_table,
)
from .lgi_former import LGIEncoder
from .mae_dfer import ENCODERS, MAEDFER, TARGETS, MAEDecoder
from .masking import TubeMasking, make_masking
from .vit import ViTEncoder


class AudioEncoder(nn.Module):
    """AudioMAE-style ViT on a spectrogram (B, C, time, frequency): 2-D patches, fixed 1-D
    sinusoid positions over the time-major token index, plain blocks, final LayerNorm."""

    def __init__(
        self,
        audio_size: tuple[int, int] = (256, 128),
        patch_size: int = 16,
        in_chans: int = 1,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"audio embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        if audio_size[0] % patch_size or audio_size[1] % patch_size:
            raise ValueError(f"a {audio_size[0]}x{audio_size[1]} spectrogram does not tile into {patch_size}-patches")
        self.input_shape = (in_chans, *audio_size)
        self.patch_size, self.embed_dim = patch_size, embed_dim
        self.grid = (audio_size[0] // patch_size, audio_size[1] // patch_size)
        self.patch_embed = PatchEmbed2d(in_chans, embed_dim, patch_size)
        self.register_buffer("pos_embed", sinusoid_table(self.grid[0] * self.grid[1], embed_dim), persistent=False)
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio, dp) for dp in drop_path_rates(drop_path_rate, depth)
        )
        self.norm = LayerNorm(embed_dim)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens (B, N, C) of a spectrogram batch, time-major, with positions."""
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            c, t, f = self.input_shape
            raise ValueError(
                f"{type(self).__name__} expects spectrograms of shape (B, {c}, {t}, {f}), got {tuple(x.shape)}"
            )
        return self.patch_embed(x) + self.pos_embed.to(x.dtype)


def run_encoder(
    encoder: nn.Module, tokens: torch.Tensor, layers: tuple[int, ...], mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run ``encoder.blocks`` on the visible tokens (all without ``mask``), raster order kept.
    Returns the output after ``encoder.norm`` and the outputs of the blocks at the 0-based
    ``layers``, each through the same ``norm``, in the order asked for."""
    if mask is not None:
        tokens = tokens[~mask].view(tokens.shape[0], -1, tokens.shape[-1])
    kept = {}
    for i, blk in enumerate(encoder.blocks):
        tokens = blk(tokens)
        if i in layers:
            kept[i] = encoder.norm(tokens)
    return encoder.norm(tokens), [kept[i] for i in layers]


def encode_layers(
    encoder: nn.Module, x: torch.Tensor, layers: tuple[int, ...], mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor | None]:
    """Any HiCMAE encoder (video ViT or LGI-Former, audio ViT) on an input batch: the output,
    the features at ``layers`` (as :func:`run_encoder`) and the raster index of each returned
    token (B, M), or None where the tokens come in raster order (the ViTs). LGI-Former returns
    its local tokens region-major and leaves its region tokens out."""
    if isinstance(encoder, LGIEncoder):
        return encoder.forward_layers(x, mask, layers)
    return *run_encoder(encoder, encoder.embed(x), layers, mask), None


def video_encoder_module(kind: str, region_size: tuple[int, int, int], **shape) -> LGIEncoder | ViTEncoder:
    """HiCMAE's video encoder: the ViT (``"vit"``, the original) or LGI-Former with
    ``region_size`` regions (``"lgi_former"``); ``shape``: their common settings."""
    if kind not in ENCODERS:
        raise ValueError(f"unknown video_encoder {kind!r}; expected one of {', '.join(ENCODERS)}")
    return LGIEncoder(**shape, region_size=region_size) if kind == "lgi_former" else ViTEncoder(**shape)


class CrossModalFusion(nn.Module):
    """Bidirectional cross-attention encoder: per layer the video tokens attend to the audio
    tokens and the audio tokens to the video tokens, both from the previous layer's outputs
    (a parallel update); then one LayerNorm per stream."""

    def __init__(
        self, embed_dim: int, audio_embed_dim: int, depth: int, num_heads: int, mlp_ratio: float, drop_path_rate: float
    ) -> None:
        super().__init__()
        rates = drop_path_rates(drop_path_rate, depth)
        self.blocks = nn.ModuleList(CSBlock(embed_dim, num_heads, audio_embed_dim, mlp_ratio, dp) for dp in rates)
        self.norm = LayerNorm(embed_dim)
        self.blocks_audio = nn.ModuleList(CSBlock(audio_embed_dim, num_heads, embed_dim, mlp_ratio, dp) for dp in rates)
        self.norm_audio = LayerNorm(audio_embed_dim)

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for blk, blk_audio in zip(self.blocks, self.blocks_audio):
            video, audio = blk(video, audio), blk_audio(audio, video)
        return self.norm(video), self.norm_audio(audio)


class SkipDecoder(MAEDecoder):
    """MAE decoder with hierarchical skips: block 0 is plain, block i >= 1 cross-attends to
    the i-th skip feature from the end (the deepest encoder feature first: U-Net order)."""

    def __init__(self, embed_dim: int, depth: int, num_heads: int, out_dim: int, mlp_ratio: float = 4.0) -> None:
        super().__init__(embed_dim, 0, num_heads, out_dim, mlp_ratio)
        self.blocks.append(Block(embed_dim, num_heads, mlp_ratio))
        self.blocks.extend(CSBlock(embed_dim, num_heads, mlp_ratio=mlp_ratio) for _ in range(depth - 1))

    def forward(self, x: torch.Tensor, num_predicted: int, skips: list[torch.Tensor]) -> torch.Tensor:
        x = self.blocks[0](x)
        for i, blk in enumerate(self.blocks[1:], start=1):
            x = blk(x, skips[-i])
        return self.head(self.norm(x[:, -num_predicted:]))


class HiCMAEOutput(NamedTuple):
    video: torch.Tensor  # (B, N_masked, target_dim): the hidden tubelets, raster order
    audio: torch.Tensor  # (B, N_masked_audio, audio_target_dim): the hidden patches, time-major
    logits: tuple[torch.Tensor, ...]  # per intermediate layer (B, B): video rows, audio columns


class HiCMAE(nn.Module):
    """HiCMAE pre-training model (the official ``PretrainAudioVisionTransformer``).

    ``intermediate_layers``: 0-based encoder blocks (of both streams) whose LayerNorm'd
    outputs are contrasted and skipped to the decoders (official ``--return_intermediate_features``
    3 6 9); there must be ``decoder_depth - 1`` of them. ``contrastive_weight`` weighs the sum
    of the per-layer contrastive losses (official ``--loss_weight`` 0.0025). Video targets are
    MAE-DFER's (``target``: ``"pixel_motion"``, official ``--use_frame_diff_as_target``, or
    ``"pixel"``); audio targets are per-patch normalised spectrogram patches.

    ``video_encoder``: ``"vit"`` (the original) or ``"lgi_former"`` (ours, the names of
    :class:`~.mae_dfer.MAEDFER`'s ``encoder``): MAE-DFER's LGI-Former with ``region_size``
    regions (ignored with ``"vit"``), whose normed local tokens are the output and the
    intermediate features. Its video mask is then MAE-DFER's part-window mask instead of the
    tube mask, because LGI-Former batches its regions and needs the same visible count in
    each: at ``mask_ratio`` 0.9 both hide 90 of the 100 positions of a token frame and
    repeat that frame mask over all 8 temporal slices (720 of 800 hidden, the same 80 visible
    positions in every slice, so a hidden tubelet cannot be copied from its neighbour in
    time). The tube mask draws the 10 visible positions anywhere in the frame, so a
    (2, 5, 10) region can keep 3 and the other 7; part-window draws 5 in each 5x10 window
    (a region's rows), so every region keeps exactly 2 x 5 = 10. The only loss is some
    randomness: no half of the face is ever almost wholly hidden.
    """

    def __init__(
        self,
        img_size: int = 160,
        num_frames: int = 16,
        tubelet_size: int = 2,
        patch_size: int = 16,
        in_chans: int = 3,
        encoder_embed_dim: int = 512,
        encoder_depth: int = 10,
        encoder_num_heads: int = 8,
        decoder_embed_dim: int = 384,
        decoder_depth: int = 4,
        decoder_num_heads: int = 6,
        audio_size: tuple[int, int] = (256, 128),
        audio_patch_size: int = 16,
        audio_in_chans: int = 1,
        audio_encoder_embed_dim: int = 512,
        audio_encoder_depth: int = 10,
        audio_encoder_num_heads: int = 8,
        audio_decoder_embed_dim: int = 384,
        audio_decoder_num_heads: int = 6,
        fusion_depth: int = 2,
        fusion_num_heads: int = 8,
        mlp_ratio: float = 4.0,
        intermediate_layers: tuple[int, int, int] = (3, 6, 9),
        temperature: float = 0.07,
        contrastive_weight: float = 0.0025,
        target: str = "pixel_motion",
        mask_ratio: float = 0.9,
        audio_mask_ratio: float = 0.8,
        video_encoder: str = "vit",
        region_size: tuple[int, int, int] = (2, 5, 10),
        norm_mean: tuple[float, float, float] = IMAGENET_MEAN,
        norm_std: tuple[float, float, float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
        if target == "pixel_motion" and tubelet_size != 2:
            raise ValueError(f"the pixel_motion target pairs the 2 frames of a tubelet; tubelet_size is {tubelet_size}")
        self.intermediate_layers = tuple(int(i) for i in intermediate_layers)
        if len(self.intermediate_layers) != decoder_depth - 1:
            raise ValueError(
                f"decoder_depth {decoder_depth} needs {decoder_depth - 1} intermediate layers "
                f"(one skip per cross-attention block), got {self.intermediate_layers}"
            )
        if any(not 0 <= i < min(encoder_depth, audio_encoder_depth) for i in self.intermediate_layers):
            raise ValueError(f"intermediate layers {self.intermediate_layers} must be blocks of both encoders")
        if self.intermediate_layers and encoder_embed_dim != audio_encoder_embed_dim:
            raise ValueError(
                f"the contrastive loss compares video and audio features: encoder_embed_dim {encoder_embed_dim} "
                f"and audio_encoder_embed_dim {audio_encoder_embed_dim} must be equal"
            )
        self.target, self.temperature, self.contrastive_weight = target, temperature, contrastive_weight
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.mask_token_audio = nn.Parameter(torch.zeros(1, 1, audio_decoder_embed_dim))
        self.encoder = video_encoder_module(
            video_encoder,
            region_size,
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
        self.target_dim = in_chans * tubelet_size * patch_size**2
        self.decoder = SkipDecoder(decoder_embed_dim, decoder_depth, decoder_num_heads, self.target_dim, mlp_ratio)
        self.encoder_to_decoder = nn.Linear(encoder_embed_dim, decoder_embed_dim, bias=False)
        self.encoder_audio = AudioEncoder(
            audio_size, audio_patch_size, audio_in_chans, audio_encoder_embed_dim, audio_encoder_depth,
            audio_encoder_num_heads, mlp_ratio,
        )  # fmt: skip
        self.audio_target_dim = audio_in_chans * audio_patch_size**2
        self.decoder_audio = SkipDecoder(
            audio_decoder_embed_dim, decoder_depth, audio_decoder_num_heads, self.audio_target_dim, mlp_ratio
        )
        self.encoder_to_decoder_audio = nn.Linear(audio_encoder_embed_dim, audio_decoder_embed_dim, bias=False)
        self.encoder_fusion = CrossModalFusion(
            encoder_embed_dim, audio_encoder_embed_dim, fusion_depth, fusion_num_heads, mlp_ratio, 0.0
        )
        self.input_shape, self.audio_shape = self.encoder.input_shape, self.encoder_audio.input_shape
        mask_type = "part_window" if video_encoder == "lgi_former" else "tube"
        self.masking = make_masking(mask_type, self.encoder.grid, mask_ratio, window=tuple(region_size[1:]))
        # Uniform masking of the spectrogram patches: a tube mask over a single "frame".
        self.audio_masking = TubeMasking((1, *self.encoder_audio.grid), audio_mask_ratio)
        for name, enc, dim in (
            ("", self.encoder, decoder_embed_dim),
            ("_audio", self.encoder_audio, audio_decoder_embed_dim),
        ):
            self.register_buffer(f"decoder_pos{name}", sinusoid_table(len(enc.pos_embed), dim), persistent=False)
        self.register_buffer("norm_mean", torch.tensor(norm_mean).view(1, -1, 1, 1, 1), persistent=False)
        self.register_buffer("norm_std", torch.tensor(norm_std).view(1, -1, 1, 1, 1), persistent=False)

        for part in (self.encoder, self.decoder, self.encoder_audio, self.decoder_audio, self.encoder_fusion):
            init_weights(part, "pretrain")
        # encoder_to_decoder(_audio) keep PyTorch's default init, as in the original; region
        # tokens start as MAE-DFER's pre-training starts them.
        for token in (self.mask_token, self.mask_token_audio, getattr(self.encoder, "lg_region_tokens", None)):
            if token is not None:
                nn.init.trunc_normal_(token, std=0.02, a=-0.02, b=0.02)

    def forward(
        self, video: torch.Tensor, mask: torch.Tensor, audio: torch.Tensor, audio_mask: torch.Tensor
    ) -> HiCMAEOutput:
        """Reconstructions of the masked tokens of both streams and the contrastive logits.
        Masks are bool, True = hidden, the same count in every sample."""
        layers = self.intermediate_layers
        v, v_inter, order = encode_layers(self.encoder, video, layers, mask)
        a, a_inter, _ = encode_layers(self.encoder_audio, audio, layers, audio_mask)
        # With LGI-Former the features are its local tokens only: the region tokens have no
        # place on the token grid, hence no decoder position, and MAE-DFER's decoder does
        # not read them either; the contrast then pools the visible tokens, as the ViT form.
        logits = tuple(self.contrastive_logits(fv, fa) for fv, fa in zip(v_inter, a_inter))
        v, a = self.encoder_fusion(v, a)
        video_out = self._decode("", v, v_inter, mask, order)
        return HiCMAEOutput(video_out, self._decode("_audio", a, a_inter, audio_mask), logits)

    def contrastive_logits(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """(B, B) cosine similarities of the token-mean features over the temperature
        (no eps in the L2 normalisation, as the original)."""
        v, a = video.mean(dim=1), audio.mean(dim=1)
        v, a = v / v.norm(dim=1, keepdim=True), a / a.norm(dim=1, keepdim=True)
        return v @ a.t() / self.temperature

    def _decode(
        self,
        stream: str,
        x: torch.Tensor,
        skips: list[torch.Tensor],
        mask: torch.Tensor,
        order: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Decoder of one stream ("" video, "_audio"): the encoded visible tokens and a mask
        token at every hidden position, each with its decoder position, visible first, then
        hidden in raster order; skip features get the visible tokens' positions. ``order``:
        the raster index of each encoded token (LGI-Former's are region-major: the positions
        must follow them, where the MAE-DFER original took them in raster order); None:
        raster order."""
        to_decoder, pos = getattr(self, f"encoder_to_decoder{stream}"), getattr(self, f"decoder_pos{stream}")
        x = to_decoder(x)
        raster = torch.argsort(mask.to(torch.uint8), dim=1, stable=True)  # visible, then hidden
        pos = pos.to(x.dtype)
        visible = raster[:, : x.shape[1]] if order is None else order
        visible_pos, hidden_pos = pos[visible], pos[raster[:, x.shape[1] :]]
        hidden = getattr(self, f"mask_token{stream}").to(x.dtype) + hidden_pos
        tokens = torch.cat([x + visible_pos, hidden], dim=1)
        skips = [to_decoder(s) + visible_pos for s in skips]
        return getattr(self, f"decoder{stream}")(tokens, hidden.shape[1], skips)

    # The video target is MAE-DFER's, by the same code.
    tubelets = MAEDFER.tubelets
    video_targets = MAEDFER.targets

    @torch.no_grad()
    def audio_targets(self, audio: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The masked spectrogram patches (B, N_masked, audio_target_dim), each normalised
        (mean, unbiased std + 1e-6 over the patch, per channel); values (time, frequency, channel)."""
        c, t, f = self.audio_shape
        b, p = audio.shape[0], self.encoder_audio.patch_size
        patches = audio.float().view(b, c, t // p, p, f // p, p).permute(0, 2, 4, 3, 5, 1).reshape(b, -1, p * p, c)
        normed = (patches - patches.mean(dim=2, keepdim=True)) / (patches.std(dim=2, keepdim=True) + 1e-6)
        target = normed.flatten(2)
        return target[mask].view(b, -1, target.shape[-1])

    def targets(self, video, mask, audio, audio_mask) -> tuple[torch.Tensor, torch.Tensor]:
        return self.video_targets(video, mask), self.audio_targets(audio, audio_mask)

    def loss(
        self,
        output: HiCMAEOutput,
        targets: tuple[torch.Tensor, torch.Tensor],
        contrastive_weight: float | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """MSE(video) + MSE(audio) + weight * sum over layers of the symmetric contrastive
        loss (in-batch negatives), in float32; and its parts, detached."""
        weight = self.contrastive_weight if contrastive_weight is None else contrastive_weight
        video = F.mse_loss(output.video.float(), targets[0])
        audio = F.mse_loss(output.audio.float(), targets[1])
        contrastive = video.new_zeros(())
        for s in output.logits:
            labels = torch.arange(s.shape[0], device=s.device)
            s = s.float()
            contrastive = contrastive + 0.5 * (F.cross_entropy(s, labels) + F.cross_entropy(s.t(), labels))
        loss = video + audio + weight * contrastive
        parts = {"loss": loss, "video": video, "audio": audio, "contrastive": contrastive}
        return loss, {name: value.detach() for name, value in parts.items()}

    def example_inputs(self, batch_size: int = 1) -> tuple[torch.Tensor, ...]:
        video, audio = torch.randn(batch_size, *self.input_shape), torch.randn(batch_size, *self.audio_shape)
        return video, self.masking(batch_size), audio, self.audio_masking(batch_size)
