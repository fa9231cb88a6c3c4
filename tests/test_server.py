"""maedfer serve facing a network: tokens, the refusal to start unprotected off loopback,
bounded admission (503 + Retry-After), health answers, Prometheus metrics, the access log,
and SIGTERM draining the requests in flight."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from test_hub import tiny_classifier

import maedfer
from maedfer.cli import main
from maedfer.data.writers import write_video
from maedfer.inference.access import is_loopback, read_token, required_token, token_matches
from maedfer.inference.server import create_app

TOKEN = "s3cret-token-for-tests-0123456789"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return tiny_classifier(tmp_path_factory.mktemp("serve") / "tiny.pth")


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory) -> bytes:
    """A 16-frame 80x80 video of a plain pattern, predicted with crop=full (no face needed)."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    rng = np.random.default_rng(0)
    write_video(path, rng.integers(0, 255, (16, 80, 80, 3), dtype=np.uint8))
    return path.read_bytes()


def client(checkpoint: Path, **options) -> TestClient:
    return TestClient(create_app(maedfer.load(checkpoint, precision="fp32"), **options))


def bearer(token: str = TOKEN) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_guard_everything_but_the_bare_health_answers(checkpoint, clip_bytes, caplog):
    c = client(checkpoint, token=TOKEN)
    files = {"file": ("me.mp4", clip_bytes)}
    for headers in ({}, bearer("wrong-token-0123456789"), {"Authorization": TOKEN}, {"Authorization": "Basic x"}):
        for method, path in (("get", "/health"), ("get", "/metrics"), ("post", "/predict")):
            r = getattr(c, method)(path, headers=headers, **({"files": files} if method == "post" else {}))
            assert r.status_code == 401 and r.json() == {
                "detail": "missing or wrong token: send the header 'Authorization: Bearer <token>'"
            }
            assert r.headers["www-authenticate"] == "Bearer"
    # liveness and readiness say nothing about the model
    assert c.get("/health/live").json() == {"status": "alive"}
    assert c.get("/health/ready").json() == {"ready": True}
    with caplog.at_level(logging.INFO, logger="maedfer.access"):
        r = c.post("/predict?crop=full&stride=4", files=files, headers=bearer())
    assert r.status_code == 200 and r.json()["source"] == "me.mp4"
    assert c.get("/health", headers=bearer()).json()["model"] == "lgi_former_tiny"
    # one access line per request, never the token
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "maedfer.access"]
    assert len(lines) == 1 and lines[0].startswith("testclient POST /predict 200 ")
    assert all(TOKEN not in rec.getMessage() for rec in caplog.records)


def test_token_rules():
    assert token_matches(f"Bearer {TOKEN}", TOKEN) and token_matches(f"bearer  {TOKEN}", TOKEN)
    assert not token_matches(f"Bearer {TOKEN}x", TOKEN) and not token_matches(None, TOKEN)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")


def test_no_token_off_loopback_is_refused_in_one_line(tmp_path, monkeypatch, checkpoint, capsys):
    monkeypatch.delenv("MAEDFER_TOKEN", raising=False)
    for command in ("serve", "app"):
        assert main([command, "--checkpoint", str(checkpoint), "--host", "0.0.0.0"]) != 0
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "--host 0.0.0.0 is reachable from the network" in err
        assert "--token-file FILE" in err and "MAEDFER_TOKEN" in err and "--no-auth" in err
    short = tmp_path / "token"
    short.write_text("abc\n")
    with pytest.raises(maedfer.MaedferError, match="the token has 3 characters; use at least 16"):
        read_token(str(short))
    short.write_text(TOKEN + "\n")
    assert required_token("0.0.0.0", str(short), no_auth=False) == TOKEN
    monkeypatch.setenv("MAEDFER_TOKEN", TOKEN)
    assert required_token("0.0.0.0", None, no_auth=False) == TOKEN
    assert required_token("0.0.0.0", None, no_auth=True) is None
    monkeypatch.delenv("MAEDFER_TOKEN")
    assert required_token("127.0.0.1", None, no_auth=False) is None  # loopback: no token needed


def test_a_full_line_gets_503_with_retry_after_at_once(checkpoint, clip_bytes, monkeypatch):
    predictor = maedfer.load(checkpoint, precision="fp32")
    release, entered = threading.Event(), threading.Semaphore(0)
    real = predictor.predict

    def held(*args, **kwargs):  # the model call waits until the test lets it go
        entered.release()
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(predictor, "predict", held)
    c = TestClient(create_app(predictor, max_queue=2))
    results = []

    def post():
        results.append(c.post("/predict?crop=full", files={"file": ("a.mp4", clip_bytes)}).status_code)

    workers = [threading.Thread(target=post) for _ in range(2)]
    for w in workers:
        w.start()
    assert entered.acquire(timeout=30)  # one is in the model, the other waits for it: the line is full
    deadline = time.monotonic() + 30
    while c.get("/health/ready").status_code != 503 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert c.get("/health/ready").json() == {"ready": False, "reason": "the line is full"}
    t0 = time.perf_counter()
    r = c.post("/predict?crop=full", files={"file": ("b.mp4", clip_bytes)})
    assert r.status_code == 503 and time.perf_counter() - t0 < 1.0
    assert r.headers["retry-after"] == "1" and "2 requests in line" in r.json()["detail"]
    release.set()
    for w in workers:
        w.join(60)
    assert results == [200, 200]
    assert c.get("/health/ready").json() == {"ready": True}
    text = c.get("/metrics").text
    assert 'maedfer_requests_total{path="/predict",status="200"} 2' in text
    assert 'maedfer_requests_total{path="/predict",status="503"} 1' in text
    assert 'maedfer_errors_total{kind="queue full"} 1' in text
    assert "maedfer_queue_depth 0" in text


