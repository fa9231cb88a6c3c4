"""Read every clip of an annotation file once and report the ones that fail (the model:
mmaction2's check_videos). Clips shorter than a clip length are reported too: samplers pad
them by repeating frames, which is legal but worth knowing."""

from __future__ import annotations

import os
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Iterator

from ..files import special_file_problem
from .annotations import Item
from .readers import VideoReadError, open_clip

_CHUNK = 64  # frames decoded per read, so long videos never sit in memory whole


@dataclass(frozen=True)
class ClipReport:
    item: Item
    frames: int
    problem: str | None  # None: readable

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_clip(item: Item) -> ClipReport:
    """Decode every frame of one clip."""
    try:
        with open_clip(item.path, image_repeat=1, threads=1) as reader:
            n = len(reader)
            for start in range(0, n, _CHUNK):
                reader.read(list(range(start, min(start + _CHUNK, n))))
        return ClipReport(item, n, None)
    except VideoReadError as e:
        return ClipReport(item, 0, str(e))


def check_clips(items: list[Item], workers: int = 0) -> Iterator[ClipReport]:
    """Reports in the order of ``items``; ``workers`` > 0 decodes in that many processes."""
    if workers <= 0:
        yield from map(check_clip, items)
        return
    with get_context("spawn").Pool(workers) as pool:  # spawn: no forked decoder state
        yield from pool.imap(check_clip, items, chunksize=4)


def label_count(annotation: str | os.PathLike) -> int | None:
    """The class count from ``classes.txt`` beside an annotation file or in its parent
    folder (where ``maedfer prepare`` and ``maedfer synth`` write it), or None."""
    folder = Path(annotation).parent
    for candidate in (folder / "classes.txt", folder.parent / "classes.txt"):
        if candidate.is_file() and not special_file_problem(candidate):
            names = [line for line in candidate.read_text(errors="replace").splitlines() if line.strip()]
            return len(names) or None
    return None


def default_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 1)))
