"""Faces followed by their landmarks: MediaPipe's BlazeFace finds a face, MediaPipe's Face Mesh
(468 points and a face score) follows it from frame to frame, each frame's search region
placed by the previous frame's landmarks. The detector runs only to start a track, when a
face's score drops (it is lost), and now and then to find faces that came into view; the
mesh alone costs 2-3 ms a frame on one core, where Haar detection cost 64-130 ms on a 720p
frame (``shared/notes/faces-landmarks.md``; ``bench/faces_dataset.py``).

Both models run through OpenCV's TFLite reader (:mod:`.model_files`). Their input
conventions, from MediaPipe's graphs: BlazeFace takes the whole frame letterboxed to a
square, RGB in [-1, 1], and answers per anchor (box offsets, six keypoints, a score logit);
the mesh takes the face's region, turned so that the eyes are level and 1.5 times the face's
size, RGB in [0, 1], and answers 468 (x, y, z) points in its pixels and a face logit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .boxes import Box
from .model_files import TFLiteNet
from .points import MESH_TO_68, box_from_points

MESH_SIZE = 192
LOST_SCORE = 0.5  # MediaPipe's own threshold on the mesh's face score
LOOK_FOR_NEW_EVERY = 8  # frames between the detector's looks for faces that came (back) into view
SEARCH_AFTER_LOSS = 8  # frames after a face is lost on which the detector looks for it (the tracks' max gap)


@dataclass(frozen=True)
class _Anchors:
    """BlazeFace's anchor centres (N, 2) in [0, 1] and its input side. MediaPipe's
    SsdAnchorsCalculator with fixed-size anchors: every cell of each stride's grid holds as
    many anchors as layers of that stride x 2 (short range), or 1 (full range)."""

    centres: np.ndarray
    size: int

    @classmethod
    def make(cls, size: int, strides: tuple[int, ...], per_layer: int) -> "_Anchors":
        centres = []
        i = 0
        while i < len(strides):
            repeat = 1
            while i + repeat < len(strides) and strides[i + repeat] == strides[i]:
                repeat += 1
            cells = size // strides[i]
            y, x = np.mgrid[0:cells, 0:cells]
            grid = np.stack([(x + 0.5) / cells, (y + 0.5) / cells], -1).reshape(-1, 1, 2)
            centres.append(np.repeat(grid, per_layer * repeat, axis=1).reshape(-1, 2))
            i += repeat
        return cls(np.concatenate(centres).astype(np.float32), size)


BLAZEFACE = {  # name: (model file, anchors, score threshold)
    "short": ("face_detection_short_range.tflite", _Anchors.make(128, (8, 16, 16, 16), 2), 0.5),
    "full": ("face_detection_full_range.tflite", _Anchors.make(192, (4,), 1), 0.6),
}


class BlazeFaceDetector:
    """MediaPipe's BlazeFace: ``detector(frame) -> list[Box]``, each box with its six keypoints
    (``points``: right eye, left eye, nose tip, mouth, right ear, left ear, in frame pixels).
    ``short`` range is made for faces that fill much of the frame (a webcam, a talking head),
    ``full`` for smaller ones; ``auto`` tries short first and full where short finds none."""

    def __init__(self, kind: str = "auto") -> None:
        kinds = ("short", "full") if kind == "auto" else (kind,)
        self.nets = []
        for k in kinds:
            name, anchors, threshold = BLAZEFACE[k]
            outputs = (
                ("classificators", "regressors")
                if k == "short"
                else ("reshaped_classifier_face_4", "reshaped_regressor_face_4")
            )
            self.nets.append((TFLiteNet(name, outputs), anchors, threshold))

    def __call__(self, frame: np.ndarray) -> list[Box]:
        for net, anchors, threshold in self.nets:
            found = _blazeface(net, anchors, threshold, frame)
            if found:
                return found
        return []


def _letterbox(frame: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """The frame scaled so that its longer side is ``size``, at the top left of a black square;
    and the scale (frame pixels per square pixel)."""
    import cv2

    h, w = frame.shape[:2]
    scale = max(h, w) / size
    small = cv2.resize(frame, (max(1, round(w / scale)), max(1, round(h / scale))), interpolation=cv2.INTER_AREA)
    square = np.zeros((size, size, 3), np.uint8)
    square[: small.shape[0], : small.shape[1]] = small
    return square, scale


def _blazeface(net: TFLiteNet, anchors: _Anchors, threshold: float, frame: np.ndarray) -> list[Box]:
    size = anchors.size
    square, scale = _letterbox(frame, size)
    logits, raw = net((square.astype(np.float32) / 127.5 - 1.0)[None])
    scores = 1 / (1 + np.exp(-np.clip(logits.reshape(-1).astype(np.float64), -100, 100)))
    keep = np.flatnonzero(scores >= threshold)
    if not len(keep):
        return []
    raw = raw.reshape(-1, 16)[keep] / size
    centres = anchors.centres[keep]
    xy = raw[:, :2] + centres
    wh = raw[:, 2:4]
    points = raw[:, 4:].reshape(-1, 6, 2) + centres[:, None]
    boxes = np.concatenate([xy - wh / 2, xy + wh / 2], 1) * size * scale
    return _weighted_nms(boxes, points * size * scale, scores[keep])


def _weighted_nms(boxes: np.ndarray, points: np.ndarray, scores: np.ndarray, iou: float = 0.3) -> list[Box]:
    """MediaPipe's weighted non-maximum suppression: each cluster of overlapping boxes becomes
    their score-weighted mean, scored by its best."""
    order = list(np.argsort(-scores))
    out = []
    while order:
        best = order[0]
        b = boxes[best]
        inter_w = np.clip(np.minimum(b[2], boxes[order, 2]) - np.maximum(b[0], boxes[order, 0]), 0, None)
        inter_h = np.clip(np.minimum(b[3], boxes[order, 3]) - np.maximum(b[1], boxes[order, 1]), 0, None)
        inter = inter_w * inter_h
        area = (boxes[order, 2] - boxes[order, 0]) * (boxes[order, 3] - boxes[order, 1])
        overlap = inter / np.maximum(area + (b[2] - b[0]) * (b[3] - b[1]) - inter, 1e-9)
        cluster = [o for o, v in zip(order, overlap) if v >= iou]
        w = scores[cluster][:, None]
        box = (boxes[cluster] * w).sum(0) / w.sum()
        pts = (points[cluster] * w[:, :, None]).sum(0) / w.sum()
        out.append(Box(*map(float, box), score=float(scores[best]), points=pts.astype(np.float32)))
        order = [o for o, v in zip(order, overlap) if v < iou]
    return out


@dataclass(frozen=True)
class _Region:
    """A square region of the frame, turned by ``angle`` (radians, the face's eye line), that
    the mesh looks at."""

    cx: float
    cy: float
    side: float
    angle: float

    def to_mesh(self) -> np.ndarray:
        """The 2x3 affine map from frame pixels to the mesh's input pixels."""
        s = MESH_SIZE / self.side
        c, si = math.cos(-self.angle) * s, math.sin(-self.angle) * s
        return np.array(
            [
                [c, -si, MESH_SIZE / 2 - c * self.cx + si * self.cy],
                [si, c, MESH_SIZE / 2 - si * self.cx - c * self.cy],
            ]
        )


def _region(points: np.ndarray, right_eye: np.ndarray, left_eye: np.ndarray) -> _Region:
    """The mesh's region around ``points``: their box, 1.5 times its longer side, turned to
    level the eyes (MediaPipe's rect-from-landmarks and rect-from-detection alike)."""
    (x0, y0), (x1, y1) = points.min(0), points.max(0)
    angle = math.atan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0])
    # the box of the points in the turned frame, so a tilted face does not inflate the side
    c, s = math.cos(-angle), math.sin(-angle)
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    turned = (points - centre) @ np.array([[c, s], [-s, c]])
    (tx0, ty0), (tx1, ty1) = turned.min(0), turned.max(0)
    mid = np.array([(tx0 + tx1) / 2, (ty0 + ty1) / 2]) @ np.array([[c, -s], [s, c]]) + centre
    return _Region(float(mid[0]), float(mid[1]), 1.5 * float(max(tx1 - tx0, ty1 - ty0)), angle)


