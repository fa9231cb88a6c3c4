"""Emotion over time in a person's own video.

``maedfer.load(checkpoint)`` gives a :class:`Predictor`; ``predictor.predict(video)`` finds
and follows the face, crops it like the training data, runs the classifier on sliding
windows of ``num_frames`` frames taken every ``sampling_rate`` frames (the test protocol's
frame spacing), and returns per-window probabilities with timestamps and a per-video
summary (the argmax of the mean window probabilities, as the multi-view protocol does).
"""
from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..data.transforms import eval_transform
from ..errors import MaedferError
from ..precision import DTYPES, check_precision, choose_precision, resolve_device
from .clips import SampledFaces, Source, sample_faces
from .faces import Box, FaceDetector, FaceTrack, HaarFaceDetector
from .loading import ClassifierSpec, load_classifier


class NonFiniteOutputError(MaedferError):
    """The model gave NaN or infinite probabilities."""


@dataclass
class Window:
    start_frame: int  # first and last video frame the window samples
    end_frame: int
    start_time: float  # seconds: start of the first frame, end of the last
    end_time: float
    probabilities: list[float]

    @property
    def top(self) -> int:
        """Index of the most probable class."""
        return int(np.argmax(self.probabilities))


@dataclass
class FacePrediction:
    id: int  # 0 is the main face (seen in most frames)
    label: str
    probabilities: dict[str, float]  # mean over the windows
    windows: list[Window]
    boxes: dict[int, Box] = field(default_factory=dict)  # video frame -> smoothed square crop box
    detections: int = 0  # frames in which the detector found this face


@dataclass
class VideoPrediction:
    source: str
    fps: float
    num_frames: int
    classes: tuple[str, ...]
    faces: list[FacePrediction]
    timings: dict  # seconds spent decoding, detecting, cropping, in the model; the precision and why

    @property
    def label(self) -> str:
        """The main face's emotion."""
        return self.faces[0].label

    @property
    def probabilities(self) -> dict[str, float]:
        """The main face's mean class probabilities."""
        return self.faces[0].probabilities

    def to_dict(self) -> dict:
        return {
            "source": self.source, "fps": self.fps, "num_frames": self.num_frames, "classes": list(self.classes),
            "label": self.label, "probabilities": self.probabilities, "timings": self.timings,
            "faces": [{"id": f.id, "label": f.label, "probabilities": f.probabilities, "detections": f.detections,
                       "windows": [vars(w) for w in f.windows],
                       "boxes": {str(k): [round(b.x0, 1), round(b.y0, 1), round(b.x1, 1), round(b.y1, 1)]
                                 for k, b in f.boxes.items()}}
                      for f in self.faces],
        }

    def save_json(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False))  # strict JSON
        return path

    def save_csv(self, path: str | os.PathLike) -> Path:
        """One row per face and window."""
        path = Path(path)
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["face", "start_frame", "end_frame", "start_s", "end_s", "label", *self.classes])
            for face in self.faces:
                for w in face.windows:
                    writer.writerow([face.id, w.start_frame, w.end_frame, f"{w.start_time:.3f}", f"{w.end_time:.3f}",
                                     self.classes[w.top],
                                     *(f"{p:.5f}" for p in w.probabilities)])
        return path


def check_stride(stride: int) -> int:
    """The step between windows, checked where it enters (CLI and API alike)."""
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise MaedferError(f"--stride must be at least 1 (a whole number), got {stride!r}")
    return stride


def window_starts(length: int, num_frames: int, stride: int) -> list[int]:
    """Starts of windows of ``num_frames`` over ``length`` sampled frames, every ``stride``,
    plus one ending at the last frame so the tail is covered. Shorter inputs get one window
    (padded with the last frame, as the test protocol pads)."""
    if length <= num_frames:
        return [0]
    starts = list(range(0, length - num_frames + 1, stride))
    if starts[-1] != length - num_frames:
        starts.append(length - num_frames)
    return starts


