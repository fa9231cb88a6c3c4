"""Parameter and multiply-accumulate counts.

MACs are counted with ``torch.utils.flop_counter.FlopCounterMode`` while attention runs
through the MATH backend of scaled_dot_product_attention: other counters (and the fused
kernels) miss the attention matmuls. The original paper's "FLOPs" are MACs.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_macs(model: nn.Module, *inputs: torch.Tensor, forward: Callable | None = None) -> int:
    """Multiply-accumulates of one eval-mode pass of ``model(*inputs)``, or of
    ``forward(*inputs)`` if given (a function running parts of ``model``)."""
    counter = FlopCounterMode(display=False)
    was_training = model.training
    model.eval()
    try:
        with sdpa_kernel(SDPBackend.MATH), counter:
            (forward or model)(*inputs)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2
