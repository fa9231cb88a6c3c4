"""What a ``--checkpoint`` (or ``maedfer.load``) argument names: a file, a released
model (``dfew``, ``mafw-fold3``, ...), or a Hub repository (``hf://OWNER/NAME``)."""

from __future__ import annotations

import os
from pathlib import Path

from .cache import Fetcher
from .released import is_released_name, released_model


def resolve_checkpoint(name: str | os.PathLike, fetch: Fetcher | None = None) -> tuple[Path, str | None]:
    """The local file ``name`` stands for (downloaded on first use) and the dataset whose
    labels it carries where the file itself may not say (released models). A file that
    exists wins over a released name."""
    text = os.fspath(name)
    if text.startswith("hf://"):
        from .huggingface import download_repo

        return download_repo(text), None
    path = Path(text)
    if not path.exists() and is_released_name(text):
        model = released_model(text)
        from .download import download_released

        return download_released(model.name, fetch), model.dataset
    return path, None
