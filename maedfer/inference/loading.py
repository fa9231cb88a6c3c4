"""Rebuild a fine-tuned classifier for inference from any file a user may hold:

- a maedfer checkpoint (``maedfer finetune``): it carries the model name and settings and
  its run config (dataset, so the label names; frames, sampling rate, input size);
- a ``.safetensors`` file written by ``maedfer export``: the same facts in its metadata;
- an official fine-tuned MAE-DFER checkpoint: an LGI-Former-B whose class count is read
  from the head; label names from ``dataset`` (or the checkpoint's ``args.data_set``).

Pre-training checkpoints are refused: they have no classifier head.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ..checkpoint import CheckpointError, load_checkpoint, read_checkpoint, state_dict_of
from ..config import PRESETS
from ..data.catalog import LABELLED, dataset_info
from ..registry import create_model


@dataclass(frozen=True)
class ClassifierSpec:
    """What inference needs besides the weights."""
    model_name: str
    model_config: dict[str, Any]
    classes: tuple[str, ...]
    num_frames: int
    sampling_rate: int
    input_size: int
    dataset: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "ClassifierSpec":
        d = json.loads(text)
        # JSON has no tuples; model settings such as region_size are tuples
        config = {k: tuple(v) if isinstance(v, list) else v for k, v in d["model_config"].items()}
        return cls(**{**d, "classes": tuple(d["classes"]), "model_config": config})


def _classes(dataset: str | None, source: str, num_classes: int) -> tuple[str, ...]:
    if dataset is None:
        raise CheckpointError(f"{source}: the checkpoint does not name its labels; pass the dataset it was "
                              f"fine-tuned on (--dataset {'|'.join(LABELLED)})")
    classes = dataset_info(dataset).classes
    if len(classes) != num_classes:
        raise CheckpointError(f"{source}: the classifier has {num_classes} classes but {dataset} has "
                              f"{len(classes)} ({', '.join(classes)})")
    return classes


def _refuse_pretraining(state: dict, source: str) -> None:
    if any(k.startswith(("encoder.", "decoder.")) for k in state):
        raise CheckpointError(f"{source}: a pre-training (MAE-DFER encoder + decoder) checkpoint has no classifier; "
                              f"fine-tune it first (maedfer finetune --set init=...)")
    if "head.weight" not in state:
        raise CheckpointError(f"{source}: no classifier head (head.weight) in the checkpoint")


def _from_safetensors(path: Path, dataset: str | None) -> tuple[nn.Module, ClassifierSpec]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None
    if "maedfer" not in meta:
        raise CheckpointError(f"{path}: safetensors file without maedfer metadata (write it with maedfer export)")
    spec = ClassifierSpec.from_json(meta["maedfer"])
    if dataset is not None:
        spec = ClassifierSpec(**{**asdict(spec), "classes": _classes(dataset, str(path), len(spec.classes)),
                                 "dataset": dataset})
    model = create_model(spec.model_name, **spec.model_config)
    load_checkpoint(model, state)
    return model, spec


def load_classifier(path: str | os.PathLike, dataset: str | None = None) -> tuple[nn.Module, ClassifierSpec]:
    """The classifier in ``path`` (weights loaded, eval mode) and its :class:`ClassifierSpec`.
    ``dataset`` names the label set; it is required only for files that do not carry it."""
    path = Path(path)
    if path.suffix == ".safetensors":
        model, spec = _from_safetensors(path, dataset)
        return model.eval(), spec
    checkpoint = read_checkpoint(path)
    source = str(path)
    state = state_dict_of(checkpoint, source)
    _refuse_pretraining(state, source)
    num_classes = state["head.weight"].shape[0]
    if checkpoint.get("format") == "maedfer" and checkpoint.get("model_name"):
        run = checkpoint.get("config") or {}
        dataset = dataset or run.get("dataset")
        model_name, model_config = checkpoint["model_name"], dict(checkpoint.get("model_config") or {})
        model_config["drop_path_rate"] = 0.0  # inference
        sampling_rate = run.get("sampling_rate", 4)
    else:  # the official files (args: argparse.Namespace) or a bare state dict
        args = checkpoint.get("args")
        official = str(getattr(args, "data_set", "") or "").lower() or None
        dataset = dataset or (official if official in LABELLED else None)
        model_name, model_config = "lgi_former_base", {"num_classes": num_classes}
        for key, arg in (("num_frames", "num_frames"), ("img_size", "input_size")):
            if getattr(args, arg, None):
                model_config[key] = int(getattr(args, arg))
        preset = PRESETS.get(dataset or "", {})
        sampling_rate = int(getattr(args, "sampling_rate", 0) or preset.get("sampling_rate", 4))
    classes = _classes(dataset, source, num_classes)
    model = create_model(model_name, **model_config)
    load_checkpoint(model, state)
    c, t, h, _ = model.input_shape
    spec = ClassifierSpec(model_name, dict(model.model_config), classes, t, sampling_rate, h,
                          dataset)
    return model.eval(), spec


def load_pretraining_model(path: str | os.PathLike) -> tuple[nn.Module, int]:
    """A pre-trained MAE-DFER (encoder + decoder, eval mode) and the frame stride it was
    pre-trained with, from a maedfer or an official pre-training checkpoint. The official
    model runs with ``official_decoder_pos`` (its decoder was trained with those positions)."""
    path = Path(path)
    checkpoint = read_checkpoint(path)
    state = state_dict_of(checkpoint, str(path))
    if not any(k.startswith("decoder.") for k in state):
        raise CheckpointError(f"{path}: no decoder weights; reconstructions need a pre-training checkpoint "
                              f"(maedfer pretrain, or the official pre-trained MAE-DFER)")
    if checkpoint.get("format") == "maedfer" and checkpoint.get("model_name"):
        model = create_model(checkpoint["model_name"], **(checkpoint.get("model_config") or {}))
        stride = (checkpoint.get("config") or {}).get("stride", 4)
    else:
        model = create_model("mae_dfer_base", official_decoder_pos=True)
        stride = int(getattr(checkpoint.get("args"), "sampling_rate", 0) or 4)
    load_checkpoint(model, state)
    return model.eval(), stride
