"""The paper's claims 1 and 2, run long enough to answer them where the hardware allows.

Claim 1: MAE-DFER pre-training beats training from scratch. Claim 2: the motion target
helps (λ 0.5 against appearance only, λ 1). Per seed, on the built-in synthetic data with the
unlabelled pool decoded once into a memory-mapped file that every run reads (``pool_cache``):

- pre-train mae_dfer_tiny with appearance + motion (λ 0.5) and appearance only (λ 1), and
  log per epoch each loss part ÷ the loss of predicting zero (below 1: learned);
- fine-tune lgi_former_tiny from each of the two and from scratch; test UAR / WAR;
- probe the frozen encoders (k-NN, linear): both pre-trained ones and a random one.

Scales: ``quick`` (the test suite's, seconds), ``cpu`` (the demo's data and recipe: about
20 min on 2 cores), ``gpu`` (12x the unlabelled videos, 25x the pre-training clips, bf16,
augmentation on the GPU: sized for about 5 minutes on one H100/H200, at most 8).

    python bench/evidence.py --scale gpu --out runs/evidence-gpu

Writes evidence.json (every number, per seed and epoch) and evidence.md (the tables) to --out.
Stages resume, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from maedfer.data.synth import SynthConfig, ensure_generated
from maedfer.engine.demo import FULL, QUICK, DemoPlan, mean_std, plus_minus, run_seed, with_decoded_pool
from maedfer.engine.distributed import Dist

SCALES = {
    "quick": dict(
        plan=DemoPlan(synth=QUICK.synth, seeds=(0, 1), pretrain=QUICK.pretrain, finetune=QUICK.finetune), workers=0
    ),
    "cpu": dict(
        plan=DemoPlan(synth=FULL.synth, seeds=(0, 1, 2), pretrain=FULL.pretrain, finetune=FULL.finetune), workers=2
    ),
    # 2,000 unlabelled videos decoded once; 4 clips cut from each decoded video (repeated
    # augmentation), 64 clips a step: 125 steps an epoch, 500 over 4 epochs, 32,000 clips
    # (the demo: 200 steps of 8 clips, 1,600). The peak lr is 1.5e-3 after the batch / 256
    # scaling.
    "gpu": dict(
        plan=DemoPlan(
            synth=SynthConfig(
                clips_per_class=40,
                pool_size=2000,
                heldout_size=32,
                frames=32,
                pool_frames=80,
                size=88,
                test_fraction=FULL.synth.test_fraction,
            ),
            seeds=(0, 1, 2),
            pretrain=dict(
                epochs=4,
                warmup_epochs=0.5,
                batch_size=64,
                repeated_aug=4,
                lr=6e-3,
                min_lr=6e-5,
                precision="bf16",
                figure_every=0,
            ),
            finetune=dict(FULL.finetune, epochs=20, warmup_epochs=2.0, precision="bf16"),
        ),
        workers=12,
    ),
}
ENCODERS = {"pretrain": "MAE-DFER (λ 0.5)", "pretrain-appearance": "appearance only (λ 1)"}
STARTS = {"pretrained": "MAE-DFER (λ 0.5)", "appearance_only": "appearance only (λ 1)", "scratch": "scratch"}
PROBES = {
    "MAE-DFER (appearance + motion)": "MAE-DFER (λ 0.5)",
    "appearance only (lambda 1)": "appearance only (λ 1)",
    "random initialisation": "random initialisation",
}


def epoch_ratios(run: Path) -> list[dict]:
    """Per epoch, on the held-out videos: appearance and motion loss ÷ the loss of predicting
    zero, and appearance ÷ its no-input floor, from the run's log."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [
        {
            "epoch": r["epoch"],
            "appearance": r["heldout_appearance_ratio"],
            "appearance_floor": r["heldout_appearance_floor_ratio"],
            "motion": r["heldout_motion_ratio"],
        }
        for r in rows
    ]


