"""The models of MAE-DFER and their registered configurations.

Tiny variants keep the official 8x10x10 token grid (16 frames of 80x80 pixels in
2x8x8 tubelets), so regions, masks and region tokens have the official structure while a
forward pass costs ~100x less: they are for CPU work and tests.
"""

from ..registry import register_model
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

__all__ = [
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
