"""Files maedfer downloads (released checkpoints, detector weights) and keeps in its cache
folder (``$MAEDFER_HOME``, default ``~/.cache/maedfer``).

A download goes to a staging file beside its destination (the client resumes a partial
one), is checked (its keys loaded, or its pinned sha256 compared) and only then renamed
into place, so the cache never holds a torn or foreign file under a model's name. The
file's sha256 is recorded at that moment (``sha256.json`` in the same folder) and every
later read compares it, so a file changed or damaged on disk is caught, not loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

from ..errors import MaedferError, one_line
from ..files import atomic_write

# (url, path): fetch url into the file path, resuming it if a partial download is there.
Fetcher = Callable[[str, Path], None]


class DownloadError(MaedferError):
    """A file could not be downloaded or failed its check."""


def gdown_fetch(url: str, path: Path) -> None:
    """Google Drive's client, gdown (it follows Drive's confirmation page for large files,
    shows a progress bar and resumes a partial download)."""
    try:
        import gdown
    except ImportError:
        raise DownloadError("downloading released models needs gdown: pip install 'maedfer[hub]'") from None
    if gdown.download(url, str(path), quiet=False, resume=True) is None:  # older gdown returns None on failure
        raise DownloadError("gdown could not fetch the file")


def _reason(error: Exception, url: str) -> str:
    """Why a download failed, short: connection failures (requests' and urllib's are
    OSErrors) say the host could not be reached; anything else keeps its message."""
    from urllib.parse import urlparse

    names = {type(error).__name__, *(type(c).__name__ for c in (error.__cause__, error.__context__) if c)}
    if isinstance(error, OSError) and (
        {"ConnectionError", "URLError", "NameResolutionError"} & names
        or "Max retries" in str(error)
        or "resolve" in str(error)
    ):
        return f"cannot reach {urlparse(url).hostname}: offline?"
    return one_line(error)[:160] or type(error).__name__


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _records(folder: Path) -> dict[str, str]:
    path = folder / "sha256.json"
    try:
        records = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError as e:
        raise DownloadError(
            f"{path}: not valid JSON ({e}); delete it and the files it lists are checked again"
        ) from None
    return records if isinstance(records, dict) else {}


def _record(path: Path, digest: str) -> None:
    records = {**_records(path.parent), path.name: digest}
    atomic_write(path.parent / "sha256.json", lambda f: f.write(json.dumps(records, indent=1).encode()))


def cached_file(
    name: str,
    url: str,
    dest: Path,
    fetch: Fetcher,
    check: Callable[[Path], None],
    sha256: str | None = None,
    page: str | None = None,
    download: bool = True,
) -> Path:
    """``dest``, downloaded from ``url`` with ``fetch`` if it is not there yet.

    ``check(path)`` raises a MaedferError when a file is not what ``name`` should be;
    ``sha256`` pins the content where it is known in advance. A file already in place
    must match its recorded (or pinned) sha256; one put there by hand is checked, then
    its sha256 recorded. ``page`` is where a person can fetch the file in a browser."""
    manual = f"download it from {page or url} and put it at {dest}"
    if dest.is_file():
        expected = sha256 or _records(dest.parent).get(dest.name)
        if expected is None:  # put there by hand: check it once, then remember it
            check(dest)
            _record(dest, sha256_of(dest))
        elif sha256_of(dest) != expected:
            raise DownloadError(
                f"{dest}: differs from the file downloaded for {name} (sha256 changed: edited or "
                f"damaged on disk); delete it to download it again"
            )
        return dest
    if not download:
        raise DownloadError(f"{name} is not in the cache; {manual}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.with_name(dest.name + ".download")
    try:
        fetch(url, staging)
    except KeyboardInterrupt:
        raise
    except Exception as e:  # the clients raise their own types; every one means "not downloaded"
        raise DownloadError(f"could not download {name} ({_reason(e, url)}); {manual}") from None
    if not staging.is_file():
        raise DownloadError(f"could not download {name}: the client wrote no file; {manual}")
    digest = sha256_of(staging)
    try:
        if sha256 is not None and digest != sha256:
            raise DownloadError(
                f"the download of {name} has sha256 {digest[:12]}..., not the pinned "
                f"{sha256[:12]}... (a changed or broken file)"
            )
        check(staging)
    except MaedferError as e:
        staging.unlink(missing_ok=True)
        raise DownloadError(f"{name}: the downloaded file was refused: {one_line(e)}") from None
    os.replace(staging, dest)
    _record(dest, digest)
    return dest
