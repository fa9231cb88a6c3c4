"""MAE-DFER pre-training on unlabelled videos: part-window masking, appearance + motion
targets, the original's recipe."""
from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import load_checkpoint
from ..data.datasets import VideoDataset
from ..data.transforms import pretrain_transform
from ..registry import create_model
from ..visualize.reconstruction import save_reconstruction_figure
from .checkpointing import start_run
from .distributed import Dist
from .trainer import Trainer, check_input_size


def pretrain(config: dict, dist: Dist, resume: str | None = None, overwrite: bool = False) -> dict:
    """Pre-train ``config['model']`` on the videos of ``config['data']``. An earlier run in
    the output folder is continued (``resume``) or replaced (``overwrite``), never silently
    overwritten. Returns the last epoch's record."""
    if not config["data"]:
        raise ValueError("config key 'data' is required (an annotation file of videos); set it with --set data=PATH")
    start_run(Path(config["output_dir"]), resume, overwrite)
    torch.manual_seed(config["seed"] + dist.rank)
    model = create_model(config["model"], mask_ratio=config["mask_ratio"], **config["model_overrides"])
    check_input_size(model, config)
    if config["init"]:
        load_checkpoint(model, config["init"])
    pool = VideoDataset(config["data"], pretrain_transform(config["input_size"], config["voxceleb_crop"]),
                        num_frames=config["num_frames"], stride=config["stride"], masking=model.masking,
                        root=config["root"], strip_prefix=config["strip_prefix"], on_error=config["on_error"],
                        repeats=config["repeated_aug"])

    def step(wrapped, batch):
        x, mask = batch[0].to(dist.device, non_blocking=True), batch[1].to(dist.device, non_blocking=True)
        loss, parts = model.loss(wrapped(x, mask), model.targets(x, mask))
        return loss, {k: v.detach() for k, v in parts.items()}

    trainer = Trainer(config, model, pool, step, dist)
    out = Path(config["output_dir"])
    # The same clip and mask every time, so figures of successive epochs compare.
    figure_clip, figure_mask = None, None

    def epoch_end(epoch: int) -> None:
        nonlocal figure_clip, figure_mask
        if not dist.is_main or not config["figure_every"] or (epoch + 1) % config["figure_every"]:
            return None
        if figure_clip is None:
            pool.set_epoch(0)
            figure_clip, figure_mask = pool[0]
            if pool.repeats > 1:  # K clips of the video: show the first
                figure_clip, figure_mask = figure_clip[0], figure_mask[0]
        save_reconstruction_figure(model, figure_clip.to(dist.device), figure_mask.to(dist.device),
                                   out / "figures" / f"reconstruction-epoch{epoch + 1:03d}.png",
                                   title=f"epoch {epoch + 1}")
        return None

    return trainer.fit(resume, epoch_end)
