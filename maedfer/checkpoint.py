"""Reading, writing and loading checkpoints: the official MAE-DFER and HiCMAE files and our own.

Official files are dicts with ``model`` (the state dict), ``optimizer``,
``epoch``, ``scaler`` and ``args`` (an ``argparse.Namespace``). They are read with
``torch.load(weights_only=True)``, allowing ``argparse.Namespace`` and nothing else beyond
tensors and plain data, so a checkpoint cannot run code.

What a file holds is told by its keys (:func:`state_kind`): an MAE-DFER pre-training model,
a video classifier (fine-tuned MAE-DFER, maedfer's), a HiCMAE pre-training model or a HiCMAE
(audio-visual) classifier.

Loading rules:
- an MAE-DFER pre-training checkpoint (``encoder.*`` / ``decoder.*`` keys) into a video
  classifier follows the official fine-tuning rules: strip ``encoder.``/``backbone.``, drop the
  decoder, the mask token, ``encoder_to_decoder`` and the encoder's final ``norm``; ``fc_norm``
  and ``head`` stay freshly initialised;
- a HiCMAE pre-training checkpoint into a HiCMAE classifier follows HiCMAE's: the 364
  ``encoder.*``, ``encoder_audio.*`` and ``encoder_fusion.*`` tensors (base size) load under
  their own names, the mask tokens, decoders and ``encoder_to_decoder*`` are unused, and the
  layer weights, ``fc_norm`` and ``head`` stay freshly initialised;
- anything else loads strictly: every key present, nothing extra, every shape equal.
A checkpoint that does not fit raises :class:`CheckpointError` with a one-line message:
what the file is and which model it fits when it is of the other family (HiCMAE vs
MAE-DFER) or, for HiCMAE, of another size or layout (with the first tensor that differs); else
the missing and unexpected keys and the shape mismatches.
"""

from __future__ import annotations

import argparse
import functools
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
# HiCMAE (its run_class_finetuning_av.py; spec hicmae.md §3): what a classifier takes from a
# pre-training file, under the same names, and what it initialises itself.
_HICMAE_SHARED_PREFIXES = ("encoder.", "encoder_audio.", "encoder_fusion.")
_HICMAE_FRESH_PREFIXES = ("video_layer_weights", "audio_layer_weights", *_FRESH_CLASSIFIER_PREFIXES)
# Keys only HiCMAE's models have.
_HICMAE_ONLY_PREFIXES = (
    "encoder_audio.",
    "encoder_fusion.",
    "decoder_audio.",
    "mask_token_audio",
    "video_layer_weights",
    "audio_layer_weights",
)

# What a state dict is (state_kind), and how messages describe it.
MAE_DFER_PRETRAINING = "MAE-DFER pre-training"
VIDEO_CLASSIFIER = "video classifier"
HICMAE_PRETRAINING = "HiCMAE pre-training"
HICMAE_CLASSIFIER = "HiCMAE classifier"
_DESCRIPTIONS = {
    MAE_DFER_PRETRAINING: "a pre-training (MAE-DFER encoder + decoder) checkpoint",
    VIDEO_CLASSIFIER: "a video classifier",
    HICMAE_PRETRAINING: "an audio-visual HiCMAE pre-training checkpoint (video and audio encoders, fusion, decoders)",
    HICMAE_CLASSIFIER: "an audio-visual HiCMAE model",
}


class CheckpointError(MaedferError):
    """A checkpoint that cannot be read, or does not fit the model."""


@dataclass
class LoadResult:
    source: str
    rule: str  # "strict" or "pretrained-encoder"
    fresh_keys: list[str] = field(default_factory=list)  # keys left at their initialisation
    loaded: int = 0  # tensors loaded from the file


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


