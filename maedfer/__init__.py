"""maedfer: self-supervised dynamic facial expression recognition (MAE-DFER, LGI-Former)."""

from . import models  # noqa: F401  (registers the models)
from .api import EvaluationResult, RunResult, evaluate, finetune, pretrain  # training from Python
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .errors import MaedferError
from .inference import load  # maedfer.load("model.pth").predict("video.mp4")
from .registry import create_model, list_models
from .settings import EvaluateSettings, FinetuneSettings, PretrainSettings
from .version import __version__

__all__ = [
    "CheckpointError",
    "EvaluateSettings",
    "EvaluationResult",
    "FinetuneSettings",
    "MaedferError",
    "PretrainSettings",
    "RunResult",
    "create_model",
    "evaluate",
    "finetune",
    "list_models",
    "load",
    "load_checkpoint",
    "pretrain",
    "save_checkpoint",
    "__version__",
]
