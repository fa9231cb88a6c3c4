"""Does the data loader keep up with training? Clips/s that the pre-training loader delivers
from the synthetic mp4 pool (the demo's: 48-frame 112x112 videos, 16 frames stride 2 ->
80x80, part-window masks) with 2 workers, with and without repeated augmentation (K clips
cut from one decoded video), against the clips/s that mae_dfer_tiny's training step
(forward + backward + AdamW, batch 16, fp32 as the demo runs) consumes. Measured one after
the other on the same machine, each with the whole machine.

    python bench/loader_vs_model.py
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from data import loader_clips_per_second  # bench/data.py (this folder is on sys.path when run as a script)
from torch.utils.data import DataLoader

import maedfer
from maedfer.data.datasets import VideoDataset, repeat_collate
from maedfer.data.synth import SynthConfig, generate
from maedfer.data.transforms import pretrain_transform
from maedfer.engine.optim import build_optimizer, param_groups


def loader_rate(pool: Path, masking, repeats: int, batch: int, workers: int, clips: int) -> float:
    dataset = VideoDataset(
        pool, pretrain_transform(80, voxceleb_crop=False), stride=2, masking=masking, repeats=repeats
    )
    loader = DataLoader(
        dataset,
        batch_size=batch // repeats,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        persistent_workers=True,
        collate_fn=repeat_collate if repeats > 1 else None,
    )
    return loader_clips_per_second(loader, clips)


def model_rate(batch: int, steps: int) -> float:
    torch.manual_seed(0)
    model = maedfer.create_model("mae_dfer_tiny").train()
    opt = build_optimizer(param_groups(model, 0.05), 1e-3, (0.9, 0.95))
    x, mask = torch.randn(batch, *model.input_shape), model.masking(batch)

    def step() -> None:
        loss = model.loss(model(x, mask), model.targets(x, mask))[0]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=64, help="videos in the generated pool")
    parser.add_argument("--clips", type=int, default=480, help="clips timed per loader setting")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, nargs="+", default=[1, 2, 4], help="clips per decoded video")
    args = parser.parse_args()
    masking = maedfer.create_model("mae_dfer_tiny").masking
    with tempfile.TemporaryDirectory() as tmp:
        generate(
            tmp,
            SynthConfig(clips_per_class=2, identities=2, pool_size=args.videos, pool_frames=48, size=112),
            workers=args.workers,
        )
        pool = Path(tmp) / "pretrain.csv"
        consumed = model_rate(args.batch, steps=10)
        print(
            f"mae_dfer_tiny training step (batch {args.batch}, fp32, {torch.get_num_threads()} threads): "
            f"{consumed:.1f} clips/s"
        )
        print(f"{'loader, ' + str(args.workers) + ' workers':<28}{'clips/s':>9}{'x model':>9}")
        torch.set_num_threads(1)  # the workers are the loader's parallelism
        for repeats in args.repeats:
            rate = loader_rate(pool, masking, repeats, args.batch, args.workers, args.clips)
            print(f"{'repeated_aug ' + str(repeats):<28}{rate:>9.1f}{rate / consumed:>8.2f}x", flush=True)


if __name__ == "__main__":
    main()
