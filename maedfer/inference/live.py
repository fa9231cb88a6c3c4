"""Emotion on a live source: a camera, an RTSP/HTTP stream, or a file played at its own
frame rate.

A reader thread takes frames as they arrive and stamps their arrival; it hands every
``sampling_rate``-th one (the model's frame spacing) to the analysis through a queue of
``queue_size`` frames. When the analysis falls behind, the oldest waiting frame is
dropped, never the newest: the label stays current instead of lagging further and further,
and memory stays bounded. The analysis finds the face (the landmark tracker on every frame;
a box detector on every ``detect_every``-th frame while the box stays put, on every frame
when the face was lost),
crops it like the training data into a rolling window of ``num_frames`` crops, and every
``stride`` new crops runs the classifier on the window. Each label carries its latency:
the time from the arrival of the newest frame in its window to the label.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import MaedferError
from ..faces.align import make_aligner
from ..faces.boxes import Box
from ..faces.find import check_detect_every
from ..faces.landmarks import LandmarkTracker
from .predictor import Predictor


@dataclass
class LiveLabel:
    frame: int  # the newest source frame in the window
    time: float  # its time in the stream, seconds
    label: str
    probabilities: dict[str, float]
    latency: float  # seconds from that frame's arrival to this label


@dataclass
class LiveStats:
    received: int = 0  # frames read from the source
    sampled: int = 0  # frames handed to the analysis (every sampling_rate-th)
    dropped: int = 0  # of those, dropped because the analysis was behind
    analysed: int = 0
    labels: int = 0
    no_face: int = 0  # analysed frames without a face
    seconds: float = 0.0  # wall time
    busy: float = 0.0  # seconds spent analysing (finding faces, cropping, the model)
    sampling_rate: int = 1
    max_queue: int = 0  # the most frames ever waiting
    latencies: deque = field(default_factory=lambda: deque(maxlen=10000))

    def summary(self) -> str:
        lat = np.array(self.latencies) * 1000 if self.latencies else np.zeros(1)
        return (
            f"{self.received} frames in {self.seconds:.1f} s ({self.received / max(self.seconds, 1e-9):.1f} fps "
            f"in); analysed {self.analysed} of {self.sampled} sampled ({self.dropped} dropped, "
            f"{self.analysed / max(self.seconds, 1e-9):.1f} per s), {self.labels} labels; latency ms "
            f"median {np.median(lat):.0f}, 95th {np.percentile(lat, 95):.0f}, max {lat.max():.0f}; sustainable "
            f"{self.sustainable_fps:.1f} source fps"
        )

    @property
    def sustainable_fps(self) -> float:
        """The source frame rate the analysis keeps up with: analysed frames per busy second,
        times the sampling rate (it looks at one frame in ``sampling_rate``)."""
        return self.analysed / max(self.busy, 1e-9) * self.sampling_rate


@dataclass
class LiveSource:
    """An opened live source: the OpenCV capture, its frame rate (None where a live source
    does not say) and whether to pace it (files play at their own rate)."""

    name: str
    capture: object
    fps: float | None
    pace: bool


def open_capture(source: str | int) -> LiveSource:
    """Open a camera index (``0``), a stream URL or a file as a live source."""
    import cv2

    text = str(source)
    is_file = not text.isdigit() and "://" not in text
    if is_file and not Path(text).is_file():
        raise MaedferError(f"{text}: no such video file (a live source is a camera index, a stream URL or a file)")
    capture = cv2.VideoCapture(int(text) if text.isdigit() else text)
    if not capture.isOpened():
        raise MaedferError(
            f"{text}: cannot open it as a live source (no such camera, unreachable stream or unreadable file)"
        )
    fps = capture.get(cv2.CAP_PROP_FPS)
    return LiveSource(text, capture, fps if fps and 1 <= fps <= 1000 else None, is_file)


class _Reader(threading.Thread):
    def __init__(
        self,
        capture,
        fps: float | None,
        pace: bool,
        every: int,
        out: queue.Queue,
        stats: LiveStats,
        stop: threading.Event,
        max_frames: int | None,
    ) -> None:
        super().__init__(daemon=True)
        self.capture, self.fps, self.pace, self.every = capture, fps, pace, every
        self.out, self.stats, self.stop, self.max_frames = out, stats, stop, max_frames
        self.done = threading.Event()

    def run(self) -> None:
        import cv2

        start = time.monotonic()
        index = 0
        try:
            while not self.stop.is_set() and (self.max_frames is None or index < self.max_frames):
                if self.pace and self.fps:  # a file: frame i is due at i / fps
                    delay = start + index / self.fps - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                ok, frame = self.capture.read()
                if not ok:
                    break
                arrival = time.monotonic()
                self.stats.received += 1
                if index % self.every == 0:
                    self.stats.sampled += 1
                    item = (index, arrival, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                    while True:
                        try:
                            self.out.put_nowait(item)
                            break
                        except queue.Full:  # behind: drop the oldest waiting frame
                            try:
                                self.out.get_nowait()
                                self.stats.dropped += 1
                            except queue.Empty:
                                pass
                    self.stats.max_queue = max(self.stats.max_queue, self.out.qsize())
                index += 1
        finally:
            self.capture.release()
            self.done.set()


class _Follower:
    """The face box from one analysed frame to the next: the detector on every
    ``every``-th frame, on every frame while lost; the box smoothed between looks."""

    def __init__(self, detector, every: int, max_lost: int = 8) -> None:
        if isinstance(detector, LandmarkTracker):  # it follows the face itself, every frame, cheaply
            detector.reset()
            every = 1
        self.detector, self.every, self.max_lost = detector, every, max_lost
        self.box: Box | None = None
        self.since_look, self.lost = every, 0

    def __call__(self, frame: np.ndarray) -> Box | None:
        if self.box is not None and self.lost == 0 and self.since_look < self.every:
            self.since_look += 1
            return self.box
        self.since_look = 1
        boxes = self.detector(frame)
        if not boxes:
            self.lost += 1
            if self.lost > self.max_lost:
                self.box = None
            return None
        found = max(boxes, key=lambda b: b.iou(self.box) if self.box else b.area)
        side = max(found.x1 - found.x0, found.y1 - found.y0)
        cx, cy = (found.x0 + found.x1) / 2, (found.y0 + found.y1) / 2
        if self.box is not None and self.lost == 0:  # smooth: a jittering crop looks like facial motion
            ox, oy = (self.box.x0 + self.box.x1) / 2, (self.box.y0 + self.box.y1) / 2
            cx, cy, side = (cx + ox) / 2, (cy + oy) / 2, (side + self.box.x1 - self.box.x0) / 2
        self.lost = 0
        self.box = Box(cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2, found.score, found.points)
        return self.box


def run_live(
    predictor: Predictor,
    source: str | int | LiveSource,
    stride: int = 4,
    detect_every: int = 4,
    seconds: float | None = None,
    on_label: Callable[[LiveLabel], None] | None = None,
    on_frame: Callable[[np.ndarray, Box | None, LiveLabel | None], None] | None = None,
    queue_size: int = 2,
    max_frames: int | None = None,
) -> LiveStats:
    """Analyse ``source`` (a camera index, URL or file, or one :func:`open_capture` opened)
    until it ends, ``seconds`` pass or Ctrl-C. ``on_label`` gets every label;
    ``on_frame(frame, box, current label)`` every analysed frame (for a window or a
    recording). Returns the run's statistics."""
    if stride < 1 or queue_size < 1:
        raise MaedferError("live: stride and queue size must be >= 1")
    check_detect_every(detect_every)
    live = source if isinstance(source, LiveSource) else open_capture(source)
    capture, fps, pace = live.capture, live.fps, live.pace
    spec = predictor.spec
    stats = LiveStats(sampling_rate=spec.sampling_rate)
    frames: queue.Queue = queue.Queue(maxsize=queue_size)
    stop = threading.Event()
    reader = _Reader(capture, fps, pace, spec.sampling_rate, frames, stats, stop, max_frames)
    follow = _Follower(predictor.face_detector(), detect_every)
    window: deque = deque(maxlen=spec.num_frames)  # (frame index, arrival, crop)
    fresh, current = 0, None
    margin = 1 + predictor.face_crop.margin
    aligner = make_aligner(predictor.face_crop)  # the checkpoint's crop, smoothed causally
    start = time.monotonic()
    reader.start()
    try:
        while not (reader.done.is_set() and frames.empty()):
            if seconds is not None and time.monotonic() - start > seconds:
                break
            try:
                index, arrival, frame = frames.get(timeout=0.05)
            except queue.Empty:
                continue
            began = time.monotonic()
            stats.analysed += 1
            box = follow(frame)
            if box is None:
                stats.no_face += 1
                if follow.box is None:  # gone for good: the window restarts when it is back
                    window.clear()
                    current = None
                stats.busy += time.monotonic() - began
                if on_frame:
                    on_frame(frame, None, None)
                continue
            cx, cy, half = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2, (box.x1 - box.x0) * margin / 2
            crop = aligner.live(frame, Box(cx - half, cy - half, cx + half, cy + half, box.score, box.points))
            window.append((index, arrival, crop))
            fresh += 1
            if len(window) == spec.num_frames and fresh >= stride:
                fresh = 0
                clip = predictor.transform(torch.from_numpy(np.stack([c for _, _, c in window])))
                with torch.no_grad():
                    logits = predictor.model(clip[None].to(predictor.device, predictor.dtype))
                p = logits.float().softmax(-1)[0].cpu().numpy()
                newest, arrived = window[-1][0], window[-1][1]
                current = LiveLabel(
                    newest,
                    round(newest / (fps or 25.0), 3),
                    predictor.classes[int(p.argmax())],
                    {c: round(float(v), 4) for c, v in zip(predictor.classes, p)},
                    time.monotonic() - arrived,
                )
                stats.labels += 1
                stats.latencies.append(current.latency)
                if on_label:
                    on_label(current)
            stats.busy += time.monotonic() - began
            if on_frame:
                on_frame(frame, box, current)
    finally:
        stop.set()
        reader.join(timeout=5)
        stats.seconds = time.monotonic() - start
    return stats
