"""Training checkpoints: everything a run needs to continue exactly where it stopped.

Files in the output folder: ``checkpoint-last.pth`` (rewritten during and after every
epoch), ``checkpoint-epochNNN.pth`` (the last ``keep_last`` kept), ``checkpoint-best.pth``
(fine-tuning: best test UAR). All are written atomically (:func:`maedfer.files.atomic_write`), so a crash never leaves a
torn file.
"""

from __future__ import annotations

import json
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
from ..settings import TrainSettings


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_training_state(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    epoch: int,
    step: int,
    config: TrainSettings,
    world_size: int = 1,
    **extra: Any,
) -> Path:
    """``epoch``/``step``: where to continue (the next epoch, the next batch of it);
    ``world_size``: the processes that trained it (a mid-epoch position counts their batches)."""
    return save_checkpoint(
        model,
        path,
        optimizer=optimizer.state_dict(),
        scaler=scaler.state_dict() if scaler is not None else None,
        epoch=epoch,
        step=step,
        rng=rng_state(),
        world_size=world_size,
        config=plain_config(config),
        **extra,
    )


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
        raise OutputExistsError(
            f"{output_dir}: holds an earlier run ({', '.join(earlier[:3])}"
            f"{', ...' if len(earlier) > 3 else ''}); pass --resume auto to continue it "
            "or --overwrite to replace it"
        )
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


def _plain(value: Any) -> Any:
    """As a checkpoint stores it (tuples become lists)."""
    return json.loads(json.dumps(value))


# What a position inside an epoch is counted in: resuming there needs the same of each.
_POSITION_KEYS = ("batch_size", "accum_steps", "repeated_aug")


def check_resumable(path: Path, state: dict[str, Any], config: TrainSettings, world_size: int) -> None:
    """The run in ``state`` is this run continued: the same task and model (settings too),
    and, when it stopped inside an epoch, the same processes x batch (its position counts
    batches of that size). One line naming the file and what differs, else nothing.
    Resuming at an epoch boundary with another batch size or process count is allowed:
    the lr follows the new total batch from there on."""
    saved = state.get("config")
    if not isinstance(saved, dict):
        return  # a checkpoint of an older maedfer: nothing recorded to compare
    task, model = saved.get("task"), saved.get("model")
    if task != config.task:
        raise CheckpointError(
            f"{path}: holds a {task} run of {model}, and this run is a {config.task} of "
            f"{config.model}; resume a run of the same task, or start from its weights "
            f"with --set init={path}"
        )
    if (model, _plain(saved.get("model_overrides") or {})) != (config.model, _plain(config.model_overrides)):
        raise CheckpointError(
            f"{path}: holds a run of {model} {saved.get('model_overrides') or {}}, and this run "
            f"trains {config.model} {config.model_overrides}; resume with the same model "
            f"settings, or start from its weights with --set init={path}"
        )
    if state.get("step", 0) > 0:
        then = dict({k: saved.get(k) for k in _POSITION_KEYS}, processes=state.get("world_size", world_size))
        now = dict({k: getattr(config, k) for k in _POSITION_KEYS}, processes=world_size)
        if then != now:
            changed = ", ".join(f"{k} {then[k]} -> {now[k]}" for k in now if then[k] != now[k])
            raise CheckpointError(
                f"{path}: stopped inside epoch {state['epoch'] + 1} after {state['step']} batches, "
                f"and this run changes how batches are counted ({changed}); resume with the "
                "same settings, or from an epoch's checkpoint (checkpoint-epochNNN.pth)"
            )


def load_training_state(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    config: TrainSettings,
    world_size: int = 1,
) -> dict[str, Any]:
    """Put a saved run's weights, optimiser, scaler and random state into this run, after
    :func:`check_resumable`; returns the checkpoint."""
    state = read_checkpoint(path)
    for key in ("optimizer", "epoch", "step", "rng"):
        if key not in state:
            raise CheckpointError(
                f"{path}: not a training checkpoint of maedfer (no {key!r}); "
                "use it with --set init=... to start from its weights instead"
            )
    check_resumable(path, state, config, world_size)
    load_checkpoint(model, state, name=str(path))
    try:
        optimizer.load_state_dict(state["optimizer"])
    except (ValueError, KeyError) as e:  # another parameter layout than this model's
        raise CheckpointError(
            f"{path}: its optimiser state does not fit this model ({e}); resume the run it "
            f"belongs to, or start from its weights with --set init={path}"
        ) from None
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    return state


def prune_epoch_checkpoints(output_dir: Path, keep_last: int) -> None:
    epochs = sorted(
        output_dir.glob("checkpoint-epoch*.pth"), key=lambda p: int(re.search(r"epoch(\d+)", p.name).group(1))
    )
    for old in epochs[:-keep_last] if keep_last > 0 else epochs:
        old.unlink(missing_ok=True)
