"""From a raw source (video file, frame folder, image or frames in memory) to face crops
at the model's frame spacing: the frames 0, r, 2r, ... (r = the sampling rate, as the test
protocol samples) are decoded twice, once to detect faces and once to crop them, so memory
holds only the crops whatever the video's length and resolution."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Union

import numpy as np
import torch
from tqdm import tqdm

from ..data.readers import ArrayReader, FrameReader, VideoReadError, open_clip
from ..errors import MaedferError
from .faces import FaceDetector, FaceTrack, HaarFaceDetector, crop_face, smooth_track, track_faces

Source = Union[str, os.PathLike, np.ndarray, torch.Tensor]
CROPS = ("face", "full")  # detect and follow the face, or take whole frames (already face crops)


class NoFaceError(VideoReadError):
    """No face was found where one is needed."""


@dataclass
class SampledFaces:
    path: Path
    fps: float
    num_frames: int  # of the source
    frame_ids: list[int]  # the sampled frames' indices in the source
    tracks: list[FaceTrack]  # the main face first; one track without boxes for crop="full"
    crops: dict[int, torch.Tensor]  # track id -> (T, size, size, 3) uint8 over the track's span


def open_source(source: Source, image_repeat: int = 16) -> FrameReader:
    if isinstance(source, (np.ndarray, torch.Tensor)):
        return ArrayReader(source)
    return open_clip(source, image_repeat=image_repeat)


def _timed(frames: Iterator, timings: dict) -> Iterator:
    """Adds the time spent inside ``frames`` (decoding) to ``timings['decode']``."""
    while True:
        t = time.perf_counter()
        try:
            item = next(frames)
        except StopIteration:
            return
        finally:
            timings["decode"] = timings.get("decode", 0.0) + time.perf_counter() - t
        yield item


def sample_faces(source: Source, sampling_rate: int, size: int, crop: str = "face",
                 detector: FaceDetector | None = None, margin: float = 0.3, all_faces: bool = False,
                 timings: dict | None = None, progress: bool = False) -> SampledFaces:
    """Crops of the main face (or every face) at every ``sampling_rate``-th frame.
    ``timings`` collects seconds spent in 'decode', 'detect' and 'crop'."""
    if crop not in CROPS:
        raise MaedferError(f"--crop must be one of {', '.join(CROPS)}, got {crop!r}")
    timings = {} if timings is None else timings
    with open_source(source, image_repeat=16 * sampling_rate) as reader:
        total = -(-len(reader) // sampling_rate)

        def frames(desc: str) -> Iterator[tuple[int, np.ndarray]]:
            bar = tqdm(reader.iter_frames(sampling_rate), total=total, desc=desc, unit="frame",
                       disable=not progress, leave=False)
            return _timed(iter(bar), timings)

        if crop == "full":
            import cv2

            ids, images = [], []
            for idx, frame in frames("reading"):
                t = time.perf_counter()
                images.append(cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA))
                timings["crop"] = timings.get("crop", 0.0) + time.perf_counter() - t
                ids.append(idx)
            return SampledFaces(reader.path, reader.fps, len(reader), ids, [FaceTrack(0)],
                                {0: torch.from_numpy(np.stack(images))})

        detector = detector or HaarFaceDetector()
        detections, ids = [], []
        for idx, frame in frames("finding faces"):
            t = time.perf_counter()
            detections.append(detector(frame))
            timings["detect"] = timings.get("detect", 0.0) + time.perf_counter() - t
            ids.append(idx)
        tracks = track_faces(detections)
        if not tracks:
            found = sum(bool(d) for d in detections)
            raise NoFaceError(f"{reader.path}: no face found ({found} of {len(detections)} sampled frames had a "
                              f"detection, too few to follow); if the frames are already face crops use "
                              f"--crop full")
        tracks = tracks if all_faces else tracks[:1]
        for track in tracks:
            smooth_track(track, margin)
        position = {idx: pos for pos, idx in enumerate(ids)}
        crops: dict[int, list[np.ndarray]] = {t.id: [] for t in tracks}
        for idx, frame in frames("cropping faces"):
            t = time.perf_counter()
            pos = position.get(idx)
            for track in tracks:
                if pos in track.boxes:
                    crops[track.id].append(crop_face(frame, track.boxes[pos], size))
            timings["crop"] = timings.get("crop", 0.0) + time.perf_counter() - t
        for track in tracks:
            if len(crops[track.id]) != len(track.boxes):
                raise VideoReadError(f"{reader.path}: the second decoding pass gave different frames "
                                     f"({len(crops[track.id])} vs {len(track.boxes)}); corrupt video?")
        return SampledFaces(reader.path, reader.fps, len(reader), ids, tracks,
                            {t.id: torch.from_numpy(np.stack(crops[t.id])) for t in tracks})
