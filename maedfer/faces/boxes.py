"""Finding, following and cropping faces in raw video.

The training clips of every DFER dataset are face crops, so a person's own video must be
turned into one: detect faces, link the detections into tracks, fill gaps and smooth the
boxes over time (a jittering crop looks like facial motion to a model trained on motion),
then crop a square with a margin around the face.

Detectors live in :mod:`.detectors`; :mod:`.clips` decides on which frames they run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np


@dataclass(frozen=True)
class Box:
    """A face box in pixels, (x0, y0) top-left and (x1, y1) bottom-right, with a score and,
    where the detector gives them, the face's points ((K, 2) float32 in the same pixels:
    BlazeFace's six keypoints, or the landmark tracker's 68 points)."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0
    points: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def area(self) -> float:
        return max(0.0, self.x1 - self.x0) * max(0.0, self.y1 - self.y0)

    def iou(self, other: "Box") -> float:
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        inter = max(0.0, w) * max(0.0, h)
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def scaled(self, factor: float) -> "Box":
        points = None if self.points is None else self.points * np.float32(factor)
        return Box(self.x0 * factor, self.y0 * factor, self.x1 * factor, self.y1 * factor, self.score, points)


@dataclass
class FaceTrack:
    """One face followed through a video: its detections by frame position (positions
    index the sampled frames) and, after :func:`smooth_track`, a square box for every
    position of its segments: the runs of positions where it is in view (a face that
    leaves for longer than the tracker's gap comes back as a new segment of the same
    track, not as boxes invented across the gap)."""

    id: int
    detections: dict[int, Box] = field(default_factory=dict)
    boxes: dict[int, Box] = field(default_factory=dict)
    segments: list[tuple[int, int]] = field(default_factory=list)  # (first, last) positions, inclusive

    @property
    def confidence(self) -> float:
        """The detector's median score over the track's detections."""
        return float(np.median([b.score for b in self.detections.values()])) if self.detections else float("nan")

    @property
    def landmark_scores(self) -> dict[int, float] | None:
        """The landmark tracker's face score (3 decimals) at each position where it followed
        this face; None for a box detector's track (its detections carry no 68 points)."""
        if not any(b.points is not None and len(b.points) == 68 for b in self.detections.values()):
            return None
        return {p: round(b.score, 3) for p, b in sorted(self.detections.items())}

    @property
    def first(self) -> int:
        return min(self.detections)

    @property
    def last(self) -> int:
        return max(self.detections)

    @property
    def mean_area(self) -> float:
        return float(np.mean([b.area for b in self.detections.values()]))


def track_faces(
    detections: Sequence[list[Box] | None],
    iou_threshold: float = 0.3,
    max_gap: int = 8,
    min_detections: int = 3,
    min_fraction: float = 0.1,
    rejoin_iou: float = 0.2,
) -> list[FaceTrack]:
    """Link per-frame detections into tracks: each detection joins the live track whose last
    box overlaps it most (IoU >= ``iou_threshold``), else starts a new track; a track not
    seen for ``max_gap`` positions ends. ``None`` marks a frame the detector did not look
    at (it neither continues nor ends a track). A track that starts after another ended,
    where that one was last seen (IoU >= ``rejoin_iou``), is the same face back in view and
    joins it. Tracks with fewer than ``min_detections`` detections or ``min_fraction`` of
    the frames looked at are dropped (a Haar cascade's false positives rarely persist).
    Tracks come back ordered by importance: most detections, then larger faces."""
    tracks: list[FaceTrack] = []
    live: list[FaceTrack] = []
    for pos, boxes in enumerate(detections):
        if boxes is None:
            continue
        live = [t for t in live if pos - t.last <= max_gap]
        taken: set[int] = set()
        for box in sorted(boxes, key=lambda b: -b.area):
            best, best_iou = None, iou_threshold
            for t in live:
                overlap = box.iou(t.detections[t.last])
                if t.id not in taken and overlap >= best_iou:
                    best, best_iou = t, overlap
            if best is None:
                best = FaceTrack(len(tracks))
                tracks.append(best)
                live.append(best)
            best.detections[pos] = box
            taken.add(best.id)
    tracks = _rejoin(tracks, rejoin_iou)
    looked = sum(d is not None for d in detections)
    # A clip of fewer looked-at frames than min_detections keeps a face seen in all of them.
    keep = min(max(min_detections, int(np.ceil(min_fraction * looked))), looked)
    tracks = [t for t in tracks if len(t.detections) >= keep]
    tracks.sort(key=lambda t: (-len(t.detections), -t.mean_area))
    for i, t in enumerate(tracks):
        t.id = i
    return tracks


