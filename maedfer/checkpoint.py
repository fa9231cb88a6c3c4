"""Reading, writing and loading checkpoints: the official MAE-DFER files and our own.

Official files are dicts with ``model`` (the state dict), ``optimizer``,
``epoch``, ``scaler`` and ``args`` (an ``argparse.Namespace``). They are read with
``torch.load(weights_only=True)``, allowing ``argparse.Namespace`` and nothing else beyond
tensors and plain data, so a checkpoint cannot run code.

Loading rules:
- a pre-training checkpoint (``encoder.*`` / ``decoder.*`` keys) into a classifier follows
  the official fine-tuning rules: strip ``encoder.``/``backbone.``, drop the decoder, the
  mask token, ``encoder_to_decoder`` and the encoder's final ``norm``; ``fc_norm`` and
  ``head`` stay freshly initialised;
- anything else loads strictly: every key present, nothing extra, every shape equal.
A checkpoint that does not fit raises :class:`CheckpointError` with a one-line message
naming the missing and unexpected keys and the shape mismatches.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Union

import torch
from torch import nn

from .errors import MaedferError
from .files import atomic_write, regular_file
from .version import __version__

CheckpointSource = Union[str, os.PathLike, Mapping[str, Any]]

# Keys of the pre-training model that a classifier does not use (official rules).
_PRETRAIN_ONLY_PREFIXES = ("decoder.", "encoder_to_decoder.", "mask_token", "norm.")
# Keys a classifier initialises itself when it starts from a pre-trained encoder.
_FRESH_CLASSIFIER_PREFIXES = ("fc_norm.", "head.")


class CheckpointError(MaedferError):
    """A checkpoint that cannot be read, or does not fit the model."""


@dataclass
class LoadResult:
    source: str
    rule: str  # "strict" or "pretrained-encoder"
    fresh_keys: list[str] = field(default_factory=list)  # keys left at their initialisation


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint file safely (tensors, plain data and argparse.Namespace only).
    A ``.safetensors`` file (``maedfer export``) reads as ``{"model": weights, "metadata": {...}}``."""
    path = regular_file(path, "checkpoint file", CheckpointError)
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except (
        pickle.UnpicklingError,
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        OSError,
        ValueError,
        AttributeError,
        TypeError,
        IndexError,
        KeyError,
        UnicodeDecodeError,
    ) as e:
        blocked = re.search(r"GLOBAL (\S+?)(?: |\.?$)", str(e), re.MULTILINE)
        if blocked:
            raise CheckpointError(
                f"{path}: refused to unpickle: it holds objects other than tensors and plain "
                f"data ({blocked.group(1)}); a checkpoint must not run code"
            ) from None
        detail = next((line for line in str(e).splitlines() if line.strip()), "")
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint, corrupt or truncated? ({type(e).__name__}: {detail[:200]})"
        ) from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: holds a {type(obj).__name__}, not a checkpoint dict")
    return obj


def _read_safetensors(path: Path) -> dict[str, Any]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types, and OSError/ValueError
        detail = next((line for line in str(e).splitlines() if line.strip()), type(e).__name__)
        raise CheckpointError(
            f"{path}: not a readable safetensors file, corrupt or truncated? ({detail[:200]})"
        ) from None
    if not state:
        raise CheckpointError(f"{path}: safetensors file holds no tensors")
    return {"model": state, "metadata": metadata}


def state_dict_of(checkpoint: Mapping[str, Any], source: str = "<state dict>") -> dict[str, torch.Tensor]:
    """The model weights of a checkpoint: under ``model`` or ``module`` (the official
    ``--model_key`` choices), else the dict itself if it holds only tensors."""
    for key in ("model", "module"):
        if isinstance(checkpoint.get(key), Mapping):
            state = checkpoint[key]
            break
    else:
        state = checkpoint
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not isinstance(state, Mapping) or bad or not state or not all(isinstance(k, str) for k in state):
        raise CheckpointError(
            f"{source}: no model weights found (expected a 'model' entry or a dict of "
            f"tensors; non-tensor entries: {_few(bad)})"
        )
    # A state dict saved from a DistributedDataParallel wrapper.
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return dict(state)


def _few(keys: list[str], n: int = 4) -> str:
    shown = ", ".join(keys[:n])
    return shown + (f", ... +{len(keys) - n} more" if len(keys) > n else "")


def _is_classifier(model: nn.Module) -> bool:
    return hasattr(model, "head") and hasattr(model, "fc_norm")


def _is_pretraining_state(state: Mapping[str, torch.Tensor]) -> bool:
    return any(k.startswith(("encoder.", "decoder.", "backbone.")) for k in state)


