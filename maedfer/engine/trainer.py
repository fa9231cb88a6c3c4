"""The training loop shared by pre-training and fine-tuning.

Exactness by construction: samples are ordered by a seeded DistributedSampler (also with
one process) and every sample's augmentation depends only on (seed, epoch, index), so a
run resumed mid-epoch (the sampler skips what was done) or split over N processes (each
takes every N-th sample of the same order) sees the same clips as a plain run.

One DataLoader serves all epochs and its workers persist: the batches carry (epoch, index)
pairs, so the workers' copies of the dataset need no ``set_epoch``. Restarting a dozen
workers every epoch left a GPU idle for seconds per epoch, which short epochs (small pools,
the evidence run) cannot afford.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, Sampler
from tqdm import tqdm

from ..checkpoint import CheckpointError, write_failure
from ..config import save_config
from ..data.datasets import repeat_collate
from ..errors import MaedferError, from_workers
from ..files import atomic_copy, output_dir
from ..precision import autocast, check_precision
from ..settings import ConfigError, Settings, TrainSettings
from .checkpointing import find_resume, load_training_state, prune_epoch_checkpoints, save_training_state
from .distributed import Dist, all_ranks_true, all_reduce_mean
from .optim import build_optimizer, cosine_schedule, param_groups, set_lr


class NonFiniteError(MaedferError, FloatingPointError):
    """Too many optimiser steps in a row with a non-finite loss or gradient. Every rank
    raises it alike (they agree on each step), so the command prints it once, from rank 0."""

    every_rank = True


# step_fn(model, batch) -> (loss, logs): logs are detached 0-d tensors on the model's
# device, summed there and read once per epoch (no extra host sync per step).
StepFn = Callable[[nn.Module, object], tuple[torch.Tensor, dict[str, torch.Tensor]]]


class EpochBatches(Sampler):
    """Batches of (epoch, index) pairs of the epoch last given to :meth:`start`: the
    sampler's order for that epoch, its first ``skip`` batches left out (resuming inside an
    epoch), at most ``limit`` batches (whole accumulation groups)."""

    def __init__(self, sampler: DistributedSampler, batch_size: int, limit: int) -> None:
        self.sampler, self.batch_size, self.limit = sampler, batch_size, limit
        self.epoch, self.skip = 0, 0

    def start(self, epoch: int, skip: int) -> None:
        self.sampler.set_epoch(epoch)
        self.epoch, self.skip = epoch, skip

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        order = list(self.sampler)
        for b in range(self.skip, self.limit):
            yield [(self.epoch, i) for i in order[b * self.batch_size : (b + 1) * self.batch_size]]

    def __len__(self) -> int:
        return max(0, self.limit - self.skip)


class RunLog:
    """metrics.jsonl (one JSON object per line) and TensorBoard scalars, main process only."""

    def __init__(self, output_dir: Path, enabled: bool) -> None:
        self.enabled = enabled
        self.path = output_dir / "metrics.jsonl"
        self.tb = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(output_dir / "tensorboard"))

    def write(self, record: dict, step: int) -> None:
        if not self.enabled:
            return
        try:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ("epoch", "step"):
                    self.tb.add_scalar(key, value, step)
            self.tb.flush()
        except OSError as e:
            raise MaedferError(
                f"{self.path}: cannot write the run's log ({e.strerror or e}); the checkpoints "
                "written so far are intact: free space and continue with --resume auto"
            ) from None

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def check_input_size(model: nn.Module, config: Settings) -> None:
    """The clips the config makes must be the clips the model takes."""
    _, t, h, _ = model.input_shape
    if (t, h) != (config.num_frames, config.input_size):
        raise ConfigError(
            f"config num_frames {config.num_frames} / input_size {config.input_size} do not match "
            f"model {config.model}, which takes {t} frames of {h}x{h}"
        )


class Trainer:
    """Runs ``config.epochs`` epochs of ``step_fn(model, batch) -> (loss, logs)``.

    ``layer_decay`` in the config (fine-tuning) turns on layer-wise lr decay. ``epoch_end``
    is called after every epoch with the epoch number and returns metrics to log (and, with
    a "uar" key, what picks the best checkpoint).
    """

    def __init__(
        self,
        config: TrainSettings,
        model: nn.Module,
        dataset,
        step_fn: StepFn,
        dist: Dist,
        checkpoint_extra: dict | None = None,
    ) -> None:
        self.config, self.dist, self.step_fn, self.dataset = config, dist, step_fn, dataset
        self.checkpoint_extra = checkpoint_extra or {}  # facts every checkpoint carries (how faces were cropped)
        self.output_dir = Path(config.output_dir)
        check_precision(config.precision, dist.device)
        self.model = model.to(dist.device)
        self.module = model
        if dist.world_size > 1:
            self.model = DistributedDataParallel(
                self.model, device_ids=[dist.local_rank] if dist.device.type == "cuda" else None
            )
        # batch_size counts clips; with repeated augmentation (K clips per decoded video) the
        # loader takes batch_size / K videos and repeat_collate makes the clip batch of them.
        self.repeats = getattr(dataset, "repeats", 1)
        if config.batch_size % self.repeats:
            raise ConfigError(f"batch_size {config.batch_size} is not a multiple of repeated_aug {self.repeats}")
        self.batch_size, self.accum = config.batch_size // self.repeats, config.accum_steps
        total_batch = config.batch_size * self.accum * dist.world_size
        self.lr = config.lr * total_batch / 256  # the original's linear scaling rule
        self.min_lr = config.min_lr * total_batch / 256
        groups = param_groups(self.module, config.weight_decay, getattr(config, "layer_decay", None))
        self.optimizer = build_optimizer(groups, self.lr, tuple(config.betas))
        self.scaler = torch.amp.GradScaler("cuda") if config.precision == "fp16" else None
        self.sampler = DistributedSampler(
            dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=True, seed=config.seed, drop_last=True
        )
        # Whole accumulation groups only: a trailing partial group would never make a step.
        self.steps_per_epoch = len(self.sampler) // self.batch_size // self.accum
        self.batches_per_epoch = self.steps_per_epoch * self.accum
        if self.steps_per_epoch == 0:
            raise ConfigError(
                f"{len(dataset)} training clips give no full step of {total_batch} clips "
                f"({dist.world_size} process(es) x batch {config.batch_size} x accumulation "
                f"{self.accum})"
            )
        self.schedule = cosine_schedule(self.lr, self.min_lr, config.epochs, self.steps_per_epoch, config.warmup_epochs)
        dataset.set_seed(config.seed)
        self.log = RunLog(self.output_dir, dist.is_main)
        self.batches = EpochBatches(self.sampler, self.batch_size, self.batches_per_epoch)
        workers = config.workers
        # Its own generator: starting the loader's workers must not consume the global RNG
        # (drop path and Mixup draw from it), or a resumed run would drift from the
        # uninterrupted one.
        self.loader = DataLoader(
            dataset,
            batch_sampler=self.batches,
            num_workers=workers,
            pin_memory=dist.device.type == "cuda",
            persistent_workers=workers > 0,
            generator=torch.Generator().manual_seed(config.seed * 1000),
            collate_fn=repeat_collate if self.repeats > 1 else None,
        )

    def _save(self, name: str, epoch: int, batch: int, **extra) -> None:
        if self.dist.is_main:
            try:
                save_training_state(
                    self.output_dir / name,
                    self.module,
                    self.optimizer,
                    self.scaler,
                    epoch,
                    batch,
                    self.config,
                    world_size=self.dist.world_size,
                    **self.checkpoint_extra,
                    **extra,
                )
            except CheckpointError as e:
                raise CheckpointError(
                    f"{e}; the run stopped where this file would have resumed it (epoch "
                    f"{epoch + 1}, batch {batch}): free space, then --resume auto continues from "
                    "the file that is there"
                ) from None

    def _optimizer_step(self) -> bool:
        """Unscale (fp16), clip, step. A gradient whose norm is not finite is not applied:
        False. Gradients are all-reduced already, so every rank sees the same norm and takes
        the same decision. fp16's GradScaler skips such steps itself and lowers its scale."""
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        norm = torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.config.clip_grad or math.inf)
        finite = bool(torch.isfinite(norm))
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        elif finite:
            self.optimizer.step()
        return finite

    def _copy(self, source: Path, target: Path) -> None:
        try:
            atomic_copy(source, target)
        except OSError as e:
            raise CheckpointError(
                f"{target}: could not be written ({write_failure(e, target)}); "
                f"{source.name} holds the same state and is intact"
            ) from None

    def fit(self, resume: str | None = None, epoch_end: Callable[[int], dict | None] | None = None) -> dict:
        cfg, dist = self.config, self.dist
        if dist.is_main:
            output_dir(self.output_dir, "run folder")
            save_config(cfg, self.output_dir / "config.yaml")
        start_epoch, start_batch, best = 0, 0, None
        path = find_resume(self.output_dir, resume)
        if path is not None:
            state = load_training_state(path, self.module, self.optimizer, self.scaler, cfg, dist.world_size)
            start_epoch, start_batch, best = state["epoch"], state["step"], state.get("best_uar")
            if dist.is_main:
                print(f"resumed from {path}: epoch {start_epoch}, batch {start_batch}")
        save_every = cfg.save_every_steps
        # By wall time too: a step takes 10x longer on one machine than on another.
        save_seconds, saved_at = cfg.save_every_minutes * 60, time.monotonic()
        saved_where = f"epoch {start_epoch}, batch {start_batch}" if path is not None else "none written yet"
        in_a_row = 0  # optimiser steps skipped in a row (non-finite loss or gradient)
        last = {}
        for epoch in range(start_epoch, cfg.epochs):
            self.model.train()
            skip = start_batch if epoch == start_epoch else 0
            self.batches.start(epoch, skip)
            self.dataset.set_epoch(epoch)  # for reads outside the loader (the reconstruction figure)
            bar = tqdm(
                from_workers(self.loader),
                total=self.batches_per_epoch - skip,
                desc=f"epoch {epoch + 1}/{cfg.epochs}",
                unit="batch",
                disable=not dist.is_main or None,
                leave=False,
            )
            sums: dict[str, torch.Tensor] = {}
            count, started, skipped, group_finite = 0, time.perf_counter(), 0, True
            for i, batch in enumerate(bar, start=skip):
                update = epoch * self.steps_per_epoch + i // self.accum
                set_lr(self.optimizer, float(self.schedule[update]))
                sync = (i + 1) % self.accum == 0
                ctx = self.model.no_sync() if (dist.world_size > 1 and not sync) else contextlib.nullcontext()
                with ctx:
                    with autocast(cfg.precision, dist.device):
                        loss, logs = self.step_fn(self.model, batch)
                    value = loss.item()  # the one host sync of a step
                    # Every rank must take the same way (backward is a collective under DDP).
                    finite = all_ranks_true(math.isfinite(value), dist.device)
                    group_finite = group_finite and finite
                    if group_finite:
                        scaled = loss / self.accum
                        (self.scaler.scale(scaled) if self.scaler else scaled).backward()
                if sync:
                    stepped = group_finite and self._optimizer_step()
                    self.optimizer.zero_grad(set_to_none=True)
                    if stepped:
                        in_a_row = 0
                    else:
                        skipped, in_a_row = skipped + 1, in_a_row + 1
                        if in_a_row >= cfg.max_nonfinite_steps:
                            raise NonFiniteError(
                                f"{in_a_row} steps in a row had a non-finite loss or gradient, the last at epoch "
                                f"{epoch + 1}, batch {i}; the last good state is "
                                f"{self.output_dir / 'checkpoint-last.pth'} ({saved_where}): lower lr, use fp32 or "
                                "bf16, or raise max_nonfinite_steps"
                            )
                    group_finite = True
                    due = (save_every and (i + 1) % (save_every * self.accum) == 0) or (
                        save_seconds and time.monotonic() - saved_at >= save_seconds
                    )
                    if due and i + 1 < self.batches_per_epoch:
                        self._save("checkpoint-last.pth", epoch, i + 1, best_uar=best)
                        saved_at, saved_where = time.monotonic(), f"epoch {epoch + 1}, batch {i + 1}"
                if not finite:
                    continue  # its logs would turn the epoch's means into NaN
                for k, v in logs.items():
                    sums[k] = sums[k] + v.float() if k in sums else v.float()
                count += 1
                bar.set_postfix(loss=f"{value:.4f}", lr=f"{self.schedule[update]:.2e}")
            record = {
                "epoch": epoch + 1,
                "lr": float(self.schedule[(epoch + 1) * self.steps_per_epoch - 1]),
                **{f"train_{k}": all_reduce_mean(v.item() / max(count, 1), dist.device) for k, v in sums.items()},
                "skipped_steps": skipped,
                "epoch_minutes": (time.perf_counter() - started) / 60,
            }
            # A loss part against predicting zero on the same batches: below 1 means learned.
            for k in [k for k in sums if f"{k}_zero" in sums]:
                record[f"train_{k}_ratio"] = record[f"train_{k}"] / max(record[f"train_{k}_zero"], 1e-12)
            extra = epoch_end(epoch) if epoch_end is not None else None
            record.update(extra or {})
            improved = bool(extra and "uar" in extra and (best is None or extra["uar"] > best))
            if improved:
                best = extra["uar"]
            # The epoch's state is serialised once; best and epoch files are copies of it.
            self._save("checkpoint-last.pth", epoch + 1, 0, best_uar=best)
            saved_at, saved_where = time.monotonic(), f"end of epoch {epoch + 1}"
            if dist.is_main:
                last_file = self.output_dir / "checkpoint-last.pth"
                if improved:
                    self._copy(last_file, self.output_dir / "checkpoint-best.pth")
                if (epoch + 1) % cfg.save_every == 0 or epoch + 1 == cfg.epochs:
                    self._copy(last_file, self.output_dir / f"checkpoint-epoch{epoch + 1:03d}.pth")
                    prune_epoch_checkpoints(self.output_dir, cfg.keep_last)
            self.log.write(record, (epoch + 1) * self.steps_per_epoch)
            if dist.is_main:
                shown = " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items())
                print(shown, flush=True)
            last = record
        self.log.close()
        del self.loader  # stops its workers
        if not last and self.log.path.is_file():  # resumed a finished run: report its last epoch
            lines = self.log.path.read_text().splitlines()
            last = json.loads(lines[-1]) if lines else {}
        return last
