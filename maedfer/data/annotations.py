"""Annotation files in the original format: one clip per line, ``<path> <integer label>``
separated by one space, no header (the original reads them with pandas, delimiter ' ').

A relative path in a line is relative to the annotation file's own folder, so a file and
its clips can move together and be read from any working directory. maedfer writes the
clips that lie below the annotation file's folder that way, and every other clip with its
absolute path."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import MaedferError
from ..files import atomic_write, regular_file


class AnnotationError(MaedferError):
    """A malformed annotation file; the message names the file and line."""


@dataclass(frozen=True)
class Item:
    path: str
    label: int


def remap_path(path: str, root: str | os.PathLike | None, strip_prefix: str | None = None) -> str:
    """Rewrite a path of another machine: drop ``strip_prefix`` if present, then put a
    relative remainder under ``root``."""
    if strip_prefix and path.startswith(strip_prefix):
        path = path[len(strip_prefix) :].lstrip("/")
    if root is not None and not os.path.isabs(path):
        path = str(Path(root) / path)
    return path


def read_annotations(
    file: str | os.PathLike,
    root: str | os.PathLike | None = None,
    strip_prefix: str | None = None,
    num_classes: int | None = None,
) -> list[Item]:
    """Read ``<path> <label>`` lines. Relative paths are resolved under ``root`` (default:
    the annotation file's folder); ``strip_prefix`` removes the authors' absolute prefix,
    e.g. ``/mnt/data1/brain/AC/Dataset``, so their shipped CSVs work with ``root``."""
    file = regular_file(file, "annotation file", AnnotationError)
    base = root if root is not None else file.parent
    # Paths are bytes on disk: undecodable bytes (a Latin-1 file name) map back to the same
    # bytes when the path is opened; a UTF-8 byte-order mark is dropped.
    text = file.read_bytes().decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    if "\0" in text:
        raise AnnotationError(f"{file}: holds NUL bytes; not a text annotation file")
    items = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.strip().split(" ")
        if len(parts) != 2:
            raise AnnotationError(
                f"{file}:{n}: expected '<path> <label>' separated by one space, got {line!r}"
                + (" (paths must not contain spaces)" if len(parts) > 2 else "")
            )
        path, label = parts
        try:
            value = int(label)
        except ValueError:
            raise AnnotationError(f"{file}:{n}: label {label!r} is not an integer") from None
        if value < 0 or (num_classes is not None and value >= num_classes):
            limit = f"0..{num_classes - 1}" if num_classes is not None else ">= 0"
            raise AnnotationError(f"{file}:{n}: label {value} out of range ({limit})")
        items.append(Item(remap_path(path, base, strip_prefix), value))
    if not items:
        raise AnnotationError(f"{file}: holds no annotations")
    return items


def write_annotations(file: str | os.PathLike, items: Iterable[Item | tuple[str, int]]) -> Path:
    """Write items in the original format (paths must not contain spaces). Relative item
    paths are taken from the current directory; clips below the annotation file's folder
    are written relative to it, others as absolute paths, so the file reads the same from
    any working directory."""
    file = Path(file)
    folder = Path(os.path.abspath(file.parent))
    lines = []
    for item in items:
        path, label = (item.path, item.label) if isinstance(item, Item) else item
        if " " in str(path) or "\n" in str(path):
            raise AnnotationError(f"{file}: cannot write path {str(path)!r}: the format forbids spaces")
        absolute = Path(os.path.abspath(path))
        written = absolute.relative_to(folder) if absolute.is_relative_to(folder) else absolute
        lines.append(f"{written.as_posix()} {int(label)}\n")
    data = "".join(lines).encode("utf-8", errors="surrogateescape")
    return atomic_write(file, lambda f: f.write(data))
