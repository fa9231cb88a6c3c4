"""predict --live: a file played at its own rate, as a camera would deliver it."""

import shutil
import threading
import time

import pytest
from test_hub import tiny_classifier
from test_inference import astronaut, head, pan

import maedfer
from maedfer.cli import main
from maedfer.data.readers import open_clip
from maedfer.data.writers import write_video
from maedfer.errors import MaedferError
from maedfer.inference.live import run_live


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    root = tmp_path_factory.mktemp("live")
    write_video(root / "face.mp4", pan(head(astronaut(), (80, 10, 360, 290)), frames=75, dx=100))  # 3 s
    return root / "face.mp4", tiny_classifier(root / "tiny.pth")


def test_labels_keep_coming_at_real_time_pace_with_bounded_latency(stream):
    video, checkpoint = stream
    predictor = maedfer.load(checkpoint, precision="fp32")
    labels = []
    stats = run_live(predictor, str(video), stride=4, on_label=labels.append)
    assert stats.received == 75 and stats.sampled == 38 and stats.dropped == 0 and stats.analysed == 38
    assert 2.9 <= stats.seconds < 6  # played at 25 fps, not as fast as it decodes
    # the first label once 16 crops are in (frame 30, 1.2 s), then one every 4 crops
    assert [lb.frame for lb in labels] == list(range(30, 75, 8))
    assert labels[0].time == pytest.approx(1.2) and all(lb.label in predictor.classes for lb in labels)
    assert max(lb.latency for lb in labels) < 1.0  # ~15 ms alone; room for a busy machine
    assert stats.max_queue <= 2 and stats.sustainable_fps > 25


def test_a_slow_model_drops_frames_instead_of_falling_behind(stream):
    video, checkpoint = stream
    predictor = maedfer.load(checkpoint, precision="fp32")
    model = predictor.model

    def slow(x):  # a model that needs 0.4 s a window: far slower than the stream
        time.sleep(0.4)
        return model(x)

    predictor.model = slow
    labels = []
    threads = threading.active_count()
    stats = run_live(predictor, str(video), stride=1, on_label=labels.append, queue_size=2)
    assert stats.dropped > 5 and stats.analysed + stats.dropped == stats.sampled == 38
    assert stats.max_queue <= 2 and len(labels) >= 3
    # latency is bounded by the model calls for the frames queued ahead (2) and its own;
    # it does not grow over the run
    latencies = [lb.latency for lb in labels]
    assert max(latencies) < 3 * 0.4 + 0.3 and max(latencies[len(latencies) // 2 :]) < 3 * 0.4 + 0.3
    assert threading.active_count() == threads  # the reader thread ended


def test_live_cli_prints_labels_records_the_stream_and_refuses_bad_sources(stream, tmp_path, capsys):
    video, checkpoint = stream
    assert (
        main(
            [
                "predict",
                "--live",
                str(video),
                "--checkpoint",
                str(checkpoint),
                "--stride",
                "4",
                "--annotate",
                "--out",
                str(tmp_path),
                "--seconds",
                "2.5",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.count("latency") >= 2 and "sustainable" in out and "live_annotated.mp4" in out
    with open_clip(tmp_path / "live_annotated.mp4") as recording:
        assert 20 <= len(recording) <= 38 and recording.fps == pytest.approx(12.5)
    for argv, message in [
        (["--live", str(tmp_path / "none.mp4")], "none.mp4: no such video file"),
        (["--live", str(video), str(video)], "give video files, or --live SOURCE, not both"),
        ([str(video), "--show"], "--show and --seconds are for --live"),
        (["--live", "rtsp://127.0.0.1:9/none"], "cannot open it as a live source"),
    ]:
        assert main(["predict", *argv, "--checkpoint", str(checkpoint), "--out", str(tmp_path / "x")]) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(MaedferError, match="live: stride"):
        run_live(maedfer.load(checkpoint), str(video), stride=0)


def _has_tk() -> bool:
    try:
        import tkinter  # noqa: F401
    except ImportError:
        return False
    return True


def test_show_without_a_screen_says_so(stream):
    import os
    import subprocess
    import sys

    video, checkpoint = stream
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    out = subprocess.run(
        [sys.executable, "-m", "maedfer", "predict", "--live", str(video), "--checkpoint", str(checkpoint), "--show"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and out.stderr.startswith("maedfer: error: --show needs a screen (")
    assert out.stderr.rstrip().endswith("use --annotate to record the stream instead")


@pytest.mark.skipif(shutil.which("Xvfb") is None or not _has_tk(), reason="needs Xvfb (Debian: xvfb) and Tk")
def test_show_opens_a_window_with_the_stream_on_a_virtual_screen(stream, tmp_path):
    import os
    import subprocess
    import sys

    import numpy as np
    from PIL import ImageGrab

    video, checkpoint = stream
    display = f":{90 + os.getpid() % 100}"
    screen = subprocess.Popen(["Xvfb", display, "-screen", "0", "1024x768x24"], stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        env = {**os.environ, "DISPLAY": display}
        env.pop("MPLBACKEND", None)
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "maedfer",
                "predict",
                "--live",
                str(video),
                "--checkpoint",
                str(checkpoint),
                "--stride",
                "4",
                "--show",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines = []
        for line in run.stdout:  # two labels printed: the window has been showing frames for a while
            lines.append(line)
            if sum("latency" in x for x in lines) == 2:
                break
        shot = np.asarray(ImageGrab.grab(xdisplay=display).convert("RGB")).astype(int)
        out, err = run.communicate(timeout=60)
        out = "".join(lines) + out
    finally:
        screen.terminate()
    assert run.returncode == 0, err
    assert out.count("latency") >= 4
    # the window shows the stream: the astronaut's orange suit is on the screen
    orange = (shot[..., 0] > 180) & (shot[..., 1] > 60) & (shot[..., 1] < 140) & (shot[..., 2] < 90)
    assert orange.sum() > 500
