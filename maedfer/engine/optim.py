"""Optimiser parameter groups and the learning-rate schedule of the original recipes.

- weight decay is skipped for 1-D parameters, biases and the token/position parameters;
- layer-wise lr decay (fine-tuning): patch_embed has layer id 0, blocks.i id i + 1, and
  everything else (region tokens, fc_norm, head) id depth + 1; a group's lr is scaled by
  decay ** (depth + 1 - id), so with depth 16 and 0.75 the patch embedding gets 0.0075x;
- the lr follows a per-step schedule: linear warm-up from 0, then half-cosine to min_lr.
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch
from torch import nn

from ..settings import ConfigError

NO_DECAY_NAMES = {"pos_embed", "cls_token", "part_tokens", "lg_region_tokens", "mask_token"}


def layer_id(name: str, depth: int) -> int:
    """The original's layer id of a fine-tuning parameter."""
    if name.startswith("patch_embed"):
        return 0
    m = re.match(r"blocks\.(\d+)\.", name)
    if m:
        return int(m.group(1)) + 1
    return depth + 1


def param_groups(model: nn.Module, weight_decay: float, layer_decay: float | None = None) -> list[dict]:
    """AdamW parameter groups. Each group carries ``lr_scale`` (multiplied into the
    scheduled lr) and ``weight_decay``. ``layer_decay`` None or 1: no layer-wise decay.

    The no-decay names are matched on the parameter's own name (its last component), so the
    pre-training encoder's ``encoder.lg_region_tokens`` is not decayed; the original matched
    full names and decayed it by accident.
    """
    depth = len(getattr(model, "blocks", []))
    groups: dict[tuple[int, bool], dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        no_decay = p.ndim == 1 or name.endswith(".bias") or name.split(".")[-1] in NO_DECAY_NAMES
        lid = layer_id(name, depth) if layer_decay not in (None, 1.0) else 0
        key = (lid, no_decay)
        if key not in groups:
            scale = layer_decay ** (depth + 1 - lid) if layer_decay not in (None, 1.0) else 1.0
            groups[key] = {
                "params": [],
                "names": [],
                "weight_decay": 0.0 if no_decay else weight_decay,
                "lr_scale": scale,
                "layer_id": lid,
            }
        groups[key]["params"].append(p)
        groups[key]["names"].append(name)
    return [groups[k] for k in sorted(groups)]


def build_optimizer(groups: list[dict], lr: float, betas: tuple[float, float], eps: float = 1e-8) -> torch.optim.AdamW:
    """AdamW, fused (one kernel over all parameters) where torch has it: CUDA and CPU. On a
    2-core CPU the fused step of mae_dfer_base takes 70 ms against 443 ms for the default
    multi-tensor one, about half of a whole batch-2 training step."""
    devices = {p.device.type for g in groups for p in g["params"]}
    clean = [{k: v for k, v in g.items() if k != "names"} for g in groups]
    return torch.optim.AdamW(clean, lr=lr, betas=betas, eps=eps, fused=devices <= {"cpu", "cuda"} or None)


def cosine_schedule(base: float, final: float, epochs: int, steps_per_epoch: int, warmup_epochs: float) -> np.ndarray:
    """The original's ``cosine_scheduler``: one value per step, linspace(0, base) over the
    warm-up steps, then final + (base - final) / 2 * (1 + cos(pi * i / n)) for the rest."""
    warmup = int(round(warmup_epochs * steps_per_epoch))
    total = epochs * steps_per_epoch
    if warmup > total:
        raise ConfigError(f"warm-up ({warmup} steps) is longer than the schedule ({total} steps)")
    head = np.linspace(0.0, base, warmup)
    i = np.arange(total - warmup)
    tail = final + 0.5 * (base - final) * (1 + np.cos(math.pi * i / max(len(i), 1)))
    return np.concatenate([head, tail])


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
