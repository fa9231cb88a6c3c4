"""``maedfer demo``: the paper's claims on the built-in synthetic data, on a laptop CPU,
over several seeds.

1. generate the synthetic dataset once (labelled clips + an unlabelled mp4 pool);
2. per seed (the seed changes the pre-training masks, the fine-tuning order and the head's
   initialisation; the data stay fixed):
   a. pre-train a tiny MAE-DFER on the unlabelled pool (appearance + motion, lambda 0.5),
      scored every epoch on held-out videos against predicting zero and the no-input floor;
   b. fine-tune the pre-trained encoder on the labelled train split, and the same model
      from scratch (the control), same recipe;
   c. k-NN and linear probes of frozen features: pre-trained and random (bench/evidence.py
      adds the appearance-only pre-training, lambda 1, of the paper's claim 2);
3. tables (mean +- std over seeds, and per seed) printed and written to ``demo.json`` and
   ``demo.md``, and ``demo.png``; each claim (a paired difference per seed) with its 95 %
   interval over seeds, the evaluation noise of a bootstrap over the test clips, and a verdict
   (maedfer.engine.intervals).

Same seed, same machine, same numbers: the precision is a setting whose default comes from the
hardware, not from timing (maedfer.precision.training_precision); every random draw is seeded
(data rendering, masks, clip order and augmentation by (seed, epoch, index), heads); and the
synthetic videos are encoded without x264's macroblock tree, which made the same frames into
different files from run to run (maedfer.data.writers).
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import yaml

from ..config import PRESETS, resolve_config
from ..data.catalog import dataset_info
from ..data.synth import CLASSES, SynthConfig, ensure_generated
from ..errors import MaedferError
from ..files import atomic_write, output_dir
from ..precision import check_precision, cpu_name, training_precision
from ..visualize.figures import pyplot, save_figure
from . import intervals
from .distributed import Dist
from .finetune import finetune
from .pretrain import pretrain
from .probe import probe


@dataclass(frozen=True)
class DemoPlan:
    synth: SynthConfig
    seeds: tuple[int, ...]
    pretrain: dict = field(default_factory=dict)  # overrides of the synth-small-pretrain preset
    finetune: dict = field(default_factory=dict)  # overrides of the synth-small preset


# Sized to finish within 15 minutes on 2 CPU cores (in bf16, the default where the CPU runs it
# natively); --quick is for tests. Version-3 synthetic faces rendered at 88 pixels
# (crops of 80: the paper's 8x10x10 token grid in 8x8 patches). The label-scarce regime: 12
# people's clips (84) are labelled, 28 people's (196) test; 160 unlabelled videos of other people
# pre-train, and 32 of yet others are held out to score the reconstruction against its floors.
FULL = DemoPlan(
    synth=SynthConfig(
        clips_per_class=40, pool_size=160, heldout_size=32, frames=32, pool_frames=80, size=88, test_fraction=0.7
    ),
    seeds=(0, 1, 2),
    pretrain=dict(epochs=15, warmup_epochs=1.5),  # 300 steps of 8 clips
    finetune=dict(epochs=30, warmup_epochs=3.0),  # 300 steps of 8 clips
)
QUICK = DemoPlan(
    synth=SynthConfig(clips_per_class=2, pool_size=8, heldout_size=4, frames=16, pool_frames=20, size=48, identities=2),
    seeds=(0, 1),
    pretrain=dict(epochs=1, warmup_epochs=0.5, batch_size=4),
    finetune=dict(epochs=1, warmup_epochs=0.5, batch_size=4),
)


def with_decoded_pool(plan: DemoPlan, data: Path) -> DemoPlan:
    """``plan`` with its pre-training reading the unlabelled pool decoded once, into
    ``data/pool.u8``, shared by every pre-training run of the plan (maedfer.data.pool_cache)."""
    return replace(plan, pretrain=dict(plan.pretrain, pool_cache=str(data / "pool.u8")))


def with_precision(plan: DemoPlan, precision: str) -> DemoPlan:
    """``plan`` training (pre-training and fine-tuning) in ``precision``."""
    return replace(
        plan, pretrain=dict(plan.pretrain, precision=precision), finetune=dict(plan.finetune, precision=precision)
    )


def check_same_precision(out: Path, precision: str) -> None:
    """A demo folder continues its earlier runs (every stage resumes), so they must have
    trained in ``precision`` too: else one line saying which they used."""
    for config in sorted(out.glob("seed*/*/config.yaml")):
        then = (yaml.safe_load(config.read_text()) or {}).get("precision")
        if then is not None and then != precision:
            raise MaedferError(
                f"{out}: its runs trained in {then} ({config}), and this demo asks for {precision}; "
                f"continue them with --precision {then}, or give another --out"
            )


def with_model_overrides(settings: dict, **overrides) -> dict:
    """``settings`` with ``overrides`` added to (not replacing) its model_overrides."""
    return dict(settings, model_overrides={**settings.get("model_overrides", {}), **overrides})


def over_preset(preset: str, settings: dict) -> dict:
    """``settings`` as overrides of ``preset``, their model_overrides added to the preset's
    (decoder masking, the head's scale) instead of replacing them."""
    return dict(
        settings, model_overrides={**PRESETS[preset].get("model_overrides", {}), **settings.get("model_overrides", {})}
    )


# The encoders the probe reads, by name: the pre-training run folder of a seed, or None for
# random weights.
PROBED = {
    "MAE-DFER (appearance + motion)": "pretrain",
    "appearance only (lambda 1)": "pretrain-appearance",
    "random initialisation": None,
}


def pretrain_stage(
    run: Path, data: Path, seed: int, settings: dict, dist: Dist, workers: int, figures: bool = False
) -> dict:
    """Pre-train on ``data``'s unlabelled pool, scored each epoch on its held-out videos
    (``settings``: overrides of the synth-small-pretrain preset; a checkpoint at the end unless
    they say ``save_every``);
    resumes an earlier run. Returns the last epoch's record."""
    cfg = resolve_config(
        "pretrain",
        "synth-small-pretrain",
        overrides=dict(
            over_preset("synth-small-pretrain", settings),
            workers=workers,
            seed=seed,
            data=str(data / "pretrain.csv"),
            heldout=str(data / "heldout.csv"),
            output_dir=str(run),
            save_every=settings.get("save_every", settings["epochs"]),
            figure_every=settings["epochs"] if figures else 0,
        ),
    )
    return pretrain(cfg, dist, resume="auto")


def finetune_stage(
    run: Path, data: Path, seed: int, settings: dict, init: Path | None, dist: Dist, workers: int
) -> dict:
    """Fine-tune (``settings``: overrides of the synth-small preset) from ``init`` or from
    scratch, test with 2 temporal views; resumes an earlier run. Returns UAR, WAR, and each
    test clip's label and predicted class (the annotation file's order), for the bootstrap."""
    cfg = resolve_config(
        "finetune",
        "synth-small",
        overrides=dict(
            over_preset("synth-small", settings),
            workers=workers,
            seed=seed,
            train=str(data / "train.csv"),
            test=str(data / "test.csv"),
            init=str(init) if init else None,
            output_dir=str(run),
            eval_every=settings["epochs"],
            save_every=settings["epochs"],
            test_clips=2,
            test_crops=1,
        ),
    )
    record = finetune(cfg, dist, resume="auto")
    classes = dataset_info(cfg.dataset).classes
    with (run / "eval" / "predictions.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    return {
        "uar": record["uar"],
        "war": record["war"],
        "labels": [classes.index(r["label"]) for r in rows],
        "predictions": [classes.index(r["prediction"]) for r in rows],
    }


def probe_stage(data: Path, seed: int, settings: dict, init: Path | None, dist: Dist, workers: int) -> dict:
    """k-NN and linear probes of the frozen encoder of the pre-training checkpoint ``init``
    (None: a randomly initialised mae_dfer_tiny), clips as fine-tuning (``settings``: overrides
    of the synth-small preset) tests them."""
    cfg = resolve_config(
        "finetune",
        "synth-small",
        overrides=dict(
            workers=workers,
            seed=seed,
            batch_size=settings.get("batch_size", PRESETS["synth-small"]["batch_size"]),
            test_clips=1,
            test_crops=1,
        ),
    )
    return probe(cfg, init, str(data / "train.csv"), str(data / "test.csv"), workers=workers, device=dist.device)


def run_seed(
    out: Path,
    data: Path,
    plan: DemoPlan,
    seed: int,
    dist: Dist,
    workers: int,
    appearance_only: bool,
    finetune_appearance: bool = False,
) -> dict:
    """Everything of one seed, in ``out``: the pre-training (and with ``appearance_only`` a
    second one with lambda 1, for the probe, and with ``finetune_appearance`` for a third
    fine-tuning too), two fine-tunings, the probes. Each stage resumes where an earlier run
    stopped."""
    minutes: dict[str, float] = {}
    t = time.perf_counter()
    pre = pretrain_stage(out / "pretrain", data, seed, plan.pretrain, dist, workers, figures=True)
    minutes["pretrain"] = (time.perf_counter() - t) / 60
    if appearance_only:
        t = time.perf_counter()
        pretrain_stage(
            out / "pretrain-appearance",
            data,
            seed,
            with_model_overrides(plan.pretrain, appearance_weight=1.0),
            dist,
            workers,
        )
        minutes["pretrain_appearance"] = (time.perf_counter() - t) / 60
    finetuned = {}
    starts = [("pretrained", out / "pretrain" / "checkpoint-last.pth"), ("scratch", None)]
    if appearance_only and finetune_appearance:
        starts.insert(1, ("appearance_only", out / "pretrain-appearance" / "checkpoint-last.pth"))
    for name, init in starts:
        t = time.perf_counter()
        finetuned[name] = finetune_stage(out / f"finetune-{name}", data, seed, plan.finetune, init, dist, workers)
        minutes[f"finetune_{name}"] = (time.perf_counter() - t) / 60
    t = time.perf_counter()
    probes = {
        name: probe_stage(data, seed, plan.finetune, out / run / "checkpoint-last.pth" if run else None, dist, workers)
        for name, run in PROBED.items()
        if appearance_only or run != "pretrain-appearance"
    }
    minutes["probe"] = (time.perf_counter() - t) / 60
    # One list of test labels per seed: every arm and probe tested the same clips in the same order.
    labels = [r.pop("labels") for r in (*finetuned.values(), *probes.values())]
    if any(other != labels[0] for other in labels):
        raise RuntimeError("the fine-tuned arms and the probes tested the clips in different orders")
    return {
        "test_labels": labels[0],
        "finetune": finetuned,
        "probe": probes,
        "minutes": minutes,
        "pretrain_last_epoch": {
            k: pre[f"train_{k}"]
            for k in ("appearance", "appearance_zero", "appearance_ratio", "motion", "motion_zero", "motion_ratio")
        },
        "heldout_last_epoch": {k: pre[f"heldout_{k}"] for k in HELDOUT_KEYS},
    }


# What the pre-training's held-out clips say (maedfer/engine/floors.py): per part, the loss ÷
# predicting zero, ÷ the no-input floor, and that floor ÷ zero.
HELDOUT_KEYS = tuple(
    f"{part}_{kind}" for part in ("appearance", "motion") for kind in ("ratio", "floor_ratio", "floor")
)


def mean_std(values: list[float]) -> dict:
    """Mean, standard deviation over seeds (ddof 1; 0 for one seed) and the values."""
    return {
        "mean": float(np.mean(values)),
        "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
        "per_seed": [float(v) for v in values],
    }


def summarise(seeds: dict[int, dict]) -> dict:
    """Mean, std (over seeds, ddof 1) and per-seed values of every figure of the tables, the
    claims with their intervals, and the targets with their verdicts."""
    runs = list(seeds.values())
    gap = [r["finetune"]["pretrained"]["uar"] - r["finetune"]["scratch"]["uar"] for r in runs]
    found = claims(runs)
    return {
        "finetune": {
            name: {m: mean_std([r["finetune"][name][m] for r in runs]) for m in ("uar", "war")}
            for name in ("pretrained", "scratch")
        },
        "uar_gap": mean_std(gap),
        "probe": {
            name: {
                m: mean_std([r["probe"][name][m] for r in runs if name in r["probe"]])
                for m in runs[0]["probe"][name]
                if not m.endswith("_predictions")
            }
            for name in probed(runs)
        },
        "pretrain_last_epoch": {
            k: mean_std([r["pretrain_last_epoch"][k] for r in runs]) for k in runs[0]["pretrain_last_epoch"]
        },
        "heldout_last_epoch": {k: mean_std([r["heldout_last_epoch"][k] for r in runs]) for k in HELDOUT_KEYS},
        "claims": found,
        "targets": targets(runs, found),
    }


def probed(runs: list[dict]) -> list[str]:
    """The probed encoders (PROBED's order) that some seed has."""
    return [name for name in PROBED if any(name in r["probe"] for r in runs)]


PRETRAINED, RANDOM = "MAE-DFER (appearance + motion)", "random initialisation"


def _finetuned(arm: str):
    return lambda r: r["finetune"][arm]["predictions"]


def _probed(encoder: str, kind: str):
    return lambda r: r["probe"][encoder][f"{kind}_predictions"]


# The demo's claims: per seed, UAR of one set of test predictions minus another's (paired:
# the same seed trained both).
CLAIMS = {
    "fine-tuned UAR: pre-trained − scratch": (_finetuned("pretrained"), _finetuned("scratch")),
    "k-NN probe UAR: pre-trained − random encoder": (_probed(PRETRAINED, "knn"), _probed(RANDOM, "knn")),
    "linear probe UAR: pre-trained − random encoder": (_probed(PRETRAINED, "linear"), _probed(RANDOM, "linear")),
}


def measured(runs: list[dict], a, b=None) -> dict:
    """Per seed, the UAR of predictions ``a(run)`` minus that of ``b(run)`` (``b`` None: the
    UAR of ``a``), and its evaluation noise: a bootstrap over the test clips, the same
    resamples for every seed (maedfer.engine.intervals.bootstrap)."""
    figures = [intervals.uar_difference(r["test_labels"], a(r), b(r) if b else None, len(CLASSES)) for r in runs]
    clips = len(runs[0]["test_labels"])
    noise = intervals.bootstrap(figures, clips)
    return {
        "per_seed": [float(f(np.arange(clips)[None])[0]) for f in figures],
        "evaluation_sd": noise["sd_of_mean"],
        "evaluation_per_seed": noise["per_seed"],
        "bootstrap_rounds": noise["rounds"],
        "test_clips": clips,
    }


def claims(runs: list[dict]) -> dict[str, dict]:
    """Each of CLAIMS over the seeds run: the per-seed differences, their mean, the 95 %
    interval over seeds, the evaluation noise, the interval with both, and its verdict
    against 0 (maedfer.engine.intervals)."""
    out = {}
    for name, (a, b) in CLAIMS.items():
        m = measured(runs, a, b)
        out[name] = {**m, **intervals.claim(m["per_seed"], 0.0, m["evaluation_sd"])}
    return out


def targets(runs: list[dict], found: dict[str, dict]) -> dict[str, dict]:
    """The targets the demo is held to (issue 31), each a claim about the mean over seeds with
    its interval and verdict: "shown" only where the interval clears the target. The
    reconstruction targets have no test clips to resample: their interval is over seeds."""
    held = [r["heldout_last_epoch"] for r in runs]
    gap = found["fine-tuned UAR: pre-trained − scratch"]
    knn = found["k-NN probe UAR: pre-trained − random encoder"]
    scratch = measured(runs, _finetuned("scratch"))

    def on(c: dict, threshold: float) -> dict:
        return {**intervals.claim(c["per_seed"], threshold, c["evaluation_sd"]), "digits": 1}

    def ratio(key: str, threshold: float) -> dict:
        return {**intervals.claim([h[key] for h in held], threshold, above=False), "digits": 3}

    return {
        "held-out appearance ÷ its no-input floor < 1": ratio("appearance_floor_ratio", 1.0),
        "held-out motion ÷ zero ≤ 0.95": ratio("motion_ratio", 0.95),
        "k-NN probe ≥ random encoder's + 10 points": on(knn, 10.0),
        "pre-trained − scratch ≥ 10 points": on(gap, 10.0),
        "pre-trained above scratch": on(gap, 0.0),
        "scratch ≥ 30 % UAR": on(scratch, 30.0),
    }


def plus_minus(s: dict) -> str:
    """``mean ± std`` of a :func:`mean_std` result, one decimal."""
    return f"{s['mean']:.1f} ± {s['std']:.1f}"


def tables(summary: dict, seeds: list[int]) -> str:
    """The demo's result tables, in Markdown (printed as they are)."""
    each = " / ".join(str(s) for s in seeds)
    f, p, pre = summary["finetune"], summary["probe"], summary["pretrain_last_epoch"]
    lines = [
        f"Fine-tuned lgi_former_tiny, test UAR / WAR in % (mean ± std over seeds {each}; chance 14.3)",
        "",
        f"| fine-tuned from | UAR | WAR | UAR per seed ({each}) |",
        "|---|---|---|---|",
    ]
    for name, label in (("pretrained", "MAE-DFER pre-training"), ("scratch", "scratch (control)")):
        lines.append(
            f"| {label} | {plus_minus(f[name]['uar'])} | {plus_minus(f[name]['war'])} | "
            + " / ".join(f"{v:.1f}" for v in f[name]["uar"]["per_seed"])
            + " |"
        )
    g = summary["uar_gap"]
    lines += [
        f"| gap (pre-trained − scratch) | {plus_minus(g)} | | " + " / ".join(f"{v:+.1f}" for v in g["per_seed"]) + " |",
        "",
        "Frozen-feature probes of the encoder, test UAR in % (no fine-tuning)",
        "",
        "| encoder | k-NN | linear probe |",
        "|---|---|---|",
    ]
    for name in p:
        seen = len(p[name]["knn_uar"]["per_seed"])
        label = name if seen == len(seeds) else f"{name}, seed {seeds[0]} only"
        lines.append(f"| {label} | {plus_minus(p[name]['knn_uar'])} | {plus_minus(p[name]['linear_uar'])} |")
    lines += [
        "",
        "Pre-training, last epoch: loss ÷ loss of predicting zero on the same batches (< 1: learned)",
        "",
        "| part | loss | zero prediction | ratio |",
        "|---|---|---|---|",
    ]
    for part in ("appearance", "motion"):
        lines.append(
            f"| {part} | {pre[part]['mean']:.3f} | {pre[part + '_zero']['mean']:.3f} | "
            f"{pre[part + '_ratio']['mean']:.3f} ± {pre[part + '_ratio']['std']:.3f} |"
        )
    held = summary["heldout_last_epoch"]
    lines += [
        "",
        "Pre-training, last epoch, on held-out videos of other people (every hidden token): loss ÷ predicting "
        "zero, ÷ the no-input floor (each position's average target; < 1: learned from what the model sees)",
        "",
        f"| part | ÷ zero (per seed {each}) | ÷ no-input floor (per seed) | no-input floor ÷ zero |",
        "|---|---|---|---|",
    ]
    for part in ("appearance", "motion"):
        ratio, floor_ratio, floor = (held[f"{part}_{k}"] for k in ("ratio", "floor_ratio", "floor"))
        lines.append(
            f"| {part} | "
            + " / ".join(f"{v:.3f}" for v in ratio["per_seed"])
            + " | "
            + " / ".join(f"{v:.3f}" for v in floor_ratio["per_seed"])
            + f" | {floor['mean']:.3f} |"
        )
    return "\n".join(lines) + "\n\n" + quoted_tables(summary, seeds)


def quoted_tables(summary: dict, seeds: list[int]) -> str:
    """What the README and the Results page quote of a demo run: its claims and targets as
    demo.md has them (tests/test_demo_quotes.py holds the quotes to the run's demo.json)."""
    return "\n".join([*claims_table(summary, seeds), "", *targets_table(summary)]) + "\n"


def _interval(pair: list[float], digits: int = 1, sign: str = "+") -> str:
    return f"[{pair[0]:{sign}.{digits}f}, {pair[1]:{sign}.{digits}f}]"


def claims_table(summary: dict, seeds: list[int]) -> list[str]:
    """The claims, each a paired difference per seed, with the noise around it (Markdown lines)."""
    c = summary["claims"]
    first = next(iter(c.values()))
    lines = [
        f"Claims, UAR points on {first['test_clips']} test clips: per seed ({' / '.join(map(str, seeds))}), "
        f"the mean with its 95 % interval over seeds, the evaluation noise (95 % of a bootstrap over the "
        f"test clips, {first['bootstrap_rounds']} resamples), and the interval with both",
        "",
        "| claim | per seed | mean | 95 % over seeds | evaluation noise per seed | 95 % with both | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, x in c.items():
        lines.append(
            f"| {name} | "
            + " / ".join(f"{v:+.1f}" for v in x["per_seed"])
            + f" | {x['mean']:+.1f} | {_interval(x['seeds_interval'])} | "
            + " / ".join(_interval(p) for p in x["evaluation_per_seed"])
            + f" | {_interval(x['interval'])} | {x['verdict']} |"
        )
    return lines


def targets_table(summary: dict) -> list[str]:
    """The targets with the mean over seeds, the 95 % interval and the verdict (Markdown lines)."""
    lines = [
        "Targets (issue 31): shown where the 95 % interval (seeds and test clips) clears the target, "
        "not shown where it lies on the wrong side, within noise otherwise",
        "",
        "| target | mean over seeds | 95 % interval | verdict |",
        "|---|---|---|---|",
    ]
    for name, x in summary["targets"].items():
        digits = x["digits"]
        lines.append(f"| {name} | {x['mean']:.{digits}f} | {_interval(x['interval'], digits, '')} | {x['verdict']} |")
    return lines


def run_demo(out: str | Path, dist: Dist, quick: bool = False, workers: int = 2, precision: str | None = None) -> dict:
    """The demo in ``out`` (see the module's docstring); ``precision`` None: the hardware's
    default (:func:`maedfer.precision.training_precision`). Returns what demo.json holds."""
    plan = QUICK if quick else FULL
    if precision is None:
        precision, why = training_precision(dist.device)
        why = f"the default: {why}"
    else:
        why = "as asked"
    check_precision(precision, dist.device)
    out = output_dir(out, "demo folder")
    check_same_precision(out, precision)
    start = time.perf_counter()
    data = out / "data"
    # A second run in the same folder continues the first (every stage resumes), so it must
    # be the same demo: data of the other size (full / --quick) are refused.
    ensure_generated(data, plan.synth, workers=workers if not quick else 0, progress=True)
    plan = with_precision(with_decoded_pool(plan, data), precision)
    machine = {
        "cpu": cpu_name(),
        "device": str(dist.device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "precision": precision,
        "precision_reason": why,
    }
    if dist.is_main:
        print(f"training precision {precision} ({why}); {machine['threads']} threads on {machine['cpu']}", flush=True)
    minutes = {"data": (time.perf_counter() - start) / 60}
    seeds = {}
    for seed in plan.seeds:
        if dist.is_main:
            print(f"--- seed {seed} ({plan.seeds.index(seed) + 1} of {len(plan.seeds)}) ---", flush=True)
        # The appearance-only pre-training (claim 2) is bench/evidence.py's: a second
        # pre-training would not fit the 15 minutes.
        seeds[seed] = run_seed(
            out / f"seed{seed}",
            data,
            plan,
            seed,
            dist,
            workers if not quick else 0,
            appearance_only=False,
        )
    minutes["total"] = (time.perf_counter() - start) / 60
    summary = {"summary": summarise(seeds), "seeds": seeds, "minutes": minutes, "quick": quick, "machine": machine}
    if dist.is_main:
        text = tables(summary["summary"], list(plan.seeds))
        atomic_write(out / "demo.json", lambda f: f.write(json.dumps(summary, indent=2).encode()))
        atomic_write(out / "demo.md", lambda f: f.write(text.encode()))
        plot_demo(out, summary)
        print()
        print(text)
        print(
            f"minutes: data {minutes['data']:.1f}, total {minutes['total']:.1f}; tables in {out / 'demo.md'}, "
            f"reconstructions in {out / f'seed{plan.seeds[0]}' / 'pretrain' / 'figures'}"
        )
    return summary


def plot_demo(out: Path, summary: dict) -> None:
    """demo.png: fine-tuning UAR (mean, std and each seed), the probes, and the pre-training
    losses on the held-out videos relative to predicting zero, with the no-input floors, per
    epoch and seed."""
    plt = pyplot()
    agg, seeds = summary["summary"], summary["seeds"]
    fig, (ft, pr, curves) = plt.subplots(1, 3, figsize=(13, 3.8))
    for j, name in enumerate(("pretrained", "scratch")):
        uar = agg["finetune"][name]["uar"]
        ft.bar(j, uar["mean"], yerr=uar["std"], width=0.6, capsize=4, color=f"C{j}", alpha=0.7)
        ft.scatter([j] * len(uar["per_seed"]), uar["per_seed"], color="black", s=12, zorder=3)
    ft.set_xticks([0, 1], ["pre-trained", "scratch"])
    ft.axhline(100 / 7, color="grey", linestyle=":", label="chance")
    ft.set_ylabel("test UAR (%)")
    ft.set_title(f"fine-tuned ({len(seeds)} seeds)")
    ft.legend()
    names = list(agg["probe"])
    for i, metric in enumerate(("knn_uar", "linear_uar")):
        xs = [j + 0.38 * i for j in range(len(names))]
        stats = [agg["probe"][n][metric] for n in names]
        pr.bar(
            xs,
            [s["mean"] for s in stats],
            yerr=[s["std"] for s in stats],
            width=0.36,
            capsize=3,
            label="k-NN" if i == 0 else "linear",
        )
    short = {"MAE-DFER (appearance + motion)": "MAE-DFER", "appearance only (lambda 1)": "appearance\nonly"}
    pr.set_xticks([j + 0.19 for j in range(len(names))], [short.get(n, "random") for n in names])
    pr.axhline(100 / 7, color="grey", linestyle=":")
    pr.set_title("frozen-feature probes")
    pr.legend()
    for k, seed in enumerate(seeds):
        log = out / f"seed{seed}" / "pretrain" / "metrics.jsonl"
        rows = [json.loads(line) for line in log.read_text().splitlines()]
        epochs = [r["epoch"] for r in rows]
        for part, colour in (("motion", "C3"), ("appearance", "C0")):
            curves.plot(
                epochs,
                [r[f"heldout_{part}_ratio"] for r in rows],
                color=colour,
                alpha=0.8,
                label=part if k == 0 else None,
            )
            curves.plot(
                epochs,
                [r[f"heldout_{part}_floor"] for r in rows],
                color=colour,
                linestyle="--",
                alpha=0.5,
                label=f"{part}: no-input floor" if k == 0 else None,
            )
    curves.axhline(1.0, color="grey", linestyle=":")
    curves.set_xlabel("pre-training epoch")
    curves.set_ylabel("held-out loss / zero-prediction loss")
    curves.set_title("pre-training: learned below the floors")
    curves.legend(fontsize=7)
    save_figure(fig, out / "demo.png")
