"""The paper's claims 1 and 2, run long enough to answer them where the hardware allows.

Claim 1: MAE-DFER pre-training beats training from scratch. Claim 2: the motion target
helps (λ 0.5 against appearance only, λ 1). Per seed, on the built-in synthetic data held in
memory on the device (maedfer.engine.in_memory: no DataLoader, no files; crops, flips, masks
and batches drawn on the device):

- pre-train mae_dfer_tiny with appearance + motion (λ 0.5) and appearance only (λ 1), each
  scored on the held-out videos against predicting zero and the no-input floor;
- fine-tune lgi_former_tiny from each of the two at the recipe's lr, and from scratch at each
  lr of the scale's sweep (the control gets its best: a sweep it may win, not one it may lose);
- probe the frozen encoders (k-NN, linear): both pre-trained ones and a random one.

Scales: ``quick`` (the test suite's, seconds on a CPU), ``cpu`` (the demo's data and
recipe, about 25 min on 2 cores), ``gpu`` (2,000 unlabelled videos, 1,000,000 clip-views
per pre-training in batches of 256, bf16; sized for 8 minutes of one H100 by an estimate,
not yet run: the per-stage minutes it prints say what the card did).

    python bench/evidence.py --scale gpu --out runs/evidence-gpu

Writes evidence.json (every number, per seed and evaluation) and evidence.md (the tables)
to --out after every seed, so a run stopped early keeps the seeds it finished.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import torch

from maedfer.data.synth import SynthConfig
from maedfer.engine import in_memory
from maedfer.engine.demo import FULL, mean_std, plus_minus
from maedfer.precision import training_precision
from maedfer.registry import create_model

SCALES = {
    # labelled and unlabelled videos rendered at the models' 80 pixels, a few steps each
    "quick": dict(
        synth=SynthConfig(
            clips_per_class=2, pool_size=8, heldout_size=4, frames=16, pool_frames=24, size=80, identities=2
        ),
        seeds=(0, 1),
        pretrain=dict(epochs=2, warmup_epochs=0.5, batch_size=4),
        finetune=dict(epochs=2, warmup_epochs=0.5, batch_size=4),
        scratch_lrs=(1e-3, 3e-3),
        evaluate_every=1,
    ),
    # the demo's data and recipe (300 steps of 8 clips each), precision as --precision says
    "cpu": dict(
        synth=FULL.synth,
        seeds=(0, 1, 2),
        pretrain=FULL.pretrain,
        finetune=FULL.finetune,
        scratch_lrs=(1e-3, 3e-3),
        evaluate_every=3,
    ),
    # 2,000 unlabelled videos, each cut 4 times a pass (repeated augmentation): 8,000 clips a
    # pass, 125 passes = 1,000,000 clip-views in 3,906 steps of 256 at an absolute peak lr of
    # 3e-3, warm-up 10 passes. Fine-tuning: the demo's labelled clips, 500 steps of 8.
    "gpu": dict(
        synth=dataclasses.replace(FULL.synth, pool_size=2000),
        seeds=(0, 1, 2),
        pretrain=dict(epochs=125, warmup_epochs=10, batch_size=256, repeated_aug=4, lr=3e-3, min_lr=3e-5),
        finetune=dict(FULL.finetune, epochs=50, warmup_epochs=5),
        scratch_lrs=(1e-3, 3e-3),
        evaluate_every=5,
    ),
}
STARTS = {"pretrained": "MAE-DFER (λ 0.5)", "appearance_only": "appearance only (λ 1)", "scratch": "scratch"}
ENCODERS = {"pretrained": "MAE-DFER (λ 0.5)", "appearance_only": "appearance only (λ 1)"}
PROBES = {**ENCODERS, "random": "random initialisation"}


def run_seed(data: dict, scale: dict, seed: int, precision: str, device: torch.device) -> dict:
    common = dict(seed=seed, precision=precision)
    pre_cfg, ft_cfg = in_memory.small_recipes({**scale["pretrain"], **common}, {**scale["finetune"], **common})
    labelled, labels, train = data["labelled"], data["labels"], data["train"]
    num_classes = int(labels.max()) + 1
    minutes, epochs, encoders = {}, {}, {}
    for key, weight in (("pretrained", 0.5), ("appearance_only", 1.0)):
        t = time.perf_counter()
        torch.manual_seed(seed)
        overrides = {**pre_cfg.model_overrides, "appearance_weight": weight}
        mae = create_model(pre_cfg.model, mask_ratio=pre_cfg.mask_ratio, **overrides).to(device)
        records = in_memory.pretrain(
            mae, data["pool"], pre_cfg, data["heldout"], scale["evaluate_every"], report=lambda line: None
        )
        epochs[key] = [
            {
                "epoch": r["epoch"],
                "loss": r["loss"],
                "appearance_loss": r["appearance"],
                "motion_loss": r["motion"],
                "appearance": r["heldout_appearance_ratio"],
                "appearance_floor": r["heldout_appearance_floor_ratio"],
                "motion": r["heldout_motion_ratio"],
            }
            for r in records
            if "heldout_motion_ratio" in r
        ]
        encoders[key] = mae
        minutes[f"pretrain_{key}"] = (time.perf_counter() - t) / 60

    finetune = {}
    for key in ENCODERS:
        t = time.perf_counter()
        finetune[key] = in_memory.fine_tuned(ft_cfg, encoders[key], data)
        minutes[f"finetune_{key}"] = (time.perf_counter() - t) / 60
    t = time.perf_counter()
    sweep = [in_memory.fine_tuned(in_memory.at_absolute_lr(ft_cfg, lr), None, data) for lr in scale["scratch_lrs"]]
    finetune["scratch"] = dict(max(sweep, key=lambda r: r["uar"]), sweep=sweep)
    minutes["finetune_scratch"] = (time.perf_counter() - t) / 60

    t = time.perf_counter()
    torch.manual_seed(seed)
    encoders["random"] = create_model(pre_cfg.model).to(device)
    probe = {
        key: in_memory.probe(encoders[key], labelled, labels, train, ft_cfg.sampling_rate, num_classes)
        for key in PROBES
    }
    minutes["probe"] = (time.perf_counter() - t) / 60
    return {"epochs": epochs, "finetune": finetune, "probe": probe, "minutes": minutes}


def tables(result: dict) -> str:
    seeds, runs = result["seeds"], result["runs"]
    each = " / ".join(map(str, seeds))
    first = runs[str(seeds[0])]
    lines = [
        f"Evidence run, {result['scale']} scale, {result['device']}, {result['precision']}, "
        f"{result['minutes']:.1f} min; seeds {each}; synthetic test set, chance 14.3 % UAR; "
        f"{result['clip_views']:,} clip-views per pre-training.",
        "",
        "Pre-training on the held-out videos (mean over seeds): appearance ÷ its no-input floor, "
        "appearance and motion ÷ predicting zero (below 1: learned):",
        "",
        "| epoch | "
        + " | ".join(
            f"{ENCODERS[e]}: appearance ÷ floor | {ENCODERS[e]}: appearance ÷ zero | {ENCODERS[e]}: motion ÷ zero"
            for e in ENCODERS
        )
        + " |",
        "|---" * (1 + 3 * len(ENCODERS)) + "|",
    ]
    for i, row in enumerate(first["epochs"]["pretrained"]):
        cells = []
        for enc in ENCODERS:
            for part in ("appearance_floor", "appearance", "motion"):
                cells.append(f"{mean_std([runs[str(s)]['epochs'][enc][i][part] for s in seeds])['mean']:.3f}")
        lines.append(f"| {row['epoch']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Fine-tuned lgi_former_tiny, test UAR / WAR in % (mean ± std over seeds; UAR per seed {each}); "
        "scratch: the best of its lr sweep per seed:",
        "",
        "| fine-tuned from | UAR | WAR | UAR per seed | absolute lr |",
        "|---|---|---|---|---|",
    ]
    for key, label in STARTS.items():
        rows = [runs[str(s)]["finetune"][key] for s in seeds]
        uar, war = mean_std([r["uar"] for r in rows]), mean_std([r["war"] for r in rows])
        lrs = " / ".join(f"{r['lr']:g}" for r in rows)
        per_seed = " / ".join(f"{v:.1f}" for v in uar["per_seed"])
        lines.append(f"| {label} | {plus_minus(uar)} | {plus_minus(war)} | {per_seed} | {lrs} |")
    sweep = {}
    for s in seeds:
        for r in runs[str(s)]["finetune"]["scratch"]["sweep"]:
            sweep.setdefault(r["lr"], []).append(r["uar"])
    lines += [
        "",
        "Scratch's lr sweep, UAR in % (mean over seeds): "
        + ", ".join(f"{lr:g}: {mean_std(v)['mean']:.1f}" for lr, v in sweep.items()),
    ]
    lines += ["", "Frozen-encoder probes, test UAR in %:", "", "| encoder | k-NN | linear |", "|---|---|---|"]
    for key, label in PROBES.items():
        knn = mean_std([runs[str(s)]["probe"][key]["knn_uar"] for s in seeds])
        lin = mean_std([runs[str(s)]["probe"][key]["linear_uar"] for s in seeds])
        lines.append(f"| {label} | {plus_minus(knn)} | {plus_minus(lin)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/evidence")
    ap.add_argument("--scale", choices=sorted(SCALES), default="cpu")
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="default: the scale's")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default=None,
        help="default: bf16 where the device runs it natively, else fp32",
    )
    args = ap.parse_args()
    scale = SCALES[args.scale]
    device = torch.device(args.device)
    precision = args.precision or training_precision(device)[0]
    seeds = args.seeds or list(scale["seeds"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = in_memory.synth_data(scale["synth"], device, workers=min(16, os.cpu_count() or 1))
    data_minutes = (time.perf_counter() - started) / 60
    pre_cfg, _ = in_memory.small_recipes(scale["pretrain"], scale["finetune"])
    clip_views = len(data["pool"]) * pre_cfg.repeated_aug // pre_cfg.batch_size * pre_cfg.batch_size * pre_cfg.epochs
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"data: {data_minutes:.1f} min; {clip_views:,} clip-views per pre-training on {device_name}", flush=True)
    runs = {}
    for seed in seeds:
        r = run_seed(data, scale, seed, precision, device)
        runs[str(seed)] = r
        print(
            f"seed {seed}: fine-tuned UAR "
            + ", ".join(f"{STARTS[k]} {v['uar']:.1f}" for k, v in r["finetune"].items())
            + f"; motion ÷ zero {r['epochs']['pretrained'][-1]['motion']:.3f}; "
            + ", ".join(f"{k} {v:.2f}" for k, v in r["minutes"].items())
            + " min",
            flush=True,
        )
        result = {
            "scale": args.scale,
            "device": device_name,
            "precision": precision,
            "seeds": [int(s) for s in runs],
            "data_minutes": data_minutes,
            "minutes": (time.perf_counter() - started) / 60,
            "clip_views": clip_views,
            "settings": {
                "pretrain": scale["pretrain"],
                "finetune": scale["finetune"],
                "synth": dataclasses.asdict(scale["synth"]),
            },
            "runs": runs,
        }
        text = tables(result)
        (out / "evidence.json").write_text(json.dumps(result, indent=2, default=str))
        (out / "evidence.md").write_text(text)
    print()
    print(text)


if __name__ == "__main__":
    main()
