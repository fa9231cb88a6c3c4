"""How much of each reconstruction target could a model predict at all? On version-3 synthetic
clips as the demo pre-trains on them (88-pixel renders, the centre 80 pixels, 16 frames 4
apart, every token a target), measured without any model:

1. **what nothing visible predicts**: sensor noise, lighting drift and 8-bit rounding. Each
   clip is rendered twice from the same random draws, as the dataset has it and ideal
   (``render_clip3(ideal=True)``); the squared difference of their targets ÷ the targets'
   energy (the loss of predicting zero) is the share of the target those make;
2. **what knowing the expression buys without looking**: the no-input floor (each token
   position's average target over all clips, what the demo's held-out score compares with)
   against the class-conditional floor (each position's average over the clips of the
   clip's class), both ÷ zero, both estimated without bias (ddof 1).

    python bench/target_ceilings.py --out runs/target-ceilings.json

Prints the table and writes every number to --out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from maedfer.data.synth import CLASSES, _clip_rng, _identity, intensity_curve
from maedfer.data.synth_faces import render_clip3
from maedfer.engine.demo import FULL
from maedfer.engine.floors import position_mean_floor
from maedfer.registry import create_model


def clip_targets(model, videos: np.ndarray, size: int, stride: int) -> torch.Tensor:
    """Every token's target (N, tokens, D) of the videos' middle clips, centre crops. The
    videos (N, T, H, W, 3) are 0..255, uint8 or (ideal renders) unrounded floats."""
    _, t, h, w, _ = videos.shape
    start, top, left = (t - (15 * stride + 1)) // 2, (h - size) // 2, (w - size) // 2
    frames = videos[:, start : start + 15 * stride + 1 : stride, top : top + size, left : left + size]
    x = torch.from_numpy(frames.astype(np.float32) / 255).permute(0, 4, 1, 2, 3)
    x = (x - model.norm_mean) / model.norm_std  # the model's input normalisation, undone by its targets
    tokens = int(np.prod(model.encoder.grid))
    return model.targets(x, torch.ones(len(x), tokens, dtype=torch.bool)).view(len(x), tokens, -1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/target-ceilings.json")
    ap.add_argument("--clips-per-class", type=int, default=24)
    ap.add_argument("--seed", type=int, default=99)
    args = ap.parse_args()
    cfg = FULL.synth
    model = create_model("mae_dfer_tiny")
    stride = 4  # the demo's pre-training (synth-small-pretrain)
    rendered, ideal, labels = [], [], []
    for label, name in enumerate(CLASSES):
        for i in range(args.clips_per_class):
            key = label * 100_000 + i
            identity = _identity(cfg, _clip_rng(args.seed, 1, key))
            curve = intensity_curve(name, cfg.pool_frames, _clip_rng(args.seed, 2, key))
            rendered.append(render_clip3(name, identity, curve, cfg.size, _clip_rng(args.seed, 3, key)))
            ideal.append(render_clip3(name, identity, curve, cfg.size, _clip_rng(args.seed, 3, key), ideal=True))
            labels.append(label)
    real = clip_targets(model, np.stack(rendered), 80, stride)
    clean = clip_targets(model, np.stack(ideal), 80, stride)
    labels_t = torch.tensor(labels)
    everything = torch.ones(real.shape[:2], dtype=torch.bool)
    result: dict = {"clips": len(labels), "seed": args.seed, "parts": {}}
    for part, where in model.target_parts().items():
        y, y_ideal = real[..., where], clean[..., where]
        zero = float(y.pow(2).mean())
        per_class = [
            position_mean_floor(y[labels_t == c], everything[labels_t == c]).mean() * (labels_t == c).sum()
            for c in range(len(CLASSES))
        ]
        result["parts"][part] = {
            "noise_light_rounding_share": float((y - y_ideal).pow(2).mean()) / zero,
            "no_input_floor": float(position_mean_floor(y, everything).mean()) / zero,
            "class_conditional_floor": float(sum(per_class) / len(labels)) / zero,
        }
    lines = [
        f"Version-3 synthetic clips, {len(labels)} ({args.clips_per_class} per class), the demo's crops and stride; "
        "÷ the loss of predicting zero:",
        "",
        "| target | noise, lighting, rounding | no-input floor | class-conditional floor |",
        "|---|---|---|---|",
    ]
    for part, r in result["parts"].items():
        lines.append(
            f"| {part} | {r['noise_light_rounding_share']:.3f} | {r['no_input_floor']:.3f} "
            f"| {r['class_conditional_floor']:.3f} |"
        )
    print("\n".join(lines))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
