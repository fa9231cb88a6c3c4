"""Training with the whole dataset in memory: the many short trainings of the benches.

The CLI and the demo train through the real engines (files, a DataLoader, checkpoints,
resumable runs). The benches that run many short trainings side by side
(``bench/evidence.py``, ``bench/levers.py``) train here instead: the videos are one uint8
tensor on the training device (:class:`VideoBank`), and every clip's frames, crop and flip,
every mask and every batch order are drawn there by torch. A step then costs only the
model's time, and a GPU never waits for CPU workers.

The recipe is the engines': the same settings objects, the linear lr scaling (batch / 256),
the cosine schedule with warm-up, AdamW's parameter groups, label smoothing, held-out floors
every epoch. Two things differ, by design:
- augmentation is a random crop of ``input_size`` from the stored frames and a flip (the
  engines: multi-scale or random-resized crops, resized);
- frames are never JPEG- or video-coded.
Settings this loop cannot honour (Mixup, CutMix, RandAugment, random erasing, gradient
accumulation, fp16) are refused in one line, not ignored.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import load_checkpoint
from ..config import resolve_config
from ..constants import IMAGENET_MEAN, IMAGENET_STD
from ..data.synth import SynthConfig, render_arrays
from ..precision import autocast
from ..registry import create_model
from ..settings import ConfigError, FinetuneSettings, PretrainSettings, TrainSettings
from .demo import over_preset
from .floors import HELDOUT_SEED, reconstruction_floors
from .metrics import classification_metrics
from .optim import build_optimizer, cosine_schedule, param_groups, set_lr
from .probe import EncoderFeatures, knn_predict, linear_probe_predict


class VideoBank:
    """Videos of equal shape as one uint8 tensor (N, T, H, W, 3) on a device; clips are cut
    from it by indexing, on that device."""

    def __init__(self, videos: torch.Tensor | np.ndarray, device: torch.device | str = "cpu") -> None:
        videos = torch.as_tensor(videos)
        if videos.dtype != torch.uint8 or videos.ndim != 5 or videos.shape[-1] != 3:
            raise ValueError(
                f"a VideoBank holds uint8 videos (N, T, H, W, 3), got {videos.dtype} {tuple(videos.shape)}"
            )
        self.videos = videos.to(device)
        self.device = self.videos.device
        self._mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1, 1)
        self._std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1, 1)

    def __len__(self) -> int:
        return self.videos.shape[0]

    def clips(
        self,
        index: torch.Tensor,
        size: int,
        frames: int,
        stride: int,
        generator: torch.Generator | None = None,
        position: float = 0.5,
        flip: float = 0.5,
    ) -> torch.Tensor:
        """Normalised float clips (B, 3, frames, size, size) of the videos ``index``, their
        frames ``stride`` apart (the last frame repeats where a video is too short). With a
        ``generator`` (on this bank's device): a random start, crop and, with probability
        ``flip``, a horizontal flip per clip. Without: the centre crop, starting at
        ``position`` (0: the first frame, 1: as late as fits)."""
        _, t, h, w, _ = self.videos.shape
        if size > min(h, w):
            raise ValueError(f"crops of {size} pixels do not fit frames of {h}x{w}")
        index = index.to(self.device)
        b, dev = len(index), self.device
        span = (frames - 1) * stride + 1
        latest = max(0, t - span)
        if generator is None:
            start = torch.full((b,), round(position * latest), device=dev)
            top = torch.full((b,), (h - size) // 2, device=dev)
            left = torch.full((b,), (w - size) // 2, device=dev)
            flipped = torch.zeros(b, dtype=torch.bool, device=dev)
        else:
            start = torch.randint(0, latest + 1, (b,), generator=generator, device=dev)
            top = torch.randint(0, h - size + 1, (b,), generator=generator, device=dev)
            left = torch.randint(0, w - size + 1, (b,), generator=generator, device=dev)
            flipped = torch.rand(b, generator=generator, device=dev) < flip
        steps = torch.arange(size, device=dev)
        f = (start[:, None] + torch.arange(frames, device=dev) * stride).clamp(max=t - 1)
        ys = top[:, None] + steps
        xs = left[:, None] + torch.where(flipped[:, None], steps.flip(0), steps)
        x = self.videos[index[:, None, None, None], f[:, :, None, None], ys[:, None, :, None], xs[:, None, None, :]]
        x = x.permute(0, 4, 1, 2, 3).float().div_(255)
        return (x - self._mean) / self._std


def _refuse_unsupported(config: TrainSettings) -> None:
    if config.precision == "fp16":
        raise ConfigError("in-memory training runs fp32 or bf16, not fp16 (it has no gradient scaler)")
    if config.accum_steps != 1:
        raise ConfigError("in-memory training has no gradient accumulation: set accum_steps=1")
    if isinstance(config, FinetuneSettings):
        on = [k for k in ("mixup", "cutmix", "reprob") if getattr(config, k)] + (
            ["randaugment"] * bool(config.randaugment)
        )
        if on:
            raise ConfigError(f"in-memory fine-tuning has no {', '.join(on)}: set them off (0, or '' for randaugment)")


def absolute_lr(config: TrainSettings) -> float:
    """The peak lr a run of ``config`` uses: its setting scaled by batch / 256, as the engines do."""
    return config.lr * config.batch_size / 256


def _schedule(config: TrainSettings, steps_per_epoch: int) -> tuple[np.ndarray, float]:
    """Per-step lr values and the peak lr."""
    scale = config.batch_size / 256  # as absolute_lr
    lrs = cosine_schedule(
        config.lr * scale, config.min_lr * scale, config.epochs, steps_per_epoch, config.warmup_epochs
    )
    return lrs, absolute_lr(config)


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor, clip_grad: float | None) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_grad:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
    optimizer.step()


def heldout_clips(model: nn.Module, heldout: VideoBank, config: PretrainSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """One clip and mask per held-out video, drawn under :data:`HELDOUT_SEED` (the same in
    every run and epoch): what the floors are scored on."""
    g = torch.Generator(heldout.device).manual_seed(HELDOUT_SEED)
    x = heldout.clips(torch.arange(len(heldout)), config.input_size, config.num_frames, config.stride, g)
    return x, model.masking(len(heldout), generator=g)


def pretrain(
    model: nn.Module,
    pool: VideoBank,
    config: PretrainSettings,
    heldout: VideoBank | None = None,
    evaluate_every: int = 1,
    report=print,
) -> list[dict]:
    """Pre-train ``model`` (an :class:`~maedfer.models.MAEDFER` on ``pool``'s device) for
    ``config.epochs`` passes over ``pool``, each video ``config.repeated_aug`` times a pass,
    seeded by ``config.seed``. Returns one record per epoch: the mean training loss parts,
    the seconds so far, and with ``heldout`` the floors (``heldout_*``, as the engine logs
    them) every ``evaluate_every`` epochs and at the last. ``report`` gets each record's line."""
    _refuse_unsupported(config)
    device = pool.device
    g = torch.Generator(device).manual_seed(config.seed)
    repeats = config.repeated_aug
    per_epoch = len(pool) * repeats // config.batch_size
    if per_epoch < 1:
        raise ConfigError(f"batch_size {config.batch_size} is larger than the pool ({len(pool)} videos x {repeats})")
    lrs, peak = _schedule(config, per_epoch)
    optimizer = build_optimizer(param_groups(model, config.weight_decay), peak, tuple(config.betas))
    held = heldout_clips(model, heldout, config) if heldout is not None else None
    records, started, step = [], time.perf_counter(), 0
    model.train()
    for epoch in range(config.epochs):
        order = torch.randperm(len(pool), generator=g, device=device).repeat_interleave(repeats)
        sums: dict[str, torch.Tensor] = {}
        for i in range(per_epoch):
            set_lr(optimizer, float(lrs[step]))
            index = order[i * config.batch_size : (i + 1) * config.batch_size]
            x = pool.clips(index, config.input_size, config.num_frames, config.stride, g)
            mask = model.masking(len(index), generator=g)
            predict = model.decoder_subset(mask, g)
            with autocast(config.precision, device):
                out = model(x, mask, predict)
            loss, parts = model.loss(out, model.targets(x, predict))
            _step(model, optimizer, loss, config.clip_grad)
            for k, v in parts.items():
                sums[k] = sums.get(k, 0) + v
            step += 1
        record = {"epoch": epoch + 1, "step": step, **{k: float(v) / per_epoch for k, v in sums.items()}}
        if not math.isfinite(record["loss"]):
            raise FloatingPointError(f"pre-training loss is {record['loss']} in epoch {epoch + 1}")
        if held is not None and ((epoch + 1) % evaluate_every == 0 or epoch + 1 == config.epochs):
            with autocast(config.precision, device):
                floors = reconstruction_floors(model, *held, batch_size=max(config.batch_size, 2))
            record.update({f"heldout_{k}": v for k, v in floors.items()})
        record["seconds"] = time.perf_counter() - started
        records.append(record)
        report(
            f"epoch {epoch + 1}/{config.epochs} (step {step}): loss {record['loss']:.4f}"
            + "".join(
                f", held-out {part} ÷ zero {record[f'heldout_{part}_ratio']:.3f}"
                for part in model.target_parts()
                if f"heldout_{part}_ratio" in record
            )
        )
    return records


def finetune(
    model: nn.Module, bank: VideoBank, labels: torch.Tensor, train: torch.Tensor, config: FinetuneSettings
) -> list[dict]:
    """Fine-tune ``model`` (a classifier on ``bank``'s device) on the videos of ``bank``
    where ``train`` (bool, one per video) is True, with ``labels``: ``config.epochs``
    passes (the last batch of a pass dropped, as the engine does), seeded by
    ``config.seed``. Returns one record per epoch: mean training loss and seconds so far."""
    _refuse_unsupported(config)
    device = bank.device
    g = torch.Generator(device).manual_seed(config.seed)
    train, labels = train.to(device).nonzero().flatten(), labels.to(device)
    per_epoch = len(train) // config.batch_size
    if per_epoch < 1:
        raise ConfigError(f"batch_size {config.batch_size} is larger than the training set ({len(train)} clips)")
    lrs, peak = _schedule(config, per_epoch)
    optimizer = build_optimizer(param_groups(model, config.weight_decay, config.layer_decay), peak, tuple(config.betas))
    records, started, step = [], time.perf_counter(), 0
    model.train()
    for epoch in range(config.epochs):
        order = train[torch.randperm(len(train), generator=g, device=device)]
        total = torch.zeros((), device=device)
        for i in range(per_epoch):
            set_lr(optimizer, float(lrs[step]))
            index = order[i * config.batch_size : (i + 1) * config.batch_size]
            x = bank.clips(index, config.input_size, config.num_frames, config.sampling_rate, g, flip=config.flip)
            with autocast(config.precision, device):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), labels[index], label_smoothing=config.smoothing)
            _step(model, optimizer, loss, config.clip_grad)
            total += loss.detach()
            step += 1
        seconds = time.perf_counter() - started
        records.append({"epoch": epoch + 1, "step": step, "loss": float(total) / per_epoch, "seconds": seconds})
    return records


