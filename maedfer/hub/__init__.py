"""Models from elsewhere: the officially released checkpoints by name (downloaded into
maedfer's cache), and fine-tuned models shared on the Hugging Face Hub."""

from .cache import DownloadError, cached_file, gdown_fetch, sha256_of
from .download import check_released, download_released, released_path
from .released import ALIASES, RELEASED, ReleasedModel, is_released_name, released_model
from .resolve import resolve_checkpoint

__all__ = [
    "ALIASES",
    "DownloadError",
    "RELEASED",
    "ReleasedModel",
    "cached_file",
    "check_released",
    "download_released",
    "gdown_fetch",
    "is_released_name",
    "released_model",
    "released_path",
    "resolve_checkpoint",
    "sha256_of",
]
