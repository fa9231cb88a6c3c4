"""Writing clips: mp4 videos (H.264 through PyAV) and frame folders, used by the synthetic
dataset generator and by tests to make fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch


def _frames_array(frames: torch.Tensor | np.ndarray) -> np.ndarray:
    array = frames.numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {array.dtype} {array.shape}")
    return array


class VideoWriter:
    """Write RGB uint8 frames one at a time as a video (H.264 in yuv420p: even sizes only);
    a context manager. ``keyframe_interval`` forces a key frame every so many frames
    (readers can seek there; 1 makes an all-intra video, whose frames decode one by one).
    ``threads``: encoder threads (None: the encoder's choice, every core). ``tune``: an x264
    tuning, e.g. ``fastdecode`` (no CABAC, no deblocking: decodes about 1.5x faster for ~10 %
    more bytes)."""

    def __init__(
        self,
        path: str | os.PathLike,
        width: int,
        height: int,
        fps: float = 25,
        codec: str = "libx264",
        crf: int = 18,
        keyframe_interval: int | None = None,
        threads: int | None = None,
        tune: str | None = None,
    ) -> None:
        from fractions import Fraction

        import av

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._av = av
        self._container = av.open(str(self.path), mode="w")
        self._stream = self._container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        self._stream.height, self._stream.width = height, width
        self._stream.pix_fmt = "yuv420p"
        # mbtree=0: with x264's macroblock-tree rate control the same frames gave different
        # files from run to run (4 bitstreams in 10 encodes of one 20-frame clip while other
        # processes ran, even single-threaded; every encode alike without it, 2026-12-07, AMD
        # EPYC with AVX-512), so the synthetic data, and every figure trained on it, changed
        # with the machine's load. It costs about a quarter more bytes at the same crf.
        options = {"crf": str(crf), "preset": "veryfast", "x264-params": "mbtree=0"} if codec == "libx264" else {}
        if keyframe_interval:
            options.update(g=str(keyframe_interval), keyint_min=str(keyframe_interval))
        if threads is not None:
            options["threads"] = str(threads)
        if tune is not None:
            options["tune"] = tune
        self._stream.options = options

    def write(self, frame: np.ndarray) -> None:
        for packet in self._stream.encode(self._av.VideoFrame.from_ndarray(frame, format="rgb24")):
            self._container.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_video(
    path: str | os.PathLike,
    frames: torch.Tensor | np.ndarray,
    fps: float = 25,
    codec: str = "libx264",
    crf: int = 18,
    keyframe_interval: int | None = None,
) -> Path:
    """Write (T, H, W, 3) uint8 RGB frames as a video (see :class:`VideoWriter`)."""
    array = _frames_array(frames)
    with VideoWriter(path, array.shape[2], array.shape[1], fps, codec, crf, keyframe_interval) as writer:
        for frame in array:
            writer.write(frame)
    return writer.path


def write_frames(
    folder: str | os.PathLike, frames: torch.Tensor | np.ndarray, ext: str = "jpg", quality: int = 95
) -> Path:
    """Write frames as zero-padded ``00001.jpg``/``.png`` files (sorted names = frame order)."""
    from PIL import Image

    array = _frames_array(frames)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(array, 1):
        image = Image.fromarray(frame)
        if ext == "jpg":
            image.save(folder / f"{i:05d}.jpg", quality=quality)
        elif ext == "png":
            image.save(folder / f"{i:05d}.png")
        else:
            raise ValueError(f"frame extension must be 'jpg' or 'png', got {ext!r}")
    return folder
