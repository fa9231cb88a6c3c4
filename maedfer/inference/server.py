"""``maedfer serve``: the predictor behind an HTTP API that can face a network (FastAPI + uvicorn).

- ``GET /health/live``: a bare liveness answer, no token needed;
- ``GET /health/ready``: 200 once the model is loaded and the line has room, else 503 with
  the reason (no token needed, nothing about the model in it);
- ``GET /health``: the model, its classes and settings (token);
- ``GET /metrics``: Prometheus text: requests by status, latency, queue depth, model calls'
  batch sizes and time, errors (token);
- ``POST /predict`` (multipart form, field ``file``; query ``stride``, ``crop``, ``all_faces``;
  token): the same JSON as ``maedfer predict``. Uploads larger than ``max_bytes`` get 413,
  files that are not readable videos or images 415, videos without a face 422.

Admission is bounded: at most ``max_queue`` /predict requests are in the server (waiting or
running); the next gets 503 with ``Retry-After`` at once, before its upload is read. Uploads
stream to a temporary folder that is deleted when the request ends, however it ends. With a
token, every path but the two health answers needs ``Authorization: Bearer <token>``; a
missing or wrong one gets 401. One access-log line per request (never the token). SIGTERM
stops taking requests and finishes those in flight, up to ``grace`` seconds.

By default the model serves one request at a time (a lock). With ``max_batch`` > 1 requests
run side by side: each decodes its video and finds its faces on its own thread, and the clips
of all of them share forward passes of up to ``max_batch`` clips (:mod:`.batching`).
"""
# no "from __future__ import annotations": FastAPI reads the handler annotations at run time

import contextlib
import logging
import math
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ..data.readers import IMAGE_SUFFIXES, VIDEO_SUFFIXES, VideoReadError
from ..errors import MaedferError, one_line
from ..faces.detectors import make_detector
from ..faces.find import NoFaceError
from .access import token_matches
from .batching import BatchedModel, PerThreadDetector
from .clips import CROPS, TooSlowError
from .predictor import Predictor
from .server_metrics import ServerMetrics

_CHUNK = 1 << 20
OPEN_PATHS = ("/health/live", "/health/ready")  # answered without a token: they say nothing of the model
access_log = logging.getLogger("maedfer.access")


class RecordedModel(torch.nn.Module):
    """The predictor's model, reporting each call's batch size and time to the metrics."""

    def __init__(self, model: torch.nn.Module, metrics: ServerMetrics) -> None:
        super().__init__()
        self.model, self.metrics = model, metrics

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t0 = time.perf_counter()
        out = self.model(x)
        self.metrics.model_call(len(x), time.perf_counter() - t0)
        return out


class Model:
    """The predictor, or while it loads (on a thread of its own, so the server already answers
    /health/ready), why there is none yet: ``loading`` or the load's one-line error."""

    def __init__(
        self, predictor: Predictor | Callable[[], Predictor], metrics: ServerMetrics, max_batch: int, max_delay: float
    ) -> None:
        self.metrics, self.predictor, self.problem = metrics, None, "the model is loading"
        self.max_batch, self.max_delay = max_batch, max_delay
        if isinstance(predictor, Predictor):
            self._set(predictor)
        else:
            self._load = predictor

    def _set(self, predictor: Predictor) -> None:
        if self.max_batch == 1:  # one request at a time through the model
            predictor.model = RecordedModel(predictor.model, self.metrics)
        else:  # requests run side by side; their windows share forward passes
            predictor.model = BatchedModel(predictor.model, self.max_batch, self.max_delay, self.metrics.model_call)
            name = predictor.detector_name
            predictor.detector = PerThreadDetector(
                (lambda: make_detector(name)) if name else None, None if name else predictor.detector
            )
        self.predictor, self.problem = predictor, None

    def load(self, failed: Callable[[str], None]) -> None:
        """Load on a thread; ``failed`` gets the one-line error if that fails."""

        def run() -> None:
            try:
                self._set(self._load())
            except Exception as e:  # noqa: BLE001  (any failure: one line, and the server stops)
                self.problem = one_line(e)
                failed(self.problem)

        threading.Thread(target=run, name="maedfer-load", daemon=True).start()


