"""Reading frames: video files (PyAV), frame folders and single images.

Every reader returns uint8 tensors of shape (T, H, W, 3), RGB, for the frame indices asked
for, and decodes only what those frames need. Problems raise :class:`VideoReadError` with
the path and the problem in one line.
"""

from __future__ import annotations

import abc
import bisect
import io
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from ..errors import VideoReadError
from ..files import special_file_problem

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".flv")  # .flv: CREMA-D
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _decode_image(path: Path) -> np.ndarray:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise VideoReadError(f"{path}: cannot read image ({e.strerror})") from None
    try:
        if path.suffix.lower() in (".jpg", ".jpeg"):
            import simplejpeg  # ~2x faster than PIL for JPEG

            try:
                return simplejpeg.decode_jpeg(data, colorspace="RGB")
            except ValueError:  # a format simplejpeg does not take (e.g. CMYK, lossless): PIL below
                pass
        return _decode_with_pil(data)
    except Exception as e:  # the decoders raise their own types
        raise VideoReadError(f"{path}: cannot decode image ({type(e).__name__}: {e})") from None


def _decode_with_pil(data: bytes) -> np.ndarray:
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as im:
        im = ImageOps.exif_transpose(im)  # phone photos: the orientation tag, applied
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            # 16/32-bit grey: PIL's convert("RGB") clips at 255 (all white); scale instead
            wide = np.asarray(im, dtype=np.float64)
            top = 65535.0 if im.mode.startswith("I;16") or wide.max() <= 65535 else float(wide.max())
            grey = np.clip(wide / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
            return np.repeat(grey[..., None], 3, axis=2)
        return np.array(im.convert("RGB"))  # a writable copy


def _stack(frames: list[np.ndarray], path: Path) -> torch.Tensor:
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise VideoReadError(f"{path}: frames differ in size {sorted(shapes)}")
    return torch.from_numpy(np.stack(frames))


class FrameReader(abc.ABC):
    """Common interface: ``len(reader)`` frames, ``reader.read(indices)`` -> (T, H, W, 3)."""

    path: Path

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def read(self, indices: Sequence[int]) -> torch.Tensor: ...

    @property
    def fps(self) -> float:
        """Frames per second. Frame folders and images carry no rate: taken as 25."""
        return 25.0

    def iter_frames(self, step: int = 1, chunk: int = 32) -> Iterator[tuple[int, np.ndarray]]:
        """(index, frame) for frames 0, step, 2*step, ... in order, decoding each once."""
        indices = list(range(0, len(self), step))
        for i in range(0, len(indices), chunk):
            part = indices[i : i + chunk]
            yield from zip(part, self.read(part).numpy())

    def close(self) -> None:
        """Release the file (a video's decoder threads, too)."""

    def __enter__(self) -> "FrameReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check(self, indices: Sequence[int]) -> None:
        n = len(self)
        bad = [i for i in indices if not 0 <= i < n]
        if bad:
            raise VideoReadError(f"{self.path}: frame index {bad[0]} out of range (the clip has {n} frames)")


class ImageReader(FrameReader):
    """A single image, repeated as every frame (as the original does for image items)."""

    def __init__(self, path: str | os.PathLike, repeat: int = 1) -> None:
        self.path, self.repeat = Path(path), repeat
        self._image: np.ndarray | None = None

    def __len__(self) -> int:
        return self.repeat

    def read(self, indices: Sequence[int]) -> torch.Tensor:
        if self._image is None:
            self._image = _decode_image(self.path)
        return torch.from_numpy(self._image).expand(len(indices), *self._image.shape).contiguous()


class FolderReader(FrameReader):
    """A folder of frame images, ordered by sorted file name (zero-padded names, as the
    original's ``sorted(glob(...))``); only the frames asked for are decoded."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        try:
            entries = list(self.path.iterdir())
        except OSError as e:
            raise VideoReadError(f"{self.path}: cannot list frame folder ({e.strerror})") from None
        # Sub-folders and special files with image names are not frames.
        self.files = sorted(
            p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not special_file_problem(p)
        )
        if not self.files:
            raise VideoReadError(f"{self.path}: frame folder holds no {'/'.join(IMAGE_SUFFIXES)} files")

    def __len__(self) -> int:
        return len(self.files)

    def read(self, indices: Sequence[int]) -> torch.Tensor:
        self._check(indices)
        cache: dict[int, np.ndarray] = {}
        for i in indices:
            if i not in cache:
                cache[i] = _decode_image(self.files[i])
        return _stack([cache[i] for i in indices], self.path)


class VideoReader(FrameReader):
    """A video file decoded with PyAV. Reading seeks to the key frame before the first
    frame needed and decodes up to the last one, nothing more. In an all-intra video (every
    frame a key frame, as ``maedfer pack`` writes) only the frames asked for are decoded.

    ``threads``: FFmpeg decoding threads; None lets FFmpeg use every core, which suits one
    video read alone (``predict``). Data loaders pass 1: N workers each starting a thread per
    core would oversubscribe the CPU N times over."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        import av

        self.path = Path(path)
        try:
            self._container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as e:
            raise VideoReadError(f"{self.path}: cannot open video ({type(e).__name__}: {e})") from None
        if not self._container.streams.video:
            self._container.close()
            raise VideoReadError(f"{self.path}: holds no video stream")
        self._stream = self._container.streams.video[0]
        self._threads = threads
        if threads is None:
            self._stream.thread_type = "AUTO"
        else:
            self._stream.thread_type, self._stream.thread_count = "SLICE", threads
        self._intra: list | None = None  # packets in frame order, when every one is a key frame
        try:
            self._pts, packets = self._index()
        except av.error.FFmpegError as e:
            self._container.close()
            raise VideoReadError(f"{self.path}: corrupt video ({type(e).__name__}: {e})") from None
        self._num_frames = len(self._pts) or packets
        if self._num_frames == 0:
            self._container.close()
            raise VideoReadError(f"{self.path}: video has no frames")

    def _index(self) -> tuple[list[int], int]:
        """The presentation times of all frames in order, read from the packets (no
        decoding), and the packet count. Frame numbers come from this list, not from
        time x frame rate, so variable-frame-rate videos (phones) number their frames 0, 1,
        2, ... without repeats or gaps. The list is empty when packets carry no times."""
        packets = [p for p in self._container.demux(self._stream) if p.size]
        self._container.seek(0)
        pts = [p.pts for p in packets]
        if any(p is None for p in pts):
            return [], len(pts)
        if packets and all(p.is_keyframe for p in packets) and len(set(pts)) == len(pts):
            # Each frame decodes on its own: keep the packets (the file's bytes) to decode
            # just the frames a clip needs.
            self._intra = sorted(packets, key=lambda p: p.pts)
        return sorted(set(pts)), len(pts)

    def __len__(self) -> int:
        return self._num_frames

    @property
    def fps(self) -> float:
        rate = self._stream.average_rate or self._stream.guessed_rate
        return float(rate) if rate else 25.0

    def _frame_index(self, frame) -> int:
        if self._pts:
            i = bisect.bisect_left(self._pts, frame.pts)
            if i < len(self._pts) and self._pts[i] == frame.pts:
                return i
            # a time between two frames' times (no such packet): the next frame
            return min(max(i, 0), len(self._pts) - 1)
        start = self._stream.start_time or 0
        return int(round(float((frame.pts - start) * self._stream.time_base) * self.fps))

    def _array(self, frame) -> np.ndarray:
        """RGB pixels as they are meant to be shown: a rotation tag (portrait phone videos
        are stored sideways with a display matrix) is applied. The colour conversion uses
        the reader's thread count too: PyAV >= 17 converts with a thread per core by default,
        and handing each 160x160 frame to a pool of threads cost more than the conversion
        (bench/loader.py: 16 frames from a packed video, one process on 2 cores, 130 clips/s
        instead of 350 pinned to one core), worse with a DataLoader worker per core."""
        options = {} if self._threads is None else {"threads": self._threads}
        image = frame.to_ndarray(format="rgb24", **options)
        turns = round((getattr(frame, "rotation", 0) or 0) / 90) % 4  # counter-clockwise quarter turns
        return np.ascontiguousarray(np.rot90(image, turns)) if turns else image

    def iter_frames(self, step: int = 1, chunk: int = 32) -> Iterator[tuple[int, np.ndarray]]:
        """One sequential decode of the whole video (no seeking), keeping every step-th frame."""
        import av

        self._container.seek(0)
        sequential = -1
        try:
            for frame in self._container.decode(self._stream):
                sequential += 1
                idx = sequential if frame.pts is None else self._frame_index(frame)
                if idx % step == 0 and idx < len(self):
                    yield idx, self._array(frame)
        except av.error.FFmpegError as e:
            raise VideoReadError(
                f"{self.path}: corrupt video at frame {sequential} ({type(e).__name__}: {e})"
            ) from None

    def _read_intra(self, wanted: set[int]) -> dict[int, np.ndarray]:
        codec = self._stream.codec_context
        got: dict[int, np.ndarray] = {}
        frames = [f for i in sorted(wanted) for f in codec.decode(self._intra[i])]
        if len(frames) < len(wanted):  # a decoder that holds frames back: drain it, then reset it
            frames += codec.decode(None)
            codec.flush_buffers()
        for frame in frames:
            got.setdefault(self._frame_index(frame), self._array(frame))
        return got

    def _read_sequential(self, wanted: set[int]) -> dict[int, np.ndarray]:
        first, last = min(wanted), max(wanted)
        got: dict[int, np.ndarray] = {}
        if first > 0 and self._pts:
            self._container.seek(self._pts[first], stream=self._stream, backward=True, any_frame=False)
        elif first > 0 and self._stream.time_base:
            start = self._stream.start_time or 0
            target = start + int(first / self.fps / self._stream.time_base)
            self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        else:
            self._container.seek(0)
        sequential = None  # count frames ourselves when pts are missing
        for frame in self._container.decode(self._stream):
            if frame.pts is None:
                sequential = 0 if sequential is None else sequential + 1
                idx = sequential
            else:
                idx = self._frame_index(frame)
            if idx in wanted and idx not in got:
                got[idx] = self._array(frame)
            if idx >= last:
                break
        return got

    def read(self, indices: Sequence[int]) -> torch.Tensor:
        import av

        self._check(indices)
        wanted = set(indices)
        try:
            got = self._read_intra(wanted) if self._intra is not None else self._read_sequential(wanted)
        except av.error.FFmpegError as e:
            raise VideoReadError(f"{self.path}: corrupt video ({type(e).__name__}: {e})") from None
        missing = sorted(wanted - got.keys())
        if missing:
            raise VideoReadError(
                f"{self.path}: could not decode frame {missing[0]} of {len(self)} "
                f"({len(missing)} frames missing; truncated or corrupt video?)"
            )
        return _stack([got[i] for i in indices], self.path)

    def close(self) -> None:
        self._container.close()


class ArrayReader(FrameReader):
    """Frames already in memory: a (T, H, W, 3) uint8 array or tensor."""

    def __init__(self, frames: np.ndarray | torch.Tensor, name: str = "<frames>", fps: float = 25.0) -> None:
        array = torch.as_tensor(np.asarray(frames) if not isinstance(frames, torch.Tensor) else frames)
        if array.dtype != torch.uint8 or array.ndim != 4 or array.shape[-1] != 3 or not len(array):
            raise VideoReadError(
                f"{name}: frames must be a non-empty uint8 (T, H, W, 3) array, got {array.dtype} {tuple(array.shape)}"
            )
        self.path, self.frames, self._fps = Path(name), array, fps

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def fps(self) -> float:
        return self._fps

    def read(self, indices: Sequence[int]) -> torch.Tensor:
        self._check(indices)
        return self.frames[list(indices)]


def open_clip(path: str | os.PathLike, image_repeat: int = 16, threads: int | None = None) -> FrameReader:
    """A reader for a video file, a frame folder or a single image (repeated ``image_repeat``
    times); ``threads``: a video's decoding threads (see :class:`VideoReader`)."""
    path = Path(path)
    if path.is_dir():
        return FolderReader(path)
    if not path.exists():
        raise VideoReadError(f"{path}: no such file or folder")
    problem = special_file_problem(path)
    if problem:  # opening a FIFO would wait for a writer forever
        raise VideoReadError(f"{path}: {problem}")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return ImageReader(path, image_repeat)
    if suffix in VIDEO_SUFFIXES:
        return VideoReader(path, threads)
    raise VideoReadError(
        f"{path}: unknown clip type '{suffix}' (expected a frame folder, "
        f"{'/'.join(IMAGE_SUFFIXES)} or {'/'.join(VIDEO_SUFFIXES)})"
    )
