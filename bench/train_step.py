"""Training step time (forward + backward + AdamW) of the base models on this machine,
fp32 vs bf16 autocast, side by side in one run.

    python bench/train_step.py                 # batch 2, 2 timed steps each
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch
import torch.nn.functional as F

import maedfer


def step_time(name: str, precision: str, batch: int, steps: int) -> float:
    torch.manual_seed(0)
    model = maedfer.create_model(name).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    inputs = model.example_inputs(batch)
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()

    def one():
        with ctx:
            out = model(*inputs)
            if name.startswith("mae_dfer"):
                loss = model.loss(out, model.targets(*inputs))[0]
            else:
                loss = F.cross_entropy(out.float(), torch.zeros(batch, dtype=torch.long))
        opt.zero_grad()
        loss.backward()
        opt.step()

    one()  # warm-up
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        one()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mae_dfer_base", "lgi_former_base"])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()}, batch {args.batch}"
    )
    print(f"{'model':<18}{'fp32 s/step':>12}{'bf16 s/step':>12}{'bf16/fp32':>10}")
    for name in args.models:
        fp32 = step_time(name, "fp32", args.batch, args.steps)
        bf16 = step_time(name, "bf16", args.batch, args.steps)
        print(f"{name:<18}{fp32:12.2f}{bf16:12.2f}{bf16 / fp32:10.2f}", flush=True)


if __name__ == "__main__":
    main()
