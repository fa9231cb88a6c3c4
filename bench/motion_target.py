"""Why does the demo's tiny MAE-DFER predict no motion? Three measurements on the demo's
unlabelled pool, under the model's own part-window masks (90 %):

1. what the motion target is made of: its score when predicting zero, and the share of it
   that is each hidden tubelet's mean brightness change (the part a model could guess
   without knowing the tubelet's content);
2. how well simple predictors of the hidden tubelets do, as a fraction of predicting zero:
   each time slice's median brightness change over the *visible* tubelets (global lighting);
   a linear map from the 4 neighbouring tubelets' pixels, fitted on half the clips (what
   knowing the surrounding appearance buys); and, if given, a pre-training checkpoint
   (the demo's by default), with how large its motion predictions are and how they
   correlate with the target's brightness change;
3. whether the model learns motion where it is clearly predictable: the pool's first frames
   made into clips that brighten or darken (sign per clip) between the 2 frames of every
   tubelet, trained with the trainer's optimiser and the demo's schedule at several peak
   learning rates and seeds, against the score of knowing the sign.

    python bench/motion_target.py                      # reads runs/demo (python3 -m maedfer demo)
    python bench/motion_target.py --data DIR/pretrain.csv --checkpoint RUN/checkpoint-last.pth
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import maedfer
from maedfer.config import resolve_config
from maedfer.data.datasets import VideoDataset
from maedfer.data.synth import brightness_step_clips
from maedfer.data.transforms import pretrain_transform
from maedfer.engine.demo import FULL
from maedfer.engine.optim import build_optimizer, cosine_schedule, param_groups, set_lr
from maedfer.inference.loading import load_pretraining_model

CONFIG = resolve_config("pretrain", "synth-small-pretrain", overrides=FULL.pretrain)  # the demo's pre-training


def pool_clips(annotation: str, model, count: int) -> torch.Tensor:
    """``count`` clips of the pool as the demo's pre-training reads them."""
    pool = VideoDataset(
        annotation,
        pretrain_transform(CONFIG.input_size, CONFIG.voxceleb_crop),
        num_frames=model.input_shape[1],
        stride=CONFIG.stride,
        masking=model.masking,
    )
    return torch.stack([pool[i % len(pool)][0] for i in range(count)])


def ratio(pred: torch.Tensor, target: torch.Tensor) -> float:
    return float((pred - target).pow(2).mean() / target.pow(2).mean())


