"""The frames kept between finding the faces and cropping them, so that a video is decoded
once: decoding a 720p frame costs about what following its face with the landmark tracker
does (bench/faces_dataset.py)."""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from .align import FaceCrop
from .boxes import Box

STASH_BYTES = 128 * 2**20  # per video (a server runs several): a 720p talking head keeps about 200 frames


class FrameStash:
    """The sampled frames kept between finding the faces and cropping them, so that a video is
    decoded once (decoding a 720p frame costs about what following its face does). Each frame is
    shrunk by a whole factor k (INTER_AREA: 0.2 ms for 720p at k = 2, where an uneven factor costs
    4 ms), the largest that leaves its smallest face ``DETAIL`` x the crop's resolution (a frame
    without a face: as the frame before it), so memory goes with the crops, not with the video's
    resolution. Past ``STASH_BYTES`` it gives up (``frames`` becomes None) and the crops decode
    the video again, as a box detector's always do."""

    DETAIL = 2.0

    def __init__(self, crop: FaceCrop) -> None:
        self.size, self.grow, self.budget = crop.size, 1 + crop.margin, STASH_BYTES
        self.frames: list[np.ndarray] | None = []
        self.scales: list[float] = []
        self._factor, self._bytes = 1, 0

    def __call__(self, frame: np.ndarray, faces: list[Box]) -> None:
        import cv2

        if self.frames is None:
            return
        if faces:
            smallest = min(max(b.x1 - b.x0, b.y1 - b.y0) for b in faces) * self.grow
            self._factor = max(1, int(smallest / (self.DETAIL * self.size)))
        k = self._factor
        if k > 1:  # the last k - 1 rows and columns at most are dropped, for an exact factor
            h, w = frame.shape[:2]
            frame = cv2.resize(frame[: h - h % k, : w - w % k], (w // k, h // k), interpolation=cv2.INTER_AREA)
        self.frames.append(frame)
        self.scales.append(1 / k)
        self._bytes += frame.nbytes
        if self._bytes > self.budget:
            self.frames, self.scales = None, []

    def replay(
        self, ids: list[int], decode: Callable[[str], Iterator[tuple[int, np.ndarray]]]
    ) -> tuple[Callable[[str], Iterator[tuple[int, np.ndarray]]], Callable[[int], float] | None]:
        """``(frames(description), scale_at)`` for :func:`crop_tracks`: the kept frames where
        every one of ``ids`` was kept, else ``decode`` again at full size."""
        if self.frames is not None and len(self.frames) == len(ids):
            return (lambda desc: zip(ids, self.frames)), self.scales.__getitem__
        return decode, None
