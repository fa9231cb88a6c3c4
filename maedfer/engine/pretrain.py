"""MAE-DFER pre-training on unlabelled videos: part-window masking, appearance + motion
targets, the original's recipe."""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import load_checkpoint
from ..data.annotations import read_annotations
from ..data.datasets import VideoDataset
from ..data.pool_cache import DecodedPool
from ..data.transforms import BatchedCropResize, DrawPretrainCrop, pretrain_transform
from ..registry import create_model
from ..settings import ConfigError, PretrainSettings
from ..visualize.reconstruction import save_reconstruction_figure
from .checkpointing import start_run
from .distributed import Dist
from .floors import HELDOUT_SEED, reconstruction_floors
from .trainer import Trainer, check_input_size


def pretrain(config: PretrainSettings, dist: Dist, resume: str | None = None, overwrite: bool = False) -> dict:
    """Pre-train ``config.model`` on the videos of ``config.data``. An earlier run in
    the output folder is continued (``resume``) or replaced (``overwrite``), never silently
    overwritten. Returns the last epoch's record."""
    if not config.data:
        raise ConfigError("config key 'data' is required (an annotation file of videos); set it with --set data=PATH")
    start_run(Path(config.output_dir), resume, overwrite)
    torch.manual_seed(config.seed + dist.rank)
    model = create_model(config.model, mask_ratio=config.mask_ratio, **config.model_overrides)
    check_input_size(model, config)
    if config.init:
        load_checkpoint(model, config.init)
    on_device = augment_on_device(config.augment_on, dist.device)
    size = config.input_size
    transform = (
        DrawPretrainCrop(size, config.voxceleb_crop) if on_device else pretrain_transform(size, config.voxceleb_crop)
    )
    items = read_annotations(config.data, root=config.root, strip_prefix=config.strip_prefix)
    pool = VideoDataset(
        items,
        transform,
        num_frames=config.num_frames,
        stride=config.stride,
        masking=model.masking,
        on_error=config.on_error,
        repeats=config.repeated_aug,
        cache=decoded_pool(items, config, dist),
    )
    device_part = BatchedCropResize(size) if on_device else None

    def clips(batch_clips) -> torch.Tensor:
        """The model's input: normalised float clips on the device."""
        if device_part is None:
            return batch_clips.to(dist.device, non_blocking=True)
        frames, crops = batch_clips
        return device_part(frames.to(dist.device, non_blocking=True), crops)

    def step(wrapped, batch):
        x, mask = clips(batch[0]), batch[1].to(dist.device, non_blocking=True)
        predict = model.decoder_subset(mask)  # all hidden tokens, or a share (decoder masking)
        loss, parts = model.loss(wrapped(x, mask, predict), model.targets(x, predict))
        return loss, {k: v.detach() for k, v in parts.items()}

    heldout = heldout_batch(config, transform, model, clips) if config.heldout and dist.is_main else None

    trainer = Trainer(config, model, pool, step, dist)
    out = Path(config.output_dir)
    # The same clip and mask every time, so figures of successive epochs compare.
    figure_clip, figure_mask = None, None

    def epoch_end(epoch: int) -> dict | None:
        scores = None
        if heldout is not None:
            floors = reconstruction_floors(model, *heldout, batch_size=config.batch_size)
            scores = {f"heldout_{k}": v for k, v in floors.items()}
        figures(epoch)
        return scores

    def figures(epoch: int) -> None:
        nonlocal figure_clip, figure_mask
        if not dist.is_main or not config.figure_every or (epoch + 1) % config.figure_every:
            return None
        if figure_clip is None:
            pool.set_epoch(0)
            clip, mask = pool[0]
            if pool.repeats > 1:  # K clips of the video: show the first
                clip, mask = (clip[0] if device_part is None else [part[0] for part in clip]), mask[0]
            figure_clip, figure_mask = clips(batch_of_one(clip))[0], mask.to(dist.device)
        save_reconstruction_figure(
            model,
            figure_clip,
            figure_mask,
            out / "figures" / f"reconstruction-epoch{epoch + 1:03d}.png",
            title=f"epoch {epoch + 1}",
        )
        return None

    return trainer.fit(resume, epoch_end)


def heldout_batch(config: PretrainSettings, transform, model, clips) -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out videos of ``config.heldout`` as one clip and mask each, made by the run's
    own transform and masking under a fixed seed (the same every epoch and every run), on
    the device: what :func:`~maedfer.engine.floors.reconstruction_floors` scores."""
    items = read_annotations(config.heldout, root=config.root, strip_prefix=config.strip_prefix)
    videos = VideoDataset(items, transform, num_frames=config.num_frames, stride=config.stride, masking=model.masking)
    videos.set_seed(HELDOUT_SEED)
    pairs = [videos[i] for i in range(len(videos))]
    x = torch.cat([clips(batch_of_one(clip)) for clip, _ in pairs])
    return x, torch.stack([mask for _, mask in pairs]).to(x.device)


def batch_of_one(clip):
    """A dataset item's clip as a batch of one: (1, C, T, H, W), or with the crop drawn for
    the device, its uint8 frames and crop each with a batch dimension."""
    return [part[None] for part in clip] if isinstance(clip, (list, tuple)) else clip[None]


def augment_on_device(setting: str, device: torch.device) -> bool:
    """Whether crop, resize and normalisation run batched on the training device (see
    settings.AUGMENT_ON): ``auto`` puts them there on a GPU and leaves them to the loader's
    workers on a CPU, where the device is the same cores the workers run on."""
    return setting == "device" or (setting == "auto" and device.type == "cuda")


def decoded_pool(items, config: PretrainSettings, dist: Dist) -> DecodedPool | None:
    """The pool decoded once (``pool_cache``), or None. A file cache is built by the first
    process and read by the others; ``ram`` gives every process its own copy."""
    where = config.pool_cache
    if not where:
        return None

    def build() -> DecodedPool:
        return DecodedPool.build(items, where, workers=config.workers, on_error=config.on_error, progress=dist.is_main)

    if where == "ram" or not torch.distributed.is_initialized():
        return build()
    if dist.is_main:
        pool = build()
    torch.distributed.barrier()
    return pool if dist.is_main else build()  # finds the file the first process wrote
