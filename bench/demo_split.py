"""What the demo's 15 minutes should buy: more test clips, more fine-tuning seeds on one
pre-training, or more pre-training seeds? Measured on a finished demo run, for claim 1
(fine-tuned UAR, pre-trained − scratch).

From the run's ``demo.json`` (its seeds, per-clip predictions and minutes) and from what this
script adds to it:
1. ``--extra-seeds`` more fine-tuning seeds on seed 0's pre-training, both arms, with the
   demo's recipe and precision: the spread of the paired differences that share one
   pre-training is the fine-tuning noise; what the demo's seeds spread beyond it is the
   pre-training noise;
2. the evaluation noise, from a bootstrap over the test clips (one run's difference, and the
   mean over the demo's seeds: how much of it the seeds share because they share the clips);
3. the cost of each part: the demo's own minutes per pre-training, fine-tuning pair and probe,
   scaled by how fast this run's fine-tuning pairs ran against the demo's (the same work: a
   demo run that shared the machine is slower throughout), and, timed here, one more test clip
   (rendering and writing it, and testing it with every fine-tuned model and probe).

Then every design (P pre-training seeds, F fine-tuning seeds on each, N test clips) that fits
the budget gets its predicted 95 % interval for claim 1, Student's t over the P pre-trainings
(a claim about pre-training needs more than one), and the narrowest is named. Prints a table
and writes ``demo_split.json`` to --out.

    maedfer demo --out runs/demo                                    # first, the demo itself
    python bench/demo_split.py --demo runs/demo --out runs/demo-split   # about 7 min on 2 cores
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from maedfer.data.synth import CLASSES, labelled_clip
from maedfer.data.writers import write_frames
from maedfer.engine import intervals
from maedfer.engine.demo import CLAIMS, FULL, QUICK, finetune_stage, measured, with_precision
from maedfer.engine.distributed import Dist
from maedfer.engine.evaluate import evaluate_checkpoint, evaluation_config

CLAIM = "fine-tuned UAR: pre-trained − scratch"


def bootstrap_variances(runs: list[dict]) -> tuple[float, float]:
    """The evaluation noise of claim 1: the mean over ``runs`` of each run's bootstrap variance
    of its own difference (b1²), and the bootstrap variance of the mean over the runs (their
    shared clips make it larger than b1² / runs)."""
    arms = CLAIMS[CLAIM]
    one = np.mean([measured([r], *arms)["evaluation_sd"] ** 2 for r in runs])
    return float(one), measured(runs, *arms)["evaluation_sd"] ** 2


def noise_model(demo_diffs: list[float], shared_pretraining_diffs: list[float], b1: float, bmean: float) -> dict:
    """Variance components of one paired difference (UAR points²): ``pretraining`` (what the
    demo's seeds spread beyond the fine-tuning noise), ``finetuning`` (the spread of differences
    that share one pre-training, its evaluation part included), and the evaluation noise
    ``evaluation`` (b1²) of which the fraction ``shared`` is common to every run on the same clips
    (fitted from the bootstrap of the mean of the demo's runs: bmean = b1 (shared + (1 - shared) / k))."""
    k = len(demo_diffs)
    total = float(np.var(demo_diffs, ddof=1))
    finetuning = float(np.var(shared_pretraining_diffs, ddof=1))
    shared = min(1.0, max(0.0, (bmean / b1 - 1 / k) / (1 - 1 / k))) if b1 > 0 else 0.0
    return {
        "total": total,
        "finetuning": finetuning,
        "pretraining": max(0.0, total - finetuning),
        "evaluation": b1,
        "shared": shared,
    }


def predicted_half_width(model: dict, pretrainings: int, finetunings: int, clips: int, base_clips: int) -> float:
    """The predicted 95 % half-width of claim 1's mean over ``pretrainings`` x ``finetunings``
    runs on ``clips`` test clips: evaluation noise shrinks as base_clips / clips, its shared part
    does not average over runs; t over the pre-trainings (nan for one)."""
    if pretrainings < 2:
        return math.nan
    scale = base_clips / clips
    own_eval = (1 - model["shared"]) * model["evaluation"]
    finetuning = max(0.0, model["finetuning"] - own_eval) + own_eval * scale
    variance = (
        model["pretraining"] / pretrainings
        + finetuning / (pretrainings * finetunings)
        + model["shared"] * model["evaluation"] * scale
    )
    return intervals.t975(pretrainings - 1) * math.sqrt(variance)


def design_minutes(costs: dict, pretrainings: int, finetunings: int, clips: int, base_clips: int) -> float:
    """Minutes of a design: the demo's data, each pre-training with its probes, each fine-tuning
    pair, and per test clip beyond ``base_clips`` its making and its testing."""
    extra = clips - base_clips
    return (
        costs["data"]
        + extra * costs["clip_data"]
        + pretrainings * (costs["pretrain"] + costs["probe"] + extra * costs["clip_probe"])
        + pretrainings * finetunings * (costs["finetune_pair"] + extra * costs["clip_finetune_pair"])
    )


def timed_clip_costs(demo: Path, data: Path, plan, dist: Dist, workers: int, clips: int) -> dict:
    """Minutes per extra test clip: rendering and writing it (the demo renders with ``workers``
    processes), and testing it with both fine-tuned arms of a seed; the probes read each test
    clip once per encoder, as one view of the pair's two."""
    cfg, start = plan.synth, len(CLASSES) * plan.synth.clips_per_class
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        for i in range(clips):
            write_frames(Path(tmp) / f"{i:05d}", labelled_clip(cfg, start + i), ext="jpg", quality=92)
        clip_data = (time.perf_counter() - t) / 60 / clips / max(1, workers)
        t = time.perf_counter()
        for arm in ("pretrained", "scratch"):
            ckpt = demo / "seed0" / f"finetune-{arm}" / "checkpoint-last.pth"
            cfg_eval = evaluation_config(str(ckpt), overrides=dict(test_clips=2, test_crops=1, workers=workers))
            evaluate_checkpoint(cfg_eval, str(data / "test.csv"), Path(tmp) / arm, dist)
    tested = len((data / "test.csv").read_text().splitlines())
    pair = (time.perf_counter() - t) / 60 / tested
    return {"clip_data": clip_data, "clip_finetune_pair": pair, "clip_probe": pair / 2}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo", default="runs/demo", help="a finished `maedfer demo` folder")
    ap.add_argument("--out", default="runs/demo-split")
    ap.add_argument("--extra-seeds", type=int, nargs="+", default=[1000, 2000], help="fine-tuning seeds on seed 0")
    ap.add_argument("--budget", type=float, default=15.0, help="minutes the demo may take")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    demo, out = Path(args.demo), Path(args.out)
    result = json.loads((demo / "demo.json").read_text())
    plan = QUICK if result["quick"] else FULL
    workers = 0 if result["quick"] else args.workers
    plan = with_precision(plan, result["machine"]["precision"])
    dist = Dist(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    data = demo / "data"
    started = time.perf_counter()

    runs = [result["seeds"][s] for s in sorted(result["seeds"], key=int)]
    diffs = [r["finetune"]["pretrained"]["uar"] - r["finetune"]["scratch"]["uar"] for r in runs]
    init = demo / "seed0" / "pretrain" / "checkpoint-last.pth"
    extra, pair_minutes = [], []
    timings = out / "pair_minutes.json"  # kept, so that a resumed run still knows what the pairs cost
    saved = json.loads(timings.read_text()) if timings.is_file() else {}
    for seed in args.extra_seeds:
        t = time.perf_counter()
        arms = {
            name: finetune_stage(out / f"seed0-finetune{seed}-{name}", data, seed, plan.finetune, start, dist, workers)
            for name, start in (("pretrained", init), ("scratch", None))
        }
        saved.setdefault(str(seed), (time.perf_counter() - t) / 60)
        timings.write_text(json.dumps(saved))
        pair_minutes.append(saved[str(seed)])
        extra.append(arms["pretrained"]["uar"] - arms["scratch"]["uar"])
        print(f"fine-tuning seed {seed} on seed 0's pre-training: difference {extra[-1]:+.1f}", flush=True)
    b1, bmean = bootstrap_variances(runs)
    model = noise_model(diffs, [diffs[0], *extra], b1, bmean)

    # The demo's own minutes per stage, scaled to this run's pace: the fine-tuning pairs timed
    # here against the demo's (a demo run beside other work is slower throughout).
    minutes = [r["minutes"] for r in runs]
    demo_pair = float(np.mean([m["finetune_pretrained"] + m["finetune_scratch"] for m in minutes]))
    pace = float(np.mean(pair_minutes)) / demo_pair
    costs = {
        "pace": pace,
        "data": result["minutes"]["data"] * pace,
        "pretrain": float(np.mean([m["pretrain"] for m in minutes])) * pace,
        "finetune_pair": demo_pair * pace,
        "probe": float(np.mean([m["probe"] for m in minutes])) * pace,
        **timed_clip_costs(demo, data, plan, dist, workers, clips=14),
    }
    base = len(runs[0]["test_labels"])
    designs = []
    for p, f, n in itertools.product(range(1, 6), range(1, 5), [base * k for k in (1, 2, 3, 4)]):
        cost = design_minutes(costs, p, f, n, base)
        if cost <= args.budget:
            designs.append(
                {
                    "pretrainings": p,
                    "finetunings": f,
                    "test_clips": n,
                    "minutes": cost,
                    "half_width": predicted_half_width(model, p, f, n, base),
                }  # fmt: skip
            )
    # What one more unit of each buys, from the demo's design (3 x 1, its test clips), in or out of budget.
    levers = [
        {"lever": lever, "pretrainings": p, "finetunings": f, "test_clips": n,
         "minutes": design_minutes(costs, p, f, n, base), "half_width": predicted_half_width(model, p, f, n, base)}
        for lever, p, f, n in (
            ("the demo's", 3, 1, base),
            ("twice the test clips", 3, 1, 2 * base),
            ("a second fine-tuning seed on each pre-training", 3, 2, base),
            ("a fourth pre-training seed", 4, 1, base),
        )
    ]  # fmt: skip
    valid = [d for d in designs if not math.isnan(d["half_width"])]
    best = min(valid, key=lambda d: (d["half_width"], d["minutes"])) if valid else None
    report = {
        "demo": str(demo),
        "machine": result["machine"],
        "demo_differences": diffs,
        "extra_seeds": args.extra_seeds,
        "extra_differences": extra,
        "noise": model,
        "costs_minutes": costs,
        "budget_minutes": args.budget,
        "designs": sorted(designs, key=lambda d: (math.isnan(d["half_width"]), d["half_width"])),
        "levers": levers,
        "chosen": best,
        "demo_interval": result["summary"]["claims"][CLAIM]["interval"],
        "minutes": (time.perf_counter() - started) / 60,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "demo_split.json").write_text(json.dumps(report, indent=2))
    print(table(report))


def table(report: dict) -> str:
    m, c = report["noise"], report["costs_minutes"]
    lines = [
        f"Claim 1's noise (UAR points², one paired difference): pre-training {m['pretraining']:.1f}, "
        f"fine-tuning {m['finetuning']:.1f} (differences on seed 0's pre-training: "
        + " / ".join(f"{v:+.1f}" for v in [report["demo_differences"][0], *report["extra_differences"]])
        + f"), evaluation {m['evaluation']:.1f} ({m['shared']:.0%} of it shared by runs on the same clips)",
        f"Costs (min, the demo's at this run's pace: {c['pace']:.2f} of its time): data {c['data']:.2f}, "
        f"pre-training {c['pretrain']:.2f}, fine-tuning pair "
        f"{c['finetune_pair']:.2f}, probes {c['probe']:.2f}; per extra test clip: making it "
        f"{c['clip_data'] * 60:.2f} s, testing it {c['clip_finetune_pair'] * 60:.2f} s a pair",
        "",
        "| from the demo's design | minutes | predicted 95 % half-width |",
        "|---|---|---|",
        *(f"| {v['lever']} | {v['minutes']:.1f} | ±{v['half_width']:.1f} |" for v in report["levers"]),
        "",
        f"| pre-trainings | fine-tunings each | test clips | minutes | predicted 95 % half-width (of ≤ "
        f"{report['budget_minutes']:.0f} min) |",
        "|---|---|---|---|---|",
    ]
    valid = [d for d in report["designs"] if not math.isnan(d["half_width"])]
    base = min(d["test_clips"] for d in report["designs"])
    now = [d for d in valid if (d["pretrainings"], d["finetunings"], d["test_clips"]) == (3, 1, base)]
    for d in valid[:10] + [d for d in now if d not in valid[:10]]:
        mark = " (the demo's)" if d in now else ""
        lines.append(
            f"| {d['pretrainings']}{mark} | {d['finetunings']} | {d['test_clips']} | {d['minutes']:.1f} | "
            f"±{d['half_width']:.1f} |"
        )
    lines += [
        "",
        f"{len(valid)} designs fit with 2 or more pre-trainings (the 10 narrowest shown; all in demo_split.json); "
        f"{len(report['designs']) - len(valid)} with one pre-training give no interval for a claim about pre-training.",
    ]
    best = report["chosen"]
    if best:
        lines += [
            "",
            f"Narrowest: {best['pretrainings']} pre-trainings × {best['finetunings']} fine-tuning seed(s), "
            f"{best['test_clips']} test clips, {best['minutes']:.1f} min, ±{best['half_width']:.1f} points",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
