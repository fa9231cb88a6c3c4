"""Rebuild a fine-tuned classifier for inference from any file a user may hold:

- a maedfer checkpoint (``maedfer finetune``): it carries the model name and settings and
  its run config (dataset, so the label names; frames, sampling rate, input size);
- a ``.safetensors`` file written by ``maedfer export``: the same facts in its metadata;
- an official fine-tuned MAE-DFER checkpoint: an LGI-Former-B whose class count is read
  from the head; label names from ``dataset`` (or the checkpoint's ``args.data_set``);
- a released model's name (``dfew``, ``mafw-fold2``, ...: fetched into the cache) or a Hub
  repository (``hf://OWNER/NAME``), resolved to one of the files above.

Pre-training checkpoints are refused: they have no classifier head. So are the audio-visual
HiCMAE classifiers (their label set: :func:`hicmae_label_set`), whose prediction is not built
yet, and HiCMAE pre-training files where reconstructions are asked for.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from torch import nn

from ..checkpoint import (
    HICMAE_CLASSIFIER,
    HICMAE_PRETRAINING,
    CheckpointError,
    describe_state,
    load_checkpoint,
    read_checkpoint,
    require_classifier,
    state_dict_of,
    state_kind,
)
from ..config import PRESETS
from ..data.catalog import HICMAE_LABELS, LABELLED, dataset_info
from ..errors import MaedferError
from ..faces.align import FaceCrop
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
    # How its training faces were cropped, when they came from `maedfer faces`; prediction
    # crops the same way. None: the box crop (DFEW, FERV39k and MAFW ship face crops of their
    # own). On disk (checkpoint, safetensors metadata) it is FaceCrop.to_dict's record.
    face_crop: FaceCrop | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str, source: str = "<metadata>") -> "ClassifierSpec":
        """The spec from ``to_json``'s text; anything missing, extra or ill-typed is a
        CheckpointError naming ``source``."""
        try:
            d = json.loads(text)
        except ValueError as e:
            raise CheckpointError(f"{source}: maedfer metadata is not valid JSON ({e})") from None
        if not isinstance(d, dict):
            raise CheckpointError(f"{source}: maedfer metadata must be a JSON object, got {type(d).__name__}")
        fields = {
            "model_name": str,
            "model_config": dict,
            "classes": list,
            "num_frames": int,
            "sampling_rate": int,
            "input_size": int,
        }
        missing = [k for k in fields if k not in d]
        extra = [k for k in d if k not in (*fields, "dataset", "face_crop")]
        if missing or extra:
            raise CheckpointError(
                f"{source}: maedfer metadata "
                + "; ".join(
                    part
                    for part in (
                        f"lacks {', '.join(missing)}" if missing else "",
                        f"has unknown fields {', '.join(map(repr, extra))}" if extra else "",
                    )
                    if part
                )
            )
        for key, kind in fields.items():
            if not isinstance(d[key], kind) or isinstance(d[key], bool):
                raise CheckpointError(
                    f"{source}: maedfer metadata field {key} must be a {kind.__name__}, got {d[key]!r}"
                )
        if d.get("dataset") is not None and not isinstance(d["dataset"], str):
            raise CheckpointError(f"{source}: maedfer metadata field dataset must be a string or null")
        crop = recorded_face_crop(d.get("face_crop"), source)
        return checked_spec(cls(**{**d, "classes": tuple(d["classes"]), "face_crop": crop}), source)


def recorded_face_crop(record: object, source: str) -> FaceCrop | None:
    """The FaceCrop of a checkpoint's ``face_crop`` record (None: none recorded); a bad record
    is a CheckpointError naming ``source``."""
    if record is None:
        return None
    try:
        return FaceCrop.from_dict(record, source)
    except MaedferError as e:
        raise CheckpointError(str(e)) from None


def checked_spec(spec: ClassifierSpec, source: str) -> ClassifierSpec:
    """``spec`` if its values can drive a predictor; else a CheckpointError naming ``source``."""
    if not spec.classes or not all(isinstance(c, str) and c for c in spec.classes):
        raise CheckpointError(f"{source}: class names must be non-empty strings, got {list(spec.classes)}")
    for key in ("num_frames", "sampling_rate", "input_size"):
        value = getattr(spec, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CheckpointError(f"{source}: {key} must be a whole number >= 1, got {value!r}")
    return spec


def _build(source: str, model_name: Any, model_config: Any) -> nn.Module:
    """The model a checkpoint describes; a bad name or setting names the file."""
    if not isinstance(model_config, dict):
        raise CheckpointError(f"{source}: model_config must be a mapping of settings, got {model_config!r}")
    try:
        return create_model(model_name, **model_config)
    except MaedferError as e:
        raise CheckpointError(f"{source}: {e}") from None


def _classes(
    dataset: str | None, source: str, num_classes: int, classes: tuple[str, ...] | None = None
) -> tuple[str, ...]:
    """The class names of ``dataset`` (``classes``, else the catalog's), as many as the head's."""
    if dataset is None:
        raise CheckpointError(
            f"{source}: the checkpoint does not name its labels; pass the dataset it was "
            f"fine-tuned on (--dataset {'|'.join(LABELLED)})"
        )
    classes = classes or dataset_info(dataset).classes
    if len(classes) != num_classes:
        raise CheckpointError(
            f"{source}: the classifier has {num_classes} classes but {dataset} has "
            f"{len(classes)} ({', '.join(classes)})"
        )
    return classes


def _from_safetensors(path: Path, checkpoint: dict, dataset: str | None) -> tuple[nn.Module, ClassifierSpec]:
    meta = checkpoint["metadata"]
    if "maedfer" not in meta:
        raise CheckpointError(f"{path}: safetensors file without maedfer metadata (write it with maedfer export)")
    spec = ClassifierSpec.from_json(meta["maedfer"], str(path))
    if dataset is not None:
        spec = replace(spec, classes=_classes(dataset, str(path), len(spec.classes)), dataset=dataset)
    state = state_dict_of(checkpoint, str(path))
    require_classifier(state, str(path), spec.dataset)
    if state["head.weight"].shape[0] != len(spec.classes):
        raise CheckpointError(
            f"{path}: the classifier has {state['head.weight'].shape[0]} classes but the metadata "
            f"names {len(spec.classes)}"
        )
    model = _build(str(path), spec.model_name, spec.model_config)
    load_checkpoint(model, state, name=str(path))
    return model, spec


def load_classifier(path: str | os.PathLike, dataset: str | None = None) -> tuple[nn.Module, ClassifierSpec]:
    """The classifier in ``path`` (weights loaded, eval mode) and its :class:`ClassifierSpec`.
    ``dataset`` names the label set; it is required only for files that do not carry it.
    ``path`` may also name a released model (``dfew``) or a Hub repository (``hf://OWNER/NAME``):
    see :func:`maedfer.hub.resolve_checkpoint`."""
    from ..hub import resolve_checkpoint

    path, released_dataset = resolve_checkpoint(path)
    dataset = dataset or released_dataset
    checkpoint = read_checkpoint(path)
    if path.suffix == ".safetensors":
        model, spec = _from_safetensors(path, checkpoint, dataset)
        return model.eval(), spec
    source = str(path)
    state = state_dict_of(checkpoint, source)
    require_classifier(state, source, _trained_on(checkpoint))
    num_classes = state["head.weight"].shape[0]
    if checkpoint.get("format") == "maedfer" and checkpoint.get("model_name"):
        run = checkpoint.get("config") or {}
        if not isinstance(run, dict):
            raise CheckpointError(f"{source}: its 'config' entry is a {type(run).__name__}, not a mapping")
        dataset = dataset or run.get("dataset")
        model_name, model_config = checkpoint["model_name"], checkpoint.get("model_config") or {}
        if not isinstance(model_config, dict):
            raise CheckpointError(f"{source}: model_config must be a mapping of settings, got {model_config!r}")
        model_config = {**model_config, "drop_path_rate": 0.0}  # inference
        sampling_rate = run.get("sampling_rate", 4)
        face_crop = recorded_face_crop(checkpoint.get("face_crop"), source)
    else:  # the official files (args: argparse.Namespace) or a bare state dict
        args = checkpoint.get("args")
        official = str(getattr(args, "data_set", "") or "").lower() or None
        dataset = dataset or (official if official in LABELLED else None)
        model_name, model_config = "lgi_former_base", {"num_classes": num_classes}
        for key, arg in (("num_frames", "num_frames"), ("img_size", "input_size")):
            if getattr(args, arg, None):
                model_config[key] = int(getattr(args, arg))
        preset = PRESETS.get(dataset or "", {})
        sampling_rate = getattr(args, "sampling_rate", None) or preset.get("sampling_rate", 4)
        face_crop = None
    if dataset is not None and (not isinstance(dataset, str) or dataset.lower() not in LABELLED):
        raise CheckpointError(
            f"{source}: names dataset {dataset!r}, which has no label set here (pass --dataset {'|'.join(LABELLED)})"
        )
    classes = _classes(dataset, source, num_classes)
    model = _build(source, model_name, model_config)
    load_checkpoint(model, state, name=source)
    c, t, h, _ = model.input_shape
    spec = checked_spec(
        ClassifierSpec(model_name, dict(model.model_config), classes, t, sampling_rate, h, dataset, face_crop), source
    )
    return model.eval(), spec


def _trained_on(checkpoint: dict) -> str | None:
    """The dataset a checkpoint says it was fine-tuned on, as it names it: an official file's
    ``args.data_set``, a maedfer run's ``config.dataset``."""
    run = checkpoint.get("config")
    named = getattr(checkpoint.get("args"), "data_set", None) or (run.get("dataset") if isinstance(run, dict) else None)
    return named if isinstance(named, str) and named else None


def hicmae_label_set(checkpoint: dict, source: str) -> tuple[str, tuple[str, ...]]:
    """The dataset (maedfer's name) and class names, in the order of its head's outputs, of a
    HiCMAE classifier checkpoint: an official file's from its ``args.data_set`` in HiCMAE's
    label order (:data:`maedfer.data.catalog.HICMAE_LABELS`), a maedfer run's from its config.
    A data set of unknown labels, or a head of another class count, is a CheckpointError."""
    state = state_dict_of(checkpoint, source)
    if state_kind(state) != HICMAE_CLASSIFIER:
        raise CheckpointError(f"{source}: not a HiCMAE classifier: {describe_state(state)}")
    num_classes = state["head.weight"].shape[0]
    named = _trained_on(checkpoint)
    known = {k.lower(): k for k in HICMAE_LABELS}
    if checkpoint.get("format") == "maedfer" and named and named.lower() in LABELLED:
        dataset, classes = named.lower(), None
    elif named and named.lower() in known:
        dataset, classes = HICMAE_LABELS[known[named.lower()]]
    else:
        raise CheckpointError(
            f"{source}: a HiCMAE classifier fine-tuned on {named or 'a data set it does not name'}, whose label "
            f"order is not known here (known: {', '.join(HICMAE_LABELS)})"
        )
    return dataset, _classes(dataset, source, num_classes, classes)


def load_pretraining_model(path: str | os.PathLike) -> tuple[nn.Module, int]:
    """A pre-trained MAE-DFER (encoder + decoder, eval mode) and the frame stride it was
    pre-trained with, from a maedfer or an official pre-training checkpoint. The official
    model runs with ``official_decoder_pos`` (its decoder was trained with those positions).
    ``path`` may be a released name (``voxceleb2``)."""
    from ..hub import resolve_checkpoint

    path = resolve_checkpoint(path)[0]
    checkpoint = read_checkpoint(path)
    state = state_dict_of(checkpoint, str(path))
    if state_kind(state) == HICMAE_PRETRAINING:
        raise CheckpointError(
            f"{path}: {describe_state(state)}; reconstructions of audio-visual models are not available in this version"
        )
    if not any(k.startswith("decoder.") for k in state):
        raise CheckpointError(
            f"{path}: no decoder weights; reconstructions need a pre-training checkpoint "
            f"(maedfer pretrain, or the official pre-trained MAE-DFER)"
        )
    if checkpoint.get("format") == "maedfer" and checkpoint.get("model_name"):
        model = _build(str(path), checkpoint["model_name"], checkpoint.get("model_config") or {})
        run = checkpoint.get("config") or {}
        stride = run.get("stride", 4) if isinstance(run, dict) else None
    else:
        model = create_model("mae_dfer_base", official_decoder_pos=True)
        stride = getattr(checkpoint.get("args"), "sampling_rate", None) or 4
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise CheckpointError(f"{path}: frame stride must be a whole number >= 1, got {stride!r}")
    if not hasattr(model, "decoder"):
        raise CheckpointError(f"{path}: model {checkpoint.get('model_name')} is not a pre-training model")
    load_checkpoint(model, state, name=str(path))
    return model.eval(), stride
