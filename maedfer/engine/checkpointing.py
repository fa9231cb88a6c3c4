"""Training checkpoints: everything a run needs to continue exactly where it stopped.

Files in the output folder: ``checkpoint-last.pth`` (rewritten during and after every
epoch), ``checkpoint-epochNNN.pth`` (the last ``keep_last`` kept), ``checkpoint-best.pth``
(fine-tuning: best test UAR). All are written atomically (:func:`maedfer.files.atomic_write`), so a crash never leaves a
torn file.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from ..config import plain_config
from ..errors import MaedferError
from ..files import OutputExistsError
from ..files import output_dir as make_output_dir


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_training_state(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                        scaler: torch.amp.GradScaler | None, epoch: int, step: int, config: dict,
                        **extra: Any) -> Path:
    """``epoch``/``step``: where to continue (the next epoch, the next batch of it)."""
    return save_checkpoint(model, path, optimizer=optimizer.state_dict(),
                           scaler=scaler.state_dict() if scaler is not None else None,
                           epoch=epoch, step=step, rng=rng_state(),
                           config=plain_config(config), **extra)


# What a run writes into its folder; --overwrite removes exactly these.
RUN_OUTPUTS = ("checkpoint-*.pth", "metrics.jsonl", "config.yaml", "tensorboard", "eval", "figures")


def start_run(output_dir: Path, resume: str | None, overwrite: bool = False) -> None:
    """Refuse to start a new run over an earlier one unless asked: ``resume`` continues it,
    ``overwrite`` deletes its outputs first. Called before anything is built or read; makes
    the folder (one line if it cannot be made)."""
    make_output_dir(output_dir, "run folder")
    earlier = sorted(p.name for pattern in RUN_OUTPUTS for p in output_dir.glob(pattern))
    if not earlier or (resume is not None and not overwrite):
        return
    if resume is not None and overwrite:
        raise MaedferError("--resume and --overwrite contradict each other: continue the run or replace it")
    if not overwrite:
        raise OutputExistsError(f"{output_dir}: holds an earlier run ({', '.join(earlier[:3])}"
                                f"{', ...' if len(earlier) > 3 else ''}); pass --resume auto to continue it "
                                "or --overwrite to replace it")
    for name in earlier:
        path = output_dir / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def find_resume(output_dir: Path, resume: str | None) -> Path | None:
    """``resume``: None (start fresh), "auto" (checkpoint-last.pth if there is one) or a path."""
    if resume is None:
        return None
    if resume == "auto":
        last = output_dir / "checkpoint-last.pth"
        return last if last.is_file() else None
    path = Path(resume)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint to resume from")
    return path


def load_training_state(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                        scaler: torch.amp.GradScaler | None) -> dict[str, Any]:
    state = read_checkpoint(path)
    for key in ("optimizer", "epoch", "step", "rng"):
        if key not in state:
            raise CheckpointError(f"{path}: not a training checkpoint of maedfer (no {key!r}); "
                                  "use it with --set init=... to start from its weights instead")
    load_checkpoint(model, state, name=str(path))
    optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    return state


def prune_epoch_checkpoints(output_dir: Path, keep_last: int) -> None:
    epochs = sorted(output_dir.glob("checkpoint-epoch*.pth"),
                    key=lambda p: int(re.search(r"epoch(\d+)", p.name).group(1)))
    for old in epochs[:-keep_last] if keep_last > 0 else epochs:
        old.unlink(missing_ok=True)
