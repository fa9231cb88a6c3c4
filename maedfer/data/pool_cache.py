"""A pool of videos decoded once: every frame of every video as uint8 in one memory-mapped
file, for runs of many epochs over a pool that fits in memory or on a fast disk.

Without it each epoch decodes each video again; with it an epoch reads 16 frames of an
array. ``pool_cache: ram`` makes a temporary file (in ``$TMPDIR``, default /tmp), removed
at once and alive while this run maps it: the page cache keeps it in memory while memory
allows; ``pool_cache: PATH`` keeps the file at PATH and reuses it while the videos are
unchanged (same paths, sizes and modification times), so later runs, and the other
processes of a multi-process run, start at once. DataLoader workers (forked) share the
mapping: the pool is in memory once, whatever the worker count. Size: frames x height x
width x 3 bytes per video (the demo's 160 videos: 290 MB).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm

from ..errors import MaedferError
from ..files import atomic_write
from .annotations import Item
from .readers import ArrayReader, VideoReadError, open_clip

FORMAT = 1


@dataclass(frozen=True)
class _Entry:
    offset: int  # bytes into the file
    shape: tuple[int, int, int, int]  # (T, H, W, 3)
    problem: str | None = None  # the reader's one-line error for a video that could not be decoded


def _decode(path: str) -> np.ndarray | str:
    try:
        with open_clip(path, threads=1) as reader:
            return reader.read(list(range(len(reader)))).numpy()
    except VideoReadError as e:
        return str(e)


def _fingerprint(items: Sequence[Item]) -> list[list]:
    out = []
    for item in items:
        try:
            st = os.stat(item.path)
            out.append([item.path, st.st_size, st.st_mtime_ns])
        except OSError:
            out.append([item.path, None, None])
    return out


class DecodedPool:
    """The decoded frames of ``len(pool)`` videos; ``pool.reader(i)`` reads video i."""

    def __init__(self, path: Path, entries: list[_Entry], temporary: bool = False) -> None:
        self.path, self.entries = Path(path), entries
        total = max((e.offset + int(np.prod(e.shape)) for e in entries if e.problem is None), default=0)
        self._array = np.memmap(self.path, dtype=np.uint8, mode="c", shape=(total,)) if total else np.zeros(0, np.uint8)
        if temporary:  # the mapping stays valid (and shared with forked workers) until the process ends
            self.path.unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def nbytes(self) -> int:
        return int(self._array.size)

    def reader(self, index: int) -> ArrayReader:
        entry = self.entries[index]
        if entry.problem is not None:
            raise VideoReadError(entry.problem)
        size = int(np.prod(entry.shape))
        frames = self._array[entry.offset : entry.offset + size].reshape(entry.shape)
        return ArrayReader(torch.from_numpy(np.asarray(frames)), name=f"{self.path}[{index}]")

    @classmethod
    def build(
        cls, items: Sequence[Item], where: str, workers: int = 0, on_error: str = "raise", progress: bool = True
    ) -> "DecodedPool":
        """Decode ``items`` into ``where``: ``"ram"`` (a temporary file, this run only) or a file
        path (kept; reused while the videos are unchanged). With ``on_error="raise"`` an
        unreadable video stops the build with its one-line error; with ``"skip"`` it is
        recorded and reading it later raises that error (the dataset then skips it)."""
        items = list(items)
        fingerprint = _fingerprint(items)
        temporary = where == "ram"
        if temporary:
            fd, name = tempfile.mkstemp(prefix="maedfer-pool-", suffix=".u8")
            os.close(fd)
            path = Path(name)
        else:
            path = Path(where)
            entries = cls._reusable(path, fingerprint)
            if entries is not None:
                return cls(path, entries)
            path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        entries: list[_Entry] = []
        offset = 0
        try:
            with (
                open(partial if not temporary else path, "wb") as f,
                get_context("fork").Pool(workers) if workers > 0 else _Inline() as pool,
            ):
                decoded = pool.imap(_decode, [item.path for item in items], chunksize=1)
                for item, frames in tqdm(
                    zip(items, decoded),
                    total=len(items),
                    desc="decoding the pool once",
                    unit="video",
                    disable=not progress or None,
                ):
                    if isinstance(frames, str):
                        if on_error == "raise":
                            raise VideoReadError(frames)
                        entries.append(_Entry(0, (0, 0, 0, 3), frames))
                        continue
                    f.write(frames.tobytes())
                    entries.append(_Entry(offset, tuple(frames.shape)))
                    offset += frames.nbytes
        except OSError as e:
            (path if temporary else partial).unlink(missing_ok=True)
            raise MaedferError(
                f"{path}: cannot write the decoded pool ({e.strerror or e}); "
                f"it needs about {offset / 2**30:.1f} GiB so far"
            ) from None
        except BaseException:
            (path if temporary else partial).unlink(missing_ok=True)
            raise
        if not temporary:
            os.replace(partial, path)
            record = {
                "format": FORMAT,
                "videos": fingerprint,
                "entries": [[e.offset, list(e.shape), e.problem] for e in entries],
            }
            atomic_write(_record_path(path), lambda out: out.write(json.dumps(record).encode()))
        return cls(path, entries, temporary=temporary)

    @staticmethod
    def _reusable(path: Path, fingerprint: list[list]) -> list[_Entry] | None:
        record_path = _record_path(path)
        if not (path.is_file() and record_path.is_file()):
            return None
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError):
            return None
        if record.get("format") != FORMAT or record.get("videos") != fingerprint:
            return None
        return [_Entry(o, tuple(s), p) for o, s, p in record["entries"]]


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


class _Inline:
    """Pool's imap in this process (workers=0)."""

    def imap(self, fn, args, chunksize=1):
        return map(fn, args)

    def __enter__(self) -> "_Inline":
        return self

    def __exit__(self, *exc) -> None:
        pass
