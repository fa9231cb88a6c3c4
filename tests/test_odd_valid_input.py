"""Valid input that used to be read wrongly or refused, property-based checks that no
input gives anything but a result or a maedfer error, and the device-correctness of the
training step (a GPU path that has not always had a GPU to run on)."""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import maedfer
from maedfer.checkpoint import CheckpointError, save_checkpoint
from maedfer.cli import main
from maedfer.cli.overrides import parse_overrides
from maedfer.config import DEFAULTS, ConfigError, plain_config, resolve_config
from maedfer.data.annotations import AnnotationError, read_annotations
from maedfer.data.readers import open_clip
from maedfer.data.transforms import Mixup
from maedfer.data.writers import write_frames, write_video
from maedfer.engine.finetune import classification_loss
from maedfer.inference.loading import ClassifierSpec
from maedfer.registry import ModelConfigError, check_settings

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _numbered_frames(n: int, h: int = 32, w: int = 48) -> np.ndarray:
    """Frame k is filled with grey level 10 * k (frames identify themselves)."""
    return np.stack([np.full((h, w, 3), 10 * k, np.uint8) for k in range(n)])


def _level(frame) -> int:
    return int(round(float(np.asarray(frame, dtype=np.float64).mean()) / 10))


# ---------------------------------------------------------------- videos and images