class Predictor:
    """A fine-tuned classifier ready for raw videos."""

    def __init__(self, model: torch.nn.Module, spec: ClassifierSpec, device: str | torch.device | None = None,
                 precision: str = "auto", detector: FaceDetector | None = None, batch_size: int = 8,
                 margin: float = 0.3) -> None:
        self.device = resolve_device(device)
        check_precision(precision, self.device, allow_auto=True)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise MaedferError(f"--batch-size must be a whole number >= 1, got {batch_size!r}")
        # The crop side is the face's side x (1 + margin): beyond 4 it is mostly background.
        if not isinstance(margin, (int, float)) or not math.isfinite(margin) or not 0 <= margin <= 4:
            raise MaedferError(f"--margin must be a number from 0 to 4 (the crop side grows by this fraction), "
                               f"got {margin!r}")
        model = model.to(self.device).eval()
        if precision == "auto":
            self.precision, self.precision_reason = choose_precision(model, self.device, spec.model_name)
        else:
            self.precision, self.precision_reason = precision, "asked for"
        # Inference runs in a model converted to the precision (not under autocast, which
        # casts every weight again on every call: 385 vs 302 ms per clip for lgi_former_base
        # in bf16 on a 2-core AVX512-BF16 CPU).
        self.dtype = DTYPES[self.precision]
        self.model, self.spec = model.to(self.dtype), spec
        self.detector = detector
        self.batch_size, self.margin = batch_size, margin
        self.transform = eval_transform(spec.input_size)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.spec.classes

    def predict(self, source: Source, stride: int = 8, crop: str = "face", all_faces: bool = False,
                progress: bool = False) -> VideoPrediction:
        """Predict the emotion over time of the main face (or of every face with
        ``all_faces``) in a video file, frame folder, image, or (T, H, W, 3) uint8 frames.
        ``stride`` is the step between windows in sampled frames (8: half a window);
        ``crop="full"`` skips face detection for frames that are already face crops."""
        check_stride(stride)
        if crop == "face" and self.detector is None:
            self.detector = HaarFaceDetector()  # built once per predictor, not per video
        timings = dict.fromkeys(("decode", "detect", "crop", "model"), 0.0)
        sampled = sample_faces(source, self.spec.sampling_rate, self.spec.input_size, crop, self.detector,
                               self.margin, all_faces, timings, progress)
        faces = [self._classify(track, sampled, stride, timings, progress) for track in sampled.tracks]
        timings = {k: round(v, 4) for k, v in timings.items()}
        return VideoPrediction(str(sampled.path), sampled.fps, sampled.num_frames, self.classes, faces,
                               {**timings, "precision": self.precision, "precision_reason": self.precision_reason})

    @torch.no_grad()
    def _classify(self, track: FaceTrack, sampled: SampledFaces, stride: int, timings: dict, progress: bool
                  ) -> FacePrediction:
        t0 = time.perf_counter()
        clip = sampled.crops[track.id]
        first = track.first if track.detections else 0
        ids = sampled.frame_ids[first:first + len(clip)]
        n = self.spec.num_frames
        starts = window_starts(len(clip), n, stride)
        probs = []
        batches = range(0, len(starts), self.batch_size)
        for b in tqdm(batches, desc=f"predicting face {track.id}", unit="batch", disable=not progress, leave=False):
            batch = []
            for s in starts[b:b + self.batch_size]:
                index = [min(s + i, len(clip) - 1) for i in range(n)]
                batch.append(self.transform(clip[index]))
            logits = self.model(torch.stack(batch).to(self.device, self.dtype))
            probs.append(logits.float().softmax(-1).cpu())
        p = torch.cat(probs).numpy()
        if not np.isfinite(p).all():
            raise NonFiniteOutputError(f"{sampled.path}: the model's outputs are not finite (NaN or infinity) for "
                                       f"face {track.id}; its weights are broken or {self.precision} overflowed")
        windows = []
        for s, row in zip(starts, p):
            a, b = ids[s], ids[min(s + n, len(ids)) - 1]
            windows.append(Window(a, b, round(a / sampled.fps, 3), round((b + 1) / sampled.fps, 3),
                                  [round(float(v), 5) for v in row]))
        mean = p.mean(0)
        timings["model"] += time.perf_counter() - t0
        boxes = {sampled.frame_ids[pos]: box for pos, box in track.boxes.items()}
        return FacePrediction(track.id, self.classes[int(mean.argmax())],
                              {c: round(float(v), 5) for c, v in zip(self.classes, mean)}, windows, boxes,
                              len(track.detections))


def load(checkpoint: str | os.PathLike, dataset: str | None = None, device: str | torch.device | None = None,
         precision: str = "auto", batch_size: int = 8, margin: float = 0.3,
         detector: FaceDetector | None = None) -> Predictor:
    """A :class:`Predictor` for a fine-tuned checkpoint (maedfer's, an official MAE-DFER one,
    or an exported ``.safetensors``). ``dataset`` names the labels of files that lack them."""
    model, spec = load_classifier(checkpoint, dataset)
    return Predictor(model, spec, device=device, precision=precision, detector=detector, batch_size=batch_size,
                     margin=margin)
