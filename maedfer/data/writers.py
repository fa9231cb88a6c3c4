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


def write_video(path: str | os.PathLike, frames: torch.Tensor | np.ndarray, fps: int = 25,
                codec: str = "libx264", crf: int = 18, keyframe_interval: int | None = None) -> Path:
    """Write (T, H, W, 3) uint8 RGB frames as a video (H.264 in yuv420p: even sizes only).
    ``keyframe_interval`` forces a key frame every so many frames (readers can seek there)."""
    import av

    array = _frames_array(frames)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = array.shape[1:3]
        stream.pix_fmt = "yuv420p"
        options = {"crf": str(crf), "preset": "veryfast"} if codec == "libx264" else {}
        if keyframe_interval:
            options.update(g=str(keyframe_interval), keyint_min=str(keyframe_interval))
        stream.options = options
        for frame in array:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_frames(folder: str | os.PathLike, frames: torch.Tensor | np.ndarray, ext: str = "jpg",
                 quality: int = 95) -> Path:
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
