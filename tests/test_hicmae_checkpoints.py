"""Official HiCMAE checkpoint files wherever maedfer takes a checkpoint: told apart from the
MAE-DFER ones by their keys, loaded by HiCMAE's rules (a pre-training file initialises the
classifier's encoders and fusion, a fine-tuned file loads strictly), their label set read from
``args.data_set``, and refused in one line where they do not fit (another size, the other
family) or where audio-visual models are not available yet (predict, evaluate, reconstruct).
The files are tiny models saved as the original's ``utils.save_model`` saves them (with
test_checkpoint.py's helper); the full-size key layout is ``tests/data/hicmae_official_keys.json``'s."""

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from test_checkpoint import _official_file as _official

import maedfer
from maedfer.checkpoint import (
    HICMAE_CLASSIFIER,
    HICMAE_PRETRAINING,
    MAE_DFER_PRETRAINING,
    VIDEO_CLASSIFIER,
    CheckpointError,
    fitted_state,
    load_checkpoint,
    read_checkpoint,
    state_kind,
)
from maedfer.cli import main
from maedfer.data.catalog import HICMAE_LABELS, dataset_info
from maedfer.data.writers import write_video
from maedfer.inference.loading import hicmae_label_set, load_classifier

OFFICIAL_KEYS = Path(__file__).resolve().parent / "data" / "hicmae_official_keys.json"
PRETRAINING = "an audio-visual HiCMAE pre-training checkpoint (video and audio encoders, fusion, decoders)"
FRESH = ["video_layer_weights", "audio_layer_weights", "fc_norm.weight", "fc_norm.bias", "head.weight", "head.bias"]


def _official_layout(key):
    """The official file's keys and shapes, on the meta device (no memory)."""
    shapes = json.loads(OFFICIAL_KEYS.read_text())[key]
    return {k: torch.empty(shape, device="meta") for k, shape in shapes.items()}


def _meta(name, **overrides):
    with torch.device("meta"):
        return maedfer.create_model(name, **overrides)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("hicmae_files")
    pre = maedfer.create_model("hicmae_tiny").eval()
    clf = maedfer.create_model("hicmae_classifier_tiny", num_classes=6).eval()
    mae = maedfer.create_model("mae_dfer_tiny")
    frames = np.random.default_rng(0).integers(0, 255, (8, 64, 64, 3), dtype=np.uint8)
    return SimpleNamespace(
        root=root,
        pre=pre,
        clf=clf,
        pre_path=_official(root / "checkpoint-99.pth", pre.state_dict(), data_set="VoxCeleb2"),
        clf_path=_official(root / "crema-d.pth", clf.state_dict(), data_set="CREMA-D"),
        mae_path=_official(root / "mae-dfer.pth", mae.state_dict(), data_set="VoxCeleb2"),
        video=write_video(root / "clip.mp4", frames),
    )


def test_what_a_state_dict_is_is_told_by_its_keys(files):
    assert state_kind(_official_layout("pretrain")) == HICMAE_PRETRAINING
    assert state_kind(_official_layout("finetune_6cls")) == HICMAE_CLASSIFIER
    assert state_kind(files.pre.state_dict()) == HICMAE_PRETRAINING
    assert state_kind(read_checkpoint(files.clf_path)["model"]) == HICMAE_CLASSIFIER
    assert state_kind(_meta("mae_dfer_tiny").state_dict()) == MAE_DFER_PRETRAINING
    assert state_kind(_meta("lgi_former_tiny").state_dict()) == VIDEO_CLASSIFIER


def test_a_pretraining_file_initialises_the_classifiers_encoders_and_fusion(files):
    # full size: the 364 encoder.*, encoder_audio.* and encoder_fusion.* tensors of the 540
    fitted, rule = fitted_state(_meta("hicmae_classifier_base"), _official_layout("pretrain"), "checkpoint-99.pth")
    assert rule == "pretrained-encoder" and len(fitted) == 364

    clf = maedfer.create_model("hicmae_classifier_tiny", num_classes=6)
    head, layer_weights = clf.head.weight.clone(), clf.video_layer_weights.clone()
    result = load_checkpoint(clf, files.pre_path)
    shared = [k for k in files.pre.state_dict() if k.startswith(("encoder.", "encoder_audio.", "encoder_fusion."))]
    assert result.rule == "pretrained-encoder" and result.fresh_keys == FRESH
    assert result.loaded == len(shared) == len(clf.state_dict()) - len(FRESH)
    for key in shared:  # under their own names
        assert torch.equal(clf.state_dict()[key], files.pre.state_dict()[key]), key
    assert torch.equal(clf.head.weight, head) and torch.equal(clf.video_layer_weights, layer_weights)


def test_a_finetuned_file_loads_strictly_and_gives_the_same_logits(files):
    other = maedfer.create_model("hicmae_classifier_tiny", num_classes=6).eval()
    video, audio = files.clf.example_inputs(1)
    with torch.no_grad():
        assert not torch.allclose(other(video, audio), files.clf(video, audio))
        result = load_checkpoint(other, files.clf_path)
        assert result.rule == "strict" and result.fresh_keys == [] and result.loaded == len(other.state_dict())
        assert torch.equal(other(video, audio), files.clf(video, audio))


