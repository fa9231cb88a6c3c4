"""Files as maedfer reads and writes them: inputs must be regular files (a FIFO or a device
would hang a reader), outputs are written atomically, and nothing that exists is replaced
unless the user asked for it (``--overwrite``, ``--resume``)."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

from .errors import MaedferError


class OutputExistsError(MaedferError):
    """An output would replace something that exists and was not asked to be replaced."""


def special_file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as data, or None: FIFOs, sockets and devices are refused
    before anything opens them (opening a FIFO blocks until a writer appears)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    for test, what in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return f"is {what}, not a regular file"
    return None


def regular_file(path: str | os.PathLike, what: str, error: type[MaedferError] = MaedferError) -> Path:
    """``path`` if it is a readable regular file, else ``error`` naming it and the problem."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{path}: is a folder, not a {what}")
    if not path.exists():
        raise error(f"{path}: no such {what}")
    problem = special_file_problem(path)
    if problem:
        raise error(f"{path}: {problem} ({what} expected)")
    if not os.access(path, os.R_OK):
        raise error(f"{path}: {what} is not readable (permission denied)")
    return path


def output_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Create the folder ``path`` (and its parents); one line if that is impossible: a file
    in the way, a parent that is a file, no permission."""
    path = Path(path)
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            where = "is" if part == path else f"lies under {part}, which is"
            raise MaedferError(f"{path}: {what} {where} a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MaedferError(f"{path}: cannot create the {what} ({e.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise MaedferError(f"{path}: {what} is not writable (permission denied)")
    return path


def refuse_existing(path: str | os.PathLike, overwrite: bool, what: str = "output", flag: str = "--overwrite") -> Path:
    """``path`` if it does not exist yet or ``overwrite`` is set; else OutputExistsError."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: {what} exists already; pass {flag} to replace it")
    return path


def atomic_output(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Make the file ``path`` through ``write(temporary_path)`` (for writers that take a
    path) beside it, then rename it into place: a crash never leaves a torn file, and
    readers see either the old file or the new one."""
    path = Path(path)
    output_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """:func:`atomic_output` for writers that take an open binary file; flushed to disk
    before the rename."""

    def through_file(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())

    return atomic_output(path, through_file)


def atomic_copy(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy ``src`` to ``dst`` atomically (see :func:`atomic_write`)."""
    with open(src, "rb") as f:
        return atomic_write(dst, lambda out: shutil.copyfileobj(f, out))


def cache_dir() -> Path:
    """maedfer's cache folder: ``$MAEDFER_HOME``, default ``~/.cache/maedfer``."""
    return Path(os.environ.get("MAEDFER_HOME") or Path.home() / ".cache" / "maedfer")


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same existing file (links and relative paths resolved)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
