"""Fine-tuning and evaluation of a classifier (spec section 3.2)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from ..checkpoint import load_checkpoint
from ..data.catalog import dataset_info
from ..data.datasets import ClipDataset
from ..data.transforms import Mixup, eval_transform, train_transform
from ..registry import create_model
from ..visualize.figures import pyplot, save_figure
from .distributed import Dist, all_gather_tensors
from .metrics import classification_metrics, merge_views
from .trainer import Trainer, autocast, check_input_size


def _require(config: dict, key: str) -> str:
    if not config.get(key):
        raise ValueError(f"config key {key!r} is required (an annotation file); set it with --set {key}=PATH")
    return config[key]


def build_classifier(config: dict, num_classes: int) -> nn.Module:
    overrides = dict(config["model_overrides"], num_classes=num_classes)
    if "drop_path_rate" not in config["model_overrides"]:
        overrides["drop_path_rate"] = config["drop_path"]
    model = create_model(config["model"], **overrides)
    check_input_size(model, config)
    if config["init"]:
        result = load_checkpoint(model, config["init"])
        print(f"initialised from {config['init']} ({result.rule}; fresh: {', '.join(result.fresh_keys) or 'none'})")
    return model


def eval_dataset(config: dict, annotation: str) -> ClipDataset:
    info = dataset_info(config["dataset"])
    return ClipDataset(annotation, eval_transform(config["input_size"]), mode="test",
                       num_frames=config["num_frames"], sampling_rate=config["sampling_rate"],
                       num_clips=config["test_clips"], num_crops=config["test_crops"],
                       num_classes=info.num_classes, root=config["root"], strip_prefix=config["strip_prefix"])


@torch.no_grad()
def evaluate(model: nn.Module, dataset: ClipDataset, config: dict, dist: Dist) -> dict:
    """The multi-view protocol: softmax per view, averaged per video (duplicate views from
    the distributed sampler's padding dropped), argmax; metrics over videos."""
    sampler = DistributedSampler(dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=False)
    loader = DataLoader(dataset, batch_size=config["batch_size"], sampler=sampler, num_workers=config["workers"])
    model.eval()
    probs, videos, views, labels = [], [], [], []
    for x, y, v, w in tqdm(loader, desc="testing", unit="batch", disable=not dist.is_main or None, leave=False):
        with autocast(config["precision"], dist.device):
            logits = model(x.to(dist.device, non_blocking=True))
        probs.append(logits.float().softmax(-1).cpu())
        videos.append(v)
        views.append(w)
        labels.append(y)
    cat = [torch.cat(t) for t in (probs, videos, views, labels)]
    if dist.world_size > 1:  # every rank has the same number of views (the sampler pads)
        cat = [all_gather_tensors(t.to(dist.device)).cpu() for t in cat]
    probs, videos, views, labels = cat
    ids, mean = merge_views(probs, videos, views)
    label_of = dict(zip(videos.tolist(), labels.tolist()))
    y_true = np.array([label_of[i] for i in ids])
    info = dataset_info(config["dataset"])
    metrics = classification_metrics(y_true, mean.argmax(1), info.num_classes)
    metrics.update(video_ids=ids, probabilities=mean, labels=y_true)
    return metrics


def write_evaluation(metrics: dict, dataset: ClipDataset, out_dir: Path, classes: tuple[str, ...]) -> None:
    """metrics.json, per-video predictions.csv, confusion.csv and confusion.png."""
    out_dir.mkdir(parents=True, exist_ok=True)
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


def plot_confusion(cm: np.ndarray, classes: tuple[str, ...], path: Path, title: str) -> None:
    plt = pyplot()

    rows = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1 + 0.7 * len(classes), 1 + 0.6 * len(classes)))
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{cm[i, j]}", ha="center", va="center", color="white" if rows[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    save_figure(fig, path)


def finetune(config: dict, dist: Dist, resume: str | None = None) -> dict:
    """Fine-tune ``config['model']`` on ``config['train']``, test on ``config['test']``
    after every ``eval_every`` epochs and at the end. Returns the last epoch's record."""
    info = dataset_info(config["dataset"])
    torch.manual_seed(config["seed"] + dist.rank)
    model = build_classifier(config, info.num_classes)  # first: config errors before reading data
    train = ClipDataset(_require(config, "train"),
                        train_transform(config["input_size"], config["randaugment"] or None,
                                        scale=tuple(config["rrc_scale"]), flip=config["flip"], erasing=config["reprob"]),
                        mode="train", num_frames=config["num_frames"], sampling_rate=config["sampling_rate"],
                        num_classes=info.num_classes, root=config["root"], strip_prefix=config["strip_prefix"],
                        on_error=config["on_error"])
    test = eval_dataset(config, config["test"]) if config["test"] else None
    mixing = config["mixup"] > 0 or config["cutmix"] > 0
    mixup = Mixup(info.num_classes, config["mixup"], config["cutmix"], config["mixup_prob"],
                  config["mixup_switch_prob"], config["smoothing"]) if mixing else None

    def step(model, batch):
        x, y = batch[0].to(dist.device, non_blocking=True), batch[1].to(dist.device, non_blocking=True)
        if mixup is not None:
            x, soft = mixup(x, y)
            loss = torch.sum(-soft * F.log_softmax(model(x).float(), dim=-1), dim=-1).mean()
        else:
            loss = F.cross_entropy(model(x).float(), y, label_smoothing=config["smoothing"])
        return loss, {"loss": loss.item()}

    trainer = Trainer(config, model, train, step, dist)
    out = Path(config["output_dir"])

    def epoch_end(epoch: int) -> dict | None:
        last = epoch + 1 == config["epochs"]
        if test is None or not (last or (epoch + 1) % config["eval_every"] == 0):
            return None
        metrics = evaluate(trainer.module, test, config, dist)
        if dist.is_main and last:
            write_evaluation(metrics, test, out / "eval", info.classes)
        return {"uar": metrics["uar"], "war": metrics["war"]}

    return trainer.fit(resume, epoch_end)
