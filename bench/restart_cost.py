"""What a resume costs at full size: writing and reading the training state of the
``voxceleb2`` pre-training recipe (mae_dfer_base, AdamW), as every save and every restart does.

    python bench/restart_cost.py --out runs/restart-cost

Prints the file's size and the seconds to save it (atomic write, as the trainer does) and to
load it into a fresh model and optimiser (with the resume checks), each the best of --repeats;
writes restart-cost.json to --out. What else a restart costs (stopping the processes, the
rendezvous, starting Python and the loader) is measured on the small case by
bench/two_process_stress.py.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from maedfer.config import resolve_config
from maedfer.engine.checkpointing import load_training_state, save_training_state
from maedfer.engine.optim import build_optimizer, param_groups
from maedfer.precision import cpu_name
from maedfer.registry import create_model


def model_and_optimizer(config: dict) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model = create_model(config.model)
    optimizer = build_optimizer(param_groups(model, config.weight_decay), config.lr, tuple(config.betas))
    return model, optimizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/restart-cost"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    config = resolve_config("pretrain", "voxceleb2", overrides=dict(output_dir=str(args.out)))
    model, optimizer = model_and_optimizer(config)
    for p in model.parameters():  # one step, so that AdamW holds its two moments per weight
        p.grad = torch.zeros_like(p)
    optimizer.step()
    path = args.out / "checkpoint-last.pth"
    saves, loads = [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        save_training_state(path, model, optimizer, None, epoch=3, step=1234, config=config)
        saves.append(time.perf_counter() - started)
        fresh_model, fresh_optimizer = model_and_optimizer(config)
        started = time.perf_counter()
        load_training_state(path, fresh_model, fresh_optimizer, None, config)
        loads.append(time.perf_counter() - started)
    record = dict(
        model=config.model,
        parameters=sum(p.numel() for p in model.parameters()),
        file_mb=round(path.stat().st_size / 2**20, 1),
        save_s=round(min(saves), 2),
        load_s=round(min(loads), 2),
        cpu=cpu_name(),
        torch=torch.__version__,
    )
    (args.out / "restart-cost.json").write_text(json.dumps(record, indent=1))
    print(" ".join(f"{k} {v}" for k, v in record.items()))


if __name__ == "__main__":
    main()
