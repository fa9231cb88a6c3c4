"""The one kind of error a user sees: :class:`MaedferError`, a bad input (file, option,
config, checkpoint) described in one line that names the thing and what is wrong with it.

Every error maedfer raises about its input is a ``MaedferError`` subclass (``VideoReadError``,
``CheckpointError``, ``ConfigError``, ...). The command line prints it as
``maedfer: error: <message>`` and exits with status 2. It subclasses ``ValueError`` so that
code catching ``ValueError`` keeps working.
"""

from __future__ import annotations

import re
from typing import Iterator, TypeVar

T = TypeVar("T")

# torch re-raises an error of a DataLoader worker as the same type with a message of
# "Caught X in DataLoader worker process N.\nOriginal Traceback ...": the whole traceback.
_WORKER = re.compile(r"^Caught \w+ in DataLoader worker process \d+\.\nOriginal Traceback", re.S)


class MaedferError(ValueError):
    """Bad input, described in one line naming the file or option and the problem."""


class VideoReadError(MaedferError):
    """A clip that cannot be read: missing, corrupt, empty or too short."""


class AudioReadError(MaedferError):
    """Audio that cannot be used: no audio stream, corrupt or truncated, shorter than the
    window asked for, or silent."""


def one_line(error: BaseException) -> str:
    """The message of ``error`` as one line: an OSError names its file and the reason; an
    error re-raised from a DataLoader worker gives back its own message, not the worker's
    traceback."""
    if isinstance(error, OSError) and error.strerror:
        text = f"{error.filename}: {error.strerror}" if error.filename is not None else error.strerror
    else:
        text = str(error)
    if _WORKER.match(text):
        last = [line for line in text.splitlines() if line.strip()][-1]
        text = last.split(": ", 1)[1] if ": " in last else last  # drop "package.module.ErrorType: "
    text = " ".join(part.strip() for part in text.splitlines() if part.strip())
    # File names with bytes that are not UTF-8 (kept as surrogates) print as \xNN escapes.
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # other lone surrogates
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def from_workers(batches: Iterator[T]) -> Iterator[T]:
    """Iterate a DataLoader; an input error raised in a worker comes out as the same error
    type with its own one-line message (torch puts the worker's traceback in the message)."""
    iterator = iter(batches)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except MaedferError as e:
            if not _WORKER.match(str(e)):
                raise
            try:
                clean = type(e)(one_line(e))
            except Exception:  # an error type with a different constructor
                clean = MaedferError(one_line(e))
            raise clean from None
        yield item