def test_metrics_count_model_calls_and_errors(checkpoint, clip_bytes):
    c = client(checkpoint)
    assert c.post("/predict?crop=full&stride=4", files={"file": ("a.mp4", clip_bytes)}).status_code == 200
    assert c.post("/predict", files={"file": ("b.mp4", b"\x00" * 500)}).status_code == 415
    text = c.get("/metrics").text
    lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert lines["maedfer_request_seconds_count"] == "2" and float(lines["maedfer_request_seconds_sum"]) > 0
    assert lines["maedfer_batch_size_count"] == "1" and lines['maedfer_batch_size_bucket{le="1"}'] == "1"
    assert lines['maedfer_errors_total{kind="unreadable"}'] == "1"
    assert lines['maedfer_requests_total{path="/predict",status="415"}'] == "1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(checkpoint: Path, *options: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """``maedfer serve`` in a process of its own (token TOKEN), once it is ready."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "maedfer", "serve", "--checkpoint", str(checkpoint), "--port", str(port),
         "--precision", "fp32", *options],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, MAEDFER_TOKEN=TOKEN, **(env or {})),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            urllib.request.urlopen(base + "/health/ready", timeout=1).close()  # 503 (an OSError) while loading
            return server, base
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(server.stdout.read()) from None
            time.sleep(0.25)
    server.kill()
    raise RuntimeError("maedfer serve was not ready in 60 s")


def metrics_of(base: str) -> dict:
    text = urllib.request.urlopen(urllib.request.Request(base + "/metrics", headers=bearer()), timeout=5).read()
    return dict(line.rsplit(" ", 1) for line in text.decode().splitlines() if not line.startswith("#"))


def multipart(name: str, data: bytes, boundary: str = "maedferboundary") -> tuple[bytes, dict]:
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'.encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}", **bearer()}


def long_video(tmp_path: Path) -> Path:
    """600 frames: at stride 1 its request keeps the tiny model busy for seconds."""
    video = tmp_path / "long.mp4"
    write_video(video, np.random.default_rng(1).integers(0, 255, (600, 80, 80, 3), dtype=np.uint8))
    return video


