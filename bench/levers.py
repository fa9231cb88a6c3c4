"""What each lever of the small setting moves (issue 31): one seed of pre-training, scored on
held-out videos against its floors, probes of the frozen encoder and fine-tuning from it and
from scratch, with one setting changed at a time.

Everything runs in memory: the demo's version-3 synthetic data rendered once into uint8
arrays (the labelled clips at 32 frames, the unlabelled pool and the held-out videos at 80),
crops, flips, masks and batches drawn by torch on the spot, no DataLoader, no files. So a step
costs only the model's time, and the levers compare at equal steps. The demo itself runs the
same recipe through the real engines (``maedfer demo``); this script is for trying levers.

    python bench/levers.py --bf16 --out runs/levers/base.json                # the demo's setting, 500 steps
    python bench/levers.py --bf16 --out runs/levers/m09.json --mask 0.9      # one lever changed
    python bench/levers.py --bf16 --out runs/levers/ft.json --pretrain-steps 0 --scratch-lrs 1e-3 3e-3 1e-2

The figures in docs/results.md ("What each lever moved") are bench/results/levers-2026-12-05/,
made with the commands in their .log files' settings (the JSON's "settings").

Writes the JSON of every number (per evaluation of the pre-training, the probes, each
fine-tuning's first and last training loss and test UAR) to --out and prints them.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from maedfer.checkpoint import load_checkpoint
from maedfer.constants import IMAGENET_MEAN, IMAGENET_STD
from maedfer.data.synth import (
    HELDOUT,
    POOL,
    SynthConfig,
    identity_splits,
    labelled_clip,
    labelled_items,
    unlabelled_clip,
)
from maedfer.engine.demo import FULL
from maedfer.engine.floors import reconstruction_floors
from maedfer.engine.metrics import classification_metrics
from maedfer.engine.optim import param_groups
from maedfer.engine.probe import EncoderFeatures, knn_predict, linear_probe_predict
from maedfer.registry import create_model

SIZE = 80  # the models' input; clips are rendered at the demo's size and cropped to it


def _render(args: tuple[SynthConfig, str, int]) -> np.ndarray:
    cfg, kind, index = args
    return labelled_clip(cfg, index) if kind == "labelled" else unlabelled_clip(cfg, index, kind)


def render_all(cfg: SynthConfig) -> dict[str, torch.Tensor]:
    """The demo's data (what ``maedfer demo`` writes to files, before JPEG and video coding)
    as uint8 tensors (N, T, H, W, 3): pool, held-out, labelled, and the labelled clips'
    labels and split (True: train)."""
    items = labelled_items(cfg, Path("/clips"))
    train = {p for p, _ in identity_splits(cfg, items)["train"]}
    jobs = {
        "pool": [(cfg, POOL, i) for i in range(cfg.pool_size)],
        "heldout": [(cfg, HELDOUT, i) for i in range(cfg.heldout_size)],
        "labelled": [(cfg, "labelled", i) for i in range(len(items))],
    }
    with Pool(2) as workers:
        out = {k: torch.from_numpy(np.stack(workers.map(_render, v, chunksize=4))) for k, v in jobs.items()}
    out["labels"] = torch.tensor([y for _, y, _ in items])
    out["train"] = torch.tensor([p in train for p, _, _ in items])
    return out


MEAN = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)
STD = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1)


def clips(videos: torch.Tensor, index: torch.Tensor, stride: int, g: torch.Generator | None) -> torch.Tensor:
    """16-frame clips, normalised (B, 3, 16, 80, 80): with a generator a random start, an
    80-pixel crop and a flip; without, the middle and the centre."""
    out = []
    for i in index.tolist():
        t, h = videos.shape[1], videos.shape[2]
        span = 15 * stride + 1
        if g is None:
            start, top, left, flip = (t - span) // 2, (h - SIZE) // 2, (h - SIZE) // 2, False
        else:
            start = int(torch.randint(0, max(1, t - span + 1), (1,), generator=g))
            top, left = torch.randint(0, h - SIZE + 1, (2,), generator=g).tolist()
            flip = bool(torch.rand((), generator=g) < 0.5)
        frames = torch.arange(start, start + span, stride).clamp(max=t - 1)
        c = videos[i, frames, top : top + SIZE, left : left + SIZE]
        out.append(c.flip(2) if flip else c)
    x = torch.stack(out).permute(0, 4, 1, 2, 3).float() / 255
    return (x - MEAN) / STD


def cosine(step: int, total: int, peak: float) -> float:
    warm = max(1, total // 10)
    if step < warm:
        return peak * (step + 1) / warm
    return peak / 100 + (peak - peak / 100) * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def pretrain(data: dict, args, seed: int) -> tuple[torch.nn.Module, list[dict]]:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = create_model(
        "mae_dfer_tiny", mask_ratio=args.mask, decoder_mask_ratio=args.decoder_mask, appearance_weight=args.lam
    )
    opt = torch.optim.AdamW(model.parameters(), lr=args.pretrain_lr, betas=(0.9, 0.95), weight_decay=0.05)
    fixed = torch.Generator().manual_seed(2023)
    held = clips(data["heldout"], torch.arange(len(data["heldout"])), args.stride, fixed)
    held_masks = model.masking(len(held), generator=fixed)
    log, started = [], time.perf_counter()
    for step in range(args.pretrain_steps):
        for group in opt.param_groups:
            group["lr"] = cosine(step, args.pretrain_steps, args.pretrain_lr)
        x = clips(data["pool"], torch.randint(0, len(data["pool"]), (args.batch,), generator=g), args.stride, g)
        mask = model.masking(args.batch, generator=g)
        predict = model.decoder_subset(mask, g)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            out = model(x, mask, predict)
        loss, _ = model.loss(out, model.targets(x, predict))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % args.every == 0 or step + 1 == args.pretrain_steps:
            scores = reconstruction_floors(model, held, held_masks, batch_size=16)
            log.append({"step": step + 1, "seconds": time.perf_counter() - started, **scores})
            print(
                f"step {step + 1}: appearance ÷ zero {scores['appearance_ratio']:.3f} "
                f"(no-input floor {scores['appearance_floor']:.3f}), motion ÷ zero {scores['motion_ratio']:.3f}",
                flush=True,
            )
    return model, log


@torch.no_grad()
def probe(mae: torch.nn.Module, data: dict) -> dict[str, float]:
    features = EncoderFeatures(mae).eval()
    videos = data["labelled"]
    x = torch.cat(
        [
            features.forward_features(clips(videos, torch.arange(i, min(i + 32, len(videos))), 2, None))
            for i in range(0, len(videos), 32)
        ]
    ).numpy()
    y, train = data["labels"].numpy(), data["train"].numpy()
    return {
        f"{name}_uar": classification_metrics(y[~train], predict(x[train], y[train], x[~train], 7), 7)["uar"]
        for name, predict in (("knn", knn_predict), ("linear", linear_probe_predict))
    }


@torch.no_grad()
def feature_spread(init: torch.nn.Module | None, data: dict, args) -> float:
    """How much the classifier's pooled features (what its head reads: the LayerNormed mean of
    the region tokens) differ between the labelled clips, before fine-tuning: their spread
    across clips (the norm of the per-feature std) ÷ the norm of their mean. Near 0, every clip
    looks alike to the head, and the trunk must first learn where to look."""
    torch.manual_seed(args.seed)
    model = create_model("lgi_former_tiny", init_scale=args.init_scale, drop_path_rate=args.drop_path).eval()
    if init is not None:
        load_checkpoint(model, {"model": init.state_dict()})
    x = model.forward_features(clips(data["labelled"], torch.arange(64), 2, None))
    return float(x.std(0).norm() / x.mean(0).norm())


def finetune(init: torch.nn.Module | None, data: dict, args, seed: int, lr: float) -> dict:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = create_model("lgi_former_tiny", init_scale=args.init_scale, drop_path_rate=args.drop_path)
    if init is not None:
        load_checkpoint(model, {"model": init.state_dict()})
    opt = torch.optim.AdamW(param_groups(model, 0.05, args.layer_decay), lr=lr)
    train, test = data["train"].nonzero().flatten(), (~data["train"]).nonzero().flatten()
    losses, started = [], time.perf_counter()
    for step in range(args.finetune_steps):
        for group in opt.param_groups:
            group["lr"] = cosine(step, args.finetune_steps, lr) * group.get("lr_scale", 1.0)
        index = train[torch.randint(0, len(train), (args.batch,), generator=g)]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            logits = model(clips(data["labelled"], index, 2, g))
        loss = F.cross_entropy(logits.float(), data["labels"][index], label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        predicted = torch.cat(
            [model(clips(data["labelled"], test[i : i + 32], 2, None)).argmax(1) for i in range(0, len(test), 32)]
        )
    m = classification_metrics(data["labels"][test].numpy(), predicted.numpy(), 7)
    return {
        "lr": lr,
        "uar": m["uar"],
        "loss_first": float(np.mean(losses[:20])),
        "loss_last": float(np.mean(losses[-20:])),
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="JSON file for every number")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mask", type=float, default=0.75)
    ap.add_argument("--decoder-mask", type=float, default=0.5)
    ap.add_argument("--lam", type=float, default=0.5, help="appearance weight λ")
    ap.add_argument("--stride", type=int, default=4, help="frames between a pre-training clip's frames")
    ap.add_argument("--pretrain-steps", type=int, default=500)
    ap.add_argument("--pretrain-lr", type=float, default=3e-3, help="absolute peak lr")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--every", type=int, default=100, help="pre-training steps between held-out scores")
    ap.add_argument("--finetune-steps", type=int, default=300)
    ap.add_argument(
        "--finetune-lrs", type=float, nargs="*", default=[1e-3], help="absolute peak lrs, from pre-training"
    )
    ap.add_argument("--scratch-lrs", type=float, nargs="*", default=[1e-3], help="absolute peak lrs, from scratch")
    ap.add_argument("--layer-decay", type=float, default=1.0)
    ap.add_argument("--init-scale", type=float, default=1.0, help="the classifier head's initial scale")
    ap.add_argument("--drop-path", type=float, default=0.0)
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (faster on CPUs with AVX512-BF16 or AMX)")
    args = ap.parse_args()
    started = time.perf_counter()
    data = render_all(FULL.synth)
    result: dict = {"settings": vars(args), "render_seconds": time.perf_counter() - started}
    result["probe_random"] = probe(create_model("mae_dfer_tiny"), data)
    result["feature_spread_scratch"] = feature_spread(None, data, args)
    if args.pretrain_steps:
        model, result["pretrain"] = pretrain(data, args, args.seed)
        result["probe_pretrained"] = probe(model, data)
        result["feature_spread_pretrained"] = feature_spread(model, data, args)
        result["finetune_pretrained"] = [finetune(model, data, args, args.seed, lr) for lr in args.finetune_lrs]
    result["finetune_scratch"] = [finetune(None, data, args, args.seed, lr) for lr in args.scratch_lrs]
    result["seconds"] = time.perf_counter() - started
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k not in ("pretrain", "settings")}, indent=2))


if __name__ == "__main__":
    main()
