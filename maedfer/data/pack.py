"""``maedfer pack``: a pool of face videos rewritten into what pre-training reads cheapest.

Pre-training reads 16 frames spread over 61 of a video, once per video per epoch. From a
VoxCeleb2 mp4 (224x224 H.264 with one key frame) that means decoding on average 130 frames
of 224x224 to keep 16 crops of 160x160. A packed video holds only the region the recipe
keeps (rows 0..159, columns 32..191: the original's VoxCeleb2 crop) and every frame is a key
frame (all-intra H.264, x264's ``fastdecode`` tuning), so the reader decodes exactly the 16
frames a clip needs, cheaply (bench/loader.py measures the gain; docs/results.md, "The
pre-training data path", gives the figures).

The step is parallel, resumable and keeps going past bad videos (:mod:`.jobs`).

``OUT/pretrain.csv`` lists the packed videos (``path 0`` lines, the original's format) in the
order of the source: give it to ``maedfer pretrain --set data=OUT/pretrain.csv``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from ..errors import MaedferError
from ..files import output_dir
from .annotations import Item, read_annotations, write_annotations
from .jobs import JobResult, RunRecord, partial_path, run_jobs, source_problem
from .readers import VIDEO_SUFFIXES, VideoReadError, open_clip

CROPS = ("voxceleb2", "none")
RECORD = "pack.json"
# Every frame a key frame (decodable alone); no CABAC and no deblocking filter: measured on a
# 2-core AMD EPYC, 16 frames of 160x160 decode in 3.4 ms instead of 5.0, for 9 % more bytes
# and 0.3 dB less PSNR.
ENCODING = dict(codec="libx264", keyframe_interval=1, tune="fastdecode")


class PackError(MaedferError):
    """The pool cannot be packed here (bad settings, an unwritable output)."""


@dataclass(frozen=True)
class PackSettings:
    """``crop``: ``voxceleb2`` keeps rows 0..size-1 and the centred size columns (the recipe's
    crop of 224x224 VoxCeleb2 frames; train with ``input_size`` = size), ``none`` keeps the
    whole frame (an odd last row or column is dropped: H.264 needs even sizes). ``crf``: x264
    quality (lower is better and larger; 18 is visually lossless)."""

    crop: str = "voxceleb2"
    size: int = 160
    crf: int = 18

    def check(self) -> None:
        if self.crop not in CROPS:
            raise PackError(f"crop must be one of {', '.join(CROPS)}, got {self.crop!r}")
        if self.size < 2 or self.size % 2:
            raise PackError(f"size must be an even number of pixels >= 2, got {self.size}")
        if not 0 <= self.crf <= 51:
            raise PackError(f"crf must be in 0..51 (x264's scale), got {self.crf}")


SOURCES = (
    f"a folder of videos (searched recursively), one video ({', '.join(VIDEO_SUFFIXES)}) "
    "or an annotation file ('<path> <label>' lines)"
)


def find_videos(source: str | os.PathLike, exclude: str | os.PathLike | None = None) -> tuple[list[str], Path]:
    """The videos of ``source`` (a folder, searched recursively; one video; or an annotation
    file) and the folder that output paths are made relative to; a folder's search skips
    ``exclude`` (an output folder inside the source must not be packed again on the next run)."""
    source = Path(source)
    if source.is_file() and source.suffix.lower() in VIDEO_SUFFIXES:
        return [str(source)], source.parent
    if source.is_dir():
        skip = os.path.abspath(exclude) if exclude is not None else None
        videos = sorted(
            str(p)
            for p in source.rglob("*")
            if p.suffix.lower() in VIDEO_SUFFIXES
            and p.is_file()
            and not (skip and os.path.abspath(p).startswith(skip + os.sep))
        )
        if not videos:
            raise PackError(f"{source}: holds no {'/'.join(VIDEO_SUFFIXES)} files")
        return videos, source
    if not source.exists():
        raise PackError(f"{source}: no such folder, video or annotation file")
    if not source.is_file():
        raise PackError(f"{source}: not a folder or a file; SRC is {SOURCES}")
    with open(source, "rb") as f:
        if b"\0" in f.read(65536):  # a binary file: not an annotation file, and not a video of ours
            raise PackError(f"{source}: neither a video this reads nor a text annotation file; SRC is {SOURCES}")
    videos = [item.path for item in read_annotations(source)]
    return videos, Path(os.path.commonpath([os.path.abspath(os.path.dirname(v)) for v in videos]))


def packed_path(video: str, root: Path, out: Path) -> Path:
    """Where a source video's packed form goes: its path under ``root``, under ``out``, as .mp4."""
    relative = Path(os.path.abspath(video)).relative_to(os.path.abspath(root))
    return (out / relative).with_suffix(".mp4")