def test_the_label_set_comes_from_args_data_set_in_hicmaes_order(files):
    for data_set, (name, classes) in HICMAE_LABELS.items():  # HiCMAE's orders are the catalog's
        assert dataset_info(name).classes == classes, data_set
    assert hicmae_label_set(read_checkpoint(files.clf_path), "crema-d.pth") == (
        "crema-d",
        ("anger", "disgust", "fear", "happy", "neutral", "sad"),
    )
    mafw = {"model": {**files.clf.state_dict(), "head.weight": torch.zeros(11, 512), "head.bias": torch.zeros(11)}}
    assert hicmae_label_set({**mafw, "args": argparse.Namespace(data_set="MAFW")}, "m.pth")[1][-1] == "disappointment"
    with pytest.raises(CheckpointError) as err:
        hicmae_label_set({**mafw, "args": argparse.Namespace(data_set="MSP-IMPROV")}, "m.pth")
    assert str(err.value) == (
        "m.pth: a HiCMAE classifier fine-tuned on MSP-IMPROV, whose label order is not known here "
        "(known: CREMA-D, MAFW, RAVDESS)"
    )
    with pytest.raises(CheckpointError, match=r"^m.pth: the classifier has 11 classes but ravdess has 8 \(neutral, "):
        hicmae_label_set({**mafw, "args": argparse.Namespace(data_set="RAVDESS")}, "m.pth")


def test_a_file_of_another_size_names_the_first_tensor_of_another_shape(files):
    small = {"model": _meta("hicmae_classifier_small").state_dict()}
    for source, what, fits, shape in (
        (files.pre_path, f"{files.pre_path}: {PRETRAINING}", "hicmae_tiny and initialises hicmae_classifier_tiny", 8),
        (small, "small.pth: an audio-visual HiCMAE model (6 classes)", "hicmae_classifier_small", 16),
    ):
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(_meta("hicmae_classifier_base"), source, name="small.pth")
        checkpoint = f"[{128 if shape == 8 else 384}, 3, 2, {shape}, {shape}]"
        assert str(err.value) == (
            f"{what} of another size or layout than model hicmae_classifier_base (it fits {fits}): "
            f"encoder.patch_embed.proj.weight: checkpoint {checkpoint} vs model [512, 3, 2, 16, 16]"
        )
    # another class count only: the usual message
    with pytest.raises(CheckpointError, match=r"does not fit model hicmae_classifier_tiny: 2 shape mismatches \(head"):
        load_checkpoint(_meta("hicmae_classifier_tiny", num_classes=8), files.clf_path)


def test_a_file_of_the_other_family_says_what_it_is_and_fits(files):
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(_meta("lgi_former_tiny"), files.pre_path)
    assert str(err.value) == (
        f"{files.pre_path}: {PRETRAINING}: it fits hicmae_tiny and initialises hicmae_classifier_tiny, "
        "not the video-only model lgi_former_tiny"
    )
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(_meta("hicmae_classifier_tiny"), files.mae_path)
    assert str(err.value) == (
        f"{files.mae_path}: a pre-training (MAE-DFER encoder + decoder) checkpoint: it fits mae_dfer_tiny and "
        "initialises lgi_former_tiny, not the audio-visual HiCMAE model hicmae_classifier_tiny"
    )
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(_meta("hicmae_tiny"), files.clf_path)
    assert str(err.value) == (
        f"{files.clf_path}: an audio-visual HiCMAE model (6 classes): it fits hicmae_classifier_tiny, "
        "not the audio-visual HiCMAE model hicmae_tiny"
    )


def _one_line_error(capsys, argv):
    assert main([str(a) for a in argv]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.err.count("\n") == 1, captured.err
    return captured.err.strip()


def test_the_commands_refuse_hicmae_files_in_one_line(files, capsys, tmp_path):
    not_yet = "prediction and evaluation with audio-visual models are not available in this version"
    err = _one_line_error(capsys, ["predict", files.video, "--checkpoint", files.clf_path, "--out", tmp_path / "p"])
    assert err == (
        f"maedfer: error: {files.clf_path}: an audio-visual HiCMAE model fine-tuned on CREMA-D (6 classes); {not_yet}"
    )
    err = _one_line_error(capsys, ["predict", files.video, "--checkpoint", files.pre_path, "--out", tmp_path / "p"])
    assert err.endswith(
        f"not a fine-tuned classifier: {PRETRAINING} has no classifier; prediction and "
        "evaluation need a fine-tuned model"
    )
    err = _one_line_error(capsys, ["evaluate", files.clf_path, "--test", tmp_path / "test.csv"])
    assert err == f"maedfer: error: {files.clf_path}: an audio-visual HiCMAE model (6 classes); {not_yet}"
    err = _one_line_error(
        capsys, ["visualize", "reconstruct", files.pre_path, files.video, "--out", tmp_path / "r.png"]
    )
    assert err.endswith(f"{PRETRAINING}; reconstructions of audio-visual models are not available in this version")
    # a HiCMAE pre-training file does not start a video-only fine-tuning
    run = [
        "finetune",
        "--preset",
        "synth-tiny",
        "--set",
        f"init={files.pre_path}",
        "--set",
        f"output_dir={tmp_path}/ft",
    ]
    err = _one_line_error(capsys, [*run, "--set", f"train={tmp_path}/train.csv"])
    assert err.endswith(
        f"{PRETRAINING}: it fits hicmae_tiny and initialises hicmae_classifier_tiny, not the "
        "video-only model lgi_former_tiny"
    )
    with pytest.raises(CheckpointError, match="fine-tuned on CREMA-D"):  # the Python API, as predict
        load_classifier(files.clf_path)
