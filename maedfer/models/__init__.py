"""The models of MAE-DFER and HiCMAE and their registered configurations.

Tiny variants keep the official 8x10x10 token grid (16 frames of 80x80 pixels in
2x8x8 tubelets), so regions, masks and region tokens have the official structure while a
forward pass costs ~100x less: they are for CPU work and tests.
"""

from ..registry import register_model
from .hicmae import HiCMAE
from .hicmae_classifier import HiCMAEClassifier
from .lgi_former import LGIBackbone, LGIBlock, LGIEncoder, LGIFormer
from .mae_dfer import MAEDFER
from .masking import PartWindowMasking, TubeMasking, WindowMasking, make_masking
from .vit import VisionTransformer

_BASE_INPUT = dict(img_size=160, num_frames=16, tubelet_size=2, patch_size=16)
_TINY_INPUT = dict(img_size=80, num_frames=16, tubelet_size=2, patch_size=8)
_LGI_BASE = dict(embed_dim=512, depth=16, num_heads=8, region_size=(2, 5, 10))
_LGI_TINY = dict(embed_dim=128, depth=4, num_heads=4, region_size=(2, 5, 10))

register_model(
    "lgi_former_base",
    LGIFormer,
    "official LGI-Former (MAE-DFER fine-tuning model): 16x160x160, dim 512, depth 16, 8 heads",
    **_BASE_INPUT,
    **_LGI_BASE,
    num_classes=7,
    drop_path_rate=0.1,
)
register_model(
    "lgi_former_tiny",
    LGIFormer,
    "LGI-Former for CPU work and tests: 16x80x80, dim 128, depth 4, 4 heads, same token grid",
    **_TINY_INPUT,
    **_LGI_TINY,
    num_classes=7,
    drop_path_rate=0.1,
)
register_model(
    "vit_base",
    VisionTransformer,
    "VideoMAE ViT-B baseline: 16x160x160, dim 768, depth 12, 12 heads, joint attention",
    **_BASE_INPUT,
    embed_dim=768,
    depth=12,
    num_heads=12,
    num_classes=7,
    drop_path_rate=0.1,
)
register_model(
    "vit_tiny",
    VisionTransformer,
    "ViT baseline for CPU work and tests: 16x80x80, dim 128, depth 4, 4 heads",
    **_TINY_INPUT,
    embed_dim=128,
    depth=4,
    num_heads=4,
    num_classes=7,
    drop_path_rate=0.1,
)
register_model(
    "mae_dfer_base",
    MAEDFER,
    "official MAE-DFER pre-training model: LGI-Former base encoder, decoder 384x4, part-window mask 0.9",
    **_BASE_INPUT,
    encoder_embed_dim=512,
    encoder_depth=16,
    encoder_num_heads=8,
    region_size=(2, 5, 10),
    decoder_embed_dim=384,
    decoder_depth=4,
    decoder_num_heads=6,
)
register_model(
    "mae_dfer_tiny",
    MAEDFER,
    "MAE-DFER for CPU work and tests: lgi_former_tiny encoder, decoder 96x2",
    **_TINY_INPUT,
    encoder_embed_dim=128,
    encoder_depth=4,
    encoder_num_heads=4,
    region_size=(2, 5, 10),
    decoder_embed_dim=96,
    decoder_depth=2,
    decoder_num_heads=3,
)
register_model(
    "mae_dfer_vit_tiny",
    MAEDFER,
    "MAE-DFER's objective with a ViT encoder (joint attention; fine-tunes vit_tiny): the LGI-vs-ViT ablation",
    **_TINY_INPUT,
    encoder="vit",
    encoder_embed_dim=128,
    encoder_depth=4,
    encoder_num_heads=4,
    region_size=(2, 5, 10),
    decoder_embed_dim=96,
    decoder_depth=2,
    decoder_num_heads=3,
)

# HiCMAE: official B (released weights) and S sizes, and a tiny one whose token grids are the
# official ones (8x10x10 video, 16x8 audio: 80x80 frames in 8x8 patches, a 128x64 spectrogram
# in 8x8 patches).
_HICMAE_AUDIO_BASE = dict(audio_size=(256, 128), audio_patch_size=16)
_HICMAE_AUDIO_TINY = dict(audio_size=(128, 64), audio_patch_size=8)


def _hicmae(dim: int, heads: int, decoder_dim: int, decoder_heads: int, depth: int, layers: tuple) -> dict:
    return dict(
        encoder_embed_dim=dim,
        encoder_depth=depth,
        encoder_num_heads=heads,
        audio_encoder_embed_dim=dim,
        audio_encoder_depth=depth,
        audio_encoder_num_heads=heads,
        decoder_embed_dim=decoder_dim,
        decoder_num_heads=decoder_heads,
        audio_decoder_embed_dim=decoder_dim,
        audio_decoder_num_heads=decoder_heads,
        decoder_depth=len(layers) + 1,
        fusion_num_heads=heads,
        intermediate_layers=layers,
    )


