"""maedfer app, started as a person starts it, used through gradio_client and once in a
real headless Chromium (both in a process of their own: see tests/app_client.py)."""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from app_client import CHROMIUM
from test_hub import tiny_classifier
from test_inference import astronaut, head, pan

import maedfer
from maedfer.data.writers import write_video

CLIENT = Path(__file__).parent / "app_client.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(checkpoint: Path, port: int) -> subprocess.Popen:
    """``maedfer app`` in its own process, once it answers."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "maedfer",
            "app",
            "--checkpoint",
            str(checkpoint),
            "--precision",
            "fp32",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"maedfer app exited: {server.stdout.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise RuntimeError("maedfer app did not start in 120 s")


def client(*args: str) -> dict:
    out = subprocess.run([sys.executable, str(CLIENT), *args], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    root = tmp_path_factory.mktemp("app")
    video = root / "face.mp4"
    write_video(video, pan(head(astronaut(), (80, 10, 360, 290)), frames=50, dx=100))
    checkpoint = tiny_classifier(root / "tiny.pth")
    port = free_port()
    server = start_app(checkpoint, port)
    yield f"http://127.0.0.1:{port}/", video, maedfer.load(checkpoint, precision="fp32")
    server.terminate()
    server.wait(timeout=30)


def test_the_page_gives_the_predictors_answer_through_gradio_client(running, tmp_path):
    url, video, predictor = running
    answer = client("predict", url, str(video))
    direct = predictor.predict(video)
    label = answer["label"]
    assert label["label"] == direct.label
    top = {c["label"]: c["confidence"] for c in label["confidences"]}
    assert all(top[c] == pytest.approx(direct.probabilities[c], abs=1e-4) for c in top) and len(top) == 3
    assert Path(answer["timeline"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Path(answer["annotated"]).stat().st_size > 1000
    summary = answer["summary"]
    assert summary["coverage"] == "100 % of the video has a tracked face"
    assert summary["windows"] == len(direct.faces[0].windows) == 3
    # a file that is not a video: an error on the page naming it, and the server still serves
    (tmp_path / "notes.mp4").write_text("not a video")
    assert "notes.mp4" in client("predict", url, str(tmp_path / "notes.mp4"))["error"]
    assert client("predict", url, str(video))["label"]["label"] == direct.label


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian: apt install chromium)")
def test_a_person_in_a_browser_uploads_a_video_and_sees_the_result(running, tmp_path):
    from PIL import Image

    url, video, predictor = running
    answer = client("screenshot", url, str(video), str(tmp_path / "app.png"))
    text = answer["text"]
    assert "Emotion in your video" in text and "100 % of the video has a tracked face" in text
    assert predictor.predict(video).label in text
    image = np.asarray(Image.open(tmp_path / "app.png").convert("L"))
    assert image.shape[1] == 1280 and image.std() > 10  # a page, not a blank
