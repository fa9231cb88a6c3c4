"""predict --live: a file played at its own rate, as a camera would deliver it."""
import threading
import time

import pytest

import maedfer
from maedfer.cli import main
from maedfer.data.readers import open_clip
from maedfer.data.writers import write_video
from maedfer.errors import MaedferError
from maedfer.inference.live import run_live

from test_hub import tiny_classifier
from test_inference import astronaut, head, pan


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
    assert 2.9 <= stats.seconds < 4.5  # played at 25 fps, not as fast as it decodes
    # the first label once 16 crops are in (frame 30, 1.2 s), then one every 4 crops
    assert [lb.frame for lb in labels] == list(range(30, 75, 8))
    assert labels[0].time == pytest.approx(1.2) and all(lb.label in predictor.classes for lb in labels)
    assert max(lb.latency for lb in labels) < 0.5
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
    assert max(latencies) < 3 * 0.4 + 0.3 and max(latencies[len(latencies) // 2:]) < 3 * 0.4 + 0.3
    assert threading.active_count() == threads  # the reader thread ended


def test_live_cli_prints_labels_records_the_stream_and_refuses_bad_sources(stream, tmp_path, capsys):
    video, checkpoint = stream
    assert main(["predict", "--live", str(video), "--checkpoint", str(checkpoint), "--stride", "4",
                 "--annotate", "--out", str(tmp_path), "--seconds", "2.5"]) == 0
    out = capsys.readouterr().out
    assert out.count("latency") >= 2 and "sustainable" in out and "live_annotated.mp4" in out
    with open_clip(tmp_path / "live_annotated.mp4") as recording:
        assert 20 <= len(recording) <= 38 and recording.fps == pytest.approx(12.5)
    for argv, message in [(["--live", str(tmp_path / "none.mp4")], "none.mp4: no such video file"),
                          (["--live", str(video), str(video)], "give video files, or --live SOURCE, not both"),
                          ([str(video), "--show"], "--show and --seconds are for --live"),
                          (["--live", "rtsp://127.0.0.1:9/none"], "cannot open it as a live source")]:
        assert main(["predict", *argv, "--checkpoint", str(checkpoint), "--out", str(tmp_path / "x")]) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(MaedferError, match="live: stride"):
        run_live(maedfer.load(checkpoint), str(video), stride=0)
