"""Does longer pre-training give the demo's encoder features that know expressions?

One seed's MAE-DFER pre-training on the demo's data with the demo's recipe, run --epochs
long (default 120 epochs of batch 8 on the 160-video pool: 2,400 steps, 12x the demo's) on
the demo's schedule stretched to that length, keeping the checkpoints at --probe-at. Each
kept checkpoint is probed (k-NN and linear on the frozen encoder, as the demo does) beside a
randomly initialised encoder, and the last one is fine-tuned with the demo's recipe beside
the same model from scratch. Prints and writes ``pretrain_length.json`` and
``pretrain_length.md`` to --out: per checkpoint its steps, the appearance and motion loss ÷ the
loss of predicting zero (the run's own metrics.jsonl), and the probes' UAR; the fine-tuned UARs.
Stages resume, so an interrupted run continues where it stopped.

    python bench/pretrain_length.py --out runs/pretrain-length     # about 22 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from maedfer.config import PRESETS
from maedfer.data.annotations import read_annotations
from maedfer.data.synth import ensure_generated
from maedfer.engine.demo import FULL, QUICK, finetune_stage, pretrain_stage, probe_stage
from maedfer.engine.distributed import Dist

# quick: the demo's --quick data and recipe, for the test of this script
SCALES = {"cpu": dict(plan=FULL, workers=2), "quick": dict(plan=QUICK, workers=0)}


def stretched(settings: dict, epochs: int, save_every: int) -> dict:
    """The demo's pre-training ``settings`` run ``epochs`` long: the warm-up keeps its share
    of the schedule, and every ``save_every``-th epoch's checkpoint is kept."""
    warmup = settings["warmup_epochs"] * epochs / settings["epochs"]
    return dict(settings, epochs=epochs, warmup_epochs=warmup, save_every=save_every, keep_last=epochs // save_every)


def table(result: dict) -> str:
    rows = [
        "| encoder | pre-training steps | appearance ÷ zero | motion ÷ zero | k-NN UAR | linear probe UAR |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["checkpoints"]:
        rows.append(
            f"| pre-trained, epoch {r['epoch']} | {r['steps']} | {r['appearance_ratio']:.3f} | "
            f"{r['motion_ratio']:.3f} | {r['knn_uar']:.1f} | {r['linear_uar']:.1f} |"
        )
    rnd = result["random"]
    rows.append(f"| random initialisation | 0 | – | – | {rnd['knn_uar']:.1f} | {rnd['linear_uar']:.1f} |")
    ft = result["finetune"]
    return (
        f"Longer pre-training ({result['scale']} scale, seed {result['seed']}, {result['device']}, fp32; "
        f"{result['minutes']:.0f} min). Test UAR in % on the synthetic test set (chance 14.3).\n\n"
        + "\n".join(rows)
        + "\n\n"
        + f"Fine-tuned with the demo's recipe: from epoch {result['checkpoints'][-1]['epoch']}'s checkpoint "
        f"{ft['pretrained']['uar']:.1f}, from scratch {ft['scratch']['uar']:.1f} UAR.\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/pretrain-length")
    ap.add_argument("--scale", choices=sorted(SCALES), default="cpu")
    ap.add_argument("--epochs", type=int, default=120, help="pre-training epochs (the demo runs 10)")
    ap.add_argument(
        "--probe-at",
        type=int,
        nargs="+",
        default=[10, 30, 60, 120],
        help="the epochs whose checkpoints are probed (the last epoch always is)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    probe_at = sorted(set(args.probe_at) | {args.epochs})
    if args.epochs < 1 or probe_at[0] < 1 or probe_at[-1] > args.epochs:
        raise SystemExit(
            f"pretrain_length.py: error: --probe-at must lie in 1..--epochs ({args.epochs}), got {probe_at}"
        )
    scale = SCALES[args.scale]
    plan, workers = scale["plan"], scale["workers"]
    out = Path(args.out)
    dist = Dist(rank=0, world_size=1, local_rank=0, device=torch.device(args.device))
    started = time.perf_counter()

    data = out / "data"
    ensure_generated(data, plan.synth, workers=workers, progress=True)
    settings = stretched(plan.pretrain, args.epochs, math.gcd(*probe_at))
    pretrain_stage(out / "pretrain", data, args.seed, settings, dist, workers)
    log = {r["epoch"]: r for r in map(json.loads, (out / "pretrain" / "metrics.jsonl").read_text().splitlines())}
    batch = settings.get("batch_size", PRESETS["synth-small-pretrain"]["batch_size"])
    steps_per_epoch = len(read_annotations(str(data / "pretrain.csv"))) // batch  # drop_last

    checkpoints = []
    for epoch in probe_at:
        ckpt = out / "pretrain" / f"checkpoint-epoch{epoch:03d}.pth"
        row = {
            "epoch": epoch,
            "steps": epoch * steps_per_epoch,
            "appearance_ratio": log[epoch]["train_appearance_ratio"],
            "motion_ratio": log[epoch]["train_motion_ratio"],
        }
        row.update(probe_stage(data, args.seed, plan.finetune, ckpt, dist, workers))
        checkpoints.append(row)
        print(
            f"epoch {epoch} ({row['steps']} steps): appearance/zero {row['appearance_ratio']:.3f}, motion/zero "
            f"{row['motion_ratio']:.3f}, k-NN {row['knn_uar']:.1f}, linear {row['linear_uar']:.1f}",
            flush=True,
        )
    random = probe_stage(data, args.seed, plan.finetune, None, dist, workers)
    finetuned = {
        name: finetune_stage(out / f"finetune-{name}", data, args.seed, plan.finetune, init, dist, workers)
        for name, init in (("pretrained", out / "pretrain" / "checkpoint-last.pth"), ("scratch", None))
    }
    result = {
        "scale": args.scale,
        "seed": args.seed,
        "epochs": args.epochs,
        "device": torch.cuda.get_device_name(dist.device) if dist.device.type == "cuda" else "CPU",
        "minutes": (time.perf_counter() - started) / 60,
        "pretrain_settings": settings,
        "checkpoints": checkpoints,
        "random": random,
        "finetune": finetuned,
    }
    text = table(result)
    (out / "pretrain_length.json").write_text(json.dumps(result, indent=2))
    (out / "pretrain_length.md").write_text(text)
    print()
    print(text)


if __name__ == "__main__":
    main()