def test_variable_frame_rate_video_numbers_every_frame_once(tmp_path):
    """A phone-style VFR file (irregular time stamps) reads as frames 0..n-1, each once."""
    import av

    path = tmp_path / "vfr.mov"
    times_ms = [0, 33, 50, 100, 117, 200, 210, 260, 300, 390, 400, 433]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for k, t in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(_numbered_frames(len(times_ms))[k], format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with open_clip(path) as reader:
        assert len(reader) == len(times_ms)
        seen = list(reader.iter_frames(1))
        assert [i for i, _ in seen] == list(range(len(times_ms)))
        assert [_level(f) for _, f in seen] == list(range(len(times_ms)))
        assert [_level(f) for f in reader.read([9, 3, 11, 0])] == [9, 3, 11, 0]


def test_rotation_tag_is_applied(tmp_path):
    """Portrait phone videos are stored sideways with a display rotation."""
    import av

    image = np.zeros((32, 64, 3), np.uint8)
    image[:, :10] = 255  # a white band on the left
    path = tmp_path / "portrait.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.set_display_rotation(90)  # counter-clockwise, as a phone held upright writes it
        for _ in range(3):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with open_clip(path) as reader:
        frames = reader.read([0, 2]).numpy()
        assert frames.shape == (2, 64, 32, 3)  # upright: taller than wide
        # turned a quarter counter-clockwise, the left band is now at the bottom
        assert frames[0, 56:].mean() > 200 and frames[0, :48].mean() < 40
        assert next(reader.iter_frames(1))[1].shape == (64, 32, 3)


def test_sixteen_bit_grey_png_keeps_its_levels(tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    for k, level in enumerate((0, 16384, 32768, 65535), 1):
        Image.fromarray(np.full((8, 8), level, np.uint16)).save(folder / f"{k:05d}.png")
    frames = open_clip(folder).read([0, 1, 2, 3]).numpy()
    assert frames[:, 0, 0].tolist() == [[0] * 3, [64] * 3, [128] * 3, [255] * 3]


def test_frame_folder_ignores_folders_named_like_frames(tmp_path):
    write_frames(tmp_path / "clip", _numbered_frames(3))
    (tmp_path / "clip" / "00009.jpg").mkdir()  # a folder, not a frame
    with open_clip(tmp_path / "clip") as reader:
        assert len(reader) == 3
        assert [_level(f) for f in reader.read([0, 2])] == [0, 2]


def test_annotation_file_with_bom_and_latin1_names(tmp_path):
    """A UTF-8 byte-order mark is dropped; a file name in Latin-1 bytes finds its clip."""
    name = os.fsdecode(b"caf\xe9")
    write_frames(tmp_path / name, _numbered_frames(2))
    (tmp_path / "a.csv").write_bytes(b"\xef\xbb\xbfcaf\xe9 3\n")
    items = read_annotations(tmp_path / "a.csv")
    assert [i.label for i in items] == [3]
    assert len(open_clip(items[0].path)) == 2


# ---------------------------------------------------------------- prediction on odd videos


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    root = tmp_path_factory.mktemp("classifier")
    config = resolve_config("finetune", "synth-tiny", overrides={"output_dir": str(root)})
    return save_checkpoint(maedfer.create_model("lgi_former_tiny"), root / "cls.pth", config=plain_config(config))


def _face_video(path: Path, frames: int) -> Path:
    import skimage.data

    face = np.ascontiguousarray(skimage.data.astronaut()[10:290, 80:360])
    canvas = np.full((frames, 320, 320, 3), 40, np.uint8)
    canvas[:, 20:300, 20:300] = face
    return write_video(path, canvas)


@pytest.mark.parametrize("frames", [1, 3])
def test_a_face_in_every_frame_of_a_very_short_video_is_found(classifier, tmp_path, frames):
    result = maedfer.load(classifier).predict(_face_video(tmp_path / "short.mp4", frames))
    assert result.num_frames == frames and len(result.faces) == 1
    assert result.faces[0].detections == len(range(0, frames, 2))  # the tiny model samples every 2nd frame


def test_predict_keeps_going_and_names_outputs_apart(classifier, tmp_path, capsys):
    """Same stems get their own outputs; one failing video does not stop the others."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _face_video(tmp_path / "a" / "clip.mp4", 8)
    second = _face_video(tmp_path / "b" / "clip.mp4", 8)
    third = _face_video(tmp_path / "clip-2.mp4", 8)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(first.read_bytes()[:300])
    out = tmp_path / "out"
    code = main(
        [
            "predict",
            str(first),
            str(broken),
            str(second),
            str(third),
            "--checkpoint",
            str(classifier),
            "--out",
            str(out),
            "--annotate",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("maedfer: error:") == 1 and "broken.mp4" in err
    # a/clip -> clip, b/clip -> clip-2, so the input named clip-2 gets clip-2-2
    assert sorted(p.name for p in out.glob("*.json")) == ["clip-2-2.json", "clip-2.json", "clip.json"]
    assert [json.loads((out / n).read_text())["source"] for n in ("clip.json", "clip-2.json", "clip-2-2.json")] == [
        str(first),
        str(second),
        str(third),
    ]
    assert len(list(out.glob("*_annotated.mp4"))) == 3


# ---------------------------------------------------------------- properties


@FAST
@given(st.binary(max_size=200))
def test_any_annotation_bytes_give_items_or_an_annotation_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("ann") / "x.csv"
    path.write_bytes(data)
    try:
        items = read_annotations(path, num_classes=7)
    except AnnotationError as e:
        assert "\n" not in str(e) and "x.csv" in str(e)
    else:
        assert items and all(0 <= i.label < 7 for i in items)


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.lists(st.floats(-2, 2), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=2),
)


@FAST
@given(st.sampled_from(sorted(DEFAULTS["finetune"])), _VALUES)
def test_any_config_value_resolves_or_is_a_config_error(key, value):
    try:
        config = resolve_config("finetune", "synth-tiny", overrides={key: value})
    except ConfigError as e:
        assert "\n" not in str(e) and key in str(e) or "model" in str(e)
    else:
        assert config[key] is not None or value is None


@FAST
@given(st.lists(st.text(max_size=20), max_size=3))
def test_any_set_option_parses_or_is_a_maedfer_error(pairs):
    try:
        overrides = parse_overrides(pairs)
    except ValueError as e:
        assert str(e).startswith("--set expects KEY=VALUE")
        return
    try:
        check_settings("lgi_former_tiny", overrides)
    except ModelConfigError as e:
        assert str(e).startswith("model lgi_former_tiny: ")


@FAST
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-3, 30) | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=14), inner, max_size=8),
        max_leaves=20,
    )
)
def test_any_export_metadata_is_a_spec_or_a_checkpoint_error(meta):
    try:
        spec = ClassifierSpec.from_json(json.dumps(meta), "m.safetensors")
    except CheckpointError as e:
        assert str(e).startswith("m.safetensors: ") and "\n" not in str(e)
    else:
        assert spec.num_frames >= 1 and spec.sampling_rate >= 1 and spec.classes


# ---------------------------------------------------------------- devices


def test_fine_tuning_step_with_mixup_keeps_every_tensor_on_the_model_device():
    """On the meta device nothing is computed, but mixing devices fails: this is the step
    that crashed the GPU path (Mixup's soft targets were made on the CPU)."""
    meta = torch.device("meta")
    model = maedfer.create_model("lgi_former_tiny").to(meta)
    x = torch.randn(4, 3, 16, 80, 80, device=meta)
    y = torch.tensor([0, 1, 2, 3]).to(meta)
    loss, logs = classification_loss(model, x, y, Mixup(7), smoothing=0.1)
    assert loss.device == meta and loss.shape == () and logs["loss"].device == meta
    soft = Mixup(7, cutmix_alpha=0.0)(x, y)[1]
    assert soft.device == meta and soft.dtype == torch.float32


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fine_tuning_step_and_evaluation_on_cuda(tmp_path):
    from maedfer.data import synth
    from maedfer.engine.distributed import Dist
    from maedfer.engine.evaluate import eval_dataset, evaluate

    cuda = torch.device("cuda")
    model = maedfer.create_model("lgi_former_tiny").to(cuda)
    x, y = torch.randn(4, 3, 16, 80, 80, device=cuda), torch.tensor([0, 1, 2, 3], device=cuda)
    for precision, dtype in (("fp32", None), ("bf16", torch.bfloat16), ("fp16", torch.float16)):
        with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
            loss, _ = classification_loss(model, x, y, Mixup(7), smoothing=0.1)
        loss.backward()
        assert loss.device.type == "cuda" and torch.isfinite(loss), precision
    synth.generate(tmp_path, synth.SynthConfig(clips_per_class=2, pool_size=0, frames=16, size=48, identities=2))
    config = resolve_config(
        "finetune", "synth-tiny", overrides={"workers": 0, "test_clips": 2, "test_crops": 1, "precision": "bf16"}
    )
    metrics = evaluate(model.eval(), eval_dataset(config, str(tmp_path / "test.csv")), config, Dist(0, 1, 0, cuda))
    assert np.isfinite(metrics["probabilities"]).all() and 0 <= metrics["uar"] <= 100
