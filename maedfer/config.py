"""Run configurations: the official recipes as presets (the original's fine-tuning and
pre-training scripts), tiny presets for CPU work, and overrides from a YAML file and the
command line, resolved into the typed settings of :mod:`maedfer.settings`.

``resolve_config`` merges defaults < preset < YAML < ``--set`` and checks every key, type and
value against the settings' definitions, so a typo or an impossible value is an error before
anything runs instead of a silently ignored option or a failure deep inside torch.
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any

from .files import regular_file
from .settings import SETTINGS, ConfigError, Settings, check_type

# Each task's defaults, from its settings dataclass (maedfer/settings.py).
DEFAULTS: dict[str, dict[str, Any]] = {task: dataclasses.asdict(cls()) for task, cls in SETTINGS.items()}

# Per-process batch sizes: the original ran 3 GPUs for fine-tuning (total 96 / 120) and a
# total batch of 160 for pre-training. The lr is scaled by total batch / 256 at run time.
PRESETS: dict[str, dict[str, Any]] = {
    "voxceleb2": dict(
        task="pretrain", model="mae_dfer_base", epochs=100, batch_size=32, lr=3e-4, min_lr=1e-5, voxceleb_crop=True
    ),
    "dfew": dict(task="finetune", dataset="dfew", batch_size=32, sampling_rate=4),
    "ferv39k": dict(task="finetune", dataset="ferv39k", batch_size=40, sampling_rate=1),
    "mafw": dict(task="finetune", dataset="mafw", batch_size=32, sampling_rate=4),
    "crema-d": dict(task="finetune", dataset="crema-d", batch_size=32, sampling_rate=4),
    "ravdess": dict(task="finetune", dataset="ravdess", batch_size=32, sampling_rate=4),
    "enterface05": dict(task="finetune", dataset="enterface05", batch_size=32, sampling_rate=4),
    # CPU-sized runs on the built-in synthetic data (maedfer synth): 112x112 frames, 32-frame clips.
    # Base lrs are high because of the batch / 256 scaling: at batch 16 they give ~1e-3.
    "synth-tiny-pretrain": dict(
        task="pretrain",
        model="mae_dfer_tiny",
        input_size=80,
        voxceleb_crop=False,
        stride=2,
        epochs=32,
        warmup_epochs=2,
        batch_size=16,
        lr=1.6e-2,
        min_lr=1.6e-4,
        save_every=5,
        workers=2,
    ),
    # Light augmentation: with ~200 labelled clips and ~200 steps, the official recipe
    # (RandAugment, crops down to 8 % of the area, random erasing, Mixup/CutMix) keeps even a
    # pre-trained tiny model at chance; crops keep >= 60 % of the face here.
    "synth-tiny": dict(
        task="finetune",
        model="lgi_former_tiny",
        dataset="synth",
        input_size=80,
        sampling_rate=2,
        epochs=16,
        warmup_epochs=2,
        batch_size=16,
        lr=1.6e-2,
        min_lr=1.6e-4,
        layer_decay=0.75,
        randaugment="",
        rrc_scale=(0.6, 1.0),
        reprob=0.0,
        mixup=0.0,
        cutmix=0.0,
        workers=2,
    ),
    # The demo's setting since version-3 synthetic data (docs/results.md, "The demo"): the paper's
    # 8x10x10 token grid at 80x80, frames 4 apart as in the original's pre-training, mask 0.75
    # (VideoMAE's choice for small data), decoder masking so that more steps fit, batch 8. The
    # absolute peak lr is 3e-3 (lr x 8 / 256).
    "synth-small-pretrain": dict(
        task="pretrain",
        model="mae_dfer_tiny",
        input_size=80,
        voxceleb_crop=False,
        stride=4,
        mask_ratio=0.75,
        model_overrides={"decoder_mask_ratio": 0.5},
        epochs=40,
        warmup_epochs=4,
        batch_size=8,
        lr=9.6e-2,
        min_lr=9.6e-4,
        save_every=40,
        workers=0,
    ),
    # Fine-tuning on a small labelled set, the same for a pre-trained and a scratch start: an
    # absolute lr of 1e-3 (a scratch sweep's best of 1e-3, 3e-3, 1e-2: bench/levers.py), warm-up
    # 10 % of the steps, no Mixup or CutMix, light crops; the head starts at full scale
    # (init_scale 1): at the official 0.001 the logits hardly move in a few hundred steps.
    "synth-small": dict(
        task="finetune",
        model="lgi_former_tiny",
        model_overrides={"init_scale": 1.0},
        dataset="synth",
        input_size=80,
        sampling_rate=2,
        epochs=30,
        warmup_epochs=3,
        batch_size=8,
        lr=3.2e-2,
        min_lr=3.2e-4,
        layer_decay=1.0,
        drop_path=0.0,
        randaugment="",
        rrc_scale=(0.6, 1.0),
        reprob=0.0,
        mixup=0.0,
        cutmix=0.0,
        workers=0,
    ),
}


def _merge(config: dict, updates: dict, source: str, cls: type[Settings], ignored: tuple[str, ...] = ()) -> None:
    for key, value in updates.items():
        if key in ignored:
            continue
        if key not in config:
            near = difflib.get_close_matches(key, config, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(f"{source}: unknown config key {key!r}{hint}")
        config[key] = check_type(cls, key, value, source)


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


def resolve_config(
    task: str, preset: str | None = None, yaml_file: str | Path | None = None, overrides: dict | None = None
) -> Settings:
    """The settings of a ``task`` run: defaults < PRESETS[preset] < YAML file < overrides,
    every key, type and value checked against its definition (maedfer/settings.py).
    Evaluation takes fine-tuning presets and config files: their training settings are
    left aside (they do not change a test)."""
    if task not in SETTINGS:
        raise ConfigError(f"unknown task {task!r}")
    cls = SETTINGS[task]
    config = dataclasses.asdict(cls())
    # what fine-tuning has and evaluation does not: ignored in presets and files, not in --set
    training_only = tuple(set(DEFAULTS["finetune"]) - set(config)) if task == "evaluate" else ()
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
        recipe_task = PRESETS[preset]["task"]
        if recipe_task != task and not (task == "evaluate" and recipe_task == "finetune"):
            raise ConfigError(f"preset {preset!r} is a {recipe_task} recipe, not {task}")
        _merge(
            config, {k: v for k, v in PRESETS[preset].items() if k != "task"}, f"preset {preset}", cls, training_only
        )
    if yaml_file is not None:
        data = load_yaml(yaml_file)
        if task == "evaluate" and data.get("task") == "finetune":
            data = {k: v for k, v in data.items() if k != "task"}
        _merge(config, data, str(yaml_file), cls, training_only)
    if overrides:
        _merge(config, overrides, "--set", cls)
    if config["task"] != task:
        raise ConfigError(f"config is for task {config['task']!r}, not {task!r}")
    settings = cls(**config)
    settings.check()
    return settings


def plain_config(config: Settings | dict) -> dict:
    """The settings as plain data (tuples as lists): what YAML files and checkpoints hold."""
    if isinstance(config, Settings):
        return config.to_dict()
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}


def save_config(config: Settings | dict, path: str | Path) -> Path:
    import yaml

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(plain_config(config), sort_keys=True))
    return path