def tables(result: dict) -> str:
    seeds, runs = result["seeds"], result["runs"]
    each = " / ".join(map(str, seeds))
    lines = [
        f"Evidence run, {result['scale']} scale, {result['device']}, {result['minutes']:.1f} min; "
        f"seeds {each}; synthetic test set, chance 14.3 % UAR.",
        "",
        "Pre-training on the held-out videos (mean over seeds): appearance ÷ its no-input floor, "
        "appearance and motion ÷ predicting zero (below 1: learned):",
        "",
        "| epoch | "
        + " | ".join(
            f"{ENCODERS[e]}: appearance ÷ floor | {ENCODERS[e]}: appearance | {ENCODERS[e]}: motion" for e in ENCODERS
        )
        + " |",
        "|---" * (1 + 3 * len(ENCODERS)) + "|",
    ]
    epochs = len(runs[str(seeds[0])]["epochs"]["pretrain"])
    for i in range(epochs):
        cells = []
        for enc in ENCODERS:
            for part in ("appearance_floor", "appearance", "motion"):
                values = [runs[str(s)]["epochs"][enc][i][part] for s in seeds]
                cells.append("–" if any(v is None for v in values) else f"{mean_std(values)['mean']:.3f}")
        lines.append(f"| {i + 1} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Fine-tuned lgi_former_tiny, test UAR / WAR in % (mean ± std over seeds; UAR per seed {each}):",
        "",
        "| fine-tuned from | UAR | WAR | UAR per seed |",
        "|---|---|---|---|",
    ]
    for key, label in STARTS.items():
        uar = mean_std([runs[str(s)]["finetune"][key]["uar"] for s in seeds])
        war = mean_std([runs[str(s)]["finetune"][key]["war"] for s in seeds])
        lines.append(
            f"| {label} | {plus_minus(uar)} | {plus_minus(war)} | "
            + " / ".join(f"{v:.1f}" for v in uar["per_seed"])
            + " |"
        )
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
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="default: the scale's (3 seeds)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    scale = SCALES[args.scale]
    plan: DemoPlan = scale["plan"]
    seeds = args.seeds or list(plan.seeds)
    device = torch.device(args.device)
    dist = Dist(rank=0, world_size=1, local_rank=0, device=device)
    out = Path(args.out)
    started = time.perf_counter()
    data = out / "data"
    ensure_generated(data, plan.synth, workers=scale["workers"], progress=True)
    plan = with_decoded_pool(plan, data)  # decoded once, read by all 2 x seeds pre-trainings
    data_minutes = (time.perf_counter() - started) / 60
    runs = {}
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    for seed in seeds:
        folder = out / f"seed{seed}"
        r = run_seed(folder, data, plan, seed, dist, scale["workers"], appearance_only=True, finetune_appearance=True)
        r["epochs"] = {enc: epoch_ratios(folder / enc) for enc in ENCODERS}
        runs[str(seed)] = r
        print(
            f"seed {seed}: fine-tuned UAR "
            + ", ".join(f"{STARTS[k]} {v['uar']:.1f}" for k, v in r["finetune"].items())
            + f"; motion ÷ zero {r['epochs']['pretrain'][-1]['motion']:.3f} ({sum(r['minutes'].values()):.1f} min)",
            flush=True,
        )
        # written after every seed: a run stopped early keeps the seeds it finished
        result = {
            "scale": args.scale,
            "device": device_name,
            "seeds": [int(s) for s in runs],
            "data_minutes": data_minutes,
            "minutes": (time.perf_counter() - started) / 60,
            "plan": {"pretrain": plan.pretrain, "finetune": plan.finetune},
            "runs": runs,
        }
        text = tables(result)
        (out / "evidence.json").write_text(json.dumps(result, indent=2))
        (out / "evidence.md").write_text(text)
    print()
    print(text)


if __name__ == "__main__":
    main()
