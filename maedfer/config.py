"""Run configurations: task defaults, the official recipes as presets (the original's
fine-tuning and pre-training scripts), tiny presets for CPU work, and overrides from a YAML
file and the command line.

A config is a flat dict; ``resolve_config`` merges defaults < preset < YAML < ``--set``
and checks every key, type and value, so a typo or an impossible value is an error before
anything runs instead of a silently ignored option or a failure deep inside torch.
"""
from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Any, Callable

from .errors import MaedferError
from .files import regular_file
from .precision import PRECISIONS

_COMMON = dict(
    model="", root=None, strip_prefix=None, init=None, num_frames=16, input_size=160, epochs=100,
    warmup_epochs=5.0, batch_size=32, accum_steps=1, weight_decay=0.05, clip_grad=None, precision="fp32",
    seed=0, workers=4, output_dir="runs/run", save_every=1, save_every_steps=0, save_every_minutes=0.0, keep_last=2,
    on_error="raise", max_nonfinite_steps=25,
    repeated_aug=1,
)

DEFAULTS: dict[str, dict[str, Any]] = {
    "pretrain": dict(_COMMON, task="pretrain", model="mae_dfer_base", data=None, stride=4, voxceleb_crop=True,
                     mask_ratio=0.9, lr=3e-4, min_lr=1e-5, betas=(0.9, 0.95), save_every=10, figure_every=1,
                     augment_on="auto", pool_cache="", model_overrides={}),
    "finetune": dict(_COMMON, task="finetune", model="lgi_former_base", dataset="dfew", train=None, test=None,
                     sampling_rate=4, test_clips=2, test_crops=2, lr=1e-3, min_lr=1e-6, betas=(0.9, 0.999),
                     layer_decay=0.75, drop_path=0.1, randaugment="rand-m7-n4-mstd0.5-inc1",
                     rrc_scale=(0.08, 1.0), flip=0.5, reprob=0.25, mixup=0.8, cutmix=1.0, mixup_prob=1.0,
                     mixup_switch_prob=0.5, smoothing=0.1, eval_every=1, model_overrides={}),
}

# Per-process batch sizes: the original ran 3 GPUs for fine-tuning (total 96 / 120) and a
# total batch of 160 for pre-training. The lr is scaled by total batch / 256 at run time.
PRESETS: dict[str, dict[str, Any]] = {
    "voxceleb2": dict(task="pretrain", model="mae_dfer_base", epochs=100, batch_size=32, lr=3e-4, min_lr=1e-5,
                      voxceleb_crop=True),
    "dfew": dict(task="finetune", dataset="dfew", batch_size=32, sampling_rate=4),
    "ferv39k": dict(task="finetune", dataset="ferv39k", batch_size=40, sampling_rate=1),
    "mafw": dict(task="finetune", dataset="mafw", batch_size=32, sampling_rate=4),
    "crema-d": dict(task="finetune", dataset="crema-d", batch_size=32, sampling_rate=4),
    "ravdess": dict(task="finetune", dataset="ravdess", batch_size=32, sampling_rate=4),
    "enterface05": dict(task="finetune", dataset="enterface05", batch_size=32, sampling_rate=4),
    # CPU-sized runs on the built-in synthetic data (maedfer synth): 112x112 frames, 32-frame clips.
    # Base lrs are high because of the batch / 256 scaling: at batch 16 they give ~1e-3.
    "synth-tiny-pretrain": dict(task="pretrain", model="mae_dfer_tiny", input_size=80, voxceleb_crop=False,
                                stride=2, epochs=32, warmup_epochs=2, batch_size=16, lr=1.6e-2, min_lr=1.6e-4,
                                save_every=5, workers=2),
    # Light augmentation: with ~200 labelled clips and ~200 steps, the official recipe
    # (RandAugment, crops down to 8 % of the area, random erasing, Mixup/CutMix) keeps even a
    # pre-trained tiny model at chance; crops keep >= 60 % of the face here.
    "synth-tiny": dict(task="finetune", model="lgi_former_tiny", dataset="synth", input_size=80, sampling_rate=2,
                       epochs=16, warmup_epochs=2, batch_size=16, lr=1.6e-2, min_lr=1.6e-4, layer_decay=0.75,
                       randaugment="", rrc_scale=(0.6, 1.0), reprob=0.0, mixup=0.0, cutmix=0.0, workers=2),
}