def wait_for(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_sigterm_finishes_the_request_in_flight_and_exits_0(checkpoint, tmp_path):
    video = long_video(tmp_path)
    server, base = start_server(checkpoint, "--grace", "60")
    try:
        answer = {}

        def post():
            body, headers = multipart("long.mp4", video.read_bytes())
            request = urllib.request.Request(base + "/predict?crop=full&stride=1", data=body, headers=headers)
            with urllib.request.urlopen(request, timeout=120) as r:
                answer["status"], answer["body"] = r.status, json.loads(r.read())

        worker = threading.Thread(target=post)
        worker.start()
        wait_for(lambda: metrics_of(base)["maedfer_queue_depth"] == "1")  # the request is in the server
        server.send_signal(signal.SIGTERM)
        worker.join(120)
        assert server.wait(timeout=120) == 0
        assert answer["status"] == 200 and answer["body"]["source"] == "long.mp4"
        log = server.stdout.read()
        assert "POST /predict 200" in log and TOKEN not in log
    finally:
        if server.poll() is None:
            server.kill()


def test_a_client_that_leaves_frees_its_place_and_its_file(checkpoint, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    video = long_video(tmp_path)
    server, base = start_server(checkpoint, "--max-batch", "1", env={"TMPDIR": str(tmp)})
    host, port = base.removeprefix("http://").split(":")
    try:
        # the first request keeps the model busy
        first = threading.Thread(
            target=lambda: urllib.request.urlopen(
                urllib.request.Request(
                    base + "/predict?crop=full&stride=1", *multipart("long.mp4", video.read_bytes())
                ),
                timeout=120,
            ).read()
        )
        first.start()
        wait_for(lambda: metrics_of(base)["maedfer_queue_depth"] == "1")
        small = tmp_path / "small.mp4"
        write_video(small, np.zeros((16, 80, 80, 3), np.uint8))
        body, headers = multipart("small.mp4", small.read_bytes())
        head = f"POST /predict?crop=full HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()
        )
        # one client sends its whole upload and leaves while it waits in line
        with socket.create_connection((host, int(port))) as s:
            s.sendall(head.encode() + b"\r\n" + body)
            wait_for(lambda: metrics_of(base)["maedfer_queue_depth"] == "2")
            # its upload is read and saved beside the first's: it waits for the model (a fixed
            # pause alone was too short on a loaded machine)
            wait_for(lambda: len(list(tmp.iterdir())) >= 2)
            time.sleep(1)
        # another leaves halfway through its upload
        with socket.create_connection((host, int(port))) as s:
            s.sendall(head.encode() + b"\r\n" + body[: len(body) // 2])
            time.sleep(0.5)
        first.join(120)
        wait_for(lambda: metrics_of(base)["maedfer_queue_depth"] == "0")
        # the server counts the client that left once it notices, which a busy machine can delay
        wait_for(lambda: 'maedfer_errors_total{kind="client gone"}' in metrics_of(base), seconds=30)
        m = metrics_of(base)
        assert m['maedfer_errors_total{kind="client gone"}'] == "1"  # dropped before the model's work
        assert m['maedfer_requests_total{path="/predict",status="200"}'] == "1"  # only the first ran the model
        assert m['maedfer_requests_total{path="/predict",status="400"}'] == "1"  # the upload cut short
        assert list(tmp.iterdir()) == []  # no upload left behind
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_not_ready_while_the_model_loads_and_a_failed_load_is_one_line(checkpoint, clip_bytes, tmp_path):
    go = threading.Event()

    def slow_load():
        go.wait(30)
        return maedfer.load(checkpoint, precision="fp32")

    with TestClient(create_app(slow_load)) as c:
        assert c.get("/health/live").json() == {"status": "alive"}
        r = c.get("/health/ready")
        assert r.status_code == 503 and r.json() == {"ready": False, "reason": "the model is loading"}
        r = c.post("/predict?crop=full", files={"file": ("a.mp4", clip_bytes)})
        assert r.status_code == 503 and r.json()["detail"] == "the model is loading"
        go.set()
        deadline = time.monotonic() + 30
        while c.get("/health/ready").status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.get("/health/ready").json() == {"ready": True}
        assert c.post("/predict?crop=full", files={"file": ("a.mp4", clip_bytes)}).status_code == 200
    # a checkpoint that is not one: the server stops with its one-line error, exit 2 (as every CLI error)
    bad = tmp_path / "bad.pth"
    bad.write_text("not a checkpoint")
    run = subprocess.run(
        [sys.executable, "-m", "maedfer", "serve", "--checkpoint", str(bad), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    last = run.stderr.strip().splitlines()[-1]
    assert str(bad) in last and "Traceback" not in run.stderr


def test_concurrent_requests_share_forward_passes_and_get_their_own_answers(checkpoint, tmp_path):
    videos = []
    for i in range(3):
        path = tmp_path / f"v{i}.mp4"
        write_video(path, np.random.default_rng(10 + i).integers(0, 255, (40, 80, 80, 3), dtype=np.uint8))
        videos.append(path)
    alone = [maedfer.load(checkpoint, precision="fp32").predict(v, stride=4, crop="full") for v in videos]
    c = TestClient(create_app(maedfer.load(checkpoint, precision="fp32"), max_batch=16, max_delay=2.0))
    answers = {}

    def post(i):
        r = c.post("/predict?crop=full&stride=4", files={"file": (videos[i].name, videos[i].read_bytes())})
        answers[i] = r.json()

    workers = [threading.Thread(target=post, args=(i,)) for i in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    for i, want in enumerate(alone):
        got = answers[i]
        assert got["source"] == videos[i].name and got["label"] == want.label
        assert got["probabilities"] == pytest.approx(want.probabilities, abs=1e-5)
        windows = got["faces"][0]["windows"]
        assert len(windows) == len(want.faces[0].windows) > 1
        for w_got, w_want in zip(windows, want.faces[0].windows):
            assert w_got["probabilities"] == pytest.approx(w_want.probabilities, abs=1e-5)
    lines = dict(line.rsplit(" ", 1) for line in c.get("/metrics").text.splitlines() if not line.startswith("#"))
    total = sum(len(a.faces[0].windows) for a in alone)
    assert float(lines["maedfer_batch_size_sum"]) == total  # every clip went through the model once
    # fewer forward passes than requests: their clips shared them (each waited up to 2 s for company)
    assert int(lines["maedfer_batch_size_count"]) < 3


def test_a_request_past_its_time_limit_gets_504_and_stops(checkpoint, tmp_path):
    video = long_video(tmp_path)
    c = TestClient(create_app(maedfer.load(checkpoint, precision="fp32"), max_batch=1, timeout=0.5))
    t0 = time.perf_counter()
    r = c.post("/predict?crop=full&stride=1", files={"file": ("long.mp4", video.read_bytes())})
    assert r.status_code == 504 and r.json()["detail"] == "long.mp4: took longer than the limit of 0.5 s"
    assert time.perf_counter() - t0 < 5  # stopped at the next frame or batch, not at the end of the video
    lines = dict(line.rsplit(" ", 1) for line in c.get("/metrics").text.splitlines() if not line.startswith("#"))
    assert lines['maedfer_errors_total{kind="timeout"}'] == "1" and lines["maedfer_queue_depth"] == "0"