@torch.no_grad()
def predict(
    model: nn.Module, bank: VideoBank, index: torch.Tensor, config: FinetuneSettings, batch_size: int = 32
) -> torch.Tensor:
    """Class probabilities of the videos ``index`` (int): the softmax averaged over
    ``config.test_clips`` temporal views spread evenly over each video, centre crops."""
    model.eval()
    positions = [0.5] if config.test_clips == 1 else np.linspace(0, 1, config.test_clips).tolist()
    out = []
    for i in range(0, len(index), batch_size):
        part = index[i : i + batch_size]
        probs = 0
        for p in positions:
            x = bank.clips(part, config.input_size, config.num_frames, config.sampling_rate, position=p)
            with autocast(config.precision, bank.device):
                probs = probs + model(x).float().softmax(-1)
        out.append(probs / len(positions))
    return torch.cat(out)


def uar_war(
    model: nn.Module, bank: VideoBank, labels: torch.Tensor, test: torch.Tensor, config: FinetuneSettings
) -> dict[str, float]:
    """UAR and WAR in % of ``model`` on the videos of ``bank`` where ``test`` (bool) is True."""
    index = test.cpu().nonzero().flatten()
    predicted = predict(model, bank, index, config).argmax(1).cpu().numpy()
    m = classification_metrics(labels.cpu()[index].numpy(), predicted, model.num_classes)
    return {"uar": m["uar"], "war": m["war"]}


