"""Finding, following and cropping faces in raw video.

The training clips of every DFER dataset are face crops, so a person's own video must be
turned into one: detect faces, link the detections into tracks, fill gaps and smooth the
boxes over time (a jittering crop looks like facial motion to a model trained on motion),
then crop a square with a margin around the face.

Any callable ``frame (H, W, 3) uint8 RGB -> list[Box]`` is a detector; the default is
OpenCV's Haar cascade, whose weights ship inside the ``opencv-python-headless`` wheel.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..errors import MaedferError


@dataclass(frozen=True)
class Box:
    """A face box in pixels, (x0, y0) top-left and (x1, y1) bottom-right, with a score."""
    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0

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
        return Box(self.x0 * factor, self.y0 * factor, self.x1 * factor, self.y1 * factor, self.score)


FaceDetector = Callable[[np.ndarray], list[Box]]


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade. Frames are converted to grey, histogram-equalised
    and, when large, shrunk to ``max_side`` pixels first (detection cost grows with the
    area; faces in DFER-style videos are large)."""

    def __init__(self, cascade: str = "haarcascade_frontalface_default.xml", scale_factor: float = 1.1,
                 min_neighbors: int = 5, min_size: float = 0.1, max_side: int = 640) -> None:
        try:
            import cv2
        except ImportError:  # a dependency; only a broken install gets here
            raise MaedferError("face detection needs OpenCV: pip install 'opencv-python-headless>=4.9,<5'") from None
        self._cv2 = cv2
        if not hasattr(cv2, "CascadeClassifier"):  # OpenCV 5 dropped the Haar cascades
            raise MaedferError(f"OpenCV {cv2.__version__} has no Haar face cascades (5.x dropped them); install "
                               "'opencv-python-headless>=4.9,<5' or pass a detector of your own")
        self.classifier = cv2.CascadeClassifier(cv2.data.haarcascades + cascade)
        if self.classifier.empty():
            raise MaedferError(f"OpenCV could not load the face cascade {cascade!r}")
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors
        self.min_size, self.max_side = min_size, max_side

    def __call__(self, frame: np.ndarray) -> list[Box]:
        cv2 = self._cv2
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        h, w = grey.shape
        shrink = min(1.0, self.max_side / max(h, w))
        if shrink < 1.0:
            grey = cv2.resize(grey, (round(w * shrink), round(h * shrink)), interpolation=cv2.INTER_AREA)
        grey = cv2.equalizeHist(grey)
        side = max(12, int(self.min_size * min(grey.shape)))
        rects, _, weights = self.classifier.detectMultiScale3(
            grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(side, side),
            outputRejectLevels=True)
        return [Box(x, y, x + bw, y + bh, float(s)).scaled(1 / shrink)
                for (x, y, bw, bh), s in zip(np.asarray(rects).reshape(-1, 4).tolist(), np.ravel(weights))]


@dataclass
class FaceTrack:
    """One face followed through a video: its detections by frame position (positions
    index the frames the detector saw) and, after :func:`smooth_track`, a square box
    for every position from its first to its last detection."""
    id: int
    detections: dict[int, Box] = field(default_factory=dict)
    boxes: dict[int, Box] = field(default_factory=dict)

    @property
    def first(self) -> int:
        return min(self.detections)

    @property
    def last(self) -> int:
        return max(self.detections)

    @property
    def mean_area(self) -> float:
        return float(np.mean([b.area for b in self.detections.values()]))


def track_faces(detections: Sequence[list[Box]], iou_threshold: float = 0.3, max_gap: int = 8,
                min_detections: int = 3, min_fraction: float = 0.1) -> list[FaceTrack]:
    """Link per-frame detections into tracks: each detection joins the live track whose last
    box overlaps it most (IoU >= ``iou_threshold``), else starts a new track; a track not
    seen for ``max_gap`` frames ends. Tracks with fewer than ``min_detections`` detections
    or ``min_fraction`` of the frames are dropped (a Haar cascade's false positives rarely
    persist). Tracks come back ordered by importance: most detections, then larger faces."""
    tracks: list[FaceTrack] = []
    live: list[FaceTrack] = []
    for pos, boxes in enumerate(detections):
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
    # A clip of fewer sampled frames than min_detections keeps a face seen in all of them.
    keep = min(max(min_detections, int(np.ceil(min_fraction * len(detections)))), len(detections))
    tracks = [t for t in tracks if len(t.detections) >= keep]
    tracks.sort(key=lambda t: (-len(t.detections), -t.mean_area))
    for i, t in enumerate(tracks):
        t.id = i
    return tracks


def smooth_track(track: FaceTrack, margin: float = 0.3, window: int = 5) -> FaceTrack:
    """Square boxes for every position of the track: centre and side linearly interpolated
    across missed detections, then a centred moving average over ``window`` positions.
    The side is the larger box side grown by ``margin`` (0.3: 15 % on each side)."""
    positions = np.arange(track.first, track.last + 1)
    known = np.array(sorted(track.detections))
    boxes = [track.detections[p] for p in known]
    values = np.array([[(b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2, max(b.x1 - b.x0, b.y1 - b.y0)] for b in boxes])
    filled = np.stack([np.interp(positions, known, values[:, k]) for k in range(3)], axis=1)
    if window > 1 and len(filled) > 1:
        half = window // 2
        padded = np.pad(filled, ((half, half), (0, 0)), mode="edge")
        kernel = np.ones(window) / window
        filled = np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(3)], axis=1)
    track.boxes = {}
    for p, (cx, cy, side) in zip(positions.tolist(), filled):
        s = side * (1 + margin) / 2
        track.boxes[p] = Box(float(cx - s), float(cy - s), float(cx + s), float(cy + s))
    return track


def crop_face(frame: np.ndarray, box: Box, size: int) -> np.ndarray:
    """The square ``box`` of ``frame`` resized to ``size`` x ``size``; parts outside the frame
    are black (as in aligned-face datasets)."""
    import cv2

    x0, y0 = int(round(box.x0)), int(round(box.y0))
    side = max(1, int(round(box.x1 - box.x0)))
    h, w = frame.shape[:2]
    crop = np.zeros((side, side, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x0 + side), min(h, y0 + side)
    if sx1 > sx0 and sy1 > sy0:
        crop[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = frame[sy0:sy1, sx0:sx1]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interpolation)
