"""Face detectors: any callable ``frame (H, W, 3) uint8 RGB -> list[Box]``.

- ``landmarks`` (default): the landmark tracker (:mod:`.landmarks`): MediaPipe's BlazeFace
  starts a track, its Face Mesh follows the face frame to frame; boxes carry 68 points.
- ``haar``: OpenCV's frontal-face Haar cascade; its weights ship inside the
  ``opencv-python-headless`` wheel, so it needs no download. A frame where it finds nothing
  is searched again with a black border around it: the cascade cannot place a face whose
  box would touch the frame's edge, so a face that fills the picture (a posed portrait, a
  face crop) was missed (83 of 100 LFW face crops found without the border, 99 with it).
- ``yunet``: OpenCV's YuNet CNN (``cv2.FaceDetectorYN``, in the same wheel); its 227 KB
  ONNX file is downloaded once into maedfer's cache, its sha256 pinned.
- ``module:function`` (or ``path/to/file.py:function``): a detector of your own, or a
  factory returning one.

Each detector's ``score`` is its own confidence (landmarks: the mesh's face score; Haar: the
cascade's level weight; YuNet: a probability); ``low_confidence`` is the median score under which a track is reported as
perhaps not a human face (a cartoon, an animal, a pattern).
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import MaedferError
from .boxes import Box
from .landmarks import LandmarkTracker

FaceDetector = Callable[[np.ndarray], list[Box]]
DETECTORS = ("landmarks", "haar", "yunet")


def _cv2():
    try:
        import cv2
    except ImportError:  # a dependency; only a broken install gets here
        raise MaedferError("face detection needs OpenCV: pip install 'opencv-python-headless>=4.9,<5'") from None
    return cv2


def haar_cascade(name: str):
    """OpenCV's Haar cascade ``name`` from the files its wheel ships. OpenCV 5's wheels ship
    none (and its dnn engine changed): one line says so and what to use instead."""
    cv2 = _cv2()
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not hasattr(cv2, "CascadeClassifier") or folder is None or not (Path(folder) / name).is_file():
        raise MaedferError(
            f"OpenCV {cv2.__version__} ships no Haar cascade {name} (OpenCV 5's wheels have none): use "
            "--detector landmarks (the default), or install 'opencv-python-headless>=4.9,<5' for haar "
            "and --align eyes"
        )
    cascade = cv2.CascadeClassifier(str(Path(folder) / name))
    if cascade.empty():
        raise MaedferError(f"{Path(folder) / name}: OpenCV could not load this Haar cascade")
    return cascade


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade. Frames are converted to grey, histogram-equalised
    and, when large, shrunk to ``max_side`` pixels first (detection cost grows with the
    area; faces in DFER-style videos are large). Where nothing is found, the frame is
    searched once more inside a black border of ``border`` x its size on each side."""

    # Median level weight under which a track is reported. The cascade separates poorly: face
    # photos score 6.8 (median; 5 % below 3.1), Big Buck Bunny's rabbit 2.4-4.0 by frame rate.
    low_confidence = 4.5

    def __init__(
        self,
        cascade: str = "haarcascade_frontalface_default.xml",
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: float = 0.1,
        max_side: int = 640,
        border: float = 0.25,
    ) -> None:
        self._cv2 = _cv2()
        self.classifier = haar_cascade(cascade)
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors
        self.min_size, self.max_side, self.border = min_size, max_side, border

    def _detect(self, grey: np.ndarray, min_side: int) -> list[Box]:
        rects, _, weights = self.classifier.detectMultiScale3(
            grey,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(min_side, min_side),
            outputRejectLevels=True,
        )
        return [
            Box(x, y, x + bw, y + bh, float(s))
            for (x, y, bw, bh), s in zip(np.asarray(rects).reshape(-1, 4).tolist(), np.ravel(weights))
        ]

    def __call__(self, frame: np.ndarray) -> list[Box]:
        cv2 = self._cv2
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        h, w = grey.shape
        shrink = min(1.0, self.max_side / max(h, w))
        if shrink < 1.0:
            grey = cv2.resize(grey, (round(w * shrink), round(h * shrink)), interpolation=cv2.INTER_AREA)
        grey = cv2.equalizeHist(grey)
        side = max(12, int(self.min_size * min(grey.shape)))
        boxes = self._detect(grey, side)
        if not boxes and self.border > 0:
            pad = int(round(self.border * max(grey.shape)))
            framed = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
            boxes = [Box(b.x0 - pad, b.y0 - pad, b.x1 - pad, b.y1 - pad, b.score) for b in self._detect(framed, side)]
        return [b.scaled(1 / shrink) for b in boxes]


