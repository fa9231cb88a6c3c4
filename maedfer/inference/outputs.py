"""Pictures of a prediction: the probability timeline and the annotated video."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..data.readers import open_clip
from ..data.writers import VideoWriter
from ..faces.boxes import Box
from ..visualize.figures import pyplot, save_figure
from .predictor import FacePrediction, VideoPrediction

_COLOURS = [
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
]


def plot_timeline(prediction: VideoPrediction, path: str | os.PathLike) -> Path:
    """Class probabilities of each window (at its centre time) for every face; the lines
    break and the background is grey where the face is out of view; the summary and the
    coverage in each title."""
    plt = pyplot()

    faces = prediction.faces
    duration = prediction.num_frames / prediction.fps
    fig, axes = plt.subplots(len(faces), 1, figsize=(8, 2.6 * len(faces)), squeeze=False)
    for ax, face in zip(axes[:, 0], faces):
        segments = face.segments or [(0.0, duration)]
        for k, name in enumerate(prediction.classes):
            colour = np.array(_COLOURS[k % len(_COLOURS)]) / 255
            for i, (a, b) in enumerate(segments):
                inside = [w for w in face.windows if a <= w.start_time < b]
                ax.plot(
                    [(w.start_time + w.end_time) / 2 for w in inside],
                    [w.probabilities[k] for w in inside],
                    marker="o",
                    markersize=3,
                    color=colour,
                    label=name if i == 0 else None,
                )
        edges = [0.0, *[t for seg in segments for t in seg], duration]
        for start, end in zip(edges[::2], edges[1::2]):  # the stretches outside every segment
            if end - start > 1e-3:
                ax.axvspan(start, end, color="0.85", zorder=0)
        ax.set_xlim(0, duration)
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability")
        ax.set_title(
            f"face {face.id}: {face.label} ({face.probabilities[face.label]:.2f}); in view "
            f"{100 * face.coverage:.0f} % of the video (grey: no face)",
            fontsize=9,
        )
    axes[-1, 0].set_xlabel("time (s), window centres")
    axes[0, 0].legend(fontsize=7, ncol=min(4, len(prediction.classes)), loc="upper right")
    fig.suptitle(Path(prediction.source).name, fontsize=9)
    return save_figure(fig, path)


def _box_at(frame: int, known: np.ndarray, values: np.ndarray) -> Box | None:
    """The face box at any video frame: interpolated between the sampled frames' boxes."""
    if not len(known) or frame < known[0] or frame > known[-1]:
        return None
    x0, y0, x1, y1 = (float(np.interp(frame, known, values[:, k])) for k in range(4))
    return Box(x0, y0, x1, y1)


def _label_at(face: FacePrediction, frame: int, fps: float, classes: tuple[str, ...]) -> tuple[str, float] | None:
    """The label of the window whose centre is nearest to ``frame``, among the windows of
    the segment that ``frame`` lies in; None where the face is out of view."""
    t = (frame + 0.5) / fps
    segment = next(((a, b) for a, b in face.segments if a <= t < b), None)
    if segment is None and face.segments:
        return None
    inside = [w for w in face.windows if segment is None or segment[0] <= w.start_time < segment[1]]
    w = min(inside, key=lambda w: abs((w.start_frame + w.end_frame) / 2 - frame))
    return classes[w.top], w.probabilities[w.top]


def draw_face(frame: np.ndarray, box: Box, text: str, colour_index: int) -> np.ndarray:
    """A face's box and its label drawn onto ``frame`` (in place), in the class's colour."""
    import cv2

    colour = _COLOURS[colour_index % len(_COLOURS)]
    x, y = int(box.x0), int(box.y0)
    cv2.rectangle(frame, (x, y), (int(box.x1), int(box.y1)), colour, 2)
    cv2.putText(frame, text, (max(0, x), max(16, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2)
    return frame


def annotate_video(
    source: str | os.PathLike, prediction: VideoPrediction, path: str | os.PathLike, progress: bool = False
) -> Path:
    """A copy of the video with each face's box and its current label drawn on every frame
    where the face is in view (nothing where it is not)."""
    tracks = []
    for face in prediction.faces:
        known = np.array(sorted(face.boxes))
        values = np.array([[b.x0, b.y0, b.x1, b.y1] for _, b in sorted(face.boxes.items())]).reshape(-1, 4)
        tracks.append((face, known, values))
    with open_clip(source) as reader:
        writer = None
        try:
            for idx, frame in tqdm(
                reader.iter_frames(1),
                total=len(reader),
                desc="annotating",
                unit="frame",
                disable=not progress,
                leave=False,
            ):
                if writer is None:
                    h, w = frame.shape[:2]
                    writer = VideoWriter(path, w - w % 2, h - h % 2, reader.fps)
                frame = np.ascontiguousarray(frame[: h - h % 2, : w - w % 2])
                for face, known, values in tracks:
                    current = _label_at(face, idx, prediction.fps, prediction.classes)
                    box = _box_at(idx, known, values)
                    if current is None or box is None:  # out of view here: nothing drawn, no stale label
                        continue
                    label, p = current
                    text = f"{face.id}: {label} {p:.2f}" if len(tracks) > 1 else f"{label} {p:.2f}"
                    draw_face(frame, box, text, prediction.classes.index(label))
                writer.write(frame)
        finally:
            if writer is not None:
                writer.close()
    return Path(path)