def state_kind(state: Mapping[str, torch.Tensor]) -> str:
    """What a state dict (a file's or a model's) is, from its keys: :data:`HICMAE_CLASSIFIER`
    (layer weights, ``encoder_audio.*``, ``encoder_fusion.*``, ``head``),
    :data:`HICMAE_PRETRAINING` (the same encoders, no head: decoders), :data:`MAE_DFER_PRETRAINING`
    (``encoder.*`` / ``decoder.*`` / ``backbone.*``) or :data:`VIDEO_CLASSIFIER` (anything else:
    fine-tuned MAE-DFER, maedfer's classifiers)."""
    if any(k.startswith(_HICMAE_ONLY_PREFIXES) for k in state):
        return HICMAE_CLASSIFIER if "head.weight" in state else HICMAE_PRETRAINING
    if any(k.startswith(("encoder.", "decoder.", "backbone.")) for k in state):
        return MAE_DFER_PRETRAINING
    return VIDEO_CLASSIFIER


def _is_hicmae(kind: str) -> bool:
    return kind in (HICMAE_PRETRAINING, HICMAE_CLASSIFIER)


def describe_state(state: Mapping[str, torch.Tensor], dataset: str | None = None) -> str:
    """What a state dict is, in words (``dataset``: what its classifier was fine-tuned on),
    e.g. "an audio-visual HiCMAE model fine-tuned on CREMA-D (6 classes)"."""
    kind = state_kind(state)
    if kind not in (HICMAE_CLASSIFIER, VIDEO_CLASSIFIER) or "head.weight" not in state:
        return _DESCRIPTIONS[kind]
    on = f" fine-tuned on {dataset}" if dataset else ""
    return f"{_DESCRIPTIONS[kind]}{on} ({state['head.weight'].shape[0]} classes)"


def require_classifier(state: Mapping[str, torch.Tensor], source: str, dataset: str | None = None) -> None:
    """A fine-tuned video classifier's weights, or a CheckpointError naming ``source``:
    pre-training files (encoder + decoder), files without a head and audio-visual (HiCMAE)
    classifiers, which prediction and evaluation do not take yet, are refused. ``dataset``:
    what the file says it was fine-tuned on, for the message."""
    kind = state_kind(state)
    if kind == HICMAE_CLASSIFIER:
        raise CheckpointError(
            f"{source}: {describe_state(state, dataset)}; prediction and evaluation with audio-visual "
            "models are not available in this version"
        )
    if kind != VIDEO_CLASSIFIER:
        hint = (
            "fine-tune it first (maedfer finetune --set init=...)"
            if kind == MAE_DFER_PRETRAINING
            else "prediction and evaluation need a fine-tuned model"
        )
        raise CheckpointError(f"{source}: not a fine-tuned classifier: {_DESCRIPTIONS[kind]} has no classifier; {hint}")
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


def _as_loaded(
    expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], str, tuple[str, ...]]:
    """``state`` as the loading rule for this model (its state dict ``expected``) turns it,
    the rule's name and the key prefixes the model may keep at their initialisation."""
    model_kind, kind = state_kind(expected), state_kind(state)
    if model_kind == VIDEO_CLASSIFIER and kind == MAE_DFER_PRETRAINING:
        return _encoder_state(state), "pretrained-encoder", _FRESH_CLASSIFIER_PREFIXES
    if model_kind == HICMAE_CLASSIFIER and kind == HICMAE_PRETRAINING:
        shared = {k: v for k, v in state.items() if k.startswith(_HICMAE_SHARED_PREFIXES)}
        return shared, "pretrained-encoder", _HICMAE_FRESH_PREFIXES
    return dict(state), "strict", ()


def _misfit(
    expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], allowed_missing: tuple[str, ...]
) -> tuple[list[str], list[str], list[str]]:
    """The keys missing from ``state``, those it has in excess, and those of another shape
    (in the model's order)."""
    missing = [k for k in expected if k not in state and not k.startswith(allowed_missing)]
    unexpected = [k for k in state if k not in expected]
    mismatched = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    return missing, unexpected, mismatched


@functools.lru_cache(maxsize=None)
def _meta_state(name: str, num_classes: int | None) -> dict[str, torch.Tensor]:
    """The state dict (on the meta device) of registered model ``name``, with ``num_classes``
    outputs where it has a head."""
    from .registry import create_model, model_settings

    overrides = (
        {"num_classes": num_classes} if num_classes is not None and "num_classes" in model_settings(name) else {}
    )
    with torch.device("meta"):
        return create_model(name, **overrides).state_dict()