# The 2023 YuNet of the OpenCV model zoo (MIT licence): URL and content pinned.
YUNET_URL = (
    "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx"
)
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"


def yunet_model(fetch=None, download: bool = True) -> Path:
    """The YuNet ONNX file in maedfer's cache, downloaded on first use."""
    from ..files import cache_dir
    from ..hub import cache

    def check(path: Path) -> None:  # the pinned sha256 is the check; nothing else to look at
        return None

    return cache.cached_file(
        "YuNet face detector",
        YUNET_URL,
        cache_dir() / "detectors" / Path(YUNET_URL).name,
        fetch or cache.gdown_fetch,
        check,
        sha256=YUNET_SHA256,
        download=download,
    )


class YuNetFaceDetector:
    """OpenCV's YuNet (``cv2.FaceDetectorYN``): a small CNN, far more robust than the
    cascade to pose, light and size. Large frames are shrunk to ``max_side`` first."""

    low_confidence = 0.8  # its scores are probabilities; faces it is sure of score > 0.9

    def __init__(self, model: str | Path | None = None, score_threshold: float = 0.6, max_side: int = 640) -> None:
        cv2 = self._cv2 = _cv2()
        path = Path(model) if model is not None else yunet_model()
        try:
            self.net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score_threshold, 0.3, 5000)
        except cv2.error as e:
            raise MaedferError(f"{path}: OpenCV cannot load it as a YuNet model ({str(e).strip()[:120]})") from None
        self.max_side = max_side

    def __call__(self, frame: np.ndarray) -> list[Box]:
        cv2 = self._cv2
        h, w = frame.shape[:2]
        shrink = min(1.0, self.max_side / max(h, w))
        image = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        if shrink < 1.0:
            image = cv2.resize(image, (round(w * shrink), round(h * shrink)), interpolation=cv2.INTER_AREA)
        self.net.setInputSize((image.shape[1], image.shape[0]))
        _, faces = self.net.detect(image)
        faces = np.zeros((0, 15)) if faces is None else faces
        return [
            Box(x, y, x + bw, y + bh, float(f[-1])).scaled(1 / shrink)
            for f in faces
            for x, y, bw, bh in [f[:4].tolist()]
        ]


def _load_callable(spec: str) -> Callable:
    target, _, name = spec.rpartition(":")
    if not target or not name:
        raise MaedferError(f"--detector {spec!r}: expected landmarks, haar, yunet, module:function or file.py:function")
    try:
        if target.endswith(".py"):
            path = Path(target)
            if not path.is_file():
                raise MaedferError(f"--detector {spec!r}: no such file {path}")
            loader = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(loader)
            loader.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except MaedferError:
        raise
    except Exception as e:  # the user's module failed to import
        raise MaedferError(f"--detector {spec!r}: cannot import {target} ({type(e).__name__}: {e})") from None
    thing = getattr(module, name, None)
    if not callable(thing):
        raise MaedferError(f"--detector {spec!r}: {target} has no callable {name!r}")
    return thing


def make_detector(spec: str | FaceDetector) -> FaceDetector:
    """A detector from a name (``landmarks``, ``haar``, ``yunet``), a ``module:callable`` path, or a
    callable. A class or a factory named by path is called once with no arguments; a
    plain function is the detector itself."""
    if callable(spec):
        return spec
    if spec == "landmarks":
        return LandmarkTracker()
    if spec == "haar":
        return HaarFaceDetector()
    if spec == "yunet":
        return YuNetFaceDetector()
    thing = _load_callable(spec)
    if isinstance(thing, type):
        thing = thing()
    if not callable(thing):
        raise MaedferError(f"--detector {spec!r}: {thing!r} is not callable")
    return thing
