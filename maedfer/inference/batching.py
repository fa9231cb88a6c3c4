"""Concurrent requests sharing forward passes (``maedfer serve --max-batch``).

Each request's thread decodes its video, finds and crops the faces, and hands its windows to
the model as before; with :class:`BatchedModel` in the model's place, the windows of several
requests wait together, for at most ``max_delay`` seconds after the first, and go through one
forward pass of up to ``max_batch`` clips on the model's own thread. So decoding and face
finding of some requests run beside the model's work on others, and a CPU or GPU runs larger,
more efficient batches. A request's windows come back exactly as its own forward pass would
give them, up to the float rounding of a larger batch (tested to 1e-5 in fp32).

Face detectors are made one per thread (:class:`PerThreadDetector`): OpenCV's detectors keep
state between calls and are not safe to share between threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ..faces.boxes import Box
from ..faces.detectors import FaceDetector


class _Pending:
    def __init__(self, x: torch.Tensor) -> None:
        self.x, self.out, self.error = x, None, None
        self.done = threading.Event()


class BatchedModel(nn.Module):
    """``model`` called from many threads, run in shared batches on one thread of its own.
    ``on_batch(clips, seconds)`` is told of every forward pass."""

    def __init__(
        self,
        model: nn.Module,
        max_batch: int,
        max_delay: float,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        super().__init__()
        self.model, self.max_batch, self.max_delay, self.on_batch = model, max_batch, max_delay, on_batch
        self._waiting: list[_Pending] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._run, name="maedfer-batches", daemon=True).start()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        item = _Pending(x)
        with self._cond:
            self._waiting.append(item)
            self._cond.notify_all()
        item.done.wait()
        if item.error is not None:
            raise item.error
        return item.out

    def _take(self) -> list[_Pending]:
        """The next batch: wait for a first clip, then until ``max_batch`` clips wait or
        ``max_delay`` has passed; the oldest requests first, whole (a request larger than
        ``max_batch`` runs alone)."""
        with self._cond:
            while not self._waiting:
                self._cond.wait()
            deadline = time.monotonic() + self.max_delay
            while sum(len(p.x) for p in self._waiting) < self.max_batch:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            batch, clips = [], 0
            while self._waiting and (not batch or clips + len(self._waiting[0].x) <= self.max_batch):
                item = self._waiting.pop(0)
                batch.append(item)
                clips += len(item.x)
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            try:
                t0 = time.perf_counter()
                with torch.inference_mode():
                    out = self.model(torch.cat([p.x for p in batch]))
                if self.on_batch is not None:
                    self.on_batch(len(out), time.perf_counter() - t0)
                for p, part in zip(batch, out.split([len(p.x) for p in batch])):
                    p.out = part.clone()
            except Exception as e:  # noqa: BLE001  (each waiting request gets the failure)
                for p in batch:
                    p.error = e
            for p in batch:
                p.done.set()


class PerThreadDetector:
    """A face detector per thread, each made by ``make`` (a detector by name: OpenCV's keep
    state between calls and are not safe to share), or, without ``make``, ``shared`` called
    under a lock (a detector object of the user's own, which cannot be remade)."""

    def __init__(self, make: Callable[[], FaceDetector] | None, shared: FaceDetector | None = None) -> None:
        if make is None and shared is None:
            raise ValueError("PerThreadDetector needs a way to make detectors or one to share")
        self.make, self.shared = make, shared
        self._local, self._lock = threading.local(), threading.Lock()
        self.low_confidence = getattr(shared if make is None else self._mine(), "low_confidence", None)

    def _mine(self) -> FaceDetector:
        detector = getattr(self._local, "detector", None)
        if detector is None:
            detector = self._local.detector = self.make()
        return detector

    def for_this_thread(self) -> FaceDetector:
        """This thread's own detector (a landmark tracker keeps a video's state between
        frames, so a request's frames must all go to one); a shared one as it is."""
        return self if self.make is None else self._mine()

    def __call__(self, frame: np.ndarray) -> list[Box]:
        if self.make is None:
            with self._lock:
                return self.shared(frame)
        return self._mine()(frame)
