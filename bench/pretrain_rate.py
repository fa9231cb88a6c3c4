"""Pre-training throughput of mae_dfer_base (16x160x160 clips, 90 % masked; forward +
backward + fused AdamW, bf16 autocast) at the largest batch that fits: the batch doubles
from --start until the device runs out of memory or --max-batch, and each batch that fits is
timed. Synthetic inputs: this measures the model, not the data pipeline.

    python bench/pretrain_rate.py --device cuda
"""

from __future__ import annotations

import argparse
import time

import torch

import maedfer
from maedfer.engine.optim import build_optimizer, param_groups
from maedfer.precision import autocast


def clips_per_second(batch: int, device: torch.device, precision: str, steps: int) -> float:
    torch.manual_seed(0)
    model = maedfer.create_model("mae_dfer_base").train().to(device)
    opt = build_optimizer(param_groups(model, 0.05), 1e-4, (0.9, 0.95))
    x = torch.randn(batch, *model.input_shape, device=device)
    mask = model.masking(batch).to(device)

    def step() -> None:
        with autocast(precision, device):
            loss = model.loss(model(x, mask), model.targets(x, mask))[0]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return batch * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--precision", default="bf16", choices=("fp32", "bf16", "fp16"))
    parser.add_argument("--start", type=int, default=32)
    parser.add_argument("--max-batch", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    device = torch.device(args.device)
    print(
        f"mae_dfer_base pre-training, {args.precision}, "
        f"{torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}"
    )
    print(f"{'batch':>6}{'clips/s':>10}{'peak GiB':>10}")
    batch = args.start
    while batch <= args.max_batch:
        try:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            rate = clips_per_second(batch, device, args.precision, args.steps)
        except torch.OutOfMemoryError:
            print(f"{batch:>6}  out of memory")
            break
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
        print(f"{batch:>6}{rate:>10.1f}{peak:>10.1f}", flush=True)
        batch *= 2


if __name__ == "__main__":
    main()
