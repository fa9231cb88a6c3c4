"""maedfer: self-supervised dynamic facial expression recognition (MAE-DFER, LGI-Former)."""
from . import models  # registers the models
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .inference import load  # maedfer.load("model.pth").predict("video.mp4")
from .registry import create_model, list_models
from .version import __version__

__all__ = ["CheckpointError", "create_model", "list_models", "load", "load_checkpoint", "save_checkpoint", "__version__"]
