"""One rule for bad input, every command: one line on stderr naming the file or option and
the problem, exit status 2, no traceback, and no existing file changed.

Each row of the table below is a class of bad input found by trying the commands as a
user would (wrong paths, damaged or foreign checkpoints, impossible option and config
values, special files, outputs that would replace something). The Python API raises the
same one-line messages as typed :class:`maedfer.errors.MaedferError` subclasses.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import maedfer
from maedfer.checkpoint import CheckpointError, save_checkpoint
from maedfer.cli import main
from maedfer.config import plain_config, resolve_config
from maedfer.data import synth
from maedfer.data.writers import write_video
from maedfer.errors import MaedferError
from maedfer.inference.export import export_safetensors
from maedfer.inference.loading import load_classifier


def _face_clip(frames: int = 12) -> np.ndarray:
    import skimage.data

    face = np.ascontiguousarray(skimage.data.astronaut()[10:290, 80:360])  # 280 x 280, one face
    out = np.full((frames, 320, 320, 3), 40, np.uint8)
    for i in range(frames):
        out[i, 20 + i : 300 + i, 20:300] = face
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny synthetic dataset, a classifier and a pre-training checkpoint (untrained tiny
    models saved the way the trainers save them), an exported .safetensors and a face video."""
    root = tmp_path_factory.mktemp("world")
    data = root / "data"
    synth.generate(
        data, synth.SynthConfig(clips_per_class=2, pool_size=2, frames=16, pool_frames=20, size=48, identities=2)
    )
    ft = resolve_config("finetune", "synth-tiny", overrides={"output_dir": str(root / "ft")})
    pt = resolve_config("pretrain", "synth-tiny-pretrain", overrides={"output_dir": str(root / "pt")})
    classifier = save_checkpoint(maedfer.create_model("lgi_former_tiny"), root / "cls.pth", config=plain_config(ft))
    pretrained = save_checkpoint(maedfer.create_model("mae_dfer_tiny"), root / "pre.pth", config=plain_config(pt))
    model, spec = load_classifier(classifier)
    exported = export_safetensors(model, spec, root / "cls.safetensors")
    video = write_video(root / "face.mp4", _face_clip())
    return SimpleNamespace(
        root=root, data=data, classifier=classifier, pretrained=pretrained, exported=exported, video=video
    )


# ---------------------------------------------------------------- ways to make bad files


def _checkpoint(w, tmp: Path, change) -> Path:
    """A copy of the classifier checkpoint with ``change(dict)`` applied."""
    checkpoint = torch.load(w.classifier, weights_only=False)
    change(checkpoint)
    torch.save(checkpoint, tmp / "changed.pth")
    return tmp / "changed.pth"


def _safetensors(w, tmp: Path, change) -> Path:
    """A copy of the exported file whose maedfer metadata (a dict) is ``change``d, or
    replaced by a string ``change``."""
    from safetensors.torch import load_file, save_file

    spec = json.loads(__import__("safetensors").safe_open(str(w.exported), "pt").metadata()["maedfer"])
    text = change if isinstance(change, str) else json.dumps(change(spec) or spec)
    save_file(load_file(str(w.exported)), str(tmp / "changed.safetensors"), metadata={"maedfer": text})
    return tmp / "changed.safetensors"


def _earlier_demo(t: Path, precision: str) -> Path:
    """A demo folder whose earlier runs trained in ``precision``."""
    (t / "demo" / "seed0" / "pretrain").mkdir(parents=True)
    (t / "demo" / "seed0" / "pretrain" / "config.yaml").write_text(f"task: pretrain\nprecision: {precision}\n")
    return t / "demo"


def _fifo(tmp: Path, name: str) -> Path:
    os.mkfifo(tmp / name)
    return tmp / name


def _annotation(tmp: Path, text: bytes | str, name: str = "train.csv") -> Path:
    path = tmp / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _earlier_run(w, tmp: Path) -> Path:
    run = tmp / "run"
    run.mkdir()
    (run / "config.yaml").write_text("task: finetune\n")
    (run / "checkpoint-last.pth").write_bytes(w.classifier.read_bytes())
    return run


def _set(key, value):
    return ["--set", f"{key}={value}"]


def _finetune(w, *extra):
    return [
        "finetune",
        "--preset",
        "synth-tiny",
        *_set("train", w.data / "train.csv"),
        *_set("test", w.data / "test.csv"),
        *_set("workers", 0),
        *_set("batch_size", 4),
        *extra,
    ]


