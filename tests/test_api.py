"""Typed settings and training from Python: maedfer.pretrain / finetune / evaluate on the
tiny synthetic data, the settings' checks and --help generated from them (the site's settings page
is checked in tests/test_docs.py), and the run files of the version before typed settings (tests/data/runs-0.1.0)."""

import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

import maedfer
from maedfer.checkpoint import read_checkpoint
from maedfer.cli import build_parser, main
from maedfer.config import resolve_config
from maedfer.data.annotations import read_annotations
from maedfer.settings import SETTINGS, ConfigError, FinetuneSettings, describe

OLD = Path(__file__).resolve().parent / "data" / "runs-0.1.0"
REPO = Path(__file__).resolve().parents[1]


def test_pretraining_fine_tuning_and_evaluation_from_python(tiny_synth, tmp_path):
    pre = maedfer.pretrain(
        preset="synth-tiny-pretrain",
        data=str(tiny_synth / "pretrain.csv"),
        epochs=1,
        batch_size=4,
        workers=0,
        warmup_epochs=0.5,
        figure_every=0,
        output_dir=str(tmp_path / "pre"),
    )
    assert isinstance(pre, maedfer.RunResult) and pre.output_dir == tmp_path / "pre"
    assert pre.checkpoint == tmp_path / "pre" / "checkpoint-last.pth" and pre.checkpoint.is_file()
    assert pre.metrics["epoch"] == 1 and pre.metrics["train_loss"] > 0 and pre.best_checkpoint is None
    assert isinstance(pre.settings, maedfer.PretrainSettings) and pre.settings.epochs == 1
    run = maedfer.finetune(
        preset="synth-tiny",
        train=str(tiny_synth / "split01" / "train.csv"),
        test=str(tiny_synth / "split01" / "test.csv"),
        init=str(pre.checkpoint),
        epochs=2,
        batch_size=8,
        workers=0,
        warmup_epochs=0.5,
        output_dir=str(tmp_path / "ft"),
    )
    written = json.loads(run.evaluation.read_text())
    assert run.metrics["epoch"] == 2 and run.metrics["uar"] == pytest.approx(written["uar"])
    assert run.best_checkpoint == tmp_path / "ft" / "checkpoint-best.pth" and run.best_checkpoint.is_file()
    assert read_checkpoint(run.checkpoint)["config"]["init"] == str(pre.checkpoint)
    test = maedfer.evaluate(run.checkpoint, tiny_synth / "split01" / "test.csv", out=tmp_path / "test", workers=0)
    assert isinstance(test, maedfer.EvaluationResult) and test.uar == pytest.approx(written["uar"])
    assert test.war == pytest.approx(written["war"]) and len(test.metrics["probabilities"]) == written["videos"]
    assert sorted(p.name for p in (tmp_path / "test").iterdir()) == [
        "config.yaml",
        "confusion.csv",
        "confusion.png",
        "metrics.json",
        "predictions.csv",
    ]
    assert test.settings.task == "evaluate" and test.settings.sampling_rate == 2  # the run's own settings
    # a settings object: the same run, resumed where it ended
    settings = dataclasses.replace(run.settings, epochs=3)
    again = maedfer.finetune(settings, resume="auto")
    assert again.metrics["epoch"] == 3 and read_checkpoint(again.checkpoint)["epoch"] == 3


def test_api_errors_are_maedfer_errors_in_one_line_never_an_exit(tiny_synth, tmp_path):
    with pytest.raises(ConfigError, match=r"^--set: unknown config key 'lrr' \(did you mean 'lr'\?\)$"):
        maedfer.finetune(preset="synth-tiny", lrr=0.1)
    with pytest.raises(maedfer.MaedferError, match=r"config: smoothing must satisfy 0 <= x < 1, got 1.5"):
        maedfer.finetune(preset="synth-tiny", smoothing=1.5)
    with pytest.raises(maedfer.MaedferError, match="config key 'train' is required"):
        maedfer.finetune(preset="synth-tiny", output_dir=str(tmp_path / "a"))
    with pytest.raises(maedfer.MaedferError, match="either a settings object or a preset"):
        maedfer.finetune(FinetuneSettings(), preset="dfew")
    with pytest.raises(maedfer.MaedferError, match="settings for pretrain must be a PretrainSettings"):
        maedfer.pretrain(FinetuneSettings())
    with pytest.raises(maedfer.MaedferError, match=r"^14 training clips give no full step of 16 clips"):
        maedfer.finetune(
            preset="synth-tiny",
            train=str(tiny_synth / "split01" / "train.csv"),
            workers=0,
            output_dir=str(tmp_path / "b"),
        )
    with pytest.raises(maedfer.MaedferError, match=r"^warm-up \(14 steps\) is longer than the schedule \(7 steps\)"):
        maedfer.finetune(
            preset="synth-tiny",
            train=str(tiny_synth / "split01" / "train.csv"),
            workers=0,
            epochs=1,
            batch_size=2,
            output_dir=str(tmp_path / "c"),
        )


