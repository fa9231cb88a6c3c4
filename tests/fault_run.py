"""A tiny pre-training run with a fault at chosen steps and ranks; run alone or under
torchrun by tests/test_nonfinite.py and tests/test_two_processes.py. Writes each rank's final
weights and the run's record to OUT.

    python tests/fault_run.py OUT DATA PRECISION KIND STEPS RANKS [LIMIT]

KIND: loss (the loss is NaN), grad (the loss is right, its gradient is NaN), stall (the
process sleeps 60 s) or kill (the process kills itself with SIGKILL, once in the whole job:
under ``torchrun --max-restarts`` the restarted processes resume from the last checkpoint);
STEPS and RANKS: comma-separated optimiser steps and ranks where it happens ("-" for none).

Each rank appends the sample indices of every step it begins to samples-rank{R}.jsonl, with
the attempt (torchrun's restart count) and the time, so that a test can check that a
restarted run saw every sample once, and a bench how long the restart took.
"""

import json
import os
import signal
import sys
import time
from pathlib import Path

import torch

from maedfer.config import resolve_config
from maedfer.data.datasets import VideoDataset
from maedfer.data.transforms import pretrain_transform
from maedfer.engine.distributed import distributed_run
from maedfer.engine.trainer import Trainer
from maedfer.registry import create_model


class NanGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float("nan")


class SampleTagged(VideoDataset):
    """The pool, each clip with the (epoch, index) it was drawn as."""

    def __getitem__(self, key):
        return (*super().__getitem__(key), *key) if isinstance(key, tuple) else super().__getitem__(key)


def main() -> None:
    out, data, precision, kind, steps, ranks = sys.argv[1:7]
    limit = int(sys.argv[7]) if len(sys.argv) > 7 else 25
    bad_steps = {int(s) for s in steps.split(",")} if steps != "-" else set()
    bad_ranks = {int(r) for r in ranks.split(",")} if ranks != "-" else set()
    with distributed_run() as dist:
        config = resolve_config(
            "pretrain",
            "synth-tiny-pretrain",
            overrides=dict(
                data=str(Path(data) / "pretrain.csv"),
                output_dir=str(Path(out) / "run"),
                epochs=2,
                batch_size=2,
                workers=0,
                warmup_epochs=0.5,
                precision=precision,
                figure_every=0,
                max_nonfinite_steps=limit,
                save_every_steps=1 if kind == "kill" else 0,
            ),
        )
        torch.manual_seed(0)
        model = create_model(config["model"])
        pool = SampleTagged(config["data"], pretrain_transform(80, False), stride=2, masking=model.masking)
        calls = {"n": 0}
        attempt = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
        Path(out).mkdir(parents=True, exist_ok=True)
        samples = open(Path(out) / f"samples-rank{dist.rank}.jsonl", "a")

        def step(wrapped, batch):
            x, mask = batch[0].to(dist.device), batch[1].to(dist.device)
            epoch, index = batch[2].tolist(), batch[3].tolist()
            samples.write(
                json.dumps({"attempt": attempt, "epoch": epoch[0], "samples": index, "time": time.time()}) + "\n"
            )
            samples.flush()
            loss, parts = model.loss(wrapped(x, mask), model.targets(x, mask))
            n = calls["n"]
            calls["n"] += 1
            if n in bad_steps and dist.rank in bad_ranks:
                if kind == "stall":
                    time.sleep(60)
                elif kind == "kill" and attempt == 0:
                    os.kill(os.getpid(), signal.SIGKILL)
                elif kind == "loss":
                    loss = loss * float("nan")
                elif kind == "grad":
                    loss = NanGradient.apply(loss)
            return loss, {k: v.detach() for k, v in parts.items()}

        record = Trainer(config, model, pool, step, dist).fit(resume="auto")
        torch.save(model.state_dict(), Path(out) / f"weights-rank{dist.rank}.pt")
        if dist.is_main:
            (Path(out) / "record.json").write_text(json.dumps(record))


if __name__ == "__main__":
    from maedfer.errors import MaedferError, one_line

    try:
        main()
    except MaedferError as e:  # as the maedfer command reports it
        if not getattr(e, "reported", False):
            print(f"maedfer: error: {one_line(e)}", file=sys.stderr, flush=True)
        sys.exit(2)
