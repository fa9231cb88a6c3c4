"""Released models in the cache: ``maedfer download NAME`` and names given as checkpoints."""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import fitted_state, read_checkpoint, state_dict_of
from ..files import cache_dir
from ..registry import create_model
from . import cache
from .cache import Fetcher, cached_file
from .released import ReleasedModel, released_model


def released_path(model: ReleasedModel) -> Path:
    """Where the file of ``model`` lives in the cache."""
    return cache_dir() / "released" / model.filename


def check_released(model: ReleasedModel, path: Path) -> None:
    """A CheckpointError unless ``path`` holds the weights of ``model``: every key of its
    architecture, no other, every shape (and the class count) as expected. The model is
    built on the meta device, so this costs no memory for the weights."""
    state = state_dict_of(read_checkpoint(path), str(path))
    overrides = {"num_classes": model.num_classes} if model.finetuned else {"official_decoder_pos": True}
    with torch.device("meta"):
        skeleton = create_model(model.model_name, **overrides)
    fitted_state(skeleton, state, str(path))


def download_released(name: str, fetch: Fetcher | None = None, download: bool = True) -> Path:
    """The cached file of the released model ``name``, downloaded (and checked) on first
    use (with ``fetch``, default gdown). ``download=False`` only looks in the cache."""
    model = released_model(name)
    return cached_file(
        model.name,
        model.url,
        released_path(model),
        fetch or cache.gdown_fetch,
        lambda p: check_released(model, p),
        page=model.page,
        download=download,
    )
