"""Every setting of a run, defined once: its type, its default, what it means and what values
it takes. Pre-training, fine-tuning and evaluation each have a dataclass; they share
:class:`Settings` (the model and its clips, where data and outputs are) and the training
loop's :class:`TrainSettings`.

The command line (``--set key=value``), YAML files and presets are checked against these
definitions (:mod:`maedfer.config`), ``maedfer pretrain --help`` lists them, and the
documentation's settings page is generated from them (``docs/hooks/reference.py``).

A settings object reads by attribute (``settings.lr``); ``settings["lr"]`` reads too, for
scripts written when a run's settings were a dict.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import MaedferError
from .precision import PRECISIONS

# Where pre-training's crop, resize and normalisation run: in the loader's workers, batched on
# the training device after the workers hand over uint8 frames, or (auto) on the device when
# it is a GPU; see maedfer/data/transforms/device.py and docs/scale.md, "Pre-training at scale".
AUGMENT_ON = ("auto", "loader", "device")


class ConfigError(MaedferError):
    """A bad preset, key or value."""


Rule = tuple[Callable[[Any], bool], str]  # (is the value allowed, what it must satisfy)


def _between(low: float, high: float, low_open: bool = False, high_open: bool = False) -> Rule:
    def ok(v: float) -> bool:
        return (v > low if low_open else v >= low) and (v < high if high_open else v <= high)

    left = f"{low} < x" if low_open else f"{low} <= x"
    right = "" if high == math.inf else (f" < {high}" if high_open else f" <= {high}")
    return ok, f"must satisfy {left}{right}"


AT_LEAST_1: Rule = (lambda v: v >= 1, "must be at least 1")
NOT_NEGATIVE: Rule = (lambda v: v >= 0, "must not be negative")
POSITIVE: Rule = (lambda v: v > 0, "must be positive")
PROBABILITY: Rule = _between(0, 1)


def one_of(choices: tuple[str, ...], word: str = "") -> Rule:
    return (lambda v: v in choices, f"must be one of {', '.join(choices)}" if not word else word)


def setting(default: Any, help: str, rule: Rule | None = None) -> Any:
    """A field with its one-line description and the rule its value must satisfy."""
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, "rule": rule})
    return field(default=default, metadata={"help": help, "rule": rule})


@dataclass
class Settings:
    """What every run has: the model, its clips, the data's location, the output folder."""

    task: str = setting("", "what the run does (pretrain, finetune, evaluate); set by the command")
    model: str = setting("", "model name from the registry (maedfer models)")
    model_overrides: dict = setting(
        {}, "settings passed to the model, e.g. {'depth': 2} (maedfer models NAME lists them)"
    )
    init: str | None = setting(None, "checkpoint to start from (pre-trained encoder, or weights to test)")
    root: str | None = setting(
        None, "folder that relative paths in annotation files are under (default: the file's folder)"
    )
    strip_prefix: str | None = setting(
        None, "path prefix dropped from annotation paths first (the authors' /mnt/data1/...)"
    )
    num_frames: int = setting(16, "frames per clip", AT_LEAST_1)
    input_size: int = setting(160, "side of the model's input frames in pixels", AT_LEAST_1)
    batch_size: int = setting(
        32, "clips per step and process (the learning rate scales with the total / 256)", AT_LEAST_1
    )
    precision: str = setting("fp32", "fp32, bf16 or fp16 (GPUs) autocast", one_of(PRECISIONS))
    seed: int = setting(0, "random seed (data order, augmentation, initialisation)", NOT_NEGATIVE)
    workers: int = setting(4, "data loading processes per training process (0: in the main process)", NOT_NEGATIVE)
    output_dir: str = setting(
        "runs/run",
        "folder for checkpoints, logs, config.yaml and evaluations",
        (lambda v: bool(v.strip()), "must name a folder"),
    )

    def __getitem__(self, key: str) -> Any:
        """``settings["lr"]``: reading by key, as scripts did when settings were a dict."""
        if not isinstance(key, str) or key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (tuples as lists): what YAML files and checkpoints hold."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def check(self) -> None:
        """Every value's rule, then what holds between values."""
        for f in dataclasses.fields(self):
            rule, value = f.metadata.get("rule"), getattr(self, f.name)
            if rule is not None and value is not None and not rule[0](value):
                raise ConfigError(f"config: {f.name} {rule[1]}, got {value!r}")
        self._check_model()

    def _check_model(self) -> None:
        """The model exists, is the kind the task needs, and takes ``model_overrides``."""
        from .registry import ModelConfigError, check_settings, model_settings

        try:
            settings = model_settings(self.model)
            check_settings(self.model, self.model_overrides)
        except ModelConfigError as e:
            raise ConfigError(f"config: {e}") from None
        kind, needs = (
            ("a pre-training model", "mask_ratio") if self.task == "pretrain" else ("a classifier", "num_classes")
        )
        if needs not in settings:
            raise ConfigError(f"config: model {self.model!r} is not {kind}, which {self.task} needs")
        if "audio_size" in settings:  # HiCMAE: the engines make video clips only
            raise ConfigError(
                f"config: model {self.model!r} is audio-visual (video and a spectrogram per clip); "
                f"{self.task} of audio-visual models is not available in this version"
            )


