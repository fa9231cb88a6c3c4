"""Evaluation with the multi-view protocol: one loop over the test views that serves the
metrics (softmax probabilities) and the feature pictures (pooled features), and the
evaluation of a saved checkpoint with its own run settings."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from ..checkpoint import CheckpointError, read_checkpoint, require_classifier, state_dict_of
from ..config import resolve_config, save_config
from ..data.catalog import dataset_info
from ..data.datasets import ClipDataset
from ..data.transforms import eval_transform
from ..errors import from_workers
from ..files import OutputExistsError, output_dir
from ..precision import autocast
from ..settings import EvaluateSettings
from ..visualize.confusion import plot_confusion
from .classifier import build_classifier
from .distributed import Dist, all_gather_tensors
from .metrics import classification_metrics, merge_views
from .trainer import NonFiniteError

# Settings of a fine-tuning run that decide how its checkpoint must be tested.
_EVAL_KEYS = (
    "model",
    "dataset",
    "model_overrides",
    "num_frames",
    "input_size",
    "sampling_rate",
    "test_clips",
    "test_crops",
)


def eval_dataset(config: EvaluateSettings, annotation: str) -> ClipDataset:
    info = dataset_info(config.dataset)
    return ClipDataset(
        annotation,
        eval_transform(config.input_size),
        mode="test",
        num_frames=config.num_frames,
        sampling_rate=config.sampling_rate,
        num_clips=config.test_clips,
        num_crops=config.test_crops,
        num_classes=info.num_classes,
        root=config.root,
        strip_prefix=config.strip_prefix,
    )


@torch.no_grad()
def view_outputs(
    model: nn.Module,
    dataset: ClipDataset,
    output: Callable[[nn.Module, torch.Tensor], torch.Tensor],
    batch_size: int,
    workers: int,
    device: torch.device,
    precision: str = "fp32",
    dist: Dist | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``output(model, clips)`` for every test view, averaged over each video's views
    (duplicate views from a distributed sampler's padding count once).
    Returns (video ids, mean outputs (V, D), labels (V,)) sorted by video id."""
    rank, world = (dist.rank, dist.world_size) if dist else (0, 1)
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=False)
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers)
    model.eval()
    outs, videos, views, labels = [], [], [], []
    for x, y, v, w in tqdm(
        from_workers(loader),
        total=len(loader),
        desc="testing",
        unit="batch",
        disable=not progress or rank != 0 or None,
        leave=False,
    ):
        with autocast(precision, device):
            out = output(model, x.to(device, non_blocking=True))
        outs.append(out.float().cpu())
        videos.append(v)
        views.append(w)
        labels.append(y)
    cat = [torch.cat(t) for t in (outs, videos, views, labels)]
    if world > 1:  # every rank has the same number of views (the sampler pads)
        cat = [all_gather_tensors(t.to(device)).cpu() for t in cat]
    outs_t, videos_t, views_t, labels_t = cat
    ids, mean = merge_views(outs_t, videos_t, views_t)
    label_of = dict(zip(videos_t.tolist(), labels_t.tolist()))
    return ids, mean, np.array([label_of[i] for i in ids])


def probabilities(model: nn.Module, clips: torch.Tensor) -> torch.Tensor:
    return model(clips).float().softmax(-1)


def evaluate(model: nn.Module, dataset: ClipDataset, config: EvaluateSettings, dist: Dist) -> dict:
    """The multi-view protocol: softmax per view, averaged per video, argmax; metrics over
    videos (UAR, WAR, F1, confusion)."""
    ids, mean, y_true = view_outputs(
        model, dataset, probabilities, config.batch_size, config.workers, dist.device, config.precision, dist
    )
    if not np.isfinite(mean).all():
        raise NonFiniteError(
            "the model's test outputs are not finite (NaN or infinity); its weights or the run's precision are broken"
        )
    metrics = classification_metrics(y_true, mean.argmax(1), dataset_info(config.dataset).num_classes)
    metrics.update(video_ids=ids, probabilities=mean, labels=y_true)
    return metrics


def write_evaluation(metrics: dict, dataset: ClipDataset, out_dir: Path, classes: tuple[str, ...]) -> None:
    """metrics.json, per-video predictions.csv, confusion.csv and confusion.png."""
    output_dir(out_dir, "evaluation folder")
    summary = {k: metrics[k] for k in ("uar", "war", "macro_f1", "weighted_f1")}
    summary["per_class_accuracy"] = dict(zip(classes, metrics["per_class_accuracy"]))
    summary["videos"] = int(len(metrics["video_ids"]))
    (out_dir / "metrics.json").write_text(json.dumps(summary, indent=2))
    with (out_dir / "predictions.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "prediction", *classes])
        for vid, label, p in zip(metrics["video_ids"], metrics["labels"], metrics["probabilities"]):
            w.writerow([dataset.items[vid].path, classes[label], classes[int(p.argmax())], *[f"{x:.5f}" for x in p]])
    cm = metrics["confusion"]
    with (out_dir / "confusion.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["true \\ predicted", *classes])
        for name, row in zip(classes, cm):
            w.writerow([name, *row.tolist()])
    plot_confusion(cm, classes, out_dir / "confusion.png", title=f"UAR {metrics['uar']:.2f}  WAR {metrics['war']:.2f}")


def evaluation_config(
    checkpoint: str, preset: str | None = None, yaml_file: str | None = None, overrides: dict | None = None
) -> EvaluateSettings:
    """The settings to test ``checkpoint`` with. Our checkpoints carry their run config: its
    model and data settings are reused unless a preset or YAML file is given; ``overrides``
    win over both. Pre-training checkpoints are refused (they have no classifier)."""
    saved = read_checkpoint(checkpoint)
    require_classifier(state_dict_of(saved, checkpoint), checkpoint)
    run = saved.get("config")
    if run is not None and not isinstance(run, dict):
        raise CheckpointError(f"{checkpoint}: its 'config' entry is a {type(run).__name__}, not a mapping")
    keep = {k: v for k, v in (run or {}).items() if k in _EVAL_KEYS} if not preset and not yaml_file else {}
    try:
        resolve_config("evaluate", overrides=keep)
    except ValueError as e:
        raise CheckpointError(f"{checkpoint}: its saved run config is unusable ({e})") from None
    return resolve_config("evaluate", preset, yaml_file, {**keep, **(overrides or {}), "init": checkpoint})


def evaluate_checkpoint(config: EvaluateSettings, test: str, out: Path, dist: Dist, overwrite: bool = False) -> dict:
    """Test ``config.init`` on the annotation file ``test``; write the evaluation files
    to ``out`` (refused if an evaluation is there already, unless ``overwrite``)."""
    if dist.is_main and (out / "metrics.json").exists() and not overwrite:
        raise OutputExistsError(
            f"{out}: holds an evaluation already; pass --overwrite to replace it or --out to write elsewhere"
        )
    info = dataset_info(config.dataset)
    model = build_classifier(config, info.num_classes).to(dist.device)
    dataset = eval_dataset(config, test)
    metrics = evaluate(model, dataset, config, dist)
    if dist.is_main:
        write_evaluation(metrics, dataset, out, info.classes)
        save_config(config, out / "config.yaml")
    return metrics