def test_settings_are_typed_and_checked_from_their_definitions():
    settings = resolve_config("finetune", "synth-tiny", overrides={"epochs": 3, "betas": [0.9, 0.99]})
    assert isinstance(settings, FinetuneSettings) and settings.epochs == 3 and settings.betas == (0.9, 0.99)
    assert settings["epochs"] == 3 and settings.to_dict()["betas"] == [0.9, 0.99]  # read by key, as before
    assert resolve_config("finetune", overrides={"lr": 1}).lr == 1.0  # an int where a float is declared
    for overrides, message in (
        ({"epochs": "ten"}, "--set: epochs must be a int, got 'ten'"),
        ({"flip": True}, "--set: flip must be a float, got True"),
        ({"voxceleb_crop": 1}, "unknown config key 'voxceleb_crop'"),
        ({"rrc_scale": [0.5]}, "--set: rrc_scale needs 2 values, got [0.5]"),
        ({"lr": float("nan")}, "--set: lr must be a finite number, got nan"),
        ({"dataset": None}, "--set: dataset must be set (a str), got null"),
        ({"precision": "fp8"}, "config: precision must be one of fp32, bf16, fp16"),
    ):
        with pytest.raises(
            ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")
        ):
            resolve_config("finetune", overrides=overrides)
    with pytest.raises(ConfigError, match="--set: voxceleb_crop must be true or false, got 'yes'"):
        resolve_config("pretrain", overrides={"voxceleb_crop": "yes"})
    # every setting says what it is
    for cls in SETTINGS.values():
        assert all(description and kind for _, kind, _, description in describe(cls))


def test_the_commands_list_the_settings_and_take_yaml_words(capsys):
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for task in ("pretrain", "finetune", "evaluate"):
        text = sub.choices[task].format_help()
        for key, _, _, description in describe(SETTINGS[task]):
            assert f"  {key} " in text and description.split(" (")[0][:40] in " ".join(text.split())
    from maedfer.cli.overrides import parse_overrides

    assert parse_overrides(["voxceleb_crop=false", "clip_grad=null", "init=runs/a.pth", "lr=1e-3"]) == {
        "voxceleb_crop": False,
        "clip_grad": None,
        "init": "runs/a.pth",
        "lr": 1e-3,
    }


def test_no_engine_takes_a_plain_dict_of_settings():
    found = subprocess.run(["grep", "-rn", "config: dict", "maedfer/engine"], cwd=REPO, capture_output=True, text=True)
    assert found.returncode == 1 and found.stdout == ""


def test_run_files_of_the_version_before_typed_settings_resume_evaluate_and_predict(tiny_synth, tmp_path, capsys):
    """config.yaml and an epoch-1-of-2 checkpoint of a fine-tuning and a pre-training, written
    by maedfer before this change (tests/data/runs-0.1.0/README.md says how)."""
    data = [
        "--set",
        f"train={tiny_synth / 'split01' / 'train.csv'}",
        "--set",
        f"test={tiny_synth / 'split01' / 'test.csv'}",
    ]
    old_ft, old_pt = OLD / "finetune", OLD / "pretrain"
    # the old config.yaml reads as today's settings, value for value
    settings = resolve_config("finetune", yaml_file=old_ft / "config.yaml")
    assert settings.model_overrides == {"depth": 2, "embed_dim": 32, "num_heads": 2} and settings.rrc_scale == (
        0.6,
        1.0,
    )
    assert settings.to_dict() == {**read_checkpoint(old_ft / "checkpoint-last.pth")["config"]}
    # resume: the second epoch runs from the old checkpoint
    out = tmp_path / "ft"
    out.mkdir()
    shutil.copy(old_ft / "checkpoint-last.pth", out / "checkpoint-last.pth")
    assert (
        main(
            [
                "finetune",
                "--config",
                str(old_ft / "config.yaml"),
                *data,
                "--set",
                f"output_dir={out}",
                "--resume",
                "auto",
            ]
        )
        == 0
    )
    resumed = read_checkpoint(out / "checkpoint-last.pth")
    assert resumed["epoch"] == 2 and (out / "eval" / "metrics.json").is_file()
    before = read_checkpoint(old_ft / "checkpoint-last.pth")["model"]
    assert not all(torch.equal(before[k], resumed["model"][k]) for k in before)  # it trained on
    # evaluate the old checkpoint with the settings it carries
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                str(old_ft / "checkpoint-last.pth"),
                "--test",
                str(tiny_synth / "split01" / "test.csv"),
                "--out",
                str(tmp_path / "eval"),
                "--set",
                "workers=0",
            ]
        )
        == 0
    )
    assert re.search(r"^UAR \d+\.\d\d  WAR \d+\.\d\d  \(14 videos\) -> ", capsys.readouterr().out, re.M)
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["videos"] == 14
    # predict with it
    clip = read_annotations(tiny_synth / "split01" / "test.csv")[0].path
    result = maedfer.load(old_ft / "checkpoint-last.pth", precision="fp32").predict(clip, crop="full")
    assert len(result.probabilities) == 7 and result.faces[0].windows
    # pre-training resumes too
    out = tmp_path / "pt"
    out.mkdir()
    shutil.copy(old_pt / "checkpoint-last.pth", out / "checkpoint-last.pth")
    assert (
        main(
            [
                "pretrain",
                "--config",
                str(old_pt / "config.yaml"),
                "--set",
                f"data={tiny_synth / 'pretrain.csv'}",
                "--set",
                f"output_dir={out}",
                "--resume",
                "auto",
            ]
        )
        == 0
    )
    assert read_checkpoint(out / "checkpoint-last.pth")["epoch"] == 2