def _rejoin(tracks: list[FaceTrack], min_iou: float) -> list[FaceTrack]:
    """Merge each track into an earlier one that had ended before it began, where the
    earlier one's last box overlaps its first box most."""
    merged: list[FaceTrack] = []
    for t in sorted(tracks, key=lambda t: t.first):
        start = t.detections[t.first]
        ended = [m for m in merged if m.last < t.first]
        best = max(ended, key=lambda m: m.detections[m.last].iou(start), default=None)
        if best is not None and best.detections[best.last].iou(start) >= min_iou:
            best.detections.update(t.detections)
        else:
            merged.append(t)
    return merged


def interpolate_rows(at: np.ndarray, known: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` (K, D), known at the positions ``known``, linearly interpolated at the
    positions ``at`` (held beyond the ends): (len(at), D)."""
    return np.stack([np.interp(at, known, values[:, k]) for k in range(values.shape[1])], axis=1)


def running(values: np.ndarray, window: int, reduce: Callable[..., np.ndarray] = np.mean) -> np.ndarray:
    """``reduce`` (mean, median) of ``values`` over a centred window along axis 0, the edges
    held: smoothing over time that does not pull the ends towards zero."""
    if window <= 1 or len(values) < 2:
        return values
    half = window // 2
    padded = np.pad(values, ((half, half), (0, 0)), mode="edge")
    return np.stack([reduce(padded[i : i + window], axis=0) for i in range(len(values))])


def smooth_track(track: FaceTrack, margin: float = 0.3, window: int = 5, max_gap: int = 8) -> FaceTrack:
    """Square boxes for every position of the track's segments (runs of detections at most
    ``max_gap`` positions apart): centre and side linearly interpolated across missed
    detections, then a centred moving average over ``window`` positions. The side is the
    larger box side grown by ``margin`` (0.3: 15 % on each side)."""
    known = np.array(sorted(track.detections))
    breaks = np.flatnonzero(np.diff(known) > max_gap)
    track.segments = [(int(run[0]), int(run[-1])) for run in np.split(known, breaks + 1)]
    track.boxes = {}
    for first, last in track.segments:
        run = known[(known >= first) & (known <= last)]
        positions = np.arange(first, last + 1)
        values = np.array(
            [
                [(b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2, max(b.x1 - b.x0, b.y1 - b.y0)]
                for b in (track.detections[p] for p in run)
            ]
        )
        filled = running(interpolate_rows(positions, run, values), window)
        for p, (cx, cy, side) in zip(positions.tolist(), filled):
            s = side * (1 + margin) / 2
            track.boxes[p] = Box(float(cx - s), float(cy - s), float(cx + s), float(cy + s))
    return track


def fill_boxes(track: FaceTrack, length: int) -> dict[int, Box]:
    """A box for every position 0..length-1 from a smoothed track's boxes: before its first
    and after its last segment the nearest box, between segments boxes interpolated (centre
    and side). The faces step crops every frame this way, as OpenFace writes an aligned
    frame for every frame, so a clip keeps its timing where the detector lost the face."""
    known = np.array(sorted(track.boxes))
    values = np.array([[(b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2, b.x1 - b.x0] for b in (track.boxes[p] for p in known)])
    every = np.arange(length)
    return {
        int(p): track.boxes.get(int(p)) or Box(float(x - s / 2), float(y - s / 2), float(x + s / 2), float(y + s / 2))
        for p, (x, y, s) in zip(every, interpolate_rows(every, known, values))
    }


def crop_face(frame: np.ndarray, box: Box, size: int, subpixel: bool = False) -> np.ndarray:
    """The square ``box`` of ``frame`` resized to ``size`` x ``size``; parts outside the frame
    are black (as in aligned-face datasets). The box's corner is rounded to whole pixels, or,
    with ``subpixel`` (a frame kept shrunk, whose pixels are not the video's), sampled between
    them where the box lies inside the frame."""
    import cv2

    x0, y0 = int(round(box.x0)), int(round(box.y0))
    side = max(1, int(round(box.x1 - box.x0)))
    h, w = frame.shape[:2]
    if subpixel and box.x0 >= 0 and box.y0 >= 0 and box.x0 + side <= w - 1 and box.y0 + side <= h - 1:
        centre = (box.x0 + side / 2 - 0.5, box.y0 + side / 2 - 0.5)
        region = cv2.getRectSubPix(frame, (side, side), centre)
        return cv2.resize(region, (size, size), interpolation=cv2.INTER_AREA if side > size else cv2.INTER_LINEAR)
    crop = np.zeros((side, side, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x0 + side), min(h, y0 + side)
    if sx1 > sx0 and sy1 > sy0:
        crop[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = frame[sy0:sy1, sx0:sx1]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interpolation)
