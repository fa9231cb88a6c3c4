"""k-fold cross-validation: fine-tune and test every ``splitNN`` fold, then mean +- std."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from ..errors import MaedferError
from ..settings import FinetuneSettings
from .distributed import Dist
from .finetune import finetune


def find_splits(folder: str | Path) -> list[Path]:
    """The ``splitNN`` folders of ``folder`` that hold a train.csv, in order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MaedferError(f"{folder}: no such folder of splits")
    splits = sorted(p for p in folder.glob("split[0-9]*") if (p / "train.csv").is_file())
    if not splits:
        raise MaedferError(f"{folder}: no splitNN/train.csv folders (make them with 'maedfer prepare')")
    return splits


def cross_validate(
    base: FinetuneSettings, splits_folder: str | Path, dist: Dist, resume: str | None = None, overwrite: bool = False
) -> dict:
    """Fine-tune ``base`` on every fold (outputs in ``output_dir/splitNN``); writes and
    returns the summary (``cv.json``: per-fold UAR/WAR, mean and std)."""
    results = {}
    for split in find_splits(splits_folder):
        config = dataclasses.replace(
            base,
            train=str(split / "train.csv"),
            test=str(split / "test.csv"),
            output_dir=str(Path(base.output_dir) / split.name),
        )
        record = finetune(config, dist, resume, overwrite)
        results[split.name] = {"uar": record["uar"], "war": record["war"]}
    uar = np.array([r["uar"] for r in results.values()])
    war = np.array([r["war"] for r in results.values()])
    summary = {
        "folds": results,
        "uar_mean": float(uar.mean()),
        "uar_std": float(uar.std()),
        "war_mean": float(war.mean()),
        "war_std": float(war.std()),
    }
    if dist.is_main:
        (Path(base.output_dir) / "cv.json").write_text(json.dumps(summary, indent=2))
    return summary