def _predict(w, tmp, *extra, checkpoint=None):
    return [
        "predict",
        str(w.video),
        "--checkpoint",
        str(checkpoint or w.classifier),
        "--out",
        str(tmp / "pred"),
        *extra,
    ]


# ---------------------------------------------------------------- the table
# (id, argv(world, tmp), what the one line must say)

ROWS = [
    # output folders
    ("demo-out-is-a-file", lambda w, t: ["demo", "--quick", "--out", str(w.video)], "is a file, not a folder"),
    ("synth-out-under-a-file", lambda w, t: ["synth", "--out", str(w.video / "sub")], "face.mp4, which is a file"),
    (
        "predict-out-is-a-file",
        lambda w, t: ["predict", str(w.video), "--checkpoint", str(w.classifier), "--out", str(w.classifier)],
        "is a file, not a folder",
    ),
    (
        "finetune-output-dir-is-a-file",
        lambda w, t: _finetune(w, *_set("output_dir", w.video)),
        "is a file, not a folder",
    ),
    # checkpoint contents
    (
        "model-config-unknown-key",
        lambda w, t: _predict(w, t, checkpoint=_checkpoint(w, t, lambda c: c["model_config"].update(colour=1))),
        "changed.pth: model lgi_former_tiny: unknown setting 'colour'",
    ),
    (
        "model-config-wrong-type",
        lambda w, t: _predict(w, t, checkpoint=_checkpoint(w, t, lambda c: c["model_config"].update(depth="four"))),
        "setting depth must be a whole number, got 'four'",
    ),
    (
        "model-config-is-a-string",
        lambda w, t: _predict(w, t, checkpoint=_checkpoint(w, t, lambda c: c.update(model_config="tiny"))),
        "changed.pth: model_config must be a mapping",
    ),
    (
        "unknown-model-name",
        lambda w, t: _predict(w, t, checkpoint=_checkpoint(w, t, lambda c: c.update(model_name="resnet"))),
        "changed.pth: unknown model 'resnet'",
    ),
    (
        "run-config-is-a-string",
        lambda w, t: _predict(w, t, checkpoint=_checkpoint(w, t, lambda c: c.update(config="oops"))),
        "changed.pth: its 'config' entry is a str",
    ),
    (
        "sampling-rate-zero",
        lambda w, t: _predict(w, t, checkpoint=_checkpoint(w, t, lambda c: c["config"].update(sampling_rate=0))),
        "changed.pth: sampling_rate must be a whole number >= 1",
    ),
    (
        "sampling-rate-negative",
        lambda w, t: _predict(w, t, checkpoint=_checkpoint(w, t, lambda c: c["config"].update(sampling_rate=-2))),
        "sampling_rate must be a whole number >= 1, got -2",
    ),
    (
        "nan-weights",
        lambda w, t: _predict(
            w, t, checkpoint=_checkpoint(w, t, lambda c: c["model"]["head.weight"].fill_(float("nan")))
        ),
        "changed.pth: 1 weight tensors hold NaN",
    ),
    ("pretraining-file-to-predict", lambda w, t: _predict(w, t, checkpoint=w.pretrained), "has no classifier"),
    (
        "pretraining-file-to-evaluate",
        lambda w, t: ["evaluate", str(w.pretrained), "--test", str(w.data / "test.csv"), "--out", str(t / "eval")],
        "pre.pth: not a fine-tuned classifier",
    ),
    (
        "truncated-checkpoint",
        lambda w, t: _predict(w, t, checkpoint=_annotation(t, w.classifier.read_bytes()[:999], "cut.pth")),
        "cut.pth: not a readable PyTorch checkpoint",
    ),
    ("checkpoint-is-a-folder", lambda w, t: _predict(w, t, checkpoint=w.data), "is a folder, not a checkpoint file"),
    ("checkpoint-missing", lambda w, t: _predict(w, t, checkpoint=t / "nope.pth"), "nope.pth: no such checkpoint file"),
    ("checkpoint-is-a-fifo", lambda w, t: _predict(w, t, checkpoint=_fifo(t, "pipe.pth")), "is a FIFO (named pipe)"),
    (
        "resume-missing",
        lambda w, t: _finetune(w, *_set("output_dir", t / "r"), "--resume", str(t / "gone.pth")),
        "gone.pth: no such checkpoint to resume from",
    ),
    # exported safetensors
    (
        "safetensors-metadata-missing-keys",
        lambda w, t: _predict(w, t, checkpoint=_safetensors(w, t, lambda m: m.pop("classes") and None)),
        "changed.safetensors: maedfer metadata lacks classes",
    ),
    (
        "safetensors-metadata-extra-field",
        lambda w, t: _predict(w, t, checkpoint=_safetensors(w, t, lambda m: m.update(colour="red"))),
        "has unknown fields 'colour'",
    ),
    (
        "safetensors-metadata-bad-json",
        lambda w, t: _predict(w, t, checkpoint=_safetensors(w, t, "{nope")),
        "maedfer metadata is not valid JSON",
    ),
    (
        "safetensors-too-few-classes",
        lambda w, t: _predict(w, t, checkpoint=_safetensors(w, t, lambda m: m.update(classes=["a", "b", "c"]))),
        "the classifier has 7 classes but the metadata names 3",
    ),
    (
        "safetensors-bad-sampling",
        lambda w, t: _predict(w, t, checkpoint=_safetensors(w, t, lambda m: m.update(sampling_rate=0))),
        "sampling_rate must be a whole number >= 1, got 0",
    ),
    (
        "safetensors-empty-to-evaluate",
        lambda w, t: [
            "evaluate",
            str(_annotation(t, b"", "e.safetensors")),
            "--test",
            str(w.data / "test.csv"),
            "--out",
            str(t / "eval"),
        ],
        "e.safetensors: not a readable safetensors file",
    ),
    (
        "safetensors-corrupt-as-init",
        lambda w, t: _finetune(
            w, *_set("output_dir", t / "r"), *_set("init", _annotation(t, b"\x08" + b"x" * 64, "c.safetensors"))
        ),
        "c.safetensors: not a readable safetensors file",
    ),
    # option values
    ("batch-size-zero", lambda w, t: _predict(w, t, "--batch-size", "0"), "--batch-size must be a whole number >= 1"),
    ("batch-size-negative", lambda w, t: _predict(w, t, "--batch-size", "-3"), "got -3"),
    ("margin-nan", lambda w, t: _predict(w, t, "--margin", "nan"), "--margin must be a number from 0 to 4"),
    ("margin-negative", lambda w, t: _predict(w, t, "--margin", "-1"), "--margin must be a number from 0 to 4"),
    ("margin-huge", lambda w, t: _predict(w, t, "--margin", "1e9"), "--margin must be a number from 0 to 4"),
    ("device-bogus", lambda w, t: _predict(w, t, "--device", "bogus"), "--device 'bogus': not a device"),
    ("stride-zero", lambda w, t: _predict(w, t, "--stride", "0"), "--stride must be at least 1"),
    (
        "fp16-on-cpu",
        lambda w, t: _predict(w, t, "--precision", "fp16", "--device", "cpu"),
        "precision fp16 needs a GPU",
    ),
    ("precision-unknown", lambda w, t: _predict(w, t, "--precision", "fp8"), "invalid choice: 'fp8'"),
    (
        "info-negative-depth",
        lambda w, t: ["info", "lgi_former_tiny", "--set", "depth=-1"],
        "setting depth must be at least 1, got -1",
    ),
    (
        "serve-port-zero",
        lambda w, t: ["serve", "--checkpoint", str(w.classifier), "--port", "0"],
        "--port must be from 1 to 65535",
    ),
    (
        "serve-port-in-use",
        lambda w, t: ["serve", "--checkpoint", str(w.classifier), "--port", str(_busy_port())],
        "cannot listen there",
    ),
    (
        "serve-unknown-host",
        lambda w, t: ["serve", "--checkpoint", str(w.classifier), "--host", "no.such.host.invalid"],
        "--host no.such.host.invalid",
    ),
    (
        "info-huge-model",
        lambda w, t: ["info", "lgi_former_tiny", "--set", "embed_dim=40000000"],
        "these settings need more memory than there is",
    ),
    (
        "serve-max-mb-negative",
        lambda w, t: ["serve", "--checkpoint", str(w.classifier), "--max-mb", "-1"],
        "--max-mb must be positive",
    ),
    (
        "serve-max-queue-zero",
        lambda w, t: ["serve", "--checkpoint", str(w.classifier), "--max-queue", "0"],
        "--max-queue must be at least 1, got 0",
    ),
    (
        "serve-timeout-zero",
        lambda w, t: ["serve", "--checkpoint", str(w.classifier), "--timeout", "0"],
        "--timeout must be positive, got 0.0",
    ),
    (
        "serve-token-too-short",
        lambda w, t: ["serve", "--checkpoint", str(w.classifier), "--token-file", str(_short_token(t))],
        "the token has 5 characters; use at least 16",
    ),
    (
        "embed-batch-size-zero",
        lambda w, t: [
            "visualize",
            "embed",
            str(w.classifier),
            str(w.data / "test.csv"),
            "--batch-size",
            "0",
            "--out",
            str(t / "e.png"),
        ],
        "--batch-size must be",
    ),
    (
        "reconstruct-negative-start",
        lambda w, t: [
            "visualize",
            "reconstruct",
            str(w.pretrained),
            str(w.video),
            "--start",
            "-1",
            "--out",
            str(t / "r.png"),
        ],
        "--start must be",
    ),
    ("synth-odd-size", lambda w, t: ["synth", "--out", str(t / "s"), "--size", "49"], "--size must be even"),
    (
        "synth-no-clips",
        lambda w, t: ["synth", "--out", str(t / "s"), "--clips-per-class", "0"],
        "--clips-per-class must be at least 1",
    ),
    (
        "check-data-min-frames",
        lambda w, t: ["check-data", str(w.data / "test.csv"), "--min-frames", "0"],
        "--min-frames must be at least 1",
    ),
    (
        "demo-negative-workers",
        lambda w, t: ["demo", "--quick", "--out", str(t / "d"), "--workers", "-1"],
        "--workers must not be negative",
    ),
    (
        "demo-other-precision",
        lambda w, t: ["demo", "--quick", "--out", str(_earlier_demo(t, "fp32")), "--precision", "bf16"],
        "its runs trained in fp32 (",
    ),
    ("set-without-value", lambda w, t: ["info", "lgi_former_tiny", "--set", "depth"], "--set expects KEY=VALUE"),
    # odd inputs
    (
        "fifo-as-video",
        lambda w, t: (
            _predict(w, t, "--crop", "full")[:1] + [str(_fifo(t, "v.mp4"))] + _predict(w, t, "--crop", "full")[2:]
        ),
        "v.mp4: is a FIFO (named pipe), not a regular file",
    ),
    (
        "fifo-in-annotation-file",
        lambda w, t: _finetune(
            w, *_set("output_dir", t / "r"), *_set("train", _annotation(t, f"{_fifo(t, 'clip.mp4')} 0\n" * 4))
        ),
        "clip.mp4: is a FIFO (named pipe)",
    ),
    ("fifo-as-annotation-file", lambda w, t: ["check-data", str(_fifo(t, "a.csv"))], "a.csv: is a FIFO"),
    ("fifo-as-config", lambda w, t: _finetune(w, "--config", str(_fifo(t, "c.yaml"))), "c.yaml: is a FIFO"),
    (
        "video-not-a-video",
        lambda w, t: _predict(w, t)[:1] + [str(_annotation(t, "hello", "v.mp4"))] + _predict(w, t)[2:],
        "v.mp4: cannot open video",
    ),
    (
        "video-unknown-type",
        lambda w, t: _predict(w, t)[:1] + [str(_annotation(t, "hello", "v.txt"))] + _predict(w, t)[2:],
        "v.txt: unknown clip type '.txt'",
    ),
    # datasets and annotation files
    (
        "prepare-synth",
        lambda w, t: ["prepare", "synth", "--root", str(w.data), "--out", str(t / "p")],
        "invalid choice: 'synth'",
    ),
    (
        "label-beyond-class-count",
        lambda w, t: [
            "check-data",
            str(
                _annotation(w.data / ".." / "tmp_labels" if False else t, f"{w.data / 'frames' / '00001'} 9\n", "x.csv")
            ),
            "--dataset",
            "dfew",
        ],
        "x.csv:1: label 9 out of range (0..6)",
    ),
    (
        "latin1-path-missing",
        lambda w, t: _finetune(
            w, *_set("output_dir", t / "r"), *_set("train", _annotation(t, b"caf\xe9/clip 0\n" * 4))
        ),
        "no such file or folder",
    ),
    (
        "annotation-nul-bytes",
        lambda w, t: _finetune(w, *_set("output_dir", t / "r"), *_set("train", _annotation(t, b"a\x00b 0\n"))),
        "holds NUL bytes",
    ),
    (
        "annotation-empty",
        lambda w, t: _finetune(w, *_set("output_dir", t / "r"), *_set("train", _annotation(t, ""))),
        "train.csv: holds no annotations",
    ),
    (
        "annotation-is-a-folder",
        lambda w, t: _finetune(w, *_set("output_dir", t / "r"), *_set("train", w.data)),
        "is a folder, not a annotation file",
    ),
    (
        "cv-splits-missing",
        lambda w, t: ["cv", "--preset", "synth-tiny", "--splits", str(t / "nope")],
        "nope: no such folder of splits",
    ),
    # configs
    *[
        (f"config-{key}", lambda w, t, k=key, v=value: _finetune(w, *_set("output_dir", t / "r"), *_set(k, v)), msg)
        for key, value, msg in (
            ("model", "resnet", "unknown model 'resnet'"),
            ("model_overrides", "{'depht': 2}", "unknown setting 'depht' (did you mean 'depth'?)"),
            ("smoothing", 2.0, "smoothing must satisfy 0 <= x < 1, got 2.0"),
            ("sampling_rate", 0, "sampling_rate must be at least 1, got 0"),
            ("test_clips", 0, "test_clips must be at least 1"),
            ("lr", -1.0, "lr must be positive, got -1.0"),
            ("warmup_epochs", -1.0, "warmup_epochs must not be negative"),
            ("rrc_scale", "(0.9, 0.1)", "rrc_scale must be (low, high) with 0 < low <= high <= 1"),
            ("flip", 2.0, "flip must satisfy 0 <= x <= 1, got 2.0"),
            ("keep_last", -1, "keep_last must not be negative"),
            ("clip_grad", "nan", "clip_grad must be a float, got 'nan'"),
            ("lr", "1e999", "lr must be a finite number, got inf"),
            ("precision", "fp8", "precision must be one of fp32, bf16, fp16"),
            ("randaugment", "rand-x", "randaugment:"),
            ("dataset", "voxceleb2", "dataset must be one of"),
        )
    ],
    (
        "config-pretrain-stride",
        lambda w, t: [
            "pretrain",
            "--preset",
            "synth-tiny-pretrain",
            *_set("stride", 0),
            *_set("data", w.data / "pretrain.csv"),
        ],
        "stride must be at least 1",
    ),
    (
        "config-pretrain-classifier-model",
        lambda w, t: ["pretrain", *_set("model", "lgi_former_tiny")],
        "model 'lgi_former_tiny' is not a pre-training model",
    ),
    (
        "config-finetune-audio-visual-model",
        lambda w, t: _finetune(w, *_set("model", "hicmae_classifier_tiny")),
        "model 'hicmae_classifier_tiny' is audio-visual (video and a spectrogram per clip); finetune of",
    ),
    (
        "config-pretrain-audio-visual-model",
        lambda w, t: ["pretrain", *_set("model", "hicmae_tiny")],
        "model 'hicmae_tiny' is audio-visual",
    ),
    (
        "yaml-is-a-list",
        lambda w, t: _finetune(w, "--config", str(_annotation(t, "- a\n- b\n", "c.yaml"))),
        "c.yaml: a config file must be a mapping",
    ),
    (
        "yaml-nan",
        lambda w, t: _finetune(w, "--config", str(_annotation(t, "lr: .nan\n", "c.yaml"))),
        "c.yaml: lr must be a finite number, got nan",
    ),
    (
        "yaml-not-utf8",
        lambda w, t: _finetune(w, "--config", str(_annotation(t, b"lr: \xff\xfe\n", "c.yaml"))),
        "c.yaml: not UTF-8 text",
    ),
    # nothing replaced without being asked
    (
        "finetune-over-earlier-run",
        lambda w, t: _finetune(w, *_set("output_dir", _earlier_run(w, t))),
        "holds an earlier run (checkpoint-last.pth, config.yaml); pass --resume auto to continue it or --overwrite",
    ),
    (
        "evaluate-over-earlier-evaluation",
        lambda w, t: [
            "evaluate",
            str(w.classifier),
            "--test",
            str(w.data / "test.csv"),
            "--out",
            str(_annotation(t / "ev" if (t / "ev").mkdir() is None else t, "{}", "metrics.json").parent),
        ],
        "holds an evaluation already; pass --overwrite",
    ),
    (
        "annotate-over-an-input",
        lambda w, t: [
            "predict",
            str(_copy(w.video, t / "v.mp4")),
            str(_copy(w.video, t / "v_annotated.mp4")),
            "--checkpoint",
            str(w.classifier),
            "--out",
            str(t),
            "--annotate",
        ],
        "v_annotated.mp4: this output would replace the input",
    ),
    (
        "predict-out-is-a-frame-folder",
        lambda w, t: _predict(w, t)[:-2] + ["--out", str(w.data / "frames" / "00001")],
        "looks like a frame folder",
    ),
    (
        "predict-over-earlier-outputs",
        lambda w, t: (
            _predict(w, t)[:-2]
            + ["--out", str(_annotation(t / "o" if (t / "o").mkdir() is None else t, "{}", "face.json").parent)]
        ),
        "face.json: output of an earlier run exists already; pass --overwrite",
    ),
    (
        "export-over-existing",
        lambda w, t: [
            "export",
            str(w.classifier),
            "--format",
            "safetensors",
            "--out",
            str(_annotation(t, "old", "x.safetensors")),
        ],
        "x.safetensors: export file exists already; pass --overwrite",
    ),
    (
        "export-over-its-input",
        lambda w, t: ["export", str(w.exported), "--format", "safetensors", "--overwrite"],
        "the export would replace its own input checkpoint",
    ),
    ("synth-over-a-dataset", lambda w, t: ["synth", "--out", str(w.data)], "synth.json: synthetic dataset exists"),
    (
        "prepare-over-annotations",
        lambda w, t: [
            "prepare",
            "voxceleb2",
            "--root",
            str(_video_tree(w, t)),
            "--out",
            str(_annotation(t / "p" if (t / "p").mkdir() is None else t, "old", "pretrain.csv").parent),
        ],
        "pretrain.csv: annotation file exists already; pass --overwrite",
    ),
    (
        "check-data-write-good-over-a-file",
        lambda w, t: [
            "check-data",
            str(w.data / "test.csv"),
            "--workers",
            "0",
            "--write-good",
            str(w.data / "train.csv"),
        ],
        "train.csv: annotation file exists already",
    ),
    # errors raised inside DataLoader workers
    (
        "worker-error-is-one-line",
        lambda w, t: _finetune(
            w,
            *_set("output_dir", t / "r"),
            *_set("workers", 2),
            *_set("train", _annotation(t, f"{t / 'gone'} 0\n" * 8)),
        ),
        "gone: no such file or folder",
    ),
]


