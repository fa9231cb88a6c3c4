"""Layers shared by LGI-Former, the ViT baseline, the MAE decoder and HiCMAE.

Parameter names follow the official MAE-DFER / VideoMAE code so that state dicts map
one-to-one onto the released checkpoints (see ``tests/data/official_state_dict_keys.json``).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# Every LayerNorm of the original uses eps 1e-6 (timm's ViT default is 1e-5).
LayerNorm = partial(nn.LayerNorm, eps=1e-6)


def sinusoid_table(num_positions: int, dim: int) -> torch.Tensor:
    """Fixed 1-D sinusoid position table of shape (num_positions, dim).

    Channels are interleaved (sin on even, cos on odd), computed in float64 and cast to
    float32, exactly as the original; it is never learned and never saved.
    """
    pos = np.arange(num_positions, dtype=np.float64)[:, None]
    j = np.arange(dim)[None, :]
    angle = pos / np.power(10000.0, 2 * (j // 2) / dim)
    table = np.where(j % 2 == 0, np.sin(angle), np.cos(angle))
    return torch.from_numpy(table).float()


_SHORT_KEYS = 256  # measured crossover lies between 101 (explicit faster) and 800 keys (fused as fast)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Softmax attention over (B, heads, N, head_dim) tensors with scale head_dim^-0.5.

    One indirection so that benchmarks and tests can swap in an explicit reference
    implementation; the models always call it through this module.

    On the CPU in bf16/fp16, for short key sequences (LGI-Former's regions and region
    tokens), the explicit form (q k^T, softmax, @ v: what the original runs under autocast)
    is used: there PyTorch's fused kernel was measured 2-5x slower than it, forward and
    backward (a region's 101 tokens: 2.1 vs 1.3 ms forward, 33 vs 6 ms forward + backward at
    batch 2; AVX512-BF16 CPU, torch 2.13). At 800 keys (ViT, the MAE decoder) the fused
    kernel is as fast or faster (13.7 vs 20.0 ms forward), so it stays, as it does in fp32
    and on GPUs (flash / memory-efficient kernels).
    """
    if q.device.type == "cpu" and q.dtype in (torch.bfloat16, torch.float16) and k.shape[-2] <= _SHORT_KEYS:
        scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
        return scores.softmax(dim=-1) @ v
    return F.scaled_dot_product_attention(q, k, v)