@dataclass
class EvaluateSettings(Settings):
    """Testing a classifier with the multi-view protocol."""

    task: str = setting("evaluate", "what the run does; set by the command")
    model: str = setting("lgi_former_base", "model name from the registry (maedfer models)")
    dataset: str = setting("dfew", "the label set (dfew, ferv39k, mafw, crema-d, ravdess, enterface05, synth)")
    test: str | None = setting(None, "annotation file of the test set")
    sampling_rate: int = setting(
        4, "frames between the frames of a clip (the dataset's recipe: 4, FERV39k 1)", AT_LEAST_1
    )
    test_clips: int = setting(2, "temporal views per test video", AT_LEAST_1)
    test_crops: int = setting(2, "spatial views per test clip", AT_LEAST_1)

    def check(self) -> None:
        super().check()
        from .data.catalog import LABELLED

        if self.dataset.lower() not in LABELLED:
            raise ConfigError(f"config: dataset must be one of {', '.join(LABELLED)}, got {self.dataset!r}")


@dataclass
class TrainSettings(Settings):
    """The training loop's settings, shared by pre-training and fine-tuning."""

    epochs: int = setting(100, "passes over the training data", AT_LEAST_1)
    warmup_epochs: float = setting(5.0, "epochs of linear learning-rate warm-up", NOT_NEGATIVE)
    accum_steps: int = setting(1, "batches whose gradients are summed before a step", AT_LEAST_1)
    lr: float = setting(1e-3, "base learning rate (scaled by total batch / 256)", POSITIVE)
    min_lr: float = setting(1e-6, "learning rate at the end of the cosine schedule (scaled as lr)", NOT_NEGATIVE)
    betas: tuple[float, float] = setting(
        (0.9, 0.999), "AdamW's betas", (lambda v: all(0 <= b < 1 for b in v), "must be two numbers in [0, 1)")
    )
    weight_decay: float = setting(0.05, "AdamW's weight decay", NOT_NEGATIVE)
    clip_grad: float | None = setting(None, "largest gradient norm (null: no clipping)", POSITIVE)
    save_every: int = setting(1, "epochs between kept epoch checkpoints", AT_LEAST_1)
    save_every_steps: int = setting(0, "also save checkpoint-last.pth every this many steps (0: never)", NOT_NEGATIVE)
    save_every_minutes: float = setting(
        0.0, "also save checkpoint-last.pth every this many minutes (0: never)", NOT_NEGATIVE
    )
    keep_last: int = setting(2, "epoch checkpoints kept (0: all)", NOT_NEGATIVE)
    on_error: str = setting(
        "raise",
        "an unreadable training clip: raise (stop) or skip (the next one, warned)",
        one_of(("raise", "skip"), "must be raise or skip"),
    )
    max_nonfinite_steps: int = setting(
        25, "steps in a row with a NaN or infinite loss or gradient before the run stops", AT_LEAST_1
    )
    repeated_aug: int = setting(1, "clips drawn from each decoded video (batch_size must be a multiple)", AT_LEAST_1)

    def check(self) -> None:
        super().check()
        if self.batch_size % self.repeated_aug:
            raise ConfigError(
                f"config: batch_size {self.batch_size} must be a multiple of repeated_aug "
                f"{self.repeated_aug} (clips per decoded video)"
            )
        if self.min_lr > self.lr:
            raise ConfigError(f"config: min_lr {self.min_lr} is above lr {self.lr}")


@dataclass
class PretrainSettings(TrainSettings):
    """MAE-DFER pre-training on unlabelled videos."""

    task: str = setting("pretrain", "what the run does; set by the command")
    model: str = setting("mae_dfer_base", "model name from the registry (maedfer models)")
    data: str | None = setting(None, "annotation file of the unlabelled videos ('<path> 0' lines)")
    heldout: str | None = setting(
        None,
        "annotation file of held-out videos: each epoch, every loss part on them ÷ predicting zero and ÷ the "
        "no-input floor (metrics.jsonl's heldout_* keys)",
    )
    stride: int = setting(4, "frames between the frames of a clip", AT_LEAST_1)
    voxceleb_crop: bool = setting(
        True, "keep the top-centre input_size square of each frame first (VoxCeleb2's 224x224 videos)"
    )
    mask_ratio: float = setting(0.9, "share of the tokens hidden from the encoder", _between(0, 1, True, True))
    lr: float = setting(3e-4, "base learning rate (scaled by total batch / 256)", POSITIVE)
    min_lr: float = setting(1e-5, "learning rate at the end of the cosine schedule (scaled as lr)", NOT_NEGATIVE)
    betas: tuple[float, float] = setting(
        (0.9, 0.95), "AdamW's betas", (lambda v: all(0 <= b < 1 for b in v), "must be two numbers in [0, 1)")
    )
    save_every: int = setting(10, "epochs between kept epoch checkpoints", AT_LEAST_1)
    figure_every: int = setting(1, "epochs between reconstruction figures (0: none)", NOT_NEGATIVE)
    augment_on: str = setting(
        "auto",
        "where the crop and resize run: loader workers, the device (batched), or auto (the device when it is a GPU)",
        one_of(AUGMENT_ON),
    )
    pool_cache: str = setting(
        "", "decode the pool once into memory (ram) or a memory-mapped file (a path); '' reads the videos every epoch"
    )