def fitting_models(state: Mapping[str, torch.Tensor]) -> tuple[list[str], list[str]]:
    """The registered models of the state's family (HiCMAE or MAE-DFER) that ``state`` loads
    into, with the class count of its head: those it fits as it is, and those whose encoders
    it initialises. Built on the meta device: no memory, no weights."""
    from .registry import list_models

    family = _is_hicmae(state_kind(state))
    head = state.get("head.weight")
    strict: list[str] = []
    initialised: list[str] = []
    for name in list_models():
        expected = _meta_state(name, None if head is None else head.shape[0])
        if _is_hicmae(state_kind(expected)) != family:
            continue
        fitted, rule, fresh = _as_loaded(expected, state)
        if not any(_misfit(expected, fitted, fresh)):
            (strict if rule == "strict" else initialised).append(name)
    return strict, initialised


def _fits(state: Mapping[str, torch.Tensor]) -> str:
    strict, initialised = fitting_models(state)
    parts = [
        f"fits {' / '.join(strict)}" if strict else "",
        f"initialises {' / '.join(initialised)}" if initialised else "",
    ]
    return "it " + " and ".join(p for p in parts if p) if strict or initialised else "it fits no registered model"


def _shapes(key: str, state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]) -> str:
    return f"{key}: checkpoint {list(state[key].shape)} vs model {list(expected[key].shape)}"


def _misfit_message(
    name: str,
    model_name: str,
    expected: Mapping[str, torch.Tensor],
    state: Mapping[str, torch.Tensor],
    problems: tuple[list[str], list[str], list[str]],
) -> str:
    """The one line for a file that does not fit: what it is and what it fits when it is of
    the other family, or a HiCMAE file of another size or layout; else every missing, extra and
    mismatched key."""
    kind, model_kind = state_kind(state), state_kind(expected)
    if _is_hicmae(kind) != _is_hicmae(model_kind) or (kind, model_kind) == (HICMAE_CLASSIFIER, HICMAE_PRETRAINING):
        model_is = "the audio-visual HiCMAE model" if _is_hicmae(model_kind) else "the video-only model"
        return f"{name}: {describe_state(state)}: {_fits(state)}, not {model_is} {model_name}"
    fitted = _as_loaded(expected, state)[0]
    missing, unexpected, mismatched = problems
    if _is_hicmae(kind) and any(not k.startswith("head.") for k in (*missing, *unexpected, *mismatched)):
        body = [k for k in mismatched if not k.startswith("head.")]
        if body:
            first = _shapes(body[0], fitted, expected)
        else:
            first = f"{missing[0]}: missing from the checkpoint" if missing else f"{unexpected[0]}: not in the model"
        what = f"{describe_state(state)} of another size or layout than model {model_name}"
        return f"{name}: {what} ({_fits(state)}): {first}"
    parts = [
        f"{len(v)} {what} ({_few(v)})"
        for what, v in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", [_shapes(k, fitted, expected) for k in mismatched]),
        )
        if v
    ]
    return f"{name}: does not fit model {model_name}: {'; '.join(parts)}"


def fitted_state(model: nn.Module, state: Mapping[str, torch.Tensor], name: str) -> tuple[dict[str, torch.Tensor], str]:
    """``state`` as it loads into ``model`` and the rule used, or a one-line CheckpointError
    (see the module's notes). Touches no weights of ``model`` (it may live on the meta device)."""
    expected = model.state_dict()
    fitted, rule, allowed_missing = _as_loaded(expected, state)
    problems = _misfit(expected, fitted, allowed_missing)
    if any(problems):
        model_name = getattr(model, "model_name", type(model).__name__)
        raise CheckpointError(_misfit_message(name, model_name, expected, state, problems))
    return fitted, rule


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
    return LoadResult(name, rule, fresh, len(state))


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