def require_classifier(state: Mapping[str, torch.Tensor], source: str) -> None:
    """A fine-tuned classifier's weights, or a CheckpointError naming ``source``: pre-training
    files (encoder + decoder) and files without a head are refused."""
    if _is_pretraining_state(state):
        raise CheckpointError(
            f"{source}: not a fine-tuned classifier: a pre-training (MAE-DFER encoder + decoder) "
            "checkpoint has no classifier; fine-tune it first (maedfer finetune --set init=...)"
        )
    if "head.weight" not in state:
        raise CheckpointError(f"{source}: not a fine-tuned classifier: no classifier head (head.weight) in it")


def _encoder_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official rule: strip ``backbone.``/``encoder.``, drop what only pre-training uses."""
    out = {}
    for k, v in state.items():
        for prefix in ("backbone.", "encoder."):
            if k.startswith(prefix):
                k = k[len(prefix) :]
                break
        if not k.startswith(_PRETRAIN_ONLY_PREFIXES):
            out[k] = v
    return out


def check_finite(state: Mapping[str, torch.Tensor], source: str) -> None:
    """Weights with NaN or infinity give NaN predictions: refuse them where they enter."""
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(
            f"{source}: {len(bad)} weight tensors hold NaN or infinite values ({_few(bad)}); "
            "the run that wrote it diverged or the file is damaged"
        )


def fitted_state(model: nn.Module, state: Mapping[str, torch.Tensor], name: str) -> tuple[dict[str, torch.Tensor], str]:
    """``state`` as it loads into ``model`` and the rule used, or a CheckpointError naming
    every key that is missing, extra or of another shape. Touches no weights of ``model``
    (it may live on the meta device)."""
    expected = model.state_dict()
    allowed_missing: tuple[str, ...] = ()
    rule = "strict"
    if _is_classifier(model) and _is_pretraining_state(state):
        state, rule, allowed_missing = _encoder_state(state), "pretrained-encoder", _FRESH_CLASSIFIER_PREFIXES

    missing = [k for k in expected if k not in state and not k.startswith(allowed_missing)]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k}: checkpoint {list(state[k].shape)} vs model {list(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    if missing or unexpected or mismatched:
        model_name = getattr(model, "model_name", type(model).__name__)
        problems = [
            f"{len(v)} {what} ({_few(v)})"
            for what, v in (
                ("missing keys", missing),
                ("unexpected keys", unexpected),
                ("shape mismatches", mismatched),
            )
            if v
        ]
        raise CheckpointError(f"{name}: does not fit model {model_name}: {'; '.join(problems)}")
    return dict(state), rule


def load_checkpoint(model: nn.Module, source: CheckpointSource, name: str | None = None) -> LoadResult:
    """Load weights into ``model`` from a checkpoint file, a checkpoint dict or a state dict.
    ``name``: what error messages call a dict source (its file), default ``<state dict>``."""
    if isinstance(source, Mapping):
        name, checkpoint = name or "<state dict>", source
    else:
        name, checkpoint = str(source), read_checkpoint(source)
    state, rule = fitted_state(model, state_dict_of(checkpoint, name), name)
    check_finite(state, name)
    fresh = [k for k in model.state_dict() if k not in state]
    model.load_state_dict(state, strict=not fresh)
    return LoadResult(name, rule, fresh)


def save_checkpoint(model: nn.Module, path: str | os.PathLike, **extra: Any) -> Path:
    """Write ``model`` (and ``extra`` entries) atomically: a temp file renamed into place,
    so a crash never leaves a truncated checkpoint. Stores the registry name and config so
    that the model can be rebuilt."""
    payload = {
        "model": model.state_dict(),
        "format": "maedfer",
        "maedfer_version": __version__,
        "model_name": getattr(model, "model_name", None),
        "model_config": getattr(model, "model_config", None),
        **extra,
    }
    try:
        return atomic_write(path, lambda f: torch.save(payload, f))
    except (OSError, RuntimeError) as e:  # a full disk: torch's writer raises RuntimeError
        raise CheckpointError(
            f"{path}: could not be written ({write_failure(e, path)}); the file that was there "
            "is intact (writes go to a temporary file first)"
        ) from None


def write_failure(error: BaseException, path: str | os.PathLike) -> str:
    """What went wrong writing ``path``, in a few words: the system's reason, or for torch's
    writer (whose message says only "unexpected pos") the free space left there."""
    if isinstance(error, OSError):
        return error.strerror or str(error)
    import shutil

    try:
        free = shutil.disk_usage(Path(path).parent).free
    except OSError:
        return str(error).splitlines()[0][:120]
    return f"the write failed with {free / 2**20:.1f} MiB free on that disk"