def check_limits(max_queue: int, max_batch: int, max_delay: float, timeout: float, grace: float = 0.0) -> None:
    """The server's limits, each refused in one line that names its option."""
    if max_queue < 1:
        raise MaedferError(f"--max-queue must be at least 1, got {max_queue}")
    if max_batch < 1:
        raise MaedferError(f"--max-batch must be at least 1, got {max_batch}")
    if not max_delay >= 0:
        raise MaedferError(f"--max-delay-ms must be 0 or more, got {max_delay * 1000:g}")
    if not timeout > 0:
        raise MaedferError(f"--timeout must be positive, got {timeout}")
    if not grace >= 0:
        raise MaedferError(f"--grace must be 0 or more seconds, got {grace}")


def create_app(
    predictor: Predictor | Callable[[], Predictor],
    max_bytes: int = 100 << 20,
    token: str | None = None,
    max_queue: int = 8,
    failed: Callable[[str], None] | None = None,
    max_batch: int = 16,
    max_delay: float = 0.01,
    timeout: float = 300.0,
):
    """The server as an ASGI app: a gate (token, admission, metrics, the access line) in front
    of the FastAPI routes. ``predictor`` is a loaded predictor, or a function that loads one:
    it then runs on a thread when the app starts, /health/ready says 503 "the model is
    loading" meanwhile, and ``failed`` gets the one-line error if loading fails.
    ``max_batch`` 1: one request at a time through the model; more: requests run side by
    side and their clips share forward passes of up to ``max_batch`` clips, each waiting at
    most ``max_delay`` seconds for company (:mod:`maedfer.inference.batching`). A request
    whose work passes ``timeout`` seconds from the end of its upload (waiting in line included) gets
    504, and its work stops at the next frame or batch."""
    try:
        import anyio.from_thread
        import uvicorn  # noqa: F401  (serve() needs it; say so before anything starts)
        from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
        from fastapi.responses import JSONResponse, PlainTextResponse
    except ImportError:
        raise MaedferError("serving needs FastAPI and uvicorn: pip install 'maedfer[serve]'") from None
    check_limits(max_queue, max_batch, max_delay, timeout)

    app = FastAPI(title="maedfer", description="Dynamic facial expression recognition on uploaded videos.")
    # one request at a time through the model, unless batching lets them share it
    lock = threading.Lock() if max_batch == 1 else contextlib.nullcontext()
    suffixes = VIDEO_SUFFIXES + IMAGE_SUFFIXES
    metrics = ServerMetrics()
    model = Model(predictor, metrics, max_batch, max_delay)
    if model.predictor is None:
        app.router.on_startup.append(lambda: model.load(failed or (lambda problem: None)))
    admitted = threading.Lock()  # guards metrics.queue_depth's check-and-add

    def retry_after() -> str:
        """Seconds until a place is likely free: the mean /predict time, at least 1."""
        count = metrics.latency.count
        return str(max(1, math.ceil(metrics.latency.sum / count))) if count else "1"

    async def gate(scope, receive, send) -> None:
        """Before the app: the token, then admission to /predict; after: metrics and the
        access line. Plain ASGI (not a BaseHTTPMiddleware), so a handler still sees its
        client leave (``request.is_disconnected``)."""
        if scope["type"] != "http":
            return await routes(scope, receive, send)
        started, path, method = time.perf_counter(), scope["path"], scope["method"]
        status = [500]

        async def record(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if token is not None and path not in OPEN_PATHS and not token_matches(headers.get("authorization"), token):
            response = JSONResponse(
                {"detail": "missing or wrong token: send the header 'Authorization: Bearer <token>'"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, record)
        elif path == "/predict" and method == "POST":
            with admitted:
                queued = metrics.queue_depth < max_queue
                metrics.queue_depth += queued
            if queued:
                try:
                    await routes(scope, receive, record)
                finally:
                    with admitted:
                        metrics.queue_depth -= 1
            else:
                metrics.error("queue full")
                response = JSONResponse(
                    {"detail": f"the server is busy ({max_queue} requests in line): retry later"},
                    status_code=503,
                    headers={"Retry-After": retry_after()},
                )
                await response(scope, receive, record)
        else:
            await routes(scope, receive, record)
        seconds = time.perf_counter() - started
        metrics.answered(path, status[0], seconds)
        client = scope["client"][0] if scope.get("client") else "-"
        access_log.info(f"{client} {method} {path} {status[0]} {seconds:.3f}s")

    @app.get("/health/live")
    def live() -> dict:
        return {"status": "alive"}

    def loaded() -> Predictor:
        if model.predictor is None:
            raise HTTPException(503, model.problem, headers={"Retry-After": "5"})
        return model.predictor

    @app.get("/health/ready")
    def ready():
        if model.predictor is None:
            return JSONResponse({"ready": False, "reason": model.problem}, status_code=503)
        if metrics.queue_depth >= max_queue:
            return JSONResponse({"ready": False, "reason": "the line is full"}, status_code=503)
        return {"ready": True}

    @app.get("/health")
    def health() -> dict:
        predictor = loaded()
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
            "max_queue": max_queue,
        }

    @app.get("/metrics")
    def prometheus():
        return PlainTextResponse(metrics.text(), media_type="text/plain; version=0.0.4")

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
        deadline = time.monotonic() + timeout
        predictor = loaded()
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
                    # a client that left while its request waited in line: its place is freed
                    # now, before the model's work, and its file with the folder
                    if anyio.from_thread.run(request.is_disconnected):
                        metrics.error("client gone")
                        raise HTTPException(499, "the client closed the connection")
                    result = predictor.predict(path, stride=stride, crop=crop, all_faces=all_faces, deadline=deadline)
            except TooSlowError:
                metrics.error("timeout")
                raise HTTPException(504, f"{name}: took longer than the limit of {timeout:g} s") from None
            except NoFaceError as e:
                metrics.error("no face")
                raise HTTPException(422, str(e).replace(str(path), name)) from None
            except VideoReadError as e:
                metrics.error("unreadable")
                raise HTTPException(415, str(e).replace(str(path), name)) from None
            except MaedferError as e:  # e.g. non-finite model outputs: the server's fault
                metrics.error("model")
                raise HTTPException(500, str(e).replace(str(path), name)) from None
        payload = result.to_dict()
        payload["source"] = name
        return payload

    routes = app
    return gate


def serve(
    predictor: Predictor | Callable[[], Predictor],
    host: str = "127.0.0.1",
    port: int = 8000,
    max_bytes: int = 100 << 20,
    token: str | None = None,
    max_queue: int = 8,
    grace: float = 30.0,
    max_batch: int = 16,
    max_delay: float = 0.01,
    timeout: float = 300.0,
) -> None:
    """Run the server until SIGTERM or Ctrl-C; a predictor that fails to load stops it with
    that one-line error (a MaedferError)."""
    import uvicorn

    check_limits(max_queue, max_batch, max_delay, timeout, grace)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    problems: list[str] = []

    def failed(problem: str) -> None:
        problems.append(problem)
        server.should_exit = True

    app = create_app(predictor, max_bytes, token, max_queue, failed, max_batch, max_delay, timeout)
    # uvicorn's own access log is off: ours has one line per request, with the time it took
    config = uvicorn.Config(
        app, host=host, port=port, log_level="info", access_log=False, timeout_graceful_shutdown=grace
    )
    server = uvicorn.Server(config)
    # uvicorn drains the requests in flight on SIGTERM, then raises the signal again; meeting
    # this handler, that ends the process with 0, as a service manager expects of a clean stop
    signal.signal(signal.SIGTERM, _stopped)
    server.run()
    if problems:
        raise MaedferError(problems[0])


def _stopped(signum, frame) -> None:
    raise SystemExit(0)