def _hicmae_classifier(dim: int, heads: int, depth: int) -> dict:
    return dict(
        embed_dim=dim,
        depth=depth,
        num_heads=heads,
        audio_embed_dim=dim,
        audio_depth=depth,
        audio_num_heads=heads,
        fusion_num_heads=heads,
        num_classes=6,
        drop_path_rate=0.1,
    )


register_model(
    "hicmae_base",
    HiCMAE,
    "official HiCMAE-B pre-training model: 16x160x160 video + 256x128 log-mel ViTs 512x10, fusion 2, decoders 384x4",
    **_BASE_INPUT,
    **_HICMAE_AUDIO_BASE,
    **_hicmae(512, 8, 384, 6, 10, (3, 6, 9)),
)
register_model(
    "hicmae_small",
    HiCMAE,
    "official HiCMAE-S pre-training model (no released weights): encoders 384x10, decoders 192x4",
    **_BASE_INPUT,
    **_HICMAE_AUDIO_BASE,
    **_hicmae(384, 6, 192, 3, 10, (3, 6, 9)),
)
register_model(
    "hicmae_tiny",
    HiCMAE,
    "HiCMAE for CPU work and tests: 16x80x80 video, 128x64 audio, encoders 128x4, decoders 96x4, same token grids",
    **_TINY_INPUT,
    **_HICMAE_AUDIO_TINY,
    **_hicmae(128, 4, 96, 3, 4, (1, 2, 3)),
)
register_model(
    "hicmae_classifier_base",
    HiCMAEClassifier,
    "official HiCMAE-B fine-tuning model (audio-visual classifier of hicmae_base's encoders and fusion)",
    **_BASE_INPUT,
    **_HICMAE_AUDIO_BASE,
    **_hicmae_classifier(512, 8, 10),
)
register_model(
    "hicmae_classifier_small",
    HiCMAEClassifier,
    "official HiCMAE-S fine-tuning model: encoders 384x10, fusion 2",
    **_BASE_INPUT,
    **_HICMAE_AUDIO_BASE,
    **_hicmae_classifier(384, 6, 10),
)
register_model(
    "hicmae_classifier_tiny",
    HiCMAEClassifier,
    "HiCMAE classifier for CPU work and tests: fine-tunes hicmae_tiny (16x80x80 video, 128x64 audio, 128x4)",
    **_TINY_INPUT,
    **_HICMAE_AUDIO_TINY,
    **_hicmae_classifier(128, 4, 4),
)

# HiCMAE with MAE-DFER's LGI-Former as its video encoder (ours: no official form has it), at
# HiCMAE's sizes (depth 10) with MAE-DFER's regions and part-window mask.
_LGI_VIDEO = dict(video_encoder="lgi_former", region_size=(2, 5, 10))
register_model(
    "hicmae_lgi_base",
    HiCMAE,
    "HiCMAE-B pre-training with an LGI-Former video encoder 512x10 (regions 2x5x10, part-window mask 0.9); ours",
    **_BASE_INPUT,
    **_HICMAE_AUDIO_BASE,
    **_hicmae(512, 8, 384, 6, 10, (3, 6, 9)),
    **_LGI_VIDEO,
)
register_model(
    "hicmae_lgi_tiny",
    HiCMAE,
    "hicmae_lgi_base for CPU work and tests: 16x80x80 video, 128x64 audio, encoders 128x4, decoders 96x4",
    **_TINY_INPUT,
    **_HICMAE_AUDIO_TINY,
    **_hicmae(128, 4, 96, 3, 4, (1, 2, 3)),
    **_LGI_VIDEO,
)
register_model(
    "hicmae_lgi_classifier_base",
    HiCMAEClassifier,
    "HiCMAE-B classifier with an LGI-Former video encoder (fine-tunes hicmae_lgi_base); ours",
    **_BASE_INPUT,
    **_HICMAE_AUDIO_BASE,
    **_hicmae_classifier(512, 8, 10),
    **_LGI_VIDEO,
)
register_model(
    "hicmae_lgi_classifier_tiny",
    HiCMAEClassifier,
    "hicmae_lgi_classifier_base for CPU work and tests: fine-tunes hicmae_lgi_tiny (128x4)",
    **_TINY_INPUT,
    **_HICMAE_AUDIO_TINY,
    **_hicmae_classifier(128, 4, 4),
    **_LGI_VIDEO,
)

__all__ = [
    "HiCMAE",
    "HiCMAEClassifier",
    "LGIBackbone",
    "LGIBlock",
    "LGIEncoder",
    "LGIFormer",
    "MAEDFER",
    "PartWindowMasking",
    "TubeMasking",
    "VisionTransformer",
    "WindowMasking",
    "make_masking",
]