@dataclass
class FinetuneSettings(TrainSettings, EvaluateSettings):
    """Fine-tuning a classifier with the original's recipe, tested with the multi-view protocol."""

    # restated: TrainSettings' copy of Settings' fields would win over EvaluateSettings' defaults
    task: str = setting("finetune", "what the run does; set by the command")
    model: str = setting("lgi_former_base", "model name from the registry (maedfer models)")
    train: str | None = setting(None, "annotation file of the training set")
    layer_decay: float = setting(0.75, "learning-rate decay per layer from the head down", _between(0, 1, True))
    drop_path: float = setting(0.1, "stochastic depth rate", _between(0, 1, high_open=True))
    randaugment: str = setting("rand-m7-n4-mstd0.5-inc1", "RandAugment policy in timm's notation ('' for none)")
    rrc_scale: tuple[float, float] = setting(
        (0.08, 1.0),
        "random resized crop: smallest and largest share of the area",
        (lambda v: 0 < v[0] <= v[1] <= 1, "must be (low, high) with 0 < low <= high <= 1"),
    )
    flip: float = setting(0.5, "probability of a horizontal flip", PROBABILITY)
    reprob: float = setting(0.25, "probability of random erasing", PROBABILITY)
    mixup: float = setting(0.8, "Mixup's alpha (0: off)", NOT_NEGATIVE)
    cutmix: float = setting(1.0, "CutMix's alpha (0: off)", NOT_NEGATIVE)
    mixup_prob: float = setting(1.0, "probability that a batch is mixed", PROBABILITY)
    mixup_switch_prob: float = setting(0.5, "probability of CutMix instead of Mixup", PROBABILITY)
    smoothing: float = setting(0.1, "label smoothing", _between(0, 1, high_open=True))
    eval_every: int = setting(1, "epochs between tests (the last epoch is always tested)", AT_LEAST_1)

    def check(self) -> None:
        super().check()
        if self.randaugment:
            from .data.transforms import RandAugment

            try:
                RandAugment.from_policy(self.randaugment)
            except ValueError as e:
                raise ConfigError(f"config: randaugment: {e}") from None


SETTINGS: dict[str, type[Settings]] = {
    "pretrain": PretrainSettings,
    "finetune": FinetuneSettings,
    "evaluate": EvaluateSettings,
}


def field_types(cls: type[Settings]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def check_type(cls: type[Settings], key: str, value: Any, source: str) -> Any:
    """``value`` as the type ``key`` is declared with in ``cls`` (an int where a float is
    wanted becomes a float; a list of the right length a tuple), or a ConfigError."""
    return _as_type(field_types(cls)[key], key, value, source)


def _as_type(kind: Any, key: str, value: Any, source: str) -> Any:
    args = typing.get_args(kind)
    if type(None) in args:  # optional: None is allowed
        if value is None:
            return None
        kind = next(a for a in args if a is not type(None))
    elif value is None:
        raise ConfigError(f"{source}: {key} must be set (a {getattr(kind, '__name__', kind)}), got null")
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key} must be true or false, got {value!r}")
        return value
    if typing.get_origin(kind) is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: {key} must be a tuple, got {value!r}")
        if len(value) != len(typing.get_args(kind)):
            raise ConfigError(f"{source}: {key} needs {len(typing.get_args(kind))} values, got {list(value)}")
        return tuple(
            _as_type(k, f"{key}[{i}]", v, source) for i, (k, v) in enumerate(zip(typing.get_args(kind), value))
        )
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ConfigError(f"{source}: {key} must be a {kind.__name__}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{source}: {key} must be a finite number, got {value}")
    return value


def _type_name(kind: Any) -> str:
    args = typing.get_args(kind)
    if type(None) in args:
        return _type_name(next(a for a in args if a is not type(None))) + " or null"
    if typing.get_origin(kind) is tuple:
        return "(" + ", ".join(_type_name(a) for a in args) + ")"
    return {bool: "true/false"}.get(kind, getattr(kind, "__name__", str(kind)))


def describe(cls: type[Settings]) -> list[tuple[str, str, str, str]]:
    """(key, type, default, description) for every setting of ``cls``."""
    kinds = field_types(cls)
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        shown = "null" if default is None else repr(list(default) if isinstance(default, tuple) else default)
        rows.append((f.name, _type_name(kinds[f.name]), shown, f.metadata["help"]))
    return rows


def help_text(cls: type[Settings]) -> str:
    """The settings of ``cls`` for ``--help``: one line each."""
    rows = describe(cls)
    width = max(len(k) for k, *_ in rows)
    return "\n".join(
        f"  {key:<{width}}  {description} ({kind}, default {default})" for key, kind, default, description in rows
    )
