"""From a raw source (video file, frame folder, image or frames in memory) to face crops
at the model's frame spacing: the frames 0, r, 2r, ... (r = the sampling rate, as the test
protocol samples). The landmark tracker's frames are kept, shrunk, while it finds the faces,
and the crops are cut from them (:mod:`maedfer.faces.stash`); a box detector's, and a long
video's, are decoded a second time to crop them. Either way memory goes with the crops, not
with the video's length and resolution.

How faces are found, followed and cropped: :mod:`maedfer.faces`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Union

import numpy as np
import torch
from tqdm import tqdm

from ..data.readers import ArrayReader, FrameReader, ImageReader, open_clip
from ..errors import MaedferError
from ..faces.align import FaceCrop, make_aligner
from ..faces.boxes import FaceTrack, fill_boxes, smooth_track
from ..faces.detectors import FaceDetector, make_detector
from ..faces.find import (
    NoFaceError,
    check_detect_every,
    crop_tracks,
    detector_for,
    find_faces,
    followed_faces,
)
from ..faces.stash import FrameStash

Source = Union[str, os.PathLike, np.ndarray, torch.Tensor]
CROPS = ("face", "full")  # detect and follow the face, or take whole frames (already face crops)


class TooSlowError(MaedferError):
    """The work on a video passed its deadline (a server's time limit per request)."""


def check_deadline(deadline: float | None, path) -> None:
    """Raise :class:`TooSlowError` once ``time.monotonic()`` is past ``deadline`` (None: never)."""
    if deadline is not None and time.monotonic() > deadline:
        raise TooSlowError(f"{path}: the video took longer than the time limit")


@dataclass
class SampledFaces:
    path: Path
    fps: float
    num_frames: int  # of the source
    frame_ids: list[int]  # the sampled frames' indices in the source
    tracks: list[FaceTrack]  # the main face first; one track without boxes for crop="full"
    crops: dict[int, torch.Tensor]  # track id -> (T, size, size, 3) uint8 at its positions, in order
    looked: int = 0  # sampled frames the detector looked at
    eyes: dict[int, int] = field(default_factory=dict)  # track id -> crops aligned on eyes found (align="eyes")
    rows: list[int] | None = None  # positions of the crops' rows when every frame was cropped

    def positions(self, track: FaceTrack) -> list[int]:
        """The positions (indices into ``frame_ids``) of the rows of ``crops[track.id]``."""
        if self.rows is not None:
            return self.rows
        return sorted(track.boxes) if track.boxes else list(range(len(self.frame_ids)))

    def coverage(self, track: FaceTrack) -> float:
        """The share of the sampled frames where ``track`` is in view (has a box of its own)."""
        in_view = len(track.boxes) if track.boxes else len(self.frame_ids)
        return in_view / max(1, len(self.frame_ids))


def open_source(source: Source, image_repeat: int = 16) -> FrameReader:
    if isinstance(source, (np.ndarray, torch.Tensor)):
        return ArrayReader(source)
    return open_clip(source, image_repeat=image_repeat)


def _timed(frames: Iterator, timings: dict, deadline: float | None = None, path=None) -> Iterator:
    """Adds the time spent inside ``frames`` (decoding) to ``timings['decode']``; stops with
    :class:`TooSlowError` at the first frame past ``deadline``."""
    while True:
        check_deadline(deadline, path)
        t = time.perf_counter()
        try:
            item = next(frames)
        except StopIteration:
            return
        finally:
            timings["decode"] = timings.get("decode", 0.0) + time.perf_counter() - t
        yield item


def sample_faces(
    source: Source,
    sampling_rate: int,
    face_crop: FaceCrop,
    crop: str = "face",
    detector: FaceDetector | None = None,
    all_faces: bool = False,
    timings: dict | None = None,
    progress: bool = False,
    detect_every: int = 4,
    every_frame: bool = False,
    deadline: float | None = None,
) -> SampledFaces:
    """Crops of the main face (or every face) at every ``sampling_rate``-th frame, made as
    ``face_crop`` says (``crop="full"``: whole frames squashed to its size). Only the frames
    where a face is in view are cropped, unless ``every_frame``: then the frames before,
    after and between a face's segments get its nearest or interpolated box (the faces step
    keeps a clip's timing). ``timings`` collects seconds spent in 'decode', 'detect' and 'crop'.
    Past ``deadline`` (``time.monotonic()``), it stops with :class:`TooSlowError`."""
    face_crop = face_crop.checked()
    size = face_crop.size
    if crop not in CROPS:
        raise MaedferError(f"--crop must be one of {', '.join(CROPS)}, got {crop!r}")
    check_detect_every(detect_every)
    timings = {} if timings is None else timings
    with open_source(source, image_repeat=16 * sampling_rate) as reader:
        total = -(-len(reader) // sampling_rate)

        def frames(desc: str) -> Iterator[tuple[int, np.ndarray]]:
            bar = tqdm(
                reader.iter_frames(sampling_rate),
                total=total,
                desc=desc,
                unit="frame",
                disable=not progress,
                leave=False,
            )
            return _timed(iter(bar), timings, deadline, reader.path)

        if crop == "full":
            import cv2

            ids, images = [], []
            for idx, frame in frames("reading"):
                t = time.perf_counter()
                images.append(cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA))
                timings["crop"] = timings.get("crop", 0.0) + time.perf_counter() - t
                ids.append(idx)
            return SampledFaces(
                reader.path, reader.fps, len(reader), ids, [FaceTrack(0)], {0: torch.from_numpy(np.stack(images))}
            )

        detector = detector or make_detector(detector_for(face_crop, None))
        still = isinstance(reader, ImageReader)
        stash = None if still else FrameStash(face_crop)
        ids, detections, looks = find_faces(
            frames("finding faces"), detector, detect_every, still=still, timings=timings, keep=stash
        )
        try:
            tracks = followed_faces(detections, reader.path)
        except NoFaceError as e:
            raise NoFaceError(f"{e}; if the frames are already face crops use --crop full") from None
        tracks = tracks if all_faces else tracks[:1]
        boxes = {
            t.id: fill_boxes(smooth_track(t, face_crop.margin), len(ids))
            if every_frame
            else smooth_track(t, face_crop.margin).boxes
            for t in tracks
        }
        aligners = {t.id: make_aligner(face_crop, t) for t in tracks}
        crops: dict[int, list[np.ndarray]] = {t.id: [] for t in tracks}
        again, scale_at = stash.replay(ids, frames) if stash is not None else (frames, None)
        for track_id, _, image in crop_tracks(again, tracks, boxes, aligners, timings, reader.path, scale_at):
            crops[track_id].append(image)
        return SampledFaces(
            reader.path,
            reader.fps,
            len(reader),
            ids,
            tracks,
            {t.id: torch.from_numpy(np.stack(crops[t.id])) for t in tracks},
            looks,
            {t.id: aligners[t.id].eyes_used for t in tracks},
            list(range(len(ids))) if every_frame else None,
        )
