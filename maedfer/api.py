"""Training from Python: ``maedfer.pretrain``, ``maedfer.finetune`` and ``maedfer.evaluate``
do what the commands of the same names do, with the same settings, and return what the run
made instead of printing it.

    import maedfer

    run = maedfer.finetune(preset="synth-tiny", train="data/synth/train.csv", test="data/synth/test.csv",
                           epochs=4, output_dir="runs/ft")
    print(run.metrics["uar"], run.checkpoint)

Settings come as keyword arguments (any key of :class:`~maedfer.settings.FinetuneSettings`
etc.), on top of a ``preset`` and a YAML ``config`` file, or as a settings object; they are
checked as on the command line. Bad input raises a :class:`~maedfer.errors.MaedferError` (a
``ValueError``) with the command's one-line message; nothing calls ``sys.exit``. Progress bars
are tqdm's. Under ``torchrun`` the same call runs in every process, as the commands do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import resolve_config
from .errors import MaedferError
from .settings import EvaluateSettings, FinetuneSettings, PretrainSettings, Settings


@dataclass
class RunResult:
    """What a training run made: its folder, the last epoch's record (losses, and for
    fine-tuning with a test set ``uar`` and ``war``), its checkpoints, the settings it ran with."""

    output_dir: Path
    metrics: dict[str, Any]
    checkpoint: Path  # checkpoint-last.pth: the state to resume or to test
    best_checkpoint: Path | None  # checkpoint-best.pth (fine-tuning with a test set)
    evaluation: Path | None  # eval/metrics.json: the last test in full (per-class accuracy, confusion)
    settings: Settings


@dataclass
class EvaluationResult:
    """A test of a checkpoint: UAR, WAR, F1, per-class accuracy, the confusion matrix and
    every video's probabilities (``video_ids``, ``probabilities``, ``labels``), and the folder
    its files were written to (metrics.json, predictions.csv, confusion.csv/png)."""

    metrics: dict[str, Any]
    output_dir: Path
    settings: EvaluateSettings

    @property
    def uar(self) -> float:
        return self.metrics["uar"]

    @property
    def war(self) -> float:
        return self.metrics["war"]


def _resolve(
    task: str,
    settings: Settings | None,
    preset: str | None,
    config: str | os.PathLike | None,
    overrides: dict[str, Any],
) -> Settings:
    if settings is None:
        return resolve_config(task, preset, config, overrides)
    if preset is not None or config is not None:
        raise MaedferError("pass either a settings object or a preset / config file, not both")
    expected = {"pretrain": PretrainSettings, "finetune": FinetuneSettings, "evaluate": EvaluateSettings}[task]
    if not isinstance(settings, expected):
        raise MaedferError(f"settings for {task} must be a {expected.__name__}, got a {type(settings).__name__}")
    return resolve_config(task, overrides={**{k: v for k, v in settings.to_dict().items() if k != "task"}, **overrides})


def _train(task: str, settings: Settings, resume: str | None, overwrite: bool) -> RunResult:
    from .engine.distributed import distributed_run
    from .engine.finetune import finetune as finetune_engine
    from .engine.pretrain import pretrain as pretrain_engine

    engine = pretrain_engine if task == "pretrain" else finetune_engine
    with distributed_run() as dist:
        record = engine(settings, dist, resume, overwrite)
    out = Path(settings.output_dir)
    best, evaluation = out / "checkpoint-best.pth", out / "eval" / "metrics.json"
    return RunResult(
        out,
        dict(record),
        out / "checkpoint-last.pth",
        best if best.is_file() else None,
        evaluation if evaluation.is_file() else None,
        settings,
    )


def pretrain(
    settings: PretrainSettings | None = None,
    *,
    preset: str | None = None,
    config: str | os.PathLike | None = None,
    resume: str | None = None,
    overwrite: bool = False,
    **overrides: Any,
) -> RunResult:
    """MAE-DFER pre-training, as ``maedfer pretrain``: ``maedfer.pretrain(preset="voxceleb2",
    data="pool/pretrain.csv", output_dir="runs/pt")``. ``resume``: ``"auto"`` or a checkpoint;
    ``overwrite`` replaces an earlier run in the folder."""
    return _train("pretrain", _resolve("pretrain", settings, preset, config, overrides), resume, overwrite)


def finetune(
    settings: FinetuneSettings | None = None,
    *,
    preset: str | None = None,
    config: str | os.PathLike | None = None,
    resume: str | None = None,
    overwrite: bool = False,
    **overrides: Any,
) -> RunResult:
    """Fine-tuning and its test, as ``maedfer finetune``: ``maedfer.finetune(preset="dfew",
    train=..., test=..., init="voxceleb2.pth")``."""
    return _train("finetune", _resolve("finetune", settings, preset, config, overrides), resume, overwrite)


def evaluate(
    checkpoint: str | os.PathLike,
    test: str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    preset: str | None = None,
    config: str | os.PathLike | None = None,
    overwrite: bool = False,
    **overrides: Any,
) -> EvaluationResult:
    """The multi-view test of a fine-tuned checkpoint, as ``maedfer evaluate``: the run's own
    settings (those it carries), then ``preset``, ``config`` and ``overrides``. Writes
    metrics.json, predictions.csv and the confusion matrix into ``out`` (default: eval/ beside
    the checkpoint)."""
    from .engine.distributed import distributed_run
    from .engine.evaluate import evaluate_checkpoint, evaluation_config

    settings = evaluation_config(
        str(checkpoint), preset, None if config is None else str(config), {**overrides, "test": str(test)}
    )
    folder = Path(out) if out is not None else Path(checkpoint).parent / "eval"
    with distributed_run() as dist:
        metrics = evaluate_checkpoint(settings, str(test), folder, dist, overwrite)
    return EvaluationResult(metrics, folder, settings)
