"""What --overwrite and --resume do when they are given: the refusals are in
test_bad_input.py; here the same commands, asked to replace, replace exactly their own
outputs (and a run replaced leaves nothing of the earlier one behind)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_odd_valid_input import _face_video

import maedfer
from maedfer.checkpoint import save_checkpoint
from maedfer.cli import main
from maedfer.config import plain_config, resolve_config
from maedfer.data import synth
from maedfer.data.writers import write_video


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    synth.generate(
        root, synth.SynthConfig(clips_per_class=2, pool_size=2, frames=16, pool_frames=20, size=48, identities=2)
    )
    return root


def _finetune(data, out, *extra):
    return [
        "finetune",
        "--preset",
        "synth-tiny",
        "--set",
        f"train={data / 'train.csv'}",
        "--set",
        f"test={data / 'test.csv'}",
        "--set",
        "workers=0",
        "--set",
        "batch_size=4",
        "--set",
        "epochs=1",
        "--set",
        "warmup_epochs=0",
        "--set",
        "test_clips=1",
        "--set",
        "test_crops=1",
        "--set",
        f"output_dir={out}",
        *extra,
    ]


def _lines(path):
    return path.read_text().splitlines()


def test_finetune_overwrite_replaces_the_earlier_run_and_resume_continues_it(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_finetune(data, out)) == 0
    (out / "figures").mkdir()
    (out / "notes.txt").write_text("mine")  # not a run output: kept
    assert main(_finetune(data, out, "--resume", "auto")) == 0  # finished: nothing to do
    assert len(_lines(out / "metrics.jsonl")) == 1
    assert main(_finetune(data, out, "--overwrite", "--set", "seed=1")) == 0
    assert len(_lines(out / "metrics.jsonl")) == 1  # the earlier run's log is gone, not appended to
    assert "seed: 1" in (out / "config.yaml").read_text()
    assert not (out / "figures").exists() and (out / "notes.txt").read_text() == "mine"
    capsys.readouterr()
    assert main(_finetune(data, out, "--overwrite", "--resume", "auto")) == 2
    assert "--resume and --overwrite contradict each other" in capsys.readouterr().err


def test_evaluate_predict_export_synth_prepare_replace_when_asked(data, tmp_path, capsys):
    config = resolve_config("finetune", "synth-tiny", overrides={"output_dir": str(tmp_path)})
    classifier = save_checkpoint(
        maedfer.create_model("lgi_former_tiny"), tmp_path / "cls.pth", config=plain_config(config)
    )
    evaluation = ["evaluate", str(classifier), "--test", str(data / "test.csv"), "--set", "workers=0"]
    assert main(evaluation) == 0 and (tmp_path / "eval" / "metrics.json").is_file()
    (tmp_path / "eval" / "metrics.json").write_text("{}")
    assert main(evaluation) == 2
    assert main([*evaluation, "--overwrite"]) == 0
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["videos"] == 7  # one test identity

    video = _face_video(tmp_path / "face.mp4", 6)
    predict = ["predict", str(video), "--checkpoint", str(classifier), "--out", str(tmp_path / "pred")]
    assert main(predict) == 0
    (tmp_path / "pred" / "face.csv").write_text("old")
    assert main(predict) == 2
    assert main([*predict, "--overwrite"]) == 0
    assert _lines(tmp_path / "pred" / "face.csv")[0].startswith("face,start_frame")

    export = ["export", str(classifier), "--format", "safetensors"]
    assert main(export) == 0
    assert main(export) == 2
    first = (tmp_path / "cls.safetensors").stat().st_mtime_ns
    assert main([*export, "--overwrite"]) == 0
    assert (tmp_path / "cls.safetensors").stat().st_mtime_ns >= first
    assert maedfer.load(tmp_path / "cls.safetensors").classes == maedfer.load(classifier).classes

    small = [
        "synth",
        "--out",
        str(tmp_path / "s"),
        "--clips-per-class",
        "2",
        "--pool",
        "0",
        "--frames",
        "16",
        "--size",
        "48",
        "--identities",
        "2",
        "--workers",
        "0",
    ]
    assert main(small) == 0
    assert main(small) == 2
    assert main([*small, "--overwrite"]) == 0

    (tmp_path / "vox" / "id1").mkdir(parents=True)
    write_video(tmp_path / "vox" / "id1" / "00001.mp4", np.zeros((4, 32, 32, 3), np.uint8))
    prepare = ["prepare", "voxceleb2", "--root", str(tmp_path / "vox"), "--out", str(tmp_path / "splits")]
    assert main(prepare) == 0
    assert main(prepare) == 2
    assert main([*prepare, "--overwrite"]) == 0
    assert _lines(tmp_path / "splits" / "pretrain.csv") == [f"{tmp_path / 'vox' / 'id1' / '00001.mp4'} 0"]
    assert "exists already; pass --overwrite" in capsys.readouterr().err
