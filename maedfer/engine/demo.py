"""``maedfer demo``: the whole method on the built-in synthetic data, on a laptop CPU.

1. generate the synthetic dataset (labelled clips + an unlabelled mp4 pool);
2. pre-train a tiny MAE-DFER on the unlabelled pool;
3. fine-tune its encoder on the labelled train split;
4. fine-tune the same model from scratch (the control), same recipe and seed;
5. test both (multi-view), print a table and write plots.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from ..config import resolve_config
from ..data.synth import SynthConfig, generate
from ..errors import MaedferError
from ..files import output_dir
from ..visualize.figures import pyplot, save_figure
from .distributed import Dist
from .finetune import finetune
from .pretrain import pretrain

# Sized to finish in about 13 minutes on 2 CPU cores; --quick is for tests (about a minute).
FULL = dict(synth=SynthConfig(clips_per_class=40, pool_size=160, frames=32, pool_frames=48, size=112),
            pretrain_epochs=32, finetune_epochs=16, batch_size=16)
QUICK = dict(synth=SynthConfig(clips_per_class=2, pool_size=8, frames=16, pool_frames=20, size=48, identities=2),
             pretrain_epochs=1, finetune_epochs=1, batch_size=4)


def run_demo(out: str | Path, dist: Dist, quick: bool = False, workers: int = 2) -> dict:
    plan = QUICK if quick else FULL
    out = output_dir(out, "demo folder")
    timings: dict[str, float] = {}
    start = time.perf_counter()
    data = out / "data"
    # A second run in the same folder continues the first (every stage resumes), so it
    # must be the same demo: the quick one and the full one need their own folders.
    made = data / "synth.json"
    if made.is_file():
        try:
            same = json.loads(made.read_text()).get("config") == asdict(plan["synth"])
        except (ValueError, AttributeError):
            same = False
        if not same:
            raise MaedferError(f"{out}: holds a different demo ({'the full one' if quick else 'a --quick one'} "
                               f"or damaged data); give another --out or delete the folder")
    else:
        generate(data, plan["synth"], workers=workers if not quick else 0, progress=True, overwrite=True)
    timings["data"] = time.perf_counter() - start

    common = dict(workers=workers if not quick else 0, batch_size=plan["batch_size"])
    t = time.perf_counter()
    pre_cfg = resolve_config("pretrain", "synth-tiny-pretrain", overrides=dict(
        common, data=str(data / "pretrain.csv"), output_dir=str(out / "pretrain"), epochs=plan["pretrain_epochs"],
        warmup_epochs=min(2.0, plan["pretrain_epochs"] / 2), save_every=plan["pretrain_epochs"]))
    pretrain(pre_cfg, dist, resume="auto")
    timings["pretrain"] = time.perf_counter() - t

    results = {}
    for name, init in (("pretrained", str(out / "pretrain" / "checkpoint-last.pth")), ("scratch", None)):
        t = time.perf_counter()
        cfg = resolve_config("finetune", "synth-tiny", overrides=dict(
            common, train=str(data / "train.csv"), test=str(data / "test.csv"), init=init,
            output_dir=str(out / f"finetune-{name}"), epochs=plan["finetune_epochs"],
            warmup_epochs=min(2.0, plan["finetune_epochs"] / 2), eval_every=plan["finetune_epochs"],
            save_every=plan["finetune_epochs"], test_clips=2, test_crops=1))
        record = finetune(cfg, dist, resume="auto")
        timings[f"finetune_{name}"] = time.perf_counter() - t
        results[name] = {"uar": record["uar"], "war": record["war"]}
    timings["total"] = time.perf_counter() - start

    summary = {"results": results, "minutes": {k: v / 60 for k, v in timings.items()}, "quick": quick}
    if dist.is_main:
        (out / "demo.json").write_text(json.dumps(summary, indent=2))
        plot_demo(out, results)
        print()
        print(f"{'fine-tuned from':<18}{'UAR':>8}{'WAR':>8}")
        for name, r in results.items():
            print(f"{name:<18}{r['uar']:8.2f}{r['war']:8.2f}")
        print("minutes: " + ", ".join(f"{k} {v / 60:.1f}" for k, v in timings.items()))
        print(f"plots and runs in {out}")
    return summary


def plot_demo(out: Path, results: dict) -> None:
    """demo.png: UAR/WAR of both runs, and their training loss per epoch."""
    plt = pyplot()

    fig, (bars, curves) = plt.subplots(1, 2, figsize=(9, 3.5))
    names = list(results)
    for i, metric in enumerate(("uar", "war")):
        bars.bar([j + 0.38 * i for j in range(len(names))], [results[n][metric] for n in names], width=0.36,
                 label=metric.upper())
    bars.set_xticks([j + 0.19 for j in range(len(names))], names)
    bars.axhline(100 / 7, color="grey", linestyle=":", label="chance")
    bars.set_ylabel("%")
    bars.legend()
    bars.set_title("test, synthetic set")
    for name in names:
        log = out / f"finetune-{name}" / "metrics.jsonl"
        rows = [json.loads(line) for line in log.read_text().splitlines()]
        curves.plot([r["epoch"] for r in rows], [r["train_loss"] for r in rows], marker="o", label=name)
    pre = out / "pretrain" / "metrics.jsonl"
    if pre.exists():
        rows = [json.loads(line) for line in pre.read_text().splitlines()]
        twin = curves.twinx()
        twin.plot([r["epoch"] for r in rows], [r["train_loss"] for r in rows], color="grey", linestyle="--",
                  label="pre-training loss")
        twin.set_ylabel("pre-training loss", color="grey")
    curves.set_xlabel("epoch")
    curves.set_ylabel("fine-tuning loss")
    curves.legend()
    save_figure(fig, out / "demo.png")
