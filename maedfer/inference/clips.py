"""From a raw source (video file, frame folder, image or frames in memory) to face crops
at the model's frame spacing: the frames 0, r, 2r, ... (r = the sampling rate, as the test
protocol samples) are decoded twice, once to find faces and once to crop them, so memory
holds only the crops whatever the video's length and resolution.

Finding faces does not run the detector on every sampled frame (it took 60 ms a frame, 73 %
of ``predict``'s time on a talking-head video): it looks at every ``detect_every``-th one
and, where the faces there are where they were at the last look, takes the boxes in
between as interpolated. Where they moved, appeared or vanished, it looks at the frames in
between too, and keeps looking at every frame until the picture is stable again. A face
that the detector loses is searched for around its last box at once (also tilted by 20
degrees either way, which the frontal cascade needs for a head tilted to the shoulder),
instead of waiting for it to come back. A still image is looked at once, upright and tilted
(a group photo has heads tilted every way).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Union

import numpy as np
import torch
from tqdm import tqdm

from ..data.readers import ArrayReader, FrameReader, ImageReader, VideoReadError, open_clip
from ..errors import MaedferError
from .align import FaceAligner, FaceCrop
from .detectors import FaceDetector, make_detector
from .faces import Box, FaceTrack, fill_boxes, smooth_track, track_faces

Source = Union[str, os.PathLike, np.ndarray, torch.Tensor]
CROPS = ("face", "full")  # detect and follow the face, or take whole frames (already face crops)


class NoFaceError(VideoReadError):
    """No face was found where one is needed."""


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


def _same_faces(before: list[Box], now: list[Box], min_iou: float = 0.5) -> bool:
    """Whether the faces at two looks are the same ones in about the same places."""
    return len(before) == len(now) and all(max((b.iou(n) for n in now), default=0.0) >= min_iou for b in before)


def _unmatched(before: list[Box], now: list[Box]) -> list[Box]:
    """The boxes of ``before`` that no box of ``now`` continues: none has its centre within
    one box side of theirs (a face may move far between two looks; a lost one is gone)."""

    def near(a: Box, b: Box) -> bool:
        side = max(a.x1 - a.x0, a.y1 - a.y0)
        return abs((a.x0 + a.x1 - b.x0 - b.x1) / 2) < side and abs((a.y0 + a.y1 - b.y0 - b.y1) / 2) < side

    return [b for b in before if not any(near(b, n) for n in now)]


def _turned(detector: FaceDetector, image: np.ndarray, angle: float) -> list[Box]:
    """Faces in ``image`` turned by ``angle`` degrees (about its centre), as upright boxes
    of the same size around their centres turned back, in ``image``'s pixels."""
    import cv2

    if angle == 0:
        return list(detector(image))
    h, w = image.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    found = detector(cv2.warpAffine(image, turn, (w, h), borderMode=cv2.BORDER_REPLICATE))
    back = cv2.invertAffineTransform(turn)
    out = []
    for b in found:
        cx, cy = back @ np.array([(b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2, 1.0])
        half_w, half_h = (b.x1 - b.x0) / 2, (b.y1 - b.y0) / 2
        out.append(Box(cx - half_w, cy - half_h, cx + half_w, cy + half_h, b.score))
    return out


def _merge(boxes: list[Box], more: list[Box]) -> list[Box]:
    """``boxes`` plus those of ``more`` that overlap none of them (IoU < 0.3)."""
    out = list(boxes)
    for b in more:
        if max((o.iou(b) for o in out), default=0.0) < 0.3:
            out.append(b)
    return out


TILTS = (-20.0, 20.0)  # degrees: a head tilted to the shoulder, which the frontal cascade misses


def _search_near(detector: FaceDetector, frame: np.ndarray, box: Box) -> list[Box]:
    """Faces in the region around ``box`` (twice its side), upright or tilted: the first
    angle that finds one wins. Boxes in frame pixels."""
    cx, cy, side = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2, 2 * max(box.x1 - box.x0, box.y1 - box.y0)
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    region = np.ascontiguousarray(frame[y0 : int(cy + side / 2), x0 : int(cx + side / 2)])
    if min(region.shape[:2]) < 24:
        return []
    for angle in (0.0, *TILTS):
        found = _turned(detector, region, angle)
        if found:
            return [Box(b.x0 + x0, b.y0 + y0, b.x1 + x0, b.y1 + y0, b.score) for b in found]
    return []


def check_detect_every(detect_every: int) -> int:
    """The detector's spacing, checked where it enters (CLI, API, live alike)."""
    if isinstance(detect_every, bool) or not isinstance(detect_every, int) or not 1 <= detect_every <= 8:
        raise MaedferError(
            f"--detect-every must be from 1 to 8 (a whole number; the tracker bridges at most 8 "
            f"frames), got {detect_every!r}"
        )
    return detect_every


def _upright_and_tilted(detector: FaceDetector, frame: np.ndarray) -> list[Box]:
    """Faces in a whole picture, upright and turned by each of ``TILTS``; a turned picture
    adds only the finds the detector is sure of (its ``low_confidence``)."""
    boxes = list(detector(frame))
    sure = getattr(detector, "low_confidence", float("-inf"))
    for angle in TILTS:
        boxes = _merge(boxes, [b for b in _turned(detector, frame, angle) if b.score >= sure])
    return boxes


def _following(detector: FaceDetector, frame: np.ndarray, before: list[Box]) -> list[Box]:
    """Faces in a video frame; a face of ``before`` that the detector lost is searched for
    around its last box."""
    boxes = list(detector(frame))
    for lost in _unmatched(before, boxes):
        boxes = _merge(boxes, _search_near(detector, frame, lost))
    return boxes


def find_faces(
    frames: Iterator[tuple[int, np.ndarray]],
    detector: FaceDetector,
    detect_every: int = 4,
    still: bool = False,
    timings: dict | None = None,
) -> tuple[list[int], list[list[Box] | None], int]:
    """Detections on sampled frames, looking at as few as the picture allows (see the
    module's docstring): (frame ids, detections per position or None where the detector
    did not look, number of looks)."""
    timings = {} if timings is None else timings
    ids: list[int] = []
    detections: list[list[Box] | None] = []
    pending: list[tuple[int, np.ndarray]] = []  # frames not looked at since the last look
    last: list[Box] = []
    unsettled = False
    looks = 0

    def look(pos: int, find, *args) -> list[Box]:
        nonlocal looks
        t = time.perf_counter()
        detections[pos] = find(detector, *args)
        timings["detect"] = timings.get("detect", 0.0) + time.perf_counter() - t
        looks += 1
        return detections[pos]

    def look_between(before: list[Box]) -> None:
        for p, f in pending:
            before = look(p, _following, f, before)

    for pos, (idx, frame) in enumerate(frames):
        ids.append(idx)
        detections.append(None)
        if still:  # one picture, repeated: looked at once
            detections[pos] = detections[0] if pos else look(0, _upright_and_tilted, frame)
            continue
        if not (pos % detect_every == 0 or unsettled):
            pending.append((pos, frame))
            continue
        boxes = look(pos, _following, frame, last)
        unsettled = pos > 0 and not _same_faces(last, boxes)
        if unsettled:  # something changed since the last look: look at the frames in between
            look_between(last)
        pending, last = [], boxes
    if pending:  # the last frames: look at the final one, and between if it changed
        p, f = pending.pop()
        if not _same_faces(last, look(p, _following, f, last)):
            look_between(last)
    return ids, detections, looks


def followed_faces(detections: list[list[Box] | None], path: Path) -> list[FaceTrack]:
    """The faces :func:`track_faces` follows in ``detections``, the main one first; none is
    a NoFaceError naming ``path`` and what the detector saw."""
    tracks = track_faces(detections)
    if not tracks:
        seen = [d for d in detections if d is not None]
        found = sum(bool(d) for d in seen)
        raise NoFaceError(
            f"{path}: no face found ({found} of {len(detections)} sampled frames had a detection, "
            f"{len(seen)} looked at; too few to follow)"
        )
    return tracks


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

        detector = detector or make_detector("haar")
        ids, detections, looks = find_faces(
            frames("finding faces"), detector, detect_every, still=isinstance(reader, ImageReader), timings=timings
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
        aligners = {t.id: FaceAligner(face_crop) for t in tracks}
        crops: dict[int, list[np.ndarray]] = {t.id: [] for t in tracks}
        for track_id, _, image in crop_tracks(frames, tracks, boxes, aligners, timings, reader.path):
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


def crop_tracks(
    frames: Callable[[str], Iterator[tuple[int, np.ndarray]]],
    tracks: list[FaceTrack],
    boxes: dict[int, dict[int, Box]],
    aligners: dict[int, FaceAligner],
    timings: dict,
    path: Path,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """(track id, position, crop) for every position where a track has a box, in order;
    ``frames(description)`` decodes the sampled frames once more for each pass (a pass
    to find the eyes first, where the crop is aligned on them)."""

    def timed(step: Callable[[], np.ndarray | None]) -> np.ndarray | None:
        t = time.perf_counter()
        result = step()
        timings["crop"] = timings.get("crop", 0.0) + time.perf_counter() - t
        return result

    def passes(desc: str) -> Iterator[tuple[FaceTrack, int, np.ndarray, int]]:
        rows = dict.fromkeys(boxes, 0)
        for pos, (_, frame) in enumerate(frames(desc)):
            for track in tracks:
                if pos in boxes[track.id]:
                    yield track, pos, frame, rows[track.id]
                    rows[track.id] += 1
        for track in tracks:
            if rows[track.id] != len(boxes[track.id]):
                raise VideoReadError(
                    f"{path}: a second decoding pass gave different frames "
                    f"({rows[track.id]} vs {len(boxes[track.id])}); corrupt video?"
                )

    if any(a.needs_look for a in aligners.values()):
        for track, pos, frame, _ in passes("finding eyes"):
            timed(lambda: aligners[track.id].look(frame, boxes[track.id][pos]))
        for track in tracks:  # eyes smoothed per segment: between, the face was out of view
            order = {pos: row for row, pos in enumerate(sorted(boxes[track.id]))}
            runs = [(order[a], order[b]) for a, b in track.segments]
            if len(order) > len(track.boxes):  # boxes filled across the gaps too: one run
                runs = [(0, len(order) - 1)]
            timed(lambda: aligners[track.id].plan(runs))
    for track, pos, frame, row in passes("cropping faces"):
        yield track.id, pos, timed(lambda: aligners[track.id].crop(frame, boxes[track.id][pos], row))