@torch.no_grad()
def probe(
    mae: nn.Module, bank: VideoBank, labels: torch.Tensor, train: torch.Tensor, stride: int, num_classes: int
) -> dict[str, float]:
    """k-NN and linear-probe UAR in % of the frozen encoder of ``mae``
    (:class:`~maedfer.engine.probe.EncoderFeatures`, middle clip, centre crop), fitted on the
    videos where ``train`` (bool) is True and tested on the others."""
    features = EncoderFeatures(mae).eval()
    _, frames, size, _ = mae.encoder.input_shape
    all_index = torch.arange(len(bank))
    x = torch.cat(
        [
            features.forward_features(bank.clips(all_index[i : i + 32], size, frames, stride)).float().cpu()
            for i in range(0, len(bank), 32)
        ]
    ).numpy()
    y, is_train = labels.cpu().numpy(), train.cpu().numpy().astype(bool)
    return {
        f"{name}_uar": classification_metrics(
            y[~is_train], fit(x[is_train], y[is_train], x[~is_train], num_classes), num_classes
        )["uar"]
        for name, fit in (("knn", knn_predict), ("linear", linear_probe_predict))
    }


def synth_data(cfg: SynthConfig, device: torch.device | str = "cpu", workers: int = 0) -> dict:
    """The synthetic dataset of ``cfg`` rendered into memory (:func:`~maedfer.data.synth.render_arrays`)
    and put on ``device``: banks ``pool``, ``heldout`` and ``labelled``, and the labelled
    clips' ``labels`` and ``train`` (bool: in the train split)."""
    arrays = render_arrays(cfg, workers)
    data: dict = {k: VideoBank(arrays.pop(k), device) for k in ("pool", "heldout", "labelled")}
    data["labels"], data["train"] = torch.from_numpy(arrays["labels"]), torch.from_numpy(arrays["train"])
    return data


