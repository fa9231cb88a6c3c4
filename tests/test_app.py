"""maedfer app: through gradio_client, and once in a real headless Chromium."""
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

import maedfer
from maedfer.data.writers import write_video

from test_hub import tiny_classifier
from test_inference import astronaut, head, pan

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    from maedfer.inference.app import launch

    root = tmp_path_factory.mktemp("app")
    video = root / "face.mp4"
    write_video(video, pan(head(astronaut(), (80, 10, 360, 290)), frames=50, dx=100))
    predictor = maedfer.load(tiny_classifier(root / "tiny.pth"), precision="fp32")
    port = free_port()
    app = launch(predictor, port=port, block=False)
    yield f"http://127.0.0.1:{port}/", video, predictor
    app.close()


def test_the_page_gives_the_predictors_answer_through_gradio_client(running, tmp_path):
    from gradio_client import Client, handle_file

    url, video, predictor = running
    label, timeline, annotated, summary = Client(url, verbose=False).predict(handle_file(str(video)),
                                                                            api_name="/predict")
    direct = predictor.predict(video)
    assert label["label"] == direct.label
    top = {c["label"]: c["confidence"] for c in label["confidences"]}
    assert all(top[c] == pytest.approx(direct.probabilities[c], abs=1e-4) for c in top) and len(top) == 3
    assert Path(timeline).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and Path(annotated).stat().st_size > 1000
    assert summary["coverage"] == "100 % of the video has a tracked face" and summary["windows"] == len(direct.faces[0].windows) == 3
    # a file that is not a video: an error on the page, not a crash of the server
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(Exception, match="notes.mp4"):
        Client(url, verbose=False).predict(handle_file(str(tmp_path / "notes.mp4")), api_name="/predict")


def screenshot(url: str, video: Path, out: Path) -> Path:
    """Upload ``video`` in Chromium, press Recognise, wait for the result, save a PNG."""
    from playwright.sync_api import sync_playwright

    flags = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=flags, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        page.goto(url)
        page.locator("input[type=file]").first.set_input_files(str(video))
        page.get_by_role("button", name="Recognise").click()
        page.locator("img[src*='timeline']").wait_for(timeout=60000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(out), full_page=True)
        text = page.inner_text("body")
        browser.close()
    return out, text


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian: apt install chromium)")
def test_a_person_in_a_browser_uploads_a_video_and_sees_the_result(running, tmp_path):
    from PIL import Image

    url, video, predictor = running
    path, text = screenshot(url, video, tmp_path / "app.png")
    assert "Emotion in your video" in text and "100 % of the video has a tracked face" in text
    assert predictor.predict(video).label in text
    image = np.asarray(Image.open(path).convert("L"))
    assert image.shape[1] == 1280 and image.std() > 10  # a page, not a blank
