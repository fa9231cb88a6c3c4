"""An independent, literal transcription of the original MAE-DFER forward passes, written
from the original code's description (the LGI block, the region reshapes, the pre-training
encoder and decoder) and run on the parameters of our modules.

It differs from maedfer on purpose wherever the original does: explicit softmax attention
with q pre-scaled, regions by fixed reshapes (which is right only for full token sets and
part-window masks), decoder positions of visible tokens in raster order, and its own
sinusoid table computed with Python loops.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def sinusoid(n: int, d: int) -> torch.Tensor:
    rows = [[p / math.pow(10000, 2 * (j // 2) / d) for j in range(d)] for p in range(n)]
    table = torch.tensor(rows, dtype=torch.float64)
    table[:, 0::2] = torch.sin(table[:, 0::2])
    table[:, 1::2] = torch.cos(table[:, 1::2])
    return table.float()


def general_attention(mod, x, context=None):
    b, n, c = x.shape
    ctx = x if context is None else context
    m = ctx.shape[1]
    h = mod.num_heads
    d = c // h
    q = F.linear(x, mod.q.weight, mod.q_bias).reshape(b, n, h, d).permute(0, 2, 1, 3) * d**-0.5
    kv_bias = torch.cat([torch.zeros_like(mod.v_bias), mod.v_bias])
    kv = F.linear(ctx, mod.kv.weight, kv_bias).reshape(b, m, 2, h, d).permute(2, 0, 3, 1, 4)
    attn = (q @ kv[0].transpose(-2, -1)).softmax(dim=-1)
    return mod.proj((attn @ kv[1]).transpose(1, 2).reshape(b, n, c))


def fused_attention(mod, x):
    b, n, c = x.shape
    h = mod.num_heads
    d = c // h
    bias = torch.cat([mod.q_bias, torch.zeros_like(mod.v_bias), mod.v_bias])
    qkv = F.linear(x, mod.qkv.weight, bias).reshape(b, n, 3, h, d).permute(2, 0, 3, 1, 4)
    attn = ((qkv[0] * d**-0.5) @ qkv[1].transpose(-2, -1)).softmax(dim=-1)
    return mod.proj((attn @ qkv[2]).transpose(1, 2).reshape(b, n, c))


def lgi_block(blk, x, b):
    x = x + general_attention(blk.first_attn, blk.first_attn_norm0(x))
    br, length, c = x.shape
    r = br // b
    s = x[:, 0].view(b, r, c)
    if hasattr(blk, "second_attn"):  # the original's lg_no_second switch
        s = s + general_attention(blk.second_attn, blk.second_attn_norm0(s))
    local = x[:, 1:].reshape(b, r * (length - 1), c)
    if hasattr(blk, "third_attn"):  # the original's lg_no_third switch
        local = local + general_attention(blk.third_attn, blk.third_attn_norm0(local), blk.third_attn_norm1(s))
    x = torch.cat([s.view(br, 1, c), local.view(br, length - 1, c)], dim=1)
    return x + blk.mlp(blk.norm2(x))


def embed(trunk, x):
    tokens = trunk.patch_embed.proj(x).flatten(2).transpose(1, 2)
    return tokens + sinusoid(tokens.shape[1], tokens.shape[2])


def run_blocks(trunk, local, b):
    """local: (B, R, K, C) -> blocks -> (B, R, 1 + K, C)."""
    _, r, k, c = local.shape
    x = torch.cat([trunk.lg_region_tokens.expand(b, -1, -1).unsqueeze(2), local], dim=2).view(b * r, k + 1, c)
    for blk in trunk.blocks:
        x = lgi_block(blk, x, b)
    return x.view(b, r, k + 1, c)


def lgi_former_logits(model, x):
    """Official fine-tuning forward (spec 1.1-1.3), region size (rt, rh, rw)."""
    b = x.shape[0]
    tokens = embed(model, x)
    (gt, gh, gw), (rt, rh, rw) = model.grid, model.regions.region_size
    c = tokens.shape[-1]
    v = tokens.view(b, gt // rt, rt, gh // rh, rh, gw // rw, rw, c).permute(0, 1, 3, 5, 2, 4, 6, 7)
    out = run_blocks(model, v.reshape(b, -1, rt * rh * rw, c), b)
    return model.head(model.fc_norm(out[:, :, 0].mean(dim=1)))


def mae_dfer_prediction(model, x, mask, fixed_positions=False):
    """Official pre-training forward (spec 2.2-2.3) for a part-window mask, including the
    original's raster-order decoder positions of the visible tokens, unless
    ``fixed_positions``: then the positions get the encoder's regrouping too."""
    enc = model.encoder
    b = x.shape[0]
    tokens = embed(enc, x)
    c = tokens.shape[-1]
    visible = tokens[~mask].reshape(b, -1, c)
    (gt, gh, gw), (rt, rh, rw) = enc.grid, enc.regions.region_size
    n_vis = visible.shape[1]
    hw = int(rh * rw * (n_vis / (gt * gh * gw)))  # visible tokens per region per frame
    nhw = (gh // rh) * (gw // rw)
    v = visible.view(b, gt // rt, rt, nhw, hw, c).permute(0, 1, 3, 2, 4, 5).reshape(b, -1, rt * hw, c)
    out = run_blocks(enc, v, b)[:, :, 1:].reshape(b, n_vis, c)
    enc_out = enc.norm(out)

    d = model.mask_token.shape[-1]
    pos = sinusoid(gt * gh * gw, d).expand(b, -1, -1)
    pos_vis = pos[~mask].reshape(b, -1, d)
    if fixed_positions:
        pos_vis = pos_vis.view(b, gt // rt, rt, nhw, hw, d).permute(0, 1, 3, 2, 4, 5).reshape(b, -1, d)
    pos_masked = pos[mask].reshape(b, -1, d)
    h = torch.cat([model.encoder_to_decoder(enc_out) + pos_vis, model.mask_token + pos_masked], dim=1)
    for blk in model.decoder.blocks:
        h = h + fused_attention(blk.attn, blk.norm1(h))
        h = h + blk.mlp(blk.norm2(h))
    n_masked = pos_masked.shape[1]
    return model.decoder.head(model.decoder.norm(h[:, -n_masked:]))
