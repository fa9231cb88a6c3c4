"""Finding and following faces in a run of frames, and cropping them: the part that the
faces step (training data) and prediction share.

Finding faces with a box detector (Haar, YuNet, one's own) does not run it on every frame
(it took 60 ms a frame, 73 % of ``predict``'s time on a talking-head video): it looks at
every ``detect_every``-th one and, where the faces there are where they were at the last
look, takes the boxes in between as interpolated. Where they moved, appeared or vanished,
it looks at the frames in between too, and keeps looking at every frame until the picture
is stable again. A face that the detector loses is searched for around its last box at
once (also tilted by 20 degrees either way, which the frontal cascade needs for a head
tilted to the shoulder), instead of waiting for it to come back. A still image is looked at
once, upright and tilted (a group photo has heads tilted every way).

The landmark tracker (:class:`~maedfer.faces.landmarks.LandmarkTracker`) is cheaper than a
box detector and follows every frame itself: it is stepped through all of them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import MaedferError, VideoReadError
from .align import Aligner, FaceCrop
from .boxes import Box, FaceTrack, track_faces
from .detectors import DETECTORS, FaceDetector
from .landmarks import LandmarkTracker


class NoFaceError(VideoReadError):
    """No face was found where one is needed."""


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


def detector_for(crop: FaceCrop, detector: str | None) -> str | None:
    """The detector a crop is made with where none is named: the landmark tracker, except for
    ``eyes``, the earlier versions' alignment, which keeps its Haar boxes so that faces folders
    and checkpoints that record it crop exactly as before. ``landmarks`` crops need the
    tracker's points: another named detector is refused."""
    if detector is None:
        return "haar" if crop.align == "eyes" else "landmarks"
    if crop.align == "landmarks" and detector in DETECTORS and detector != "landmarks":
        raise MaedferError(
            f"--align landmarks needs the face's 68 points, which --detector {detector} does not give: "
            "use --detector landmarks (the default), or --align box / eyes"
        )
    return detector


Keep = Callable[[np.ndarray, list[Box]], None]


def _follow_landmarks(
    frames: Iterator[tuple[int, np.ndarray]], tracker: LandmarkTracker, still: bool, timings: dict, keep: Keep | None
) -> tuple[list[int], list[list[Box] | None], int]:
    """The landmark tracker stepped through every frame (a still image: the first only)."""
    tracker.reset()
    ids: list[int] = []
    detections: list[list[Box] | None] = []
    for pos, (idx, frame) in enumerate(frames):
        ids.append(idx)
        if still and pos:
            detections.append(detections[0])
            continue
        t = time.perf_counter()
        detections.append(tracker(frame))
        timings["detect"] = timings.get("detect", 0.0) + time.perf_counter() - t
        if keep is not None:  # part of cropping: the crops are made from what it keeps
            t = time.perf_counter()
            keep(frame, detections[-1])
            timings["crop"] = timings.get("crop", 0.0) + time.perf_counter() - t
    return ids, detections, tracker.looks


def find_faces(
    frames: Iterator[tuple[int, np.ndarray]],
    detector: FaceDetector,
    detect_every: int = 4,
    still: bool = False,
    timings: dict | None = None,
    keep: Keep | None = None,
) -> tuple[list[int], list[list[Box] | None], int]:
    """Detections on sampled frames, looking at as few as the picture allows (see the
    module's docstring): (frame ids, detections per position or None where the detector
    did not look, number of looks). With the landmark tracker, ``keep(frame, faces)`` is
    called on every frame once its faces are found (a box detector does not call it)."""
    timings = {} if timings is None else timings
    if hasattr(detector, "for_this_thread"):  # a server's detector per thread
        detector = detector.for_this_thread()
    if isinstance(detector, LandmarkTracker):
        return _follow_landmarks(frames, detector, still, timings, keep)
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


def crop_tracks(
    frames: Callable[[str], Iterator[tuple[int, np.ndarray]]],
    tracks: list[FaceTrack],
    boxes: dict[int, dict[int, Box]],
    aligners: dict[int, Aligner],
    timings: dict,
    path: Path,
    scale_at: Callable[[int], float] | None = None,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """(track id, position, crop) for every position where a track has a box, in order;
    ``frames(description)`` gives the sampled frames once more for each pass (a pass to find
    the eyes first, where the crop is aligned on them): decoded again, or kept copies shrunk
    by ``scale_at(position)``."""

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

    def box_at(track: FaceTrack, pos: int) -> tuple[Box, float]:
        scale = 1.0 if scale_at is None else scale_at(pos)
        return boxes[track.id][pos].scaled(scale), scale

    if any(a.needs_look for a in aligners.values()):
        for track, pos, frame, _ in passes("finding eyes"):
            timed(lambda: aligners[track.id].look(frame, box_at(track, pos)[0]))
    for track in tracks:  # alignments smoothed per segment: between, the face was out of view
        positions = sorted(boxes[track.id])
        order = {pos: row for row, pos in enumerate(positions)}
        runs = [(order[a], order[b]) for a, b in track.segments]
        if len(order) > len(track.boxes):  # boxes filled across the gaps too: one run
            runs = [(0, len(order) - 1)]
        timed(lambda: aligners[track.id].plan(positions, runs))
    for track, pos, frame, row in passes("cropping faces"):
        yield track.id, pos, timed(lambda: aligners[track.id].crop(frame, *box_at(track, pos), row))