# Where pre-training's crop, resize and normalisation run: in the loader's workers, batched on
# the training device after the workers hand over uint8 frames, or (auto) on the device when
# it is a GPU; see maedfer/data/transforms/device.py and the README's "Pre-training at scale".
AUGMENT_ON = ("auto", "loader", "device")


class ConfigError(MaedferError):
    """A bad preset, key or value."""


# Settings that may be None (unset): what they must be when set.
_OPTIONAL_TYPES = {"root": str, "strip_prefix": str, "init": str, "data": str, "train": str, "test": str,
                   "clip_grad": float}


def _check_type(key: str, value: Any, default: Any, source: str) -> Any:
    if value is None and default is None:
        return value
    if default is None:
        default = _OPTIONAL_TYPES[key]()
    elif value is None:
        raise ConfigError(f"{source}: {key} must be set (a {type(default).__name__}), got null")
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key} must be true or false, got {value!r}")
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, tuple) and isinstance(value, (list, tuple)):
        if len(value) != len(default):
            raise ConfigError(f"{source}: {key} needs {len(default)} values, got {list(value)}")
        return tuple(_check_type(f"{key}[{i}]", v, d, source) for i, (v, d) in enumerate(zip(value, default)))
    if not isinstance(value, type(default)) or isinstance(value, bool) != isinstance(default, bool):
        raise ConfigError(f"{source}: {key} must be a {type(default).__name__}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{source}: {key} must be a finite number, got {value}")
    return value


def _between(low: float, high: float, low_open: bool = False, high_open: bool = False
             ) -> tuple[Callable[[Any], bool], str]:
    def ok(v: float) -> bool:
        return (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    left = f"{low} < x" if low_open else f"{low} <= x"
    right = "" if high == math.inf else (f" < {high}" if high_open else f" <= {high}")
    return ok, f"must satisfy {left}{right}"


_AT_LEAST_1 = (lambda v: v >= 1, "must be at least 1")
_NOT_NEGATIVE = (lambda v: v >= 0, "must not be negative")
_POSITIVE = (lambda v: v > 0, "must be positive")
_PROBABILITY = _between(0, 1)
# What each value must satisfy (types are checked against the defaults first).
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    **dict.fromkeys(("num_frames", "input_size", "epochs", "batch_size", "accum_steps", "save_every", "stride",
                     "max_nonfinite_steps",
                     "sampling_rate", "test_clips", "test_crops", "eval_every", "repeated_aug"), _AT_LEAST_1),
    **dict.fromkeys(("warmup_epochs", "weight_decay", "workers", "save_every_steps", "save_every_minutes", "keep_last",
                     "min_lr",
                     "figure_every", "mixup", "cutmix", "seed"), _NOT_NEGATIVE),
    **dict.fromkeys(("lr", "clip_grad"), _POSITIVE),
    **dict.fromkeys(("flip", "reprob", "mixup_prob", "mixup_switch_prob"), _PROBABILITY),
    "mask_ratio": _between(0, 1, low_open=True, high_open=True),
    "drop_path": _between(0, 1, high_open=True),
    "smoothing": _between(0, 1, high_open=True),
    "layer_decay": _between(0, 1, low_open=True),
    "betas": (lambda v: all(0 <= b < 1 for b in v), "must be two numbers in [0, 1)"),
    "rrc_scale": (lambda v: 0 < v[0] <= v[1] <= 1, "must be (low, high) with 0 < low <= high <= 1"),
    "precision": (lambda v: v in PRECISIONS, f"must be one of {', '.join(PRECISIONS)}"),
    "on_error": (lambda v: v in ("raise", "skip"), "must be raise or skip"),
    "augment_on": (lambda v: v in AUGMENT_ON, f"must be one of {', '.join(AUGMENT_ON)}"),
    "output_dir": (lambda v: bool(v.strip()), "must name a folder"),
}


