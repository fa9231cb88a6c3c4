"""Fine-tuning of a classifier with the original's recipe (layer decay, Mixup/CutMix,
label smoothing), tested with the multi-view protocol."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..data.catalog import dataset_info
from ..data.datasets import ClipDataset
from ..data.face_clips import recorded_crop
from ..data.transforms import Mixup, train_transform
from ..settings import ConfigError, FinetuneSettings
from .checkpointing import start_run
from .classifier import build_classifier
from .distributed import Dist
from .evaluate import eval_dataset, evaluate, write_evaluation
from .trainer import Trainer


def _require(config: FinetuneSettings, key: str) -> str:
    if not getattr(config, key):
        raise ConfigError(f"config key {key!r} is required (an annotation file); set it with --set {key}=PATH")
    return getattr(config, key)


def classification_loss(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, mixup: Mixup | None, smoothing: float
) -> tuple[torch.Tensor, dict[str, float]]:
    """One fine-tuning step's loss: soft-target cross-entropy after Mixup/CutMix (which
    smooths the labels itself), else cross-entropy with label smoothing. Computed in fp32."""
    if mixup is not None:
        x, soft = mixup(x, y)
        loss = torch.sum(-soft * F.log_softmax(model(x).float(), dim=-1), dim=-1).mean()
    else:
        loss = F.cross_entropy(model(x).float(), y, label_smoothing=smoothing)
    return loss, {"loss": loss.detach()}


def finetune(config: FinetuneSettings, dist: Dist, resume: str | None = None, overwrite: bool = False) -> dict:
    """Fine-tune ``config.model`` on ``config.train``, test on ``config.test``
    after every ``eval_every`` epochs and at the end. Returns the last epoch's record.
    An earlier run in the output folder is continued (``resume``) or replaced
    (``overwrite``), never silently overwritten."""
    start_run(Path(config.output_dir), resume, overwrite)
    info = dataset_info(config.dataset)
    torch.manual_seed(config.seed + dist.rank)
    model = build_classifier(config, info.num_classes, config.drop_path)  # first: config errors before reading data
    train = ClipDataset(
        _require(config, "train"),
        train_transform(
            config.input_size,
            config.randaugment or None,
            scale=tuple(config.rrc_scale),
            flip=config.flip,
            erasing=config.reprob,
        ),
        mode="train",
        num_frames=config.num_frames,
        sampling_rate=config.sampling_rate,
        num_classes=info.num_classes,
        root=config.root,
        strip_prefix=config.strip_prefix,
        on_error=config.on_error,
        repeats=config.repeated_aug,
    )
    test = eval_dataset(config, config.test) if config.test else None
    mixing = config.mixup > 0 or config.cutmix > 0
    mixup = (
        Mixup(
            info.num_classes, config.mixup, config.cutmix, config.mixup_prob, config.mixup_switch_prob, config.smoothing
        )
        if mixing
        else None
    )

    def step(model, batch):
        x, y = batch[0].to(dist.device, non_blocking=True), batch[1].to(dist.device, non_blocking=True)
        return classification_loss(model, x, y, mixup, config.smoothing)

    # Clips made by `maedfer faces`: the checkpoint records their crop, and prediction crops so.
    face_crop = recorded_crop([item.path for item in train.items])
    trainer = Trainer(
        config, model, train, step, dist, {"face_crop": face_crop.to_dict()} if face_crop is not None else None
    )
    out = Path(config.output_dir)

    def epoch_end(epoch: int) -> dict | None:
        last = epoch + 1 == config.epochs
        if test is None or not (last or (epoch + 1) % config.eval_every == 0):
            return None
        metrics = evaluate(trainer.module, test, config, dist)
        if dist.is_main and last:
            write_evaluation(metrics, test, out / "eval", info.classes)
        return {"uar": metrics["uar"], "war": metrics["war"]}

    return trainer.fit(resume, epoch_end)
