"""Annotation files in the original format: one clip per line, ``<path> <integer label>``
separated by one space, no header (the original reads them with pandas, delimiter ' ')."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable


class AnnotationError(ValueError):
    """A malformed annotation file; the message names the file and line."""


@dataclass(frozen=True)
class Item:
    path: str
    label: int


def remap_path(path: str, root: str | os.PathLike | None, strip_prefix: str | None = None) -> str:
    """Rewrite a path of another machine: drop ``strip_prefix`` if present, then put a
    relative remainder under ``root``."""
    if strip_prefix and path.startswith(strip_prefix):
        path = path[len(strip_prefix):].lstrip("/")
    if root is not None and not os.path.isabs(path):
        path = str(Path(root) / path)
    return path


def read_annotations(file: str | os.PathLike, root: str | os.PathLike | None = None,
                     strip_prefix: str | None = None, num_classes: int | None = None) -> list[Item]:
    """Read ``<path> <label>`` lines. Relative paths are resolved under ``root`` (default:
    the annotation file's folder); ``strip_prefix`` removes the authors' absolute prefix,
    e.g. ``/mnt/data1/brain/AC/Dataset``, so their shipped CSVs work with ``root``."""
    file = Path(file)
    if not file.is_file():
        raise AnnotationError(f"{file}: no such annotation file")
    base = root if root is not None else file.parent
    items = []
    for n, line in enumerate(file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.strip().split(" ")
        if len(parts) != 2:
            raise AnnotationError(f"{file}:{n}: expected '<path> <label>' separated by one space, got {line!r}"
                                  + (" (paths must not contain spaces)" if len(parts) > 2 else ""))
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
    """Write items in the original format (paths must not contain spaces)."""
    file = Path(file)
    lines = []
    for item in items:
        path, label = (item.path, item.label) if isinstance(item, Item) else item
        if " " in str(path) or "\n" in str(path):
            raise AnnotationError(f"{file}: cannot write path {str(path)!r}: the format forbids spaces")
        lines.append(f"{path} {int(label)}\n")
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("".join(lines))
    return file