def _crop(frame, settings: PackSettings):
    h, w = frame.shape[:2]
    if settings.crop == "none":
        return frame[: h - h % 2, : w - w % 2]
    if h < settings.size or w < settings.size:
        raise VideoReadError(f"frames of {w}x{h} are smaller than the {settings.size}x{settings.size} crop")
    left = (w - settings.size) // 2
    return frame[: settings.size, left : left + settings.size]


def pack_video(job: tuple[str, str, PackSettings]) -> JobResult:
    """Pack one video: a read problem skips it, a write problem stops the run."""
    from .writers import VideoWriter

    source, target, settings = job
    target, partial = Path(target), partial_path(target)
    writer = None
    try:
        with open_clip(source, threads=1) as reader:
            for _, frame in reader.iter_frames():
                frame = _crop(frame, settings)
                if writer is None:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    writer = VideoWriter(
                        partial, frame.shape[1], frame.shape[0], fps=reader.fps, crf=settings.crf, threads=1, **ENCODING
                    )
                writer.write(frame)
        if writer is None:
            return JobResult(source, f"{source}: video has no frames")
        writer.close()
        writer = None
        os.replace(partial, target)
        return JobResult(source)
    except VideoReadError as e:
        return JobResult(source, source_problem(source, e))
    except OSError as e:  # PyAV's write errors are OSErrors too
        return JobResult(source, write_problem=f"cannot write {target} ({e.strerror or e})")
    finally:
        if writer is not None:
            try:
                writer.close()
            except Exception:  # closing a half-written file after a failure: only its removal matters
                pass
        if partial.exists():
            partial.unlink()


@dataclass
class PackSummary:
    packed: int  # videos packed by this run
    kept: int  # videos packed by an earlier run, left as they were
    skipped: dict[str, str]  # source -> problem
    annotation: Path
    bytes: int  # size of all packed videos


def _jobs(videos: list[str], root: Path, out: Path, settings: PackSettings) -> Iterator[tuple[str, str, PackSettings]]:
    for video in videos:
        yield video, str(packed_path(video, root, out)), settings


def pack_pool(
    source: str | os.PathLike,
    out: str | os.PathLike,
    settings: PackSettings = PackSettings(),
    workers: int = 0,
    progress: bool = True,
) -> PackSummary:
    """Pack the videos of ``source`` (a folder or an annotation file) into ``out``; see the
    module's docstring. Runs again in the same ``out`` continue an earlier run, which must
    have used the same settings."""
    settings.check()
    videos, root = find_videos(source, exclude=out)
    out = output_dir(out, "pack folder")
    record = RunRecord(
        out / RECORD, {"settings": asdict(settings), "encoding": ENCODING}, str(source), "packed", PackError
    )
    record.data["skipped"] = {}  # this run's unreadable videos (an earlier run's are tried again)
    record.save()
    todo = [job for job in _jobs(videos, root, out, settings) if not Path(job[1]).is_file()]
    kept = len(videos) - len(todo)
    packed = 0

    def count(result: JobResult) -> None:
        nonlocal packed
        if result.problem:
            record.data["skipped"][result.source] = result.problem
        else:
            packed += 1

    try:
        failure = run_jobs(
            pack_video,
            todo,
            workers,
            "packing videos",
            count,
            lambda: (partial_path(target) for _, target, _ in todo),
            progress,
            "unreadable video",
        )
    finally:
        record.save()
    if failure:
        raise PackError(
            f"{out}: {failure}; the {kept + packed} videos packed so far are kept: free space (or fix the "
            "folder) and run the same command again to continue"
        )
    done = [Path(job[1]) for job in _jobs(videos, root, out, settings) if Path(job[1]).is_file()]
    try:
        annotation = write_annotations(out / "pretrain.csv", [Item(str(p), 0) for p in done])
    except OSError as e:
        raise PackError(f"{out / 'pretrain.csv'}: cannot write ({e.strerror or e})") from None
    return PackSummary(packed, kept, record.data["skipped"], annotation, sum(p.stat().st_size for p in done))