def _split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    b, n, c = x.shape
    return x.view(b, n, num_heads, c // num_heads).transpose(1, 2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


class DropPath(nn.Module):
    """Stochastic depth: drop the residual branch per entry of dim 0, rescale the kept ones."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        return x * x.new_empty(shape).bernoulli_(keep).div_(keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()  # exact (erf) GELU, as the original
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    """VideoMAE self-attention: one fused qkv Linear (rows q|k|v), learnable q and v bias,
    k bias fixed at zero."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
        q, k, v = F.linear(x, self.qkv.weight, bias).chunk(3, dim=-1)
        h = self.num_heads
        out = attention(_split_heads(q, h), _split_heads(k, h), _split_heads(v, h))
        return self.proj(_merge_heads(out))


class GeneralAttention(nn.Module):
    """The LGI block's attention: queries from ``x``, keys/values from ``context``
    (``x`` itself for self-attention). ``q`` and ``kv`` are separate Linears (kv rows K|V),
    with learnable q and v bias and k bias fixed at zero. ``context_dim``: the width of the
    context when it differs from ``dim`` (HiCMAE's cross-modal attention)."""

    def __init__(self, dim: int, num_heads: int, context_dim: int | None = None) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(context_dim or dim, dim * 2, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def _fused_qkv(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The q and kv projections as one (3C, C) weight and (3C,) bias (k bias zero), for
        one GEMM instead of two. Without autograd (inference) the concatenation is kept and
        rebuilt only when a parameter changes (its version counter, dtype or storage)."""
        params = (self.q.weight, self.kv.weight, self.q_bias, self.v_bias)
        if torch.is_grad_enabled() or torch.compiler.is_compiling():  # compiled: the compiler folds it
            return self._concat()
        key = tuple((p._version, p.data_ptr(), p.dtype, p.device) for p in params)
        if getattr(self, "_fused_key", None) != key:
            self._fused, self._fused_key = self._concat(), key
        return self._fused

    def _concat(self) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = torch.zeros_like(self.v_bias)
        return torch.cat([self.q.weight, self.kv.weight]), torch.cat([self.q_bias, zeros, self.v_bias])

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        if context is None:
            # Self-attention: one GEMM for q, k and v instead of two.
            q, k, v = F.linear(x, *self._fused_qkv()).chunk(3, dim=-1)
        else:
            zeros = torch.zeros_like(self.v_bias)
            q = F.linear(x, self.q.weight, self.q_bias)
            k, v = F.linear(context, self.kv.weight, torch.cat([zeros, self.v_bias])).chunk(2, dim=-1)
        h = self.num_heads
        out = attention(_split_heads(q, h), _split_heads(k, h), _split_heads(v, h))
        return self.proj(_merge_heads(out))


class Block(nn.Module):
    """Plain pre-norm transformer block (VideoMAE ViT and the MAE decoder)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = LayerNorm(dim)
        self.attn = Attention(dim, num_heads)
        self.drop_path = DropPath(drop_path)
        self.norm2 = LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class CSBlock(Block):
    """HiCMAE's cross + self block: cross-attention from ``x`` to ``context`` first, then a
    plain :class:`Block` (self-attention, MLP), all pre-norm with the same drop path."""

    def __init__(
        self, dim: int, num_heads: int, context_dim: int | None = None, mlp_ratio: float = 4.0, drop_path: float = 0.0
    ) -> None:
        super().__init__(dim, num_heads, mlp_ratio, drop_path)
        self.cross_attn = GeneralAttention(dim, num_heads, context_dim)
        self.cross_norm1 = LayerNorm(dim)
        self.cross_norm2 = LayerNorm(context_dim or dim)
        # The official key order: the cross-attention's parameters before the block's own.
        first = ("cross_attn", "cross_norm1", "cross_norm2")
        self._modules = {**{k: self._modules[k] for k in first}, **self._modules}

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.cross_attn(self.cross_norm1(x), self.cross_norm2(context)))
        return super().forward(x)


class PatchEmbed3d(nn.Module):
    """Tubelet embedding: one Conv3d with kernel = stride = (tubelet, patch, patch);
    tokens come out flattened over (t, h, w), i.e. in raster order."""

    def __init__(self, in_chans: int, embed_dim: int, tubelet_size: int, patch_size: int) -> None:
        super().__init__()
        size = (tubelet_size, patch_size, patch_size)
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=size, stride=size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class PatchEmbed2d(nn.Module):
    """Spectrogram patch embedding (AudioMAE's): one Conv2d with kernel = stride = patch size
    on (B, C, time, frequency); tokens come out time-major (index = t * F' + f)."""

    def __init__(self, in_chans: int, embed_dim: int, patch_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


def drop_path_rates(max_rate: float, depth: int) -> list[float]:
    """Stochastic-depth rate per block, linearly spaced from 0 to ``max_rate``."""
    return [
        float(r) for r in torch.linspace(0, max_rate, depth, device="cpu")
    ]  # cpu: also when built on the meta device


def classifier_head(embed_dim: int, num_classes: int) -> tuple[LayerNorm, nn.Module]:
    """The fine-tuning models' read-out, as ``fc_norm`` and ``head`` (the official key
    names): a LayerNorm of the pooled features, then a linear layer to the classes (none
    with ``num_classes`` 0: the model returns features)."""
    return LayerNorm(embed_dim), nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()


@torch.no_grad()
def scale_head(head: nn.Module, init_scale: float) -> None:
    """The original's head initialisation, after :func:`init_weights`: weight and bias
    multiplied by ``init_scale`` (0.001), so that fine-tuning starts from nearly uniform
    predictions. A head-less model (``nn.Identity``) is left alone."""
    if isinstance(head, nn.Linear):
        head.weight.mul_(init_scale)
        head.bias.mul_(init_scale)


def init_weights(module: nn.Module, scheme: str) -> None:
    """Initialise every Linear and LayerNorm below ``module`` as the original does.

    ``"finetune"``: Linear weights trunc-normal(std 0.02; timm's bounds of ±2 make it
    effectively untruncated). ``"pretrain"``: xavier-uniform (a fused Linear as one matrix).
    Both: Linear bias 0, LayerNorm 1/0; Conv3d keeps PyTorch's default.
    """
    if scheme not in ("finetune", "pretrain"):
        raise ValueError(f"unknown init scheme {scheme!r}; expected 'finetune' or 'pretrain'")
    for m in module.modules():
        if isinstance(m, nn.Linear):
            if scheme == "finetune":
                nn.init.trunc_normal_(m.weight, std=0.02)
            else:
                nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
