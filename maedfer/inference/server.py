"""``maedfer serve``: the predictor behind a small HTTP API (FastAPI + uvicorn).

- ``GET /health``: the model, its classes and settings;
- ``POST /predict`` (multipart form, field ``file``; query ``stride``, ``crop``, ``all_faces``):
  the same JSON as ``maedfer predict``. Uploads larger than ``max_bytes`` get 413, files
  that are not readable videos or images 415, videos without a face 422.

Requests are served one at a time by the model (a lock): a CPU model gains nothing from
running two clips side by side, and the GPU memory stays bounded.
"""
# no "from __future__ import annotations": FastAPI reads the handler annotations at run time

import tempfile
import threading
from pathlib import Path

from ..data.readers import IMAGE_SUFFIXES, VIDEO_SUFFIXES, VideoReadError
from ..errors import MaedferError
from .clips import CROPS, NoFaceError
from .predictor import Predictor

_CHUNK = 1 << 20


def create_app(predictor: Predictor, max_bytes: int = 100 << 20):
    try:
        import uvicorn  # noqa: F401  (serve() needs it; say so before anything starts)
        from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
    except ImportError:
        raise MaedferError("serving needs FastAPI and uvicorn: pip install 'maedfer[serve]'") from None

    app = FastAPI(title="maedfer", description="Dynamic facial expression recognition on uploaded videos.")
    lock = threading.Lock()
    suffixes = VIDEO_SUFFIXES + IMAGE_SUFFIXES

    @app.get("/health")
    def health() -> dict:
        spec = predictor.spec
        return {
            "status": "ok",
            "model": spec.model_name,
            "classes": list(spec.classes),
            "dataset": spec.dataset,
            "num_frames": spec.num_frames,
            "sampling_rate": spec.sampling_rate,
            "input_size": spec.input_size,
            "device": str(predictor.device),
            "precision": predictor.precision,
            "max_bytes": max_bytes,
        }

    # A plain (not async) handler: FastAPI runs it in a worker thread, so decoding and the
    # model do not block the event loop.
    @app.post("/predict")
    def predict(
        request: Request,
        file: UploadFile = File(...),
        stride: int = Query(8, ge=1),
        crop: str = Query("face"),
        all_faces: bool = Query(False),
    ) -> dict:
        if crop not in CROPS:
            raise HTTPException(422, f"crop must be one of {', '.join(CROPS)}")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes + _CHUNK:
            raise HTTPException(413, f"upload larger than the limit of {max_bytes} bytes")
        name = Path(file.filename or "upload").name
        suffix = Path(name).suffix.lower()
        if suffix not in suffixes:
            raise HTTPException(415, f"{name}: not a video or image file (expected {'/'.join(suffixes)})")
        with tempfile.TemporaryDirectory(prefix="maedfer-serve-") as tmp:
            path = Path(tmp) / f"upload{suffix}"
            size = 0
            with path.open("wb") as out:
                while chunk := file.file.read(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise HTTPException(413, f"{name}: upload larger than the limit of {max_bytes} bytes")
                    out.write(chunk)
            try:
                with lock:
                    result = predictor.predict(path, stride=stride, crop=crop, all_faces=all_faces)
            except NoFaceError as e:
                raise HTTPException(422, str(e).replace(str(path), name)) from None
            except VideoReadError as e:
                raise HTTPException(415, str(e).replace(str(path), name)) from None
            except MaedferError as e:  # e.g. non-finite model outputs: the server's fault
                raise HTTPException(500, str(e).replace(str(path), name)) from None
        payload = result.to_dict()
        payload["source"] = name
        return payload

    return app


def serve(predictor: Predictor, host: str = "127.0.0.1", port: int = 8000, max_bytes: int = 100 << 20) -> None:
    import uvicorn

    uvicorn.run(create_app(predictor, max_bytes), host=host, port=port, log_level="info")
