"""The paper's ablations in miniature, on the built-in synthetic data, several seeds each.

Every variant is pre-trained on the unlabelled pool, scored on the held-out videos against its
floors, then read out two ways: fine-tuned on the labelled train split (test UAR), and by k-NN
and linear probes of its frozen encoder. Everything runs in memory (maedfer.engine.in_memory:
the data rendered once, no DataLoader), with the demo's recipes (the synth-small presets).
Variants:

- lambda (appearance weight): 1.0 (appearance only), 0.5 (official), 0.0 (motion only);
- mask ratio 0.9 (the paper's) against the demo's 0.75;
- LGI-Former without its global step (S2: region tokens attend to each other) and without its
  local-global step (S3: local tokens read the region tokens back);
- LGI-Former against a ViT encoder (joint space-time attention) under the same objective,
  with the fine-tuning model's measured forward time.

Writes ``ablations.json`` (every run's numbers, after each run: a stopped run keeps what it
finished) and ``ablations.md`` (mean ± std, the paper's direction of each effect, and whether
the miniature agrees) to --out, and prints the table.

    python bench/ablations.py --out runs/ablations                  # the demo's recipe: about 55 min on 2 cores
    python bench/ablations.py --out runs/ablations-gpu --scale gpu  # base models, more data and steps, on a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from maedfer.config import PRESETS
from maedfer.data.synth import SynthConfig
from maedfer.engine import in_memory
from maedfer.engine.demo import FULL, mean_std, plus_minus, with_model_overrides
from maedfer.precision import time_forward, training_precision
from maedfer.registry import create_model

OFFICIAL = "λ 0.5, mask 0.75, LGI-Former (the demo's setting)"
# name -> its folder, what it changes in pre-training and fine-tuning, the paper's direction of the effect
VARIANTS: dict[str, dict] = {
    OFFICIAL: dict(key="official", pretrain={}, paper="reference"),
    "λ 1.0 (appearance only)": dict(
        key="lambda1",
        pretrain={"model_overrides": {"appearance_weight": 1.0}},
        paper="below the official (λ 0.5 is best)",
    ),
    "λ 0.0 (motion only)": dict(
        key="lambda0",
        pretrain={"model_overrides": {"appearance_weight": 0.0}},
        paper="below the official (λ 0.5 is best)",
    ),
    "mask ratio 0.9 (the paper's)": dict(
        key="mask090", pretrain={"mask_ratio": 0.9}, paper="above mask 0.75 (the paper: 90 % masking is best)"
    ),
    "without global step (S2)": dict(
        key="no_s2",
        pretrain={"model_overrides": {"global_step": False}},
        finetune={"model_overrides": {"global_step": False}},
        paper="below the official",
    ),
    "without local-global step (S3)": dict(
        key="no_s3",
        pretrain={"model_overrides": {"local_global_step": False}},
        finetune={"model_overrides": {"local_global_step": False}},
        paper="below the official",
    ),
    "ViT encoder (joint attention)": dict(
        key="vit",
        pretrain={"model": "mae_dfer_vit_tiny"},
        finetune={"model": "vit_tiny"},
        paper="about equal to the official, at ~1.6x its cost",
    ),
}

SCALES = {
    # for the test of this script: a few steps on videos rendered at the models' 80 pixels
    "quick": dict(
        synth=SynthConfig(
            clips_per_class=2, pool_size=8, heldout_size=4, frames=16, pool_frames=24, size=80, identities=2
        ),
        pretrain=dict(epochs=1, warmup_epochs=0.5, batch_size=4),
        finetune=dict(epochs=1, warmup_epochs=0.5, batch_size=4),
        variants=list(VARIANTS),
    ),
    # the demo's data and recipe: 300 pre-training and 300 fine-tuning steps of 8 clips
    "cpu": dict(synth=FULL.synth, pretrain=FULL.pretrain, finetune=FULL.finetune, variants=list(VARIANTS)),
    # the official base models (16x160x160) on 5x the unlabelled videos, bf16, the lambda
    # comparison: sized for about 10 minutes on one H100/H200 (an estimate: not run in memory yet)
    "gpu": dict(
        synth=SynthConfig(
            clips_per_class=80,
            identities=80,
            pool_size=800,
            frames=32,
            pool_frames=80,
            heldout_size=32,
            size=176,
            test_fraction=FULL.synth.test_fraction,
        ),
        pretrain=dict(
            FULL.pretrain,
            model="mae_dfer_base",
            input_size=160,
            epochs=16,
            batch_size=32,
            lr=1.2e-2,
            min_lr=1.2e-4,
            warmup_epochs=2.0,
            repeated_aug=4,
        ),
        finetune=dict(FULL.finetune, model="lgi_former_base", input_size=160, epochs=12, batch_size=16),
        variants=[OFFICIAL, "λ 1.0 (appearance only)", "λ 0.0 (motion only)"],
    ),
}


def merge(settings: dict, change: dict) -> dict:
    """``settings`` with ``change`` applied; model_overrides are merged, not replaced."""
    out = dict(settings, **{k: v for k, v in change.items() if k != "model_overrides"})
    return with_model_overrides(out, **change.get("model_overrides", {}))


def forward_ms(model_name: str, overrides: dict, device: torch.device, batch: int = 8) -> float:
    """Measured forward time per clip of the fine-tuning model (eval mode, fp32)."""
    torch.manual_seed(0)
    model = create_model(model_name, **overrides).eval().to(device)
    x = torch.randn(batch, *model.input_shape, device=device)
    return 1000 * time_forward(model, x, repeats=5) / batch


def verdict(official: list[float], variant: list[float], paper: str) -> str:
    """Whether the miniature shows the paper's direction: differences within the seeds'
    spread (the larger std) count as no clear difference."""
    a, b = mean_std(official), mean_std(variant)
    diff, spread = a["mean"] - b["mean"], max(a["std"], b["std"])
    if paper.startswith("about equal"):
        return "agrees" if abs(diff) <= spread else ("disagrees: ViT better" if diff < 0 else "disagrees: LGI better")
    if abs(diff) <= spread:
        return "no clear difference"
    return "agrees" if (diff < 0 if paper.startswith("above") else diff > 0) else "disagrees"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/ablations")
    ap.add_argument("--scale", choices=sorted(SCALES), default="cpu")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument(
        "--time-limit",
        type=float,
        default=0.0,
        help="minutes: start no further seed after this (0: none); the table covers the seeds done",
    )
    ap.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        default=None,
        help="a subset of the variants (the official one is always run); default: the scale's",
    )
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default=None,
        help="default: bf16 where the device runs it natively, else fp32",
    )
    args = ap.parse_args()
    scale = SCALES[args.scale]
    out = Path(args.out)
    device = torch.device(args.device)
    names = [OFFICIAL] + [v for v in (args.variants or scale["variants"]) if v != OFFICIAL]

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    precision = args.precision or training_precision(device)[0]
    data = in_memory.synth_data(scale["synth"], device, workers=min(16, os.cpu_count() or 1))
    num_classes = int(data["labels"].max()) + 1

    runs: dict[str, dict[int, dict]] = {name: {} for name in names}
    done_seeds = []
    for seed in args.seeds:
        if args.time_limit and (time.perf_counter() - started) / 60 > args.time_limit:
            print(f"--time-limit {args.time_limit} min reached: seeds {done_seeds} are done, the rest skipped")
            break
        for name in names:
            v = VARIANTS[name]
            t = time.perf_counter()
            common = dict(seed=seed, precision=precision)
            pre, ft = in_memory.small_recipes(
                {**merge(scale["pretrain"], v["pretrain"]), **common},
                {**merge(scale["finetune"], v.get("finetune", {})), **common},
            )
            torch.manual_seed(seed)
            mae = create_model(pre.model, mask_ratio=pre.mask_ratio, **pre.model_overrides).to(device)
            last = in_memory.pretrain(mae, data["pool"], pre, data["heldout"], report=lambda line: None)[-1]
            result = in_memory.fine_tuned(ft, mae, data)
            result.update(
                in_memory.probe(mae, data["labelled"], data["labels"], data["train"], ft.sampling_rate, num_classes)
            )
            # on the held-out videos: appearance ÷ its no-input floor, motion ÷ zero
            result.update({k: last[f"heldout_{k}"] for k in ("appearance_floor_ratio", "motion_ratio")})
            result["minutes"] = (time.perf_counter() - t) / 60
            # what the variant ran: the models and what changed in pre-training
            result["ran"] = dict(
                pretrain=pre.model, finetune=ft.model, mask_ratio=pre.mask_ratio, **pre.model_overrides
            )
            runs[name][seed] = result
            print(
                f"seed {seed} | {name}: UAR {result['uar']:.1f}, linear probe {result['linear_uar']:.1f}, "
                f"k-NN {result['knn_uar']:.1f}, appearance/floor {result['appearance_floor_ratio']:.3f}, "
                f"motion/zero {result['motion_ratio']:.3f} ({result['minutes']:.1f} min)",
                flush=True,
            )
            (out / "ablations.json").write_text(json.dumps({"runs": runs}, indent=2))  # nothing lost if stopped
        done_seeds.append(seed)
    seeds = done_seeds

    cost = {}
    for name in names:
        ft = merge(scale["finetune"], VARIANTS[name].get("finetune", {}))
        cost[name] = forward_ms(ft.get("model", PRESETS["synth-small"]["model"]), ft.get("model_overrides", {}), device)
    rows = [
        "| variant | fine-tuned UAR | linear probe UAR | k-NN UAR | appearance ÷ no-input floor | motion ÷ zero "
        "| forward ms/clip | paper's direction | this miniature |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    official = runs[OFFICIAL]
    for name in names:
        r = runs[name]
        stats = {
            m: [r[s][m] for s in seeds]
            for m in ("uar", "linear_uar", "knn_uar", "appearance_floor_ratio", "motion_ratio")
        }
        pm = {m: plus_minus(mean_std(v)) for m, v in stats.items()}
        paper = VARIANTS[name]["paper"]
        if name == OFFICIAL:
            seen = "—"
        else:
            seen = (
                "fine-tuned: "
                + verdict([official[s]["uar"] for s in seeds], stats["uar"], paper)
                + "; probe: "
                + verdict([official[s]["linear_uar"] for s in seeds], stats["linear_uar"], paper)
            )
        motion = f"{np.mean(stats['motion_ratio']):.3f}"
        appearance = f"{np.mean(stats['appearance_floor_ratio']):.3f}"
        rows.append(
            f"| {name} | {pm['uar']} | {pm['linear_uar']} | {pm['knn_uar']} | {appearance} | {motion} "
            f"| {cost[name]:.1f} | {paper} | {seen} |"
        )
    minutes = (time.perf_counter() - started) / 60
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    text = (
        f"Ablations in miniature ({args.scale} scale, seeds {', '.join(map(str, seeds))}, "
        f"{device_name}, {precision}; {minutes:.0f} min). UAR in % on the synthetic test set "
        f"(chance 14.3), mean ± std over seeds.\n\n" + "\n".join(rows) + "\n"
    )
    (out / "ablations.json").write_text(
        json.dumps(
            {
                "scale": args.scale,
                "seeds": seeds,
                "device": device_name,
                "precision": precision,
                "minutes": minutes,
                "forward_ms_per_clip": cost,
                "runs": runs,
            },
            indent=2,
        )
    )
    (out / "ablations.md").write_text(text)
    print()
    print(text)


if __name__ == "__main__":
    main()
