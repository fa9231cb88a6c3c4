"""MediaPipe's face models, shipped inside the package (``maedfer/faces/models``, Apache-2.0,
with their licence and NOTICE) and read by OpenCV's own TFLite reader: nothing to download,
no new dependency. Each file's SHA-256 is pinned; a missing or altered file is one line
naming it, never a model that silently computes nonsense."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..errors import MaedferError

MODELS = Path(__file__).parent / "models"
SHA256 = {
    "face_detection_short_range.tflite": "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
    "face_detection_full_range.tflite": "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
    "face_landmark.tflite": "2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493",
}


class ModelFileError(MaedferError):
    """A face model file that maedfer ships is missing or altered (a broken install)."""


def model_path(name: str) -> Path:
    """The shipped file ``name``, checked against its pinned SHA-256."""
    path = MODELS / name
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as e:
        raise ModelFileError(
            f"{path}: cannot read this face model that maedfer ships ({e.strerror or e}); reinstall maedfer"
        ) from None
    if digest != SHA256[name]:
        raise ModelFileError(f"{path}: this face model is corrupt or altered (its SHA-256 differs); reinstall maedfer")
    return path


def check_model_files() -> None:
    """Every shipped model file present and intact (a run checks before its first video)."""
    for name in SHA256:
        model_path(name)


def litert_interpreter():
    """LiteRT's interpreter class where ``ai-edge-litert`` is installed (``pip install
    'maedfer[fast-faces]'``), else None. It runs the same models faster than OpenCV on a CPU
    core (finding and following the faces of 105 frames of 720p: 0.29 against 0.46 s,
    bench/faces_dataset.py) and follows a face to the same points (within 0.25 px, tested);
    OpenCV's reader needs nothing beyond maedfer's own dependencies."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return None
    return Interpreter


class TFLiteNet:
    """One TFLite model: ``net(image)`` (``(1, S, S, 3)`` float32, the models' own NHWC) gives
    its outputs in the order ``outputs`` names them, each flattened to (1, N). It runs on
    LiteRT where installed (:func:`litert_interpreter`), else through ``cv2.dnn``; ``runtime``
    says which. OpenCV 5.0's new dnn engine returns only a model's first output (the scores
    and the face flag would be lost), so the classic engine is asked for where it exists;
    5.1's default engine gives them all."""

    def __init__(self, name: str, outputs: tuple[str, ...]) -> None:
        import cv2

        path = model_path(name)
        interpreter = litert_interpreter()
        self.outputs = list(outputs)
        if interpreter is not None:
            self.runtime = "litert"
            # as many threads as OpenCV is allowed (the faces step's workers: one each)
            self.net = interpreter(model_path=str(path), num_threads=max(1, cv2.getNumThreads()))
            self.net.allocate_tensors()
            self._input = self.net.get_input_details()[0]["index"]
            found = {o["name"]: o["index"] for o in self.net.get_output_details()}
            names = tuple(found)
        else:
            self.runtime = "opencv"
            engine = getattr(cv2.dnn, "ENGINE_CLASSIC", None)
            try:
                self.net = (
                    cv2.dnn.readNetFromTFLite(str(path))
                    if engine is None
                    else cv2.dnn.readNetFromTFLite(str(path), engine=engine)
                )
            except cv2.error as e:
                raise ModelFileError(f"{path}: OpenCV cannot read it ({str(e).strip()[:120]})") from None
            names = tuple(self.net.getUnconnectedOutLayersNames())
        if set(outputs) - set(names):
            raise ModelFileError(f"{path}: {self.runtime} gives the outputs {names}, not {outputs}")
        if self.runtime == "litert":
            self._outputs = [found[n] for n in outputs]

    def __call__(self, image: np.ndarray) -> list[np.ndarray]:
        if self.runtime == "litert":
            self.net.set_tensor(self._input, np.ascontiguousarray(image, dtype=np.float32))
            self.net.invoke()
            return [self.net.get_tensor(i).reshape(1, -1) for i in self._outputs]
        self.net.setInput(np.ascontiguousarray(image.transpose(0, 3, 1, 2)))
        return [o.reshape(1, -1) for o in self.net.forward(self.outputs)]