def _check_values(config: dict) -> None:
    for key, (ok, rule) in RULES.items():
        if key in config and config[key] is not None and not ok(config[key]):
            raise ConfigError(f"config: {key} {rule}, got {config[key]!r}")
    if config["batch_size"] % config["repeated_aug"]:
        raise ConfigError(f"config: batch_size {config['batch_size']} must be a multiple of repeated_aug "
                          f"{config['repeated_aug']} (clips per decoded video)")
    if config["min_lr"] > config["lr"]:
        raise ConfigError(f"config: min_lr {config['min_lr']} is above lr {config['lr']}")
    _check_model(config)
    if config["task"] == "finetune":
        from .data.catalog import LABELLED

        if config["dataset"].lower() not in LABELLED:
            raise ConfigError(f"config: dataset must be one of {', '.join(LABELLED)}, got {config['dataset']!r}")
        if config["randaugment"]:
            from .data.transforms import RandAugment

            try:
                RandAugment.from_policy(config["randaugment"])
            except ValueError as e:
                raise ConfigError(f"config: randaugment: {e}") from None


def _check_model(config: dict) -> None:
    """The model exists, is the kind the task trains, and takes ``model_overrides``."""
    from .registry import ModelConfigError, check_settings, model_settings

    try:
        settings = model_settings(config["model"])
        check_settings(config["model"], config["model_overrides"])
    except ModelConfigError as e:
        raise ConfigError(f"config: {e}") from None
    kind, needs = ("a classifier", "num_classes") if config["task"] == "finetune" else ("a pre-training model",
                                                                                        "mask_ratio")
    if needs not in settings:
        raise ConfigError(f"config: model {config['model']!r} is not {kind}, which {config['task']} needs")


def _merge(config: dict, updates: dict, source: str) -> None:
    for key, value in updates.items():
        if key not in config:
            near = difflib.get_close_matches(key, config, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(f"{source}: unknown config key {key!r}{hint}")
        config[key] = _check_type(key, value, config[key], source)


def load_yaml(path: str | Path) -> dict:
    import yaml

    path = regular_file(path, "config file", ConfigError)
    try:
        data = yaml.safe_load(path.read_bytes().decode("utf-8-sig")) or {}
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of key: value")
    return data


def resolve_config(task: str, preset: str | None = None, yaml_file: str | Path | None = None,
                   overrides: dict | None = None) -> dict[str, Any]:
    """defaults(task) < PRESETS[preset] < YAML file < overrides, every key and type checked."""
    if task not in DEFAULTS:
        raise ConfigError(f"unknown task {task!r}")
    config = dict(DEFAULTS[task])
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
        if PRESETS[preset]["task"] != task:
            raise ConfigError(f"preset {preset!r} is a {PRESETS[preset]['task']} recipe, not {task}")
        _merge(config, PRESETS[preset], f"preset {preset}")
    if yaml_file is not None:
        _merge(config, load_yaml(yaml_file), str(yaml_file))
    if overrides:
        _merge(config, overrides, "--set")
    if config["task"] != task:
        raise ConfigError(f"config is for task {config['task']!r}, not {task!r}")
    _check_values(config)
    return config


def plain_config(config: dict) -> dict:
    """The config with tuples as lists: what YAML files and checkpoints can hold."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}


def save_config(config: dict, path: str | Path) -> Path:
    import yaml

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(plain_config(config), sort_keys=True))
    return path