def halves(target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    half = target.shape[-1] // 2
    return target[..., :half], target[..., half:]


def brightness_change(motion: torch.Tensor, channels: int = 3) -> torch.Tensor:
    """Each tubelet's mean motion value per channel (values are laid out channel fastest)."""
    return motion.unflatten(-1, (-1, channels)).mean(dim=-2)


def visible_median_predictor(model, x: torch.Tensor, mask: torch.Tensor) -> float:
    """Predict every hidden tubelet's motion as the median brightness change of the visible
    tubelets of its time slice (per channel): global lighting, read from what is visible."""
    t, h, w = model.encoder.grid
    full = model.targets(x, torch.ones_like(mask))
    _, motion = halves(full)
    change = brightness_change(motion).view(len(x), t, h * w, 3)
    visible = ~mask.view(len(x), t, h * w)
    guess = torch.stack(
        [torch.stack([change[b, s][visible[b, s]].median(dim=0).values for s in range(t)]) for b in range(len(x))]
    )  # (B, t, 3)
    pred = guess[:, :, None, None, :].expand(-1, -1, h * w, motion.shape[-1] // 3, -1).reshape(motion.shape)
    return ratio(pred[mask.view(len(x), -1)], motion[mask.view(len(x), -1)])


def neighbour_predictor(model, x: torch.Tensor) -> tuple[float, float]:
    """Ridge regression of a tubelet's targets from its 4 neighbours' input pixels (all
    shown), fitted on the first half of the clips and scored on the second."""
    t, h, w = model.encoder.grid
    b = len(x)
    target = model.targets(x, torch.ones(b, t * h * w, dtype=torch.bool)).view(b, t, h, w, -1)
    pixels = model.tubelets(x).reshape(b, t, h, w, -1)
    feats = torch.cat(
        [pixels[:, :, 1:-1, :-2], pixels[:, :, 1:-1, 2:], pixels[:, :, :-2, 1:-1], pixels[:, :, 2:, 1:-1]], dim=-1
    )
    feats = torch.cat([feats, torch.ones(*feats.shape[:-1], 1)], dim=-1).double()
    y = target[:, :, 1:-1, 1:-1].double()
    fit, test = slice(0, b // 2), slice(b // 2, b)
    a, ya = feats[fit].flatten(0, 3), y[fit].flatten(0, 3)
    weights = torch.linalg.solve(a.T @ a + 0.1 * torch.eye(a.shape[1], dtype=a.dtype), a.T @ ya)
    pred = feats[test].flatten(0, 3) @ weights
    (pa, pm), (ta, tm) = halves(pred), halves(y[test].flatten(0, 3))
    return ratio(pa, ta), ratio(pm, tm)


@torch.no_grad()
def checkpoint_scores(path: str, x: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    model = load_pretraining_model(path)[0]
    pred, target = model(x, mask).float(), model.targets(x, mask)
    (pa, pm), (ta, tm) = halves(pred), halves(target)
    corr = torch.corrcoef(torch.stack([brightness_change(pm).flatten(), brightness_change(tm).flatten()]))[0, 1]
    return {
        "appearance": ratio(pa, ta),
        "motion": ratio(pm, tm),
        "motion_rms": float(pm.pow(2).mean().sqrt() / tm.pow(2).mean().sqrt()),
        "change_corr": float(corr),
    }


def learn_brightness_steps(
    stills: torch.Tensor, frames: int, lr: float, steps: int, batch: int, seed: int
) -> tuple[float, float]:
    """Train a fresh mae_dfer_tiny (lambda 0.5) on brightness-step clips; returns its motion
    score on held-out clips, and the score of knowing each clip's sign (a constant per sign)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = maedfer.create_model("mae_dfer_tiny").train()
    # the trainer's optimiser and schedule, shaped like the demo's: a tenth of the steps
    # warming up, then half-cosine to lr / 100
    opt = build_optimizer(param_groups(model, CONFIG.weight_decay), lr, tuple(CONFIG.betas))
    schedule = cosine_schedule(lr, lr / 100, 1, steps, CONFIG.warmup_epochs / CONFIG.epochs)
    fit, held = stills[: len(stills) // 2], stills[len(stills) // 2 :]
    for step in range(steps):
        set_lr(opt, schedule[step])
        x = brightness_step_clips(fit[torch.randint(0, len(fit), (batch,), generator=g)], frames, 0.1, g)
        mask = model.masking(batch)
        loss, _ = model.loss(model(x, mask), model.targets(x, mask))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    x = brightness_step_clips(held, frames, 0.1, torch.Generator().manual_seed(seed + 1))
    mask = model.masking(len(x))
    with torch.no_grad():
        _, pm = halves(model(x, mask).float())
        _, tm = halves(model.targets(x, mask))
    # knowing the sign: the best constant times the clip's sign (the sign of its mean change)
    sign = torch.sign(brightness_change(tm).mean(dim=(1, 2)))[:, None, None]
    constant = (tm * sign).mean()
    return ratio(pm, tm), ratio(sign * constant, tm)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="runs/demo/data/pretrain.csv", help="annotation file of the unlabelled pool")
    parser.add_argument(
        "--checkpoint",
        default="runs/demo/seed0/pretrain/checkpoint-last.pth",
        help="a pre-training checkpoint to score ('' for none; skipped if missing)",
    )
    parser.add_argument("--clips", type=int, default=96)
    parser.add_argument("--steps", type=int, default=200, help="training steps per learning rate in part 3")
    parser.add_argument("--lrs", type=float, nargs="+", default=[5e-4, 1e-3, 2e-3, 3e-3])
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="part 3 trains once per seed and learning rate (the first seed also draws parts 1-2's masks)",
    )
    args = parser.parse_args()
    if not Path(args.data).is_file():
        raise SystemExit(f"{args.data}: no such annotation file; run `python3 -m maedfer demo` first, or give --data")
    torch.manual_seed(args.seeds[0])
    model = maedfer.create_model("mae_dfer_tiny")
    x = pool_clips(args.data, model, args.clips)
    mask = model.masking(len(x))
    target = model.targets(x, mask)
    _, motion = halves(target)
    zero = float(motion.pow(2).mean())
    change = brightness_change(motion)
    share = float(change.pow(2).mean() / motion.pow(2).mean())
    print(
        f"pool: {args.data}, {len(x)} clips, hidden tubelets of {model.masking.__class__.__name__} masks "
        f"(ratio {model.masking.mask_ratio})"
    )
    print("\n1. motion target of hidden tubelets")
    print(
        f"   score of predicting zero {zero:.3f}; share of it that is each tubelet's mean brightness change "
        f"{100 * share:.1f} %"
    )
    print("\n2. predictors of hidden tubelets (loss / loss of predicting zero; < 1: better than zero)\n")
    print("| predictor | appearance | motion |\n|---|---|---|")
    print(
        f"| median brightness change of the visible tubelets, per time slice | – | "
        f"{visible_median_predictor(model, x, mask):.3f} |"
    )
    app, mot = neighbour_predictor(model, x)
    print(f"| linear map from the 4 neighbouring tubelets' pixels (all shown) | {app:.3f} | {mot:.3f} |")
    if args.checkpoint and Path(args.checkpoint).is_file():
        s = checkpoint_scores(args.checkpoint, x, mask)
        print(f"| {args.checkpoint} | {s['appearance']:.3f} | {s['motion']:.3f} |")
        print(
            f"\n   its motion predictions: rms {s['motion_rms']:.3f} of the target's; correlation of predicted "
            f"and true brightness change per tubelet {s['change_corr']:.3f}"
        )
    demo_lr = CONFIG.lr * CONFIG.batch_size / 256
    print(
        f"\n3. learning a clearly predictable motion: the pool's first frames brightening or darkening by 10 % "
        f"between the 2 frames of every tubelet (sign per clip); {args.steps} steps of batch 8, lambda 0.5; "
        f"motion loss / zero on held-out clips (the demo pre-trains at lr {demo_lr:.1e})\n"
    )
    stills = (x * model.norm_std + model.norm_mean)[:, :, 0]  # first frames, in [0, 1]
    print("| lr | motion / zero, per seed | knowing the sign | seconds per run |\n|---|---|---|---|")
    for lr in args.lrs:
        start = time.perf_counter()
        runs = [learn_brightness_steps(stills, model.input_shape[1], lr, args.steps, 8, seed) for seed in args.seeds]
        print(
            f"| {lr:.1e} | {' / '.join(f'{learned:.3f}' for learned, _ in runs)} | "
            f"{' / '.join(f'{oracle:.3f}' for _, oracle in runs)} | "
            f"{(time.perf_counter() - start) / len(runs):.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
