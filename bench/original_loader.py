"""The original MAE-DFER pre-training loader, timed: decord + its PIL/torchvision transforms
(GroupMultiScaleCrop, Stack, ToTorchFormatTensor, GroupNormalize) + part-window masks, as
its run_mae_pretraining.py builds them for VoxCeleb2 at 160x160. Run by bench/loader.py with
the python of an environment that has the original's dependencies (torch, torchvision,
decord); it imports the original code from the checkout given, never from maedfer.

    ORIGINAL_PYTHON bench/original_loader.py ORIGINAL_CHECKOUT ANNOTATION.csv --workers 1 --pin 0

Prints one JSON line: {"clips_per_second": ..., "clips": ..., "workers": ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from types import SimpleNamespace


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkout")
    ap.add_argument("annotation", help="'path 0' lines; its path must contain 'voxceleb2' (the original's crop switch)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--pin", type=int, nargs="*", default=None, help="cores for the workers (one each, in turn)")
    ap.add_argument("--main-core", type=int, default=None)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--clips", type=int, default=160)
    args = ap.parse_args()
    sys.path.insert(0, args.checkout)
    import torch
    from datasets import DataAugmentationForVideoMAE  # the original's modules
    from kinetics import VideoMAE
    from torch.utils.data import DataLoader

    torch.set_num_threads(1)
    if args.main_core is not None:
        os.sched_setaffinity(0, {args.main_core})
    options = SimpleNamespace(
        input_size=160,
        mask_type="part_window",
        window_size=(8, 10, 10),
        mask_ratio=0.9,
        part_win_size=(2, 5, 10),
        part_apply_symmetry=None,
        no_augmentation=False,
    )
    dataset = VideoMAE(
        root=None,
        setting=args.annotation,
        video_ext="mp4",
        is_color=True,
        modality="rgb",
        new_length=16,
        new_step=4,
        transform=DataAugmentationForVideoMAE(options),
        temporal_jitter=False,
        video_loader=True,
        use_decord=True,
        lazy_init=False,
        model="pretrain_videomae_base_patch16_160",
        num_segments=1,
    )

    def pin(worker_id: int) -> None:
        torch.set_num_threads(1)
        if args.pin:
            os.sched_setaffinity(0, {args.pin[worker_id % len(args.pin)]})

    loader = DataLoader(
        dataset,
        batch_size=args.batch,
        shuffle=True,
        num_workers=args.workers,
        drop_last=True,
        persistent_workers=True,
        worker_init_fn=pin,
    )
    seen, start = 0, None
    while seen < args.clips:
        for clips, _ in loader:
            if start is None:  # the first batch includes the workers' start-up
                start = time.perf_counter()
                continue
            seen += len(clips)
            if seen >= args.clips:
                break
    print(
        json.dumps(
            {
                "clips_per_second": seen / (time.perf_counter() - start),
                "clips": seen,
                "workers": args.workers,
                "shape": list(clips.shape),
            }
        )
    )


if __name__ == "__main__":
    main()
