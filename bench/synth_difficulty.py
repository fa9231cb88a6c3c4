"""How hard is the built-in synthetic dataset? Trains small models from scratch on its
train split and reports test UAR/WAR (2 clips x 2 crops per video), once on real clips and
once on "single-frame" clips (one random frame repeated 16 times): the gap is what motion
adds, and the single-frame score shows the set is not separable from one frame.

Models: a small 3D CNN (strong locality prior, learns from few labels) and lgi_former_tiny
(a transformer: data-hungry from scratch, which is what MAE pre-training is for).

    python bench/synth_difficulty.py --epochs 40 --models cnn3d lgi_former_tiny
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

import maedfer
from maedfer.data.datasets import ClipDataset
from maedfer.data.synth import CLASSES, SynthConfig, generate
from maedfer.data.transforms import eval_transform, train_transform
from maedfer.engine.distributed import Dist
from maedfer.engine.evaluate import evaluate


class SingleFrame:
    """Replace every frame by one frame of the clip (random in training, middle in testing)."""

    def __init__(self, transform, random: bool) -> None:
        self.transform, self.random = transform, random

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        i = int(torch.randint(len(frames), ())) if self.random else len(frames) // 2
        return self.transform(frames[i : i + 1].expand_as(frames).contiguous())


def cnn3d(num_classes: int) -> nn.Module:
    def block(i, o, stride):
        return nn.Sequential(nn.Conv3d(i, o, 3, stride, 1), nn.BatchNorm3d(o), nn.ReLU())

    return nn.Sequential(
        block(3, 24, (1, 2, 2)),
        block(24, 48, 2),
        block(48, 96, 2),
        block(96, 128, 2),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(128, num_classes),
    )


def run(data: Path, model_name: str, epochs: int, single_frame: bool, size: int, workers: int) -> dict:
    torch.manual_seed(0)
    # light augmentation: with ~200 clips the official recipe (RandAugment, crops down to 8 %
    # of the area, erasing) leaves nothing to learn from in a few hundred steps
    train_tf, test_tf = train_transform(size, None, scale=(0.6, 1.0), erasing=0.0), eval_transform(size)
    if single_frame:
        train_tf, test_tf = SingleFrame(train_tf, True), SingleFrame(test_tf, False)
    train = ClipDataset(data / "train.csv", train_tf, mode="train", sampling_rate=2, num_classes=len(CLASSES))
    test = ClipDataset(data / "test.csv", test_tf, mode="test", sampling_rate=2)
    loader = DataLoader(
        train, batch_size=16, shuffle=True, num_workers=workers, drop_last=True, persistent_workers=workers > 0
    )
    if model_name == "cnn3d":
        model, lr = cnn3d(len(CLASSES)), 2e-3
    else:
        model, lr = maedfer.create_model(model_name, num_classes=len(CLASSES), drop_path_rate=0.0), 1e-3
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    steps = epochs * len(loader)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / len(loader)) * 0.5 * (1 + math.cos(math.pi * s / steps))
    )
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        for x, y in loader:
            loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    alone = Dist(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    m = evaluate(model, test, {"batch_size": 32, "workers": workers, "precision": "fp32", "dataset": "synth"}, alone)
    m["minutes"] = (time.perf_counter() - start) / 60
    return m


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="an existing 'maedfer synth' folder (default: generate one)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--size", type=int, default=80, help="model input side (lgi_former_tiny: 80)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["cnn3d", "lgi_former_tiny"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp)
            generate(data, SynthConfig(pool_size=0), workers=args.workers)
        print(f"from scratch, {args.epochs} epochs, train {data / 'train.csv'}")
        print(
            f"{'model':<17}{'input':<14}{'UAR':>7}{'WAR':>7}{'minutes':>9}  per-class accuracy ({', '.join(CLASSES)})"
        )
        for model_name in args.models:
            for single in (False, True):
                m = run(data, model_name, args.epochs, single, args.size, args.workers)
                per_class = " ".join(f"{a:5.1f}" for a in m["per_class_accuracy"])
                print(
                    f"{model_name:<17}{'single frame' if single else 'video':<14}{m['uar']:7.2f}{m['war']:7.2f}"
                    f"{m['minutes']:9.1f}  {per_class}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
