"""Emotion over time in a person's own video.

``maedfer.load(checkpoint)`` gives a :class:`Predictor`; ``predictor.predict(video)`` finds
and follows the face, crops it like the training data, runs the classifier on sliding
windows of ``num_frames`` frames taken every ``sampling_rate`` frames (the test protocol's
frame spacing), and returns per-window probabilities with timestamps and a per-video
summary (the argmax of the mean window probabilities, as the multi-view protocol does).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..data.transforms import eval_transform
from ..errors import MaedferError
from ..faces.align import FaceCrop
from ..faces.boxes import Box, FaceTrack
from ..faces.detectors import FaceDetector, make_detector
from ..faces.find import detector_for
from ..precision import DTYPES, check_precision, choose_precision, resolve_device
from .clips import SampledFaces, Source, check_deadline, sample_faces
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
    coverage: float = 1.0  # share of the sampled frames where this face is tracked
    segments: list[tuple[float, float]] = field(default_factory=list)  # seconds in view: (start, end)
    confidence: float | None = None  # the detector's median score on this face (None: no detector)
    # the landmark tracker's face score by video frame, and the frames of the face's segments
    # where it was not followed (boxes bridged over them); None / empty for a box detector
    face_scores: dict[int, float] | None = None
    lost_frames: list[int] = field(default_factory=list)


# Below this share of the video with a tracked face, predict warns: the label describes
# only part of the video.
MIN_COVERAGE = 0.5


@dataclass
class VideoPrediction:
    source: str
    fps: float
    num_frames: int
    classes: tuple[str, ...]
    faces: list[FacePrediction]
    timings: dict  # seconds spent decoding, detecting, cropping, in the model; the precision and why
    coverage: float = 1.0  # share of the sampled frames where any reported face is tracked
    sampled: int = 0  # frames the model's sampling takes from the video
    looked: int = 0  # of those, frames the face detector looked at
    warnings: list[str] = field(default_factory=list)
    face_crop: FaceCrop | None = None  # how the faces were cropped (None: whole frames)

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
            "source": self.source,
            "fps": self.fps,
            "num_frames": self.num_frames,
            "classes": list(self.classes),
            "label": self.label,
            "probabilities": self.probabilities,
            "coverage": round(self.coverage, 4),
            "sampled_frames": self.sampled,
            "detector_frames": self.looked,
            "warnings": self.warnings,
            "face_crop": self.face_crop.to_dict() if self.face_crop else None,
            "timings": self.timings,
            "faces": [
                {
                    "id": f.id,
                    "label": f.label,
                    "probabilities": f.probabilities,
                    "detections": f.detections,
                    "coverage": round(f.coverage, 4),
                    "confidence": f.confidence,
                    "segments": [list(seg) for seg in f.segments],
                    "gaps": [[a[1], b[0]] for a, b in zip(f.segments, f.segments[1:])],
                    "windows": [vars(w) for w in f.windows],
                    **(
                        {"face_scores": {str(k): s for k, s in f.face_scores.items()}, "lost_frames": f.lost_frames}
                        if f.face_scores is not None
                        else {}
                    ),
                    "boxes": {
                        str(k): [round(b.x0, 1), round(b.y0, 1), round(b.x1, 1), round(b.y1, 1)]
                        for k, b in f.boxes.items()
                    },
                }
                for f in self.faces
            ],
        }

    def save_json(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False))  # strict JSON
        return path

    def save_csv(self, path: str | os.PathLike) -> Path:
        """One row per face and window, in time order; where a face is out of view between
        two of its segments, a row labelled ``no face`` with empty probabilities."""
        path = Path(path)
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["face", "start_frame", "end_frame", "start_s", "end_s", "label", *self.classes])
            for face in self.faces:
                rows = [
                    (
                        w.start_time,
                        [
                            face.id,
                            w.start_frame,
                            w.end_frame,
                            f"{w.start_time:.3f}",
                            f"{w.end_time:.3f}",
                            self.classes[w.top],
                            *(f"{p:.5f}" for p in w.probabilities),
                        ],
                    )
                    for w in face.windows
                ]
                rows += [
                    (
                        a,
                        [
                            face.id,
                            round(a * self.fps),
                            round(b * self.fps) - 1,
                            f"{a:.3f}",
                            f"{b:.3f}",
                            "no face",
                            *[""] * len(self.classes),
                        ],
                    )
                    for (_, a), (b, _) in zip(face.segments, face.segments[1:])
                ]
                writer.writerows(row for _, row in sorted(rows, key=lambda r: r[0]))
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

    def __init__(
        self,
        model: torch.nn.Module,
        spec: ClassifierSpec,
        device: str | torch.device | None = None,
        precision: str = "auto",
        detector: FaceDetector | str | None = None,
        batch_size: int = 8,
        margin: float | None = None,
    ) -> None:
        self.device = resolve_device(device)
        check_precision(precision, self.device, allow_auto=True)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise MaedferError(f"--batch-size must be a whole number >= 1, got {batch_size!r}")
        # Faces are cropped as the checkpoint's training faces were (`maedfer faces` records
        # it); other checkpoints get the box crop at the model's input size. ``margin``
        # overrides the margin.
        crop = spec.face_crop or FaceCrop(size=spec.input_size)
        self.face_crop = (crop if margin is None else dataclasses.replace(crop, margin=margin)).checked()
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
        # how to make another of it (a server makes one per thread): the name given, or the
        # crop's own; None for a detector object
        self.detector_name = (
            detector_for(self.face_crop, detector) if detector is None or isinstance(detector, str) else None
        )
        # a named detector is built at once (a bad name or a missing download fails here); the
        # crop's own on first need
        self.detector = make_detector(detector) if isinstance(detector, str) else detector
        self.batch_size = batch_size
        self.transform = eval_transform(spec.input_size)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.spec.classes

    def face_detector(self) -> FaceDetector:
        """The face detector, built once per predictor rather than per video."""
        if self.detector is None:
            self.detector = make_detector(self.detector_name)
        return self.detector

    def predict(
        self,
        source: Source,
        stride: int = 8,
        crop: str = "face",
        all_faces: bool = False,
        progress: bool = False,
        detect_every: int = 4,
        deadline: float | None = None,
    ) -> VideoPrediction:
        """Predict the emotion over time of the main face (or of every face with
        ``all_faces``) in a video file, frame folder, image, or (T, H, W, 3) uint8 frames.
        ``stride`` is the step between windows in sampled frames (8: half a window);
        ``crop="full"`` skips face detection for frames that are already face crops;
        ``detect_every``: the detector looks at every n-th sampled frame where faces stay put;
        past ``deadline`` (a ``time.monotonic()`` value) it stops with ``TooSlowError``."""
        check_stride(stride)
        detector = self.face_detector() if crop == "face" else None
        timings = dict.fromkeys(("decode", "detect", "crop", "model"), 0.0)
        sampled = sample_faces(
            source,
            self.spec.sampling_rate,
            self.face_crop,
            crop,
            detector,
            all_faces,
            timings,
            progress,
            detect_every,
            deadline=deadline,
        )
        faces = [self._classify(track, sampled, stride, timings, progress, deadline) for track in sampled.tracks]
        timings = {k: round(v, 4) for k, v in timings.items()}
        covered = set().union(*(sampled.positions(t) for t in sampled.tracks))
        result = VideoPrediction(
            str(sampled.path),
            sampled.fps,
            sampled.num_frames,
            self.classes,
            faces,
            {**timings, "precision": self.precision, "precision_reason": self.precision_reason},
            coverage=len(covered) / max(1, len(sampled.frame_ids)),
            sampled=len(sampled.frame_ids),
            looked=sampled.looked,
            face_crop=self.face_crop if crop == "face" else None,
        )
        result.warnings = self._warnings(result, crop)
        return result

    def _warnings(self, result: VideoPrediction, crop: str) -> list[str]:
        if crop == "full":
            return []
        out = []
        main = result.faces[0]
        if main.coverage < MIN_COVERAGE:
            out.append(
                f"the face is tracked in only {100 * main.coverage:.0f} % of the video; the label describes "
                f"{', '.join(f'{a:.1f}-{b:.1f} s' for a, b in main.segments)}"
            )
        low = getattr(self.detector, "low_confidence", None)
        for face in result.faces:
            if low is not None and face.confidence is not None and face.confidence < low:
                out.append(
                    f"face {face.id}: the detector is unsure it is a human face (median score "
                    f"{face.confidence:.2f} < {low}); a drawing, an animal or a pattern?"
                )
        return out

    @torch.no_grad()
    def _classify(
        self,
        track: FaceTrack,
        sampled: SampledFaces,
        stride: int,
        timings: dict,
        progress: bool,
        deadline: float | None = None,
    ) -> FacePrediction:
        t0 = time.perf_counter()
        clip = sampled.crops[track.id]
        positions = sampled.positions(track)
        row = {pos: i for i, pos in enumerate(positions)}
        runs = track.segments or [(0, len(sampled.frame_ids) - 1)]
        n = self.spec.num_frames
        windows_at: list[tuple[int, int]] = []  # (first row, last row) in clip, per window
        for first, last in runs:
            a, b = row[first], row[last]
            windows_at += [(a + s, min(a + s + n, b + 1) - 1) for s in window_starts(b - a + 1, n, stride)]
        probs = []
        batches = range(0, len(windows_at), self.batch_size)
        for k in tqdm(batches, desc=f"predicting face {track.id}", unit="batch", disable=not progress, leave=False):
            check_deadline(deadline, sampled.path)
            batch = []
            for a, b in windows_at[k : k + self.batch_size]:
                index = [min(a + i, b) for i in range(n)]  # a short segment repeats its last frame
                batch.append(self.transform(clip[index]))
            logits = self.model(torch.stack(batch).to(self.device, self.dtype))
            probs.append(logits.float().softmax(-1).cpu())
        p = torch.cat(probs).numpy()
        if not np.isfinite(p).all():
            raise NonFiniteOutputError(
                f"{sampled.path}: the model's outputs are not finite (NaN or infinity) for "
                f"face {track.id}; its weights are broken or {self.precision} overflowed"
            )
        ids = [sampled.frame_ids[pos] for pos in positions]
        windows = []
        for (a, b), values in zip(windows_at, p):
            first, last = ids[a], ids[b]
            windows.append(
                Window(
                    first,
                    last,
                    round(first / sampled.fps, 3),
                    round((last + 1) / sampled.fps, 3),
                    [round(float(v), 5) for v in values],
                )
            )
        mean = p.mean(0)
        timings["model"] += time.perf_counter() - t0
        boxes = {sampled.frame_ids[pos]: box for pos, box in track.boxes.items()}
        rate = self.spec.sampling_rate
        segments = [
            (
                round(sampled.frame_ids[a] / sampled.fps, 3),
                round(min(sampled.frame_ids[b] + rate, sampled.num_frames) / sampled.fps, 3),
            )
            for a, b in runs
        ]
        confidence = round(track.confidence, 3) if track.detections else None
        scores = track.landmark_scores
        return FacePrediction(
            track.id,
            self.classes[int(mean.argmax())],
            {c: round(float(v), 5) for c, v in zip(self.classes, mean)},
            windows,
            boxes,
            len(track.detections),
            sampled.coverage(track),
            segments,
            confidence,
            None if scores is None else {sampled.frame_ids[p]: s for p, s in scores.items()},
            [] if scores is None else [sampled.frame_ids[p] for p in sorted(track.boxes) if p not in scores],
        )


def load(
    checkpoint: str | os.PathLike,
    dataset: str | None = None,
    device: str | torch.device | None = None,
    precision: str = "auto",
    batch_size: int = 8,
    margin: float | None = None,
    detector: FaceDetector | str | None = None,
) -> Predictor:
    """A :class:`Predictor` for a fine-tuned checkpoint (maedfer's, an official MAE-DFER one,
    an exported ``.safetensors``), a released model's name (``"dfew"``) or a Hub repository
    (``"hf://OWNER/NAME"``). ``dataset`` names the labels of files that lack them;
    ``detector``: ``"landmarks"`` (the default, or ``"haar"`` where the checkpoint's faces were
    aligned on ``eyes``), ``"haar"``, ``"yunet"``, ``"module:callable"`` or a callable.
    Faces are cropped as the checkpoint's training faces were (:class:`FaceCrop`);
    ``margin`` overrides the crop's margin (default: the checkpoint's, else 0.3)."""
    model, spec = load_classifier(checkpoint, dataset)
    return Predictor(
        model, spec, device=device, precision=precision, detector=detector, batch_size=batch_size, margin=margin
    )
