"""``maedfer pretrain | finetune | evaluate | cv``: the training programs. Each takes a
recipe (``--preset``), a YAML file of overrides (``--config``) and ``--set KEY=VALUE``
overrides; the resolved config is saved next to the outputs. Under torchrun every
command runs distributed (DDP) as it is."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..config import PRESETS, resolve_config, save_config
from ..data.catalog import dataset_info
from ..engine.distributed import cleanup, init_distributed
from .overrides import parse_overrides


def _recipe_args(p: argparse.ArgumentParser, task: str) -> None:
    names = sorted(n for n, v in PRESETS.items() if v["task"] == task)
    p.add_argument("--preset", choices=names, help="an official or tiny recipe")
    p.add_argument("--config", metavar="YAML", help="a YAML file of config overrides")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key, e.g. --set epochs=10 (repeatable)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    for task, helptext in (("pretrain", "MAE-DFER pre-training on unlabelled videos"),
                           ("finetune", "fine-tune a classifier and test it")):
        p = sub.add_parser(task, help=helptext)
        _recipe_args(p, task)
        p.add_argument("--resume", metavar="auto|PATH", help="continue a run: 'auto' takes the output folder's "
                                                             "checkpoint-last.pth if there is one")
        p.set_defaults(run=run_train, task=task)

    e = sub.add_parser("evaluate", help="test a fine-tuned checkpoint with the multi-view protocol")
    e.add_argument("checkpoint", help="a fine-tuned checkpoint (ours or official)")
    _recipe_args(e, "finetune")
    e.add_argument("--test", required=True, help="annotation file of the test set")
    e.add_argument("--out", help="folder for metrics.json, predictions.csv, confusion.csv/png "
                                 "(default: next to the checkpoint)")
    e.set_defaults(run=run_evaluate)

    d = sub.add_parser("demo", help="the whole method on built-in synthetic data: pre-train, fine-tune, "
                                    "compare with training from scratch (~13 min on 2 CPU cores)")
    d.add_argument("--out", default="runs/demo", help="folder for the data, runs, table and plots")
    d.add_argument("--quick", action="store_true", help="a tiny version that takes about a minute (for tests)")
    d.add_argument("--workers", type=int, default=2, help="data loading / rendering processes")
    d.set_defaults(run=run_demo)

    c = sub.add_parser("cv", help="fine-tune and test every fold of a k-fold dataset; mean +- std")
    _recipe_args(c, "finetune")
    c.add_argument("--splits", required=True, help="folder with split01/train.csv, split01/test.csv, ...")
    c.set_defaults(run=run_cv)


def _config(args: argparse.Namespace, task: str) -> dict:
    return resolve_config(task, args.preset, args.config, parse_overrides(args.overrides))


def run_train(args: argparse.Namespace) -> int:
    from ..engine.finetune import finetune
    from ..engine.pretrain import pretrain

    config = _config(args, args.task)
    dist = init_distributed()
    try:
        (pretrain if args.task == "pretrain" else finetune)(config, dist, args.resume)
    finally:
        cleanup()
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from ..checkpoint import read_checkpoint
    from ..engine.finetune import build_classifier, evaluate, eval_dataset, write_evaluation

    saved = read_checkpoint(args.checkpoint).get("config") or {}
    overrides = parse_overrides(args.overrides)
    if saved and not args.preset and not args.config:
        # our checkpoints carry their run config: reuse its model and data settings
        keep = {k: v for k, v in saved.items() if k in ("model", "dataset", "model_overrides", "num_frames",
                                                       "input_size", "sampling_rate", "test_clips", "test_crops")}
        overrides = {**keep, **overrides}
    config = resolve_config("finetune", args.preset, args.config, {**overrides, "init": args.checkpoint})
    dist = init_distributed()
    try:
        info = dataset_info(config["dataset"])
        model = build_classifier(config, info.num_classes).to(dist.device)
        test = eval_dataset(config, args.test)
        metrics = evaluate(model, test, config, dist)
        if dist.is_main:
            out = Path(args.out) if args.out else Path(args.checkpoint).parent / "eval"
            write_evaluation(metrics, test, out, info.classes)
            save_config(config, out / "config.yaml")
            print(f"UAR {metrics['uar']:.2f}  WAR {metrics['war']:.2f}  ({len(metrics['video_ids'])} videos) -> {out}")
    finally:
        cleanup()
    return 0


def run_cv(args: argparse.Namespace) -> int:
    from ..engine.finetune import finetune

    base = _config(args, "finetune")
    splits = sorted(p for p in Path(args.splits).glob("split[0-9]*") if (p / "train.csv").is_file())
    if not splits:
        raise ValueError(f"{args.splits}: no splitNN/train.csv folders (make them with 'maedfer prepare')")
    dist = init_distributed()
    results = {}
    try:
        for split in splits:
            config = dict(base, train=str(split / "train.csv"), test=str(split / "test.csv"),
                          output_dir=str(Path(base["output_dir"]) / split.name))
            record = finetune(config, dist)
            results[split.name] = {"uar": record["uar"], "war": record["war"]}
    finally:
        cleanup()
    if dist.is_main:
        uar = np.array([r["uar"] for r in results.values()])
        war = np.array([r["war"] for r in results.values()])
        summary = {"folds": results, "uar_mean": uar.mean(), "uar_std": uar.std(), "war_mean": war.mean(),
                   "war_std": war.std()}
        out = Path(base["output_dir"])
        (out / "cv.json").write_text(json.dumps(summary, indent=2))
        for name, r in results.items():
            print(f"{name}  UAR {r['uar']:.2f}  WAR {r['war']:.2f}")
        print(f"mean  UAR {uar.mean():.2f} +- {uar.std():.2f}  WAR {war.mean():.2f} +- {war.std():.2f}  -> {out / 'cv.json'}")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from ..engine.demo import run_demo as demo

    dist = init_distributed()
    try:
        demo(args.out, dist, quick=args.quick, workers=args.workers)
    finally:
        cleanup()
    return 0