def small_recipes(pretrain: dict, finetune: dict) -> tuple[PretrainSettings, FinetuneSettings]:
    """The demo's presets (synth-small-pretrain, synth-small) with ``pretrain`` and
    ``finetune`` changed; model overrides are added to the presets' (decoder masking, the
    head's scale), not put in their place."""
    return (
        resolve_config("pretrain", "synth-small-pretrain", overrides=over_preset("synth-small-pretrain", pretrain)),
        resolve_config("finetune", "synth-small", overrides=over_preset("synth-small", finetune)),
    )


def at_absolute_lr(config: TrainSettings, lr: float) -> TrainSettings:
    """``config`` with an absolute peak lr of ``lr`` (the settings' lr is scaled by batch /
    256), its min_lr in the same proportion."""
    setting = lr * 256 / config.batch_size
    return dataclasses.replace(config, lr=setting, min_lr=setting * config.min_lr / config.lr)


def classifier(
    config: FinetuneSettings, init: nn.Module | None = None, device: torch.device | str = "cpu"
) -> nn.Module:
    """The fine-tuning model of ``config`` (its weights seeded by ``config.seed``), its
    encoder loaded from the pre-training model ``init`` (None: from scratch)."""
    torch.manual_seed(config.seed)
    model = create_model(config.model, drop_path_rate=config.drop_path, **config.model_overrides)
    if init is not None:
        load_checkpoint(model, {"model": init.state_dict()})
    return model.to(device)


def fine_tuned(config: FinetuneSettings, init: nn.Module | None, data: dict) -> dict:
    """Fine-tune from ``init`` (None: scratch) on ``data``'s train split (:func:`synth_data`)
    and test on the rest: UAR, WAR, the absolute peak lr, the first and last epoch's loss."""
    model = classifier(config, init, data["labelled"].device)
    epochs = finetune(model, data["labelled"], data["labels"], data["train"], config)
    return {
        **uar_war(model, data["labelled"], data["labels"], ~data["train"], config),
        "lr": absolute_lr(config),
        "loss_first": epochs[0]["loss"],
        "loss_last": epochs[-1]["loss"],
        "seconds": epochs[-1]["seconds"],
    }
