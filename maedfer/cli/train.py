"""``maedfer pretrain | finetune | evaluate | cv``: the training programs. Each takes a
recipe (``--preset``), a YAML file of overrides (``--config``) and ``--set KEY=VALUE``
overrides; the resolved config is saved next to the outputs. Under torchrun every
command runs distributed (DDP) as it is."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import PRESETS, resolve_config
from ..engine.distributed import distributed_run, is_main_process
from ..errors import MaedferError
from ..settings import SETTINGS, Settings, help_text
from .overrides import parse_overrides


def _recipe_args(p: argparse.ArgumentParser, task: str) -> None:
    names = sorted(n for n, v in PRESETS.items() if v["task"] == task)
    p.add_argument("--preset", choices=names, help="an official or tiny recipe")
    p.add_argument("--config", metavar="YAML", help="a YAML file of config overrides")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. --set epochs=10 (repeatable)",
    )


def _run_folder_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--resume",
        metavar="auto|PATH",
        help="continue a run: 'auto' takes the output folder's checkpoint-last.pth if there is one",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier run in the output folder (without it, starting over one is refused)",
    )


def _settings_list(task: str) -> dict:
    """``--help`` ends with every setting of the task, its description, type and default."""
    return dict(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"settings (--set KEY=VALUE, or KEY: VALUE in a --config file):\n{help_text(SETTINGS[task])}",
    )


def add_parser(sub: argparse._SubParsersAction) -> None:
    for task, helptext in (
        ("pretrain", "MAE-DFER pre-training on unlabelled videos"),
        ("finetune", "fine-tune a classifier and test it"),
    ):
        p = sub.add_parser(task, help=helptext, description=helptext, **_settings_list(task))
        _recipe_args(p, task)
        _run_folder_args(p)
        p.set_defaults(run=run_train, task=task)

    e = sub.add_parser(
        "evaluate",
        help="test a fine-tuned checkpoint with the multi-view protocol",
        description="test a fine-tuned checkpoint with the multi-view protocol; its run's own "
        "settings are used unless a preset, config file or --set says otherwise",
        **_settings_list("evaluate"),
    )
    e.add_argument("checkpoint", help="a fine-tuned checkpoint (ours or official)")
    _recipe_args(e, "finetune")
    e.add_argument("--test", required=True, help="annotation file of the test set")
    e.add_argument(
        "--out",
        help="folder for metrics.json, predictions.csv, confusion.csv/png (default: eval/ next to the checkpoint)",
    )
    e.add_argument("--overwrite", action="store_true", help="replace an earlier evaluation in that folder")
    e.set_defaults(run=run_evaluate)

    d = sub.add_parser(
        "demo",
        help="the whole method on built-in synthetic data, 3 seeds: pre-train, fine-tune, "
        "compare with training from scratch, probe the frozen encoders; each claim with its 95 % interval "
        "(~14 min on 2 CPU cores)",
    )
    d.add_argument("--out", default="runs/demo", help="folder for the data, runs, table and plots")
    d.add_argument("--quick", action="store_true", help="a tiny version that takes about a minute (for tests)")
    d.add_argument("--workers", type=int, default=2, help="data loading / rendering processes")
    d.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default=None,
        help="training precision (default: bf16 where the device runs it natively, else fp32; never chosen by timing,"
        " so the same seed gives the same numbers on the same machine)",
    )
    d.set_defaults(run=run_demo)

    c = sub.add_parser(
        "cv", help="fine-tune and test every fold of a k-fold dataset; mean +- std", **_settings_list("finetune")
    )
    _recipe_args(c, "finetune")
    c.add_argument("--splits", required=True, help="folder with split01/train.csv, split01/test.csv, ...")
    _run_folder_args(c)
    c.set_defaults(run=run_cv)


def _config(args: argparse.Namespace, task: str) -> Settings:
    return resolve_config(task, args.preset, args.config, parse_overrides(args.overrides))


def run_train(args: argparse.Namespace) -> int:
    from .. import api

    (api.pretrain if args.task == "pretrain" else api.finetune)(
        preset=args.preset,
        config=args.config,
        resume=args.resume,
        overwrite=args.overwrite,
        **parse_overrides(args.overrides),
    )
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from .. import api

    result = api.evaluate(
        args.checkpoint,
        args.test,
        out=args.out,
        preset=args.preset,
        config=args.config,
        overwrite=args.overwrite,
        **parse_overrides(args.overrides),
    )
    if is_main_process():
        print(
            f"UAR {result.uar:.2f}  WAR {result.war:.2f}  ({len(result.metrics['video_ids'])} videos) -> "
            f"{result.output_dir}"
        )
    return 0


def run_cv(args: argparse.Namespace) -> int:
    from ..engine.cv import cross_validate

    base = _config(args, "finetune")
    with distributed_run() as dist:
        summary = cross_validate(base, args.splits, dist, args.resume, args.overwrite)
    if dist.is_main:
        for name, r in summary["folds"].items():
            print(f"{name}  UAR {r['uar']:.2f}  WAR {r['war']:.2f}")
        print(
            f"mean  UAR {summary['uar_mean']:.2f} +- {summary['uar_std']:.2f}  "
            f"WAR {summary['war_mean']:.2f} +- {summary['war_std']:.2f}  -> {Path(base.output_dir) / 'cv.json'}"
        )
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from ..engine.demo import run_demo as demo

    if args.workers < 0:
        raise MaedferError(f"--workers must not be negative, got {args.workers}")
    with distributed_run() as dist:
        demo(args.out, dist, quick=args.quick, workers=args.workers, precision=args.precision)
    return 0