_LISTENING = []


def _short_token(tmp: Path) -> Path:
    path = tmp / "token.txt"
    path.write_text("short\n")
    return path


def _busy_port() -> int:
    """A loopback port that a socket of this test session listens on."""
    import socket

    if not _LISTENING:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        _LISTENING.append(sock)
    return _LISTENING[0].getsockname()[1]


def _copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    return dst


def _video_tree(w, tmp: Path) -> Path:
    (tmp / "vox" / "id1").mkdir(parents=True)
    _copy(w.video, tmp / "vox" / "id1" / "00001.mp4")
    return tmp / "vox"


def _snapshot(*roots: Path) -> dict[Path, str]:
    files = {}
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                files[path] = hashlib.sha1(path.read_bytes()).hexdigest()
    return files


@pytest.fixture()
def alarm():
    """A hang (a FIFO opened for reading waits for a writer forever) fails the test."""

    def expired(*_):
        raise TimeoutError("the command hung")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("make_argv,message", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(world, tmp_path, capsys, alarm, make_argv, message):
    argv = [str(a) for a in make_argv(world, tmp_path)]
    before = _snapshot(world.root, tmp_path)
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (argv, out, err)
    assert len(lines) == 1 and "error:" in lines[0], err
    assert message in lines[0], lines[0]
    assert "Traceback" not in out + err
    after = _snapshot(world.root, tmp_path)
    assert {p: h for p, h in after.items() if p in before} == before, "an existing file changed"


def test_the_table_covers_every_class_of_the_report():
    """The classes of bad input of the adversarial report, each with rows."""
    ids = " ".join(r[0] for r in ROWS)
    for word in (
        "out",
        "model-config",
        "safetensors",
        "batch-size",
        "margin",
        "device",
        "fifo",
        "nan-weights",
        "prepare-synth",
        "label-beyond",
        "config-",
        "over-",
        "worker-error",
    ):
        assert word in ids, word
    assert len(ROWS) >= 70


# ---------------------------------------------------------------- the Python API


@pytest.mark.parametrize(
    "change,message,weights",
    [
        (lambda c: c["model_config"].update(colour=1), "unknown setting 'colour'", False),
        (lambda c: c.update(config="oops"), "its 'config' entry is a str", False),
        (lambda c: c["model"]["head.bias"].fill_(float("inf")), "hold NaN or infinite values", True),
        (lambda c: c["model"].pop("head.bias"), "missing keys (head.bias)", True),
    ],
)
def test_load_raises_typed_one_line_errors_naming_the_file(world, tmp_path, change, message, weights):
    path = _checkpoint(world, tmp_path, change)
    with pytest.raises(CheckpointError) as error:
        maedfer.load(path)
    assert str(path) in str(error.value) and message in str(error.value) and "\n" not in str(error.value)
    if weights:  # loading the weights alone fails too, naming the file (not "<state dict>")
        with pytest.raises(CheckpointError, match=f"changed.pth: .*{message[:12]}"):
            maedfer.load_checkpoint(maedfer.create_model("lgi_former_tiny"), path)


def test_load_refuses_bad_options_with_maedfer_errors(world):
    for kwargs, message in (
        (dict(batch_size=0), "--batch-size"),
        (dict(margin=float("nan")), "--margin"),
        (dict(device="bogus"), "not a device"),
        (dict(precision="fp8"), "precision must be"),
    ):
        with pytest.raises(MaedferError, match=message):
            maedfer.load(world.classifier, **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_cuda_device_without_a_gpu_is_one_line(world, tmp_path, capsys):
    assert main(_predict(world, tmp_path, "--device", "cuda")) == 2
    assert "--device cuda: this machine has no CUDA GPU" in capsys.readouterr().err


def test_opencv_without_haar_cascades_is_one_line(monkeypatch):
    """OpenCV 5 dropped the Haar cascades (seen on a GPU machine's image: no CascadeClassifier;
    its 5.1 wheels: no cascade files, tests/test_faces.py)."""
    import cv2

    from maedfer.faces import HaarFaceDetector

    monkeypatch.delattr(cv2, "CascadeClassifier")
    with pytest.raises(MaedferError, match=r"OpenCV .* ships no Haar cascade .*use --detector landmarks"):
        HaarFaceDetector()


def test_one_line_messages():
    from maedfer.errors import one_line

    worker = (
        "Caught VideoReadError in DataLoader worker process 1.\nOriginal Traceback (most recent call last):\n"
        '  File "x.py", line 3, in load\n    raise VideoReadError(m)\n'
        "maedfer.data.readers.VideoReadError: clip.mp4: no such file or folder\n"
    )
    assert one_line(ValueError(worker)) == "clip.mp4: no such file or folder"
    assert one_line(FileNotFoundError(2, "No such file or directory", "a.csv")) == "a.csv: No such file or directory"
    assert one_line(ValueError("caf\udce9: two\nlines")) == "caf\\xe9: two lines"
    assert one_line(ValueError("lone \ud800")) == "lone \\ud800"


def test_non_finite_model_outputs_are_reported_not_written(world, tmp_path, capsys, monkeypatch):
    """Weights that are finite can still overflow (fp16): the prediction says so in one line
    and writes no JSON with NaN in it."""
    from maedfer.inference.predictor import NonFiniteOutputError

    predictor = maedfer.load(world.classifier, precision="fp32")
    monkeypatch.setattr(predictor.model, "forward", lambda x: torch.full((x.shape[0], 7), float("nan")))
    with pytest.raises(NonFiniteOutputError, match=r"face.mp4: the model's outputs are not finite"):
        predictor.predict(world.video, crop="full")
    monkeypatch.setattr(maedfer.inference, "load", lambda *a, **k: predictor)
    assert (
        main(
            [
                "predict",
                str(world.video),
                "--checkpoint",
                str(world.classifier),
                "--crop",
                "full",
                "--out",
                str(tmp_path / "p"),
            ]
        )
        == 2
    )
    assert "outputs are not finite" in capsys.readouterr().err and not list((tmp_path / "p").glob("*.json"))
