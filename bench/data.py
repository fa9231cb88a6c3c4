"""Data pipeline throughput: decode + the official fine-tuning augmentation of 16-frame
clips, from mp4 files and from JPEG frame folders, with 1 and 2 DataLoader workers.

    python bench/data.py                # 256x256 synthetic clips (DFEW's jpg_256 size), 160x160 output
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from maedfer.data.annotations import Item
from maedfer.data.datasets import ClipDataset
from maedfer.data.synth import CLASSES, make_identity, render_clip
from maedfer.data.transforms import train_transform
from maedfer.data.writers import write_frames, write_video


def make_clips(root: Path, n: int, frames: int, size: int) -> tuple[list[Item], list[Item]]:
    folders, videos = [], []
    for i in range(n):
        rng = np.random.default_rng(i)
        clip = render_clip(i % len(CLASSES), make_identity(rng), frames, size, rng)
        folders.append(Item(str(write_frames(root / "frames" / f"{i:03d}", clip)), i % len(CLASSES)))
        videos.append(Item(str(write_video(root / "videos" / f"{i:03d}.mp4", clip)), i % len(CLASSES)))
    return folders, videos


def loader_clips_per_second(loader: DataLoader, clips: int) -> float:
    """Clips/s a loader delivers over ``clips`` clips (epochs repeat as needed), not counting
    the first batch, which includes the workers' start-up."""
    seen, start = 0, None
    while seen < clips:
        for batch, _ in loader:
            if start is None:
                start = time.perf_counter()
                continue
            seen += batch.shape[0]
            if seen >= clips:
                break
    return seen / (time.perf_counter() - start)


def clips_per_second(items: list[Item], workers: int, clips: int, size: int) -> float:
    dataset = ClipDataset(items, train_transform(size), mode="train")
    loader = DataLoader(
        dataset, batch_size=8, shuffle=True, num_workers=workers, drop_last=True, persistent_workers=workers > 0
    )
    return loader_clips_per_second(loader, clips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=24, help="distinct clips to generate")
    parser.add_argument("--frames", type=int, default=80, help="frames per clip (DFEW clips: ~60-80)")
    parser.add_argument("--size", type=int, default=256, help="side of the stored frames")
    parser.add_argument("--out-size", type=int, default=160, help="side of the augmented clips")
    parser.add_argument("--clips", type=int, default=96, help="clips timed per setting")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the workers are the parallelism, as in training
    with tempfile.TemporaryDirectory() as tmp:
        folders, videos = make_clips(Path(tmp), args.videos, args.frames, args.size)
        print(
            f"{args.videos} clips of {args.frames} frames at {args.size}x{args.size}; "
            f"16-frame clips, rate 4, RandAugment + crop + flip + erasing -> {args.out_size}x{args.out_size}"
        )
        print(f"{'source':<14}{'workers':>8}{'clips/s':>10}")
        results = {}
        for name, items in (("jpeg folders", folders), ("mp4", videos)):
            for workers in (1, 2):
                results[name, workers] = clips_per_second(items, workers, args.clips, args.out_size)
                print(f"{name:<14}{workers:>8}{results[name, workers]:>10.1f}", flush=True)
        for workers in (1, 2):
            print(
                f"ratio mp4 / jpeg folders, {workers} worker(s): "
                f"{results['mp4', workers] / results['jpeg folders', workers]:.2f}"
            )


if __name__ == "__main__":
    main()
