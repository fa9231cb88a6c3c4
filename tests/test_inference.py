"""Predicting on people's own videos: real faces (skimage's astronaut, matplotlib's Grace
Hopper; both ship in their wheels) made into videos with PyAV, a tiny model trained here."""

import argparse
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import cv2
import numpy as np
import pytest
import torch
from matplotlib import cbook
from PIL import Image

import maedfer
from maedfer.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from maedfer.cli import main
from maedfer.data import synth
from maedfer.data.readers import VideoReadError
from maedfer.data.writers import write_frames, write_video
from maedfer.faces import Box, HaarFaceDetector, NoFaceError, crop_face, smooth_track, track_faces
from maedfer.inference import load_classifier
from maedfer.inference.predictor import window_starts

ASTRONAUT_FACE = Box(177, 66, 272, 161)  # where the cascade finds it in the 512x512 photo


def astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()


def grace_hopper() -> np.ndarray:
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        return np.array(Image.open(f).convert("RGB"))


def head(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.ascontiguousarray(image[y0:y1, x0:x1])


def pan(
    image: np.ndarray,
    frames: int = 40,
    x0: int = 40,
    dx: int = 240,
    grow: int = 40,
    size=(360, 640),
    canvas: np.ndarray | None = None,
) -> np.ndarray:
    """The image moving right and growing over a 640x360 grey background."""
    h, w = size
    out = np.full((frames, h, w, 3), 40, np.uint8) if canvas is None else canvas.copy()
    for i in range(frames):
        side = int(260 + grow * i / frames)
        im = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
        x, y = int(x0 + dx * i / frames), (h - side) // 2
        out[i, y : y + side, x : x + side] = im
    return out


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    astro = pan(head(astronaut(), (80, 10, 360, 290)))
    write_video(root / "astronaut.mp4", astro)
    both = pan(
        head(grace_hopper(), (110, 60, 420, 370)),
        x0=360,
        dx=-20,
        grow=0,
        canvas=pan(head(astronaut(), (80, 10, 360, 290)), dx=20, grow=0),
    )
    write_video(root / "two_faces.mp4", both)
    write_video(root / "blank.mp4", np.full((24, 120, 160, 3), 90, np.uint8))
    (root / "corrupt.mp4").write_bytes((root / "astronaut.mp4").read_bytes()[:1500])
    Image.fromarray(grace_hopper()).save(root / "grace.jpg")
    write_frames(root / "astronaut_frames", astro, ext="png")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny classifier fine-tuned for one epoch on the synthetic set, and a tiny MAE-DFER
    pre-trained for one epoch; plus a copy of the classifier with a random head so that its
    probabilities are far from uniform (for parity checks)."""
    root = tmp_path_factory.mktemp("trained")
    data = root / "data"
    synth.generate(
        data, synth.SynthConfig(clips_per_class=2, pool_size=4, frames=16, pool_frames=20, size=48, identities=2)
    )
    common = ["--set", "batch_size=4", "--set", "workers=0", "--set", "epochs=1", "--set", "warmup_epochs=0.5"]
    assert (
        main(
            [
                "finetune",
                "--preset",
                "synth-tiny",
                "--set",
                f"train={data / 'train.csv'}",
                "--set",
                f"test={data / 'test.csv'}",
                "--set",
                f"output_dir={root / 'ft'}",
                "--set",
                "test_clips=1",
                "--set",
                "test_crops=1",
                *common,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "pretrain",
                "--preset",
                "synth-tiny-pretrain",
                "--set",
                f"data={data / 'pretrain.csv'}",
                "--set",
                f"output_dir={root / 'pt'}",
                "--set",
                "figure_every=0",
                *common,
            ]
        )
        == 0
    )
    checkpoint = read_checkpoint(root / "ft" / "checkpoint-last.pth")
    model = maedfer.create_model(checkpoint["model_name"], **checkpoint["model_config"])
    model.load_state_dict(checkpoint["model"])
    with torch.no_grad():
        model.head.weight.normal_(0, 2.0)
    save_checkpoint(model, root / "peaked.pth", config=checkpoint["config"])
    return argparse.Namespace(
        classifier=root / "ft" / "checkpoint-last.pth",
        pretrained=root / "pt" / "checkpoint-last.pth",
        peaked=root / "peaked.pth",
        data=data,
    )


# ---------------------------------------------------------------- faces


def test_haar_cascade_finds_the_real_faces():
    detect = HaarFaceDetector()
    boxes = detect(astronaut())
    assert len(boxes) == 1 and boxes[0].iou(ASTRONAUT_FACE) > 0.9
    grace = grace_hopper()
    boxes = detect(grace)
    assert len(boxes) == 1
    b = boxes[0]  # the face is in the upper middle of the portrait
    assert 0.25 < (b.x0 + b.x1) / 2 / grace.shape[1] < 0.75 and (b.y0 + b.y1) / 2 / grace.shape[0] < 0.6
    assert detect(np.full((240, 320, 3), 128, np.uint8)) == []


def test_tracks_link_detections_fill_gaps_and_drop_flickers():
    rng = np.random.default_rng(0)
    detections = []
    for i in range(30):
        boxes = []
        if i not in (10, 11, 12):  # the detector misses the face three times
            x = 100 + 4 * i + rng.normal(0, 3)
            boxes.append(Box(x, 50, x + 80, 130))
        if i in (5, 20):  # a false positive, never twice in the same place
            boxes.append(Box(400 + 10 * i, 300, 440 + 10 * i, 340))
        if i >= 15:  # a second, smaller face appears half-way
            boxes.append(Box(500, 60, 550, 110))
        detections.append(boxes)
    tracks = track_faces(detections)
    assert [len(t.detections) for t in tracks] == [27, 15]
    main_face = smooth_track(tracks[0], margin=0.0, window=5)
    assert sorted(main_face.boxes) == list(range(30))  # gaps filled
    gap = main_face.boxes[11]
    assert (gap.x0 + gap.x1) / 2 == pytest.approx(140 + 4 * 11, abs=4)  # interpolated along the motion
    centres = np.array([(main_face.boxes[i].x0 + main_face.boxes[i].x1) / 2 - 4 * i for i in range(30)])
    raw = np.array([(b.x0 + b.x1) / 2 - 4 * p for p, b in tracks[0].detections.items()])
    assert centres[2:-2].std() < raw.std()  # smoothing removes jitter
    assert all(abs((b.x1 - b.x0) - (b.y1 - b.y0)) < 1e-6 for b in main_face.boxes.values())  # square


def test_crop_is_square_resized_and_black_outside_the_frame():
    frame = np.full((100, 100, 3), 200, np.uint8)
    crop = crop_face(frame, Box(-50, 0, 50, 100), 32)
    assert crop.shape == (32, 32, 3)
    assert crop[:, :14].max() == 0 and crop[:, 18:].min() == 200


def test_window_starts_cover_the_whole_clip():
    assert window_starts(10, 16, 8) == [0]
    assert window_starts(16, 16, 8) == [0]
    assert window_starts(40, 16, 8) == [0, 8, 16, 24]
    assert window_starts(41, 16, 8) == [0, 8, 16, 24, 25]
    assert window_starts(20, 16, 1) == [0, 1, 2, 3, 4]


# ---------------------------------------------------------------- predict


def test_predict_follows_the_face_through_a_video(media, trained):
    predictor = maedfer.load(trained.peaked)
    assert predictor.precision in ("fp32", "bf16") and "ms per clip" in predictor.precision_reason
    result = predictor.predict(media / "astronaut.mp4", stride=4)
    assert result.num_frames == 40 and result.fps == 25 and len(result.faces) == 1
    face = result.faces[0]
    # a box on every 2nd frame (rate 2); the landmarks follow the moving head on every one of
    # them, the detector ran to start the track and every 8 frames for new faces
    assert sorted(face.boxes) == list(range(0, 40, 2)) and face.coverage == 1.0 and result.coverage == 1.0
    assert result.sampled == 20 and result.looked == 3 and face.detections == 20  # looks at 0, 8, 16
    assert sorted(face.face_scores) == list(range(0, 40, 2)) and min(face.face_scores.values()) > 0.9
    assert face.lost_frames == []
    saved = result.to_dict()["faces"][0]
    assert len(saved["face_scores"]) == 20 and saved["lost_frames"] == []
    assert face.segments == [(0.0, 1.6)] and result.warnings == []
    # the head moves right by 240 px over the clip; the box follows it
    xs = [(face.boxes[f].x0 + face.boxes[f].x1) / 2 for f in sorted(face.boxes)]
    assert xs[-1] - xs[0] == pytest.approx(240 * 38 / 40, abs=25) and np.all(np.diff(xs) > 0)
    assert [(w.start_frame, w.end_frame) for w in face.windows] == [(0, 30), (8, 38)]
    assert face.windows[1].start_time == pytest.approx(0.32) and face.windows[1].end_time == pytest.approx(1.56)
    probs = np.array([w.probabilities for w in face.windows])
    assert np.allclose(probs.sum(1), 1, atol=1e-4) and probs.max() > 0.3
    mean = probs.mean(0)
    assert result.label == result.classes[int(mean.argmax())]
    assert list(result.probabilities.values()) == pytest.approx(mean.tolist(), abs=1e-4)
    assert set(result.timings) == {"decode", "detect", "crop", "model", "precision", "precision_reason"}
    assert result.timings["detect"] > 0 and result.timings["precision"] == predictor.precision


def test_predict_on_frames_in_memory_equals_the_frame_folder(media, trained):
    predictor = maedfer.load(trained.peaked)
    frames = np.stack([np.array(Image.open(p)) for p in sorted((media / "astronaut_frames").glob("*.png"))])
    a = predictor.predict(frames, crop="full")
    b = predictor.predict(media / "astronaut_frames", crop="full")
    assert a.faces[0].boxes == {} and len(a.faces[0].windows) == 2
    assert [w.probabilities for w in a.faces[0].windows] == [w.probabilities for w in b.faces[0].windows]


def test_every_face_gets_its_own_track(media, trained):
    result = maedfer.load(trained.peaked).predict(media / "two_faces.mp4", all_faces=True)
    assert [f.id for f in result.faces] == [0, 1]
    centres = sorted((np.mean([(b.x0 + b.x1) / 2 for b in f.boxes.values()]) for f in result.faces))
    assert centres[0] < 320 < centres[1]  # one face on each side
    single = maedfer.load(trained.peaked).predict(media / "two_faces.mp4")
    assert len(single.faces) == 1


def test_a_single_image_is_one_window(media, trained):
    result = maedfer.load(trained.peaked).predict(media / "grace.jpg")
    assert len(result.faces[0].windows) == 1 and result.faces[0].detections == 16


def test_no_face_and_unreadable_inputs_are_clear_errors(media, trained):
    predictor = maedfer.load(trained.peaked)
    with pytest.raises(NoFaceError, match=r"blank.mp4: no face found \(0 of 12 sampled frames"):
        predictor.predict(media / "blank.mp4")
    with pytest.raises(VideoReadError, match="corrupt.mp4"):
        predictor.predict(media / "corrupt.mp4")
    with pytest.raises(VideoReadError, match="must be a non-empty uint8"):
        predictor.predict(np.zeros((4, 8, 8), np.float32))
    with pytest.raises(ValueError, match="crop must be one of face, full"):
        predictor.predict(media / "astronaut.mp4", crop="body")


def test_predict_command_writes_table_json_csv_plot_and_annotated_video(media, trained, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "predict",
            str(media / "astronaut.mp4"),
            str(media / "blank.mp4"),
            str(media / "corrupt.mp4"),
            "--checkpoint",
            str(trained.classifier),
            "--out",
            str(out),
            "--plot",
            "--annotate",
        ]
    )
    captured = capsys.readouterr()
    assert code == 2  # two of the three inputs failed, each with one line
    errors = [l for l in captured.err.splitlines() if l.startswith("maedfer: error:")]
    assert len(errors) == 2 and "blank.mp4: no face found" in errors[0] and "corrupt.mp4" in errors[1]
    assert "face 0:" in captured.out and "happy" in captured.out
    record = json.loads((out / "astronaut.json").read_text())
    assert record["classes"][0] == "happy" and len(record["faces"][0]["windows"]) == 2
    rows = (out / "astronaut.csv").read_text().splitlines()
    assert rows[0] == "face,start_frame,end_frame,start_s,end_s,label,happy,sad,neutral,angry,surprise,disgust,fear"
    assert len(rows) == 3
    assert (out / "astronaut_timeline.png").stat().st_size > 5000
    from maedfer.data.readers import VideoReader

    with VideoReader(out / "astronaut_annotated.mp4") as annotated:
        assert len(annotated) == 40 and annotated.read([0]).shape == (1, 360, 640, 3)
        frame = annotated.read([20])[0].numpy().astype(int)
    original = pan(head(astronaut(), (80, 10, 360, 290)))[20].astype(int)
    assert np.abs(frame - original).max() > 100  # the box and label are drawn


def test_official_checkpoints_take_their_labels_from_the_dataset(tmp_path, trained):
    model = maedfer.create_model("lgi_former_base", num_classes=7)
    official = {
        "model": model.state_dict(),
        "epoch": 99,
        "optimizer": {},
        "args": argparse.Namespace(
            model="vit_base_dim512_no_depth_patch16_160",
            nb_classes=7,
            data_set="DFEW",
            num_frames=16,
            input_size=160,
            sampling_rate=4,
        ),
    }
    torch.save(official, tmp_path / "dfew.pth")
    _, spec = load_classifier(tmp_path / "dfew.pth")
    assert spec.classes == ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")
    assert (spec.model_name, spec.num_frames, spec.sampling_rate, spec.input_size) == ("lgi_former_base", 16, 4, 160)
    torch.save({"model": model.state_dict()}, tmp_path / "bare.pth")
    with pytest.raises(CheckpointError, match=r"bare.pth: the checkpoint does not name its labels; pass .*--dataset"):
        load_classifier(tmp_path / "bare.pth")
    assert load_classifier(tmp_path / "bare.pth", "ferv39k")[1].sampling_rate == 1
    with pytest.raises(CheckpointError, match="the classifier has 7 classes but mafw has 11"):
        load_classifier(tmp_path / "bare.pth", "mafw")
    with pytest.raises(CheckpointError, match="pre-training .* checkpoint has no classifier"):
        load_classifier(trained.pretrained)


def test_bf16_gives_the_same_answer(media, trained):
    frames = pan(head(astronaut(), (80, 10, 360, 290)), frames=20)
    fp32 = maedfer.load(trained.peaked, precision="fp32").predict(frames)
    bf16 = maedfer.load(trained.peaked, precision="bf16").predict(frames)
    assert np.allclose(fp32.faces[0].windows[0].probabilities, bf16.faces[0].windows[0].probabilities, atol=0.03)


# ---------------------------------------------------------------- export


def test_safetensors_export_round_trip(media, trained, tmp_path):
    assert (
        main(["export", str(trained.peaked), "--format", "safetensors", "--out", str(tmp_path / "m.safetensors")]) == 0
    )
    a = maedfer.load(trained.peaked).predict(media / "astronaut.mp4")
    b = maedfer.load(tmp_path / "m.safetensors").predict(media / "astronaut.mp4")
    assert b.classes == a.classes and b.faces[0].windows == a.faces[0].windows
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="bad.safetensors: not a readable safetensors file"):
        maedfer.load(tmp_path / "bad.safetensors")


def test_onnx_export_matches_pytorch_in_onnxruntime(trained, tmp_path):
    import onnx
    import onnxruntime

    path = tmp_path / "m.onnx"
    assert main(["export", str(trained.peaked), "--format", "onnx", "--out", str(path)]) == 0
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(meta["maedfer.classes"])[:2] == ["happy", "sad"]
    model, _ = load_classifier(trained.peaked)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 3):  # a dynamic batch dimension
        x = torch.randn(batch, *model.input_shape)
        (got,) = session.run(["probabilities"], {"clip": x.numpy()})
        with torch.no_grad():
            want = model(x).softmax(-1).numpy()
        assert got.shape == (batch, 7) and want.max() > 0.3
        assert np.abs(got - want).max() < 1e-5


# ---------------------------------------------------------------- serve


def _post(url: str, name: str, data: bytes) -> tuple[int, dict]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_server_round_trip_on_loopback(media, trained):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "maedfer",
            "serve",
            "--checkpoint",
            str(trained.peaked),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--max-mb",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as r:
                    health = json.loads(r.read())
                break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.5)
        else:
            pytest.fail("the server did not start")
        assert health["classes"][0] == "happy" and health["model"] == "lgi_former_tiny"

        video = (media / "astronaut.mp4").read_bytes()
        assert len(video) < 0.2 * 2**20
        status, payload = _post(base + "/predict?stride=4", "me.mp4", video)
        want = maedfer.load(trained.peaked).predict(media / "astronaut.mp4", stride=4)
        assert status == 200 and payload["source"] == "me.mp4" and payload["label"] == want.label
        assert payload["probabilities"] == pytest.approx(want.probabilities, abs=1e-5)

        status, payload = _post(base + "/predict", "notes.txt", b"hello")
        assert status == 415 and "not a video or image" in payload["detail"]
        status, payload = _post(base + "/predict", "broken.mp4", b"\x00" * 1000)
        assert status == 415 and "broken.mp4: cannot open video" in payload["detail"]
        status, payload = _post(base + "/predict", "blank.mp4", (media / "blank.mp4").read_bytes())
        assert status == 422 and "blank.mp4: no face found" in payload["detail"]
        status, payload = _post(base + "/predict", "big.mp4", b"\x00" * (2**20))
        assert status == 413 and "larger than the limit" in payload["detail"]
    finally:
        server.terminate()
        server.wait(timeout=30)


# ---------------------------------------------------------------- pictures


def test_visualize_reconstruct_and_embed(media, trained, tmp_path, capsys):
    png = tmp_path / "rec.png"
    assert (
        main(["visualize", "reconstruct", str(trained.pretrained), str(media / "astronaut.mp4"), "--out", str(png)])
        == 0
    )
    assert Image.open(png).size[0] > 400
    other = tmp_path / "rec3.png"
    assert (
        main(
            [
                "visualize",
                "reconstruct",
                str(trained.pretrained),
                str(media / "astronaut_frames"),
                "--crop",
                "full",
                "--start",
                "0.5",
                "--seed",
                "3",
                "--out",
                str(other),
            ]
        )
        == 0
    )
    capsys.readouterr()
    a, b = (np.array(Image.open(p).convert("RGB")) for p in (png, other))
    assert a.shape == b.shape and (a != b).any()  # another start and mask
    assert (
        main(["visualize", "reconstruct", str(trained.pretrained), str(media / "astronaut.mp4"), "--out", str(png)])
        == 2
    )
    assert "rec.png: output exists already; pass --overwrite" in capsys.readouterr().err
    assert (
        main(
            [
                "visualize",
                "reconstruct",
                str(trained.pretrained),
                str(media / "astronaut.mp4"),
                "--start",
                "100",
                "--out",
                str(png),
                "--overwrite",
            ]
        )
        == 2
    )
    assert "--start 100.0 s is past the end" in capsys.readouterr().err
    assert (
        main(
            [
                "visualize",
                "reconstruct",
                str(trained.classifier),
                str(media / "astronaut.mp4"),
                "--out",
                str(png),
                "--overwrite",
            ]
        )
        == 2
    )
    assert "no decoder weights" in capsys.readouterr().err

    n = len((trained.data / "test.csv").read_text().splitlines())
    for method in ("pca", "tsne"):
        out = tmp_path / f"{method}.png"
        assert (
            main(
                [
                    "visualize",
                    "embed",
                    str(trained.classifier),
                    str(trained.data / "test.csv"),
                    "--method",
                    method,
                    "--workers",
                    "0",
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        rows = out.with_suffix(".csv").read_text().splitlines()
        assert rows[0] == "label,x,y" and len(rows) == 1 + n
        assert Image.open(out).size == (605, 550)
    # relative paths under --root, other labels for the same 7 classes, another batch size
    relative = tmp_path / "rel.csv"
    lines = (trained.data / "test.csv").read_text().splitlines()
    assert all(not line.startswith("/") for line in lines)  # synth writes paths relative to its folder
    relative.write_text("".join(f"{line}\n" for line in lines))
    out = tmp_path / "rel.png"  # its coordinates would replace the annotation file rel.csv
    assert main(["visualize", "embed", str(trained.classifier), str(relative), "--out", str(out)]) == 2
    assert "rel.csv: this output would replace an input" in capsys.readouterr().err
    out = tmp_path / "rel_embed.png"
    assert (
        main(
            [
                "visualize",
                "embed",
                str(trained.classifier),
                str(relative),
                "--root",
                str(trained.data),
                "--dataset",
                "dfew",
                "--batch-size",
                "3",
                "--method",
                "pca",
                "--workers",
                "0",
                "--out",
                str(out),
            ]
        )
        == 0
    )

    def table(path):
        rows = [line.split(",") for line in path.read_text().splitlines()[1:]]
        return [r[0] for r in rows], np.array([[float(v) for v in r[1:]] for r in rows])

    (labels, points), (want_labels, want_points) = table(out.with_suffix(".csv")), table(tmp_path / "pca.csv")
    assert labels == want_labels and np.abs(points - want_points).max() < 1e-3


def test_predict_command_options(media, trained, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(
            [
                "predict",
                str(media / "astronaut.mp4"),
                str(media / "astronaut_frames"),
                "--checkpoint",
                str(trained.peaked),
                "--out",
                str(out),
                "--stride",
                "2",
                "--crop",
                "full",
                "--batch-size",
                "2",
                "--precision",
                "fp32",
                "--device",
                "cpu",
                "--dataset",
                "dfew",
            ]
        )
        == 0
    )
    video, folder = (json.loads((out / f"{n}.json").read_text()) for n in ("astronaut", "astronaut_frames"))
    assert [(w["start_frame"], w["end_frame"]) for w in video["faces"][0]["windows"]] == [(0, 30), (4, 34), (8, 38)]
    assert video["faces"][0]["boxes"] == {} and len(folder["faces"][0]["windows"]) == 3
    assert "cpu fp32" in capsys.readouterr().out

    assert (
        main(
            [
                "predict",
                str(media / "two_faces.mp4"),
                "--checkpoint",
                str(trained.peaked),
                "--out",
                str(out),
                "--all-faces",
                "--margin",
                "0.0",
            ]
        )
        == 0
    )
    tight = json.loads((out / "two_faces.json").read_text())["faces"]
    assert len(tight) == 2
    wide = maedfer.load(trained.peaked, margin=0.5).predict(media / "two_faces.mp4").faces[0].boxes
    for frame, (x0, _, x1, _) in tight[0]["boxes"].items():
        assert (wide[int(frame)].x1 - wide[int(frame)].x0) / (x1 - x0) == pytest.approx(1.5, abs=0.01)
    assert main(["predict", str(media / "astronaut.mp4"), "--checkpoint", str(trained.peaked), "--stride", "0"]) == 2
    assert "--stride must be at least 1" in capsys.readouterr().err


def test_any_callable_can_be_the_face_detector(media, trained):
    calls = []

    def fixed(frame):
        calls.append(frame.shape)
        return [Box(300, 100, 400, 200, 0.9)]

    result = maedfer.load(trained.peaked, detector=fixed, margin=0.0).predict(media / "astronaut.mp4")
    # at full size; on every 4th of the 20 sampled frames and the last (the box never moves)
    assert calls == [(360, 640, 3)] * 6 and result.looked == 6 and result.faces[0].coverage == 1.0
    assert set(result.faces[0].boxes.values()) == {Box(300.0, 100.0, 400.0, 200.0)}


@pytest.mark.parametrize("align", ["box", "landmarks"])
def test_faces_kept_between_the_passes_crop_as_a_second_decoding_does(media, align, monkeypatch):
    """The landmark tracker's frames are kept, shrunk so that the face keeps twice the crop's
    resolution (here by half), so a video is decoded once; the crops are those of a second
    decoding but for resampling and the box's placement between pixels (a mean of 2-5 levels
    in 255 at 32 pixels)."""
    from maedfer.faces import FaceCrop, stash
    from maedfer.inference import clips

    crop = FaceCrop(align, 32, 0.43)
    passes = []  # one entry per decoding pass over the video
    timed = clips._timed
    monkeypatch.setattr(clips, "_timed", lambda *args: passes.append(1) or timed(*args))
    kept = clips.sample_faces(media / "astronaut.mp4", 1, crop)
    assert len(passes) == 1
    monkeypatch.setattr(stash, "STASH_BYTES", 0)  # over budget at once: the crops decode again
    again = clips.sample_faces(media / "astronaut.mp4", 1, crop)
    assert len(passes) == 3
    a, b = kept.crops[0].numpy().astype(float), again.crops[0].numpy().astype(float)
    assert a.shape == b.shape == (40, 32, 32, 3)
    assert 0.5 < np.abs(a - b).mean() < 6  # shrunk copies, not the frames themselves