class FaceMesh:
    """MediaPipe's Face Mesh on one region: (468, 2) points in frame pixels and the face score."""

    def __init__(self) -> None:
        self.net = TFLiteNet("face_landmark.tflite", ("conv2d_20", "conv2d_30"))

    def __call__(self, frame: np.ndarray, region: _Region) -> tuple[np.ndarray, float]:
        import cv2

        to_mesh = region.to_mesh()
        patch = cv2.warpAffine(
            frame, to_mesh, (MESH_SIZE, MESH_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )
        raw, logit = self.net((patch.astype(np.float32) / 255.0)[None])
        mesh_points = raw.reshape(468, 3)[:, :2]
        back = cv2.invertAffineTransform(to_mesh)
        points = mesh_points @ back[:, :2].T + back[:, 2]
        score = 1 / (1 + math.exp(-float(np.clip(logit.reshape(-1)[0], -100, 100))))
        return points.astype(np.float32), score


# mesh points whose line levels a face (the outer eye corners) and that place the next region
RIGHT_EYE_CORNER, LEFT_EYE_CORNER = 33, 263


class LandmarkTracker:
    """Faces followed by their landmarks, frame after frame: ``tracker(frame) -> list[Box]``,
    one box per followed face (its ``points``: the face's 68 points in the iBUG scheme, in
    frame pixels; its ``score``: the mesh's face score). Stateful: :meth:`reset` before each
    video. The detector runs on the first frame, while no face is followed, on the
    ``SEARCH_AFTER_LOSS`` frames after a face is lost (its score under ``LOST_SCORE``), and
    every ``LOOK_FOR_NEW_EVERY`` frames for faces that came into view. ``looks`` counts the
    detector's runs, ``lost`` the faces lost."""

    low_confidence = 0.8  # median mesh score under which a track is reported as perhaps not a face

    def __init__(self) -> None:
        self.detector = BlazeFaceDetector()
        self.mesh = FaceMesh()
        self.reset()

    def reset(self) -> None:
        self._regions: list[_Region] = []
        self._frame = 0
        self._search = 0  # frames left on which to look for a lost face
        self.looks = 0
        self.lost = 0

    def _follow(self, frame: np.ndarray, region: _Region) -> tuple[Box, _Region] | None:
        points, score = self.mesh(frame, region)
        if score < LOST_SCORE:
            return None
        return (
            box_from_points(points[MESH_TO_68], score),
            _region(points, points[RIGHT_EYE_CORNER], points[LEFT_EYE_CORNER]),
        )

    def __call__(self, frame: np.ndarray) -> list[Box]:
        followed = [f for f in (self._follow(frame, r) for r in self._regions) if f is not None]
        lost = len(self._regions) - len(followed)
        self.lost += lost
        self._search = SEARCH_AFTER_LOSS if lost else max(0, self._search - 1)
        if not followed or self._search or self._frame % LOOK_FOR_NEW_EVERY == 0:
            self.looks += 1
            for found in self.detector(frame):
                if any(found.iou(box) > 0.3 for box, _ in followed):
                    continue
                start = _start_region(found)
                new = self._follow(frame, start)
                if new is not None and not any(new[0].iou(box) > 0.5 for box, _ in followed):
                    followed.append(new)
        self._frame += 1
        self._regions = [region for _, region in followed]
        return [box for box, _ in followed]


def _start_region(found: Box) -> _Region:
    """The mesh's first region from a BlazeFace detection: the box 1.5 times, turned by its
    eyes' keypoints."""
    side = 1.5 * max(found.x1 - found.x0, found.y1 - found.y0)
    (rx, ry), (lx, ly) = found.points[0], found.points[1]
    return _Region((found.x0 + found.x1) / 2, (found.y0 + found.y1) / 2, side, math.atan2(ly - ry, lx - rx))
