"""Fine-tuned models from the Hugging Face Hub: ``hf://OWNER/NAME[@REVISION]`` names.

``huggingface_hub`` is an optional extra (``pip install 'maedfer[hub]'``); it keeps downloads
in its own cache and honours ``HF_HUB_OFFLINE=1``. Uploading (``maedfer push``) is in
:mod:`maedfer.hub.push`, which needs the export and the loader; this module needs neither, so
that the loader can resolve ``hf://`` names through it.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import MaedferError, one_line
from .cache import DownloadError

PREFIX = "hf://"
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


def _hub():
    try:
        import huggingface_hub
    except ImportError:
        raise MaedferError("the Hugging Face Hub needs huggingface_hub: pip install 'maedfer[hub]'") from None
    return huggingface_hub


def parse_repo(text: str) -> tuple[str, str | None]:
    """``hf://OWNER/NAME[@REVISION]`` (or ``OWNER/NAME``) -> (repo id, revision)."""
    body = text[len(PREFIX) :] if text.startswith(PREFIX) else text
    repo, _, revision = body.partition("@")
    if not _REPO.match(repo):
        raise MaedferError(f"{text!r}: not a Hub repository id; expected OWNER/NAME, e.g. hf://me/maedfer-dfew")
    return repo, revision or None


def download_repo(text: str) -> Path:
    """The ``model.safetensors`` of ``hf://OWNER/NAME[@REVISION]`` in the Hub's cache,
    downloaded on first use (with ``HF_HUB_OFFLINE=1``, only the cache is read)."""
    repo_id, revision = parse_repo(text)
    hub = _hub()
    try:
        for name in ("config.json", "model.safetensors"):
            path = hub.hf_hub_download(repo_id, name, revision=revision)
    except Exception as e:  # not found, offline and not cached, no access
        raise DownloadError(f"{text}: could not get it from the Hugging Face Hub ({one_line(e)[:300]})") from None
    return Path(path)
