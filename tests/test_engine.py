"""A few steps of every training command on tiny synthetic data."""

import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from maedfer.checkpoint import read_checkpoint
from maedfer.cli import main
from maedfer.config import ConfigError, resolve_config
from maedfer.engine.intervals import VERDICTS
from maedfer.precision import training_precision


@pytest.fixture(scope="module")
def data(tiny_synth):
    return tiny_synth


def _finetune_args(data, out, *extra):
    return [
        "finetune",
        "--preset",
        "synth-tiny",
        "--set",
        f"train={data / 'split01' / 'train.csv'}",
        "--set",
        f"test={data / 'split01' / 'test.csv'}",
        "--set",
        f"output_dir={out}",
        "--set",
        "epochs=2",
        "--set",
        "batch_size=4",
        "--set",
        "workers=0",
        "--set",
        "warmup_epochs=0.5",
        "--set",
        "test_clips=1",
        "--set",
        "test_crops=1",
        *extra,
    ]


def test_finetune_writes_everything(data, tmp_path, capsys):
    out = tmp_path / "ft"
    assert main(_finetune_args(data, out, "--set", "keep_last=1")) == 0
    assert sorted(p.name for p in out.glob("checkpoint-*.pth")) == [
        "checkpoint-best.pth",
        "checkpoint-epoch002.pth",
        "checkpoint-last.pth",
    ]
    lines = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert [l["epoch"] for l in lines] == [1, 2] and all("uar" in l and "train_loss" in l for l in lines)
    assert (out / "config.yaml").exists() and list((out / "tensorboard").iterdir())
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    assert metrics["videos"] == 14 and metrics["uar"] == pytest.approx(lines[-1]["uar"])
    rows = (out / "eval" / "predictions.csv").read_text().splitlines()
    assert rows[0].startswith("path,label,prediction,happy,sad") and len(rows) == 15
    assert (out / "eval" / "confusion.png").stat().st_size > 1000
    assert (out / "eval" / "confusion.csv").read_text().splitlines()[0].startswith("true \\ predicted,happy")
    state = read_checkpoint(out / "checkpoint-last.pth")
    assert state["epoch"] == 2 and state["config"]["epochs"] == 2 and "optimizer" in state

    # evaluate the checkpoint: the same numbers as the run's own final test
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                str(out / "checkpoint-last.pth"),
                "--test",
                str(data / "split01" / "test.csv"),
                "--out",
                str(tmp_path / "ev"),
                "--set",
                "workers=0",
                "--set",
                "test_clips=1",
                "--set",
                "test_crops=1",
            ]
        )
        == 0
    )
    again = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert again["uar"] == pytest.approx(metrics["uar"]) and again["war"] == pytest.approx(metrics["war"])


def test_pretrain_writes_checkpoints_and_reconstruction_figures(data, tmp_path):
    out = tmp_path / "pt"
    code = main(
        [
            "pretrain",
            "--preset",
            "synth-tiny-pretrain",
            "--set",
            f"data={data / 'pretrain.csv'}",
            "--set",
            f"output_dir={out}",
            "--set",
            "epochs=2",
            "--set",
            "batch_size=4",
            "--set",
            "workers=0",
            "--set",
            "warmup_epochs=0.5",
            "--set",
            f"heldout={data / 'pretrain.csv'}",
        ]
    )
    assert code == 0
    lines = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and {"train_loss", "train_appearance", "train_motion"} <= set(lines[0])
    # every epoch scored on the held-out videos against zero and the no-input floor: the floor
    # is a property of the clips and masks (fixed), the model's scores move
    for part in ("appearance", "motion"):
        floors = [line[f"heldout_{part}_floor"] for line in lines]
        assert floors[0] == floors[1] and 0 < floors[0] < 1.5
        ratio = [line[f"heldout_{part}_ratio"] for line in lines]
        assert ratio[0] != ratio[1]
        for line in lines:
            assert line[f"heldout_{part}_floor_ratio"] == pytest.approx(
                line[f"heldout_{part}_ratio"] / line[f"heldout_{part}_floor"]
            )
    assert (out / "figures" / "reconstruction-epoch002.png").stat().st_size > 5000
    # the pre-trained encoder initialises a fine-tuning run
    ft = tmp_path / "ft"
    assert main(_finetune_args(data, ft, "--set", f"init={out / 'checkpoint-last.pth'}", "--set", "epochs=1")) == 0


def test_a_saved_checkpoint_rescored_on_its_batch_finds_the_logged_losses(data, tmp_path):
    """The logged losses are what the saved weights score on the batch they were logged on,
    read here without the trainer: the data do not depend on how the dataset is read."""
    from torch.utils.data import DistributedSampler

    from maedfer.checkpoint import load_checkpoint
    from maedfer.data.datasets import VideoDataset
    from maedfer.data.transforms import pretrain_transform
    from maedfer.registry import create_model

    out = tmp_path / "pt"
    # 8 videos, batch 8: one step per epoch, so epoch 2 logs the loss of epoch 1's weights on one batch
    assert (
        main(
            [
                "pretrain",
                "--preset",
                "synth-tiny-pretrain",
                "--set",
                f"data={data / 'pretrain.csv'}",
                "--set",
                f"output_dir={out}",
                "--set",
                "epochs=2",
                "--set",
                "batch_size=8",
                "--set",
                "workers=0",
                "--set",
                "warmup_epochs=0.5",
                "--set",
                "save_every=1",
                "--set",
                "seed=3",
            ]
        )
        == 0
    )
    logged = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()][1]

    model = create_model("mae_dfer_tiny")
    load_checkpoint(model, out / "checkpoint-epoch001.pth")
    pool = VideoDataset(
        str(data / "pretrain.csv"), pretrain_transform(80, False), num_frames=16, stride=2, masking=model.masking
    )
    pool.set_seed(3)
    pool.set_epoch(1)
    sampler = DistributedSampler(pool, num_replicas=1, rank=0, shuffle=True, seed=3, drop_last=True)
    sampler.set_epoch(1)
    x, mask = (torch.stack(t) for t in zip(*(pool[i] for i in sampler)))
    with torch.no_grad():
        _, parts = model.train().loss(model(x, mask), model.targets(x, mask))
    for k in ("loss", "appearance", "motion", "appearance_zero", "motion_zero"):
        assert parts[k].item() == pytest.approx(logged[f"train_{k}"], rel=1e-4), k
    assert logged["train_motion_ratio"] == pytest.approx(logged["train_motion"] / logged["train_motion_zero"])


def test_cv_reports_mean_and_std(data, tmp_path, capsys):
    out = tmp_path / "cv"
    argv = [
        "cv",
        "--preset",
        "synth-tiny",
        "--splits",
        str(data),
        "--set",
        f"output_dir={out}",
        "--set",
        "epochs=1",
        "--set",
        "batch_size=4",
        "--set",
        "workers=0",
        "--set",
        "warmup_epochs=0.5",
        "--set",
        "test_clips=1",
        "--set",
        "test_crops=1",
    ]
    assert main(argv) == 0
    summary = json.loads((out / "cv.json").read_text())
    assert sorted(summary["folds"]) == ["split01", "split02"]
    uars = [f["uar"] for f in summary["folds"].values()]
    assert summary["uar_mean"] == pytest.approx(sum(uars) / 2)
    assert "mean  UAR" in capsys.readouterr().out
    # again: refused over the earlier folds; --resume auto reports them; --overwrite redoes them
    assert main(argv) == 2
    assert "split01: holds an earlier run" in capsys.readouterr().err
    assert main([*argv, "--resume", "auto"]) == 0
    assert json.loads((out / "cv.json").read_text())["folds"] == summary["folds"]
    assert main([*argv, "--overwrite"]) == 0
    assert len((out / "split02" / "metrics.jsonl").read_text().splitlines()) == 1


def _weights(path):
    return read_checkpoint(path)["model"]


def _same_weights(a, b, atol=0.0):
    return all(torch.allclose(a[k], b[k], atol=atol, rtol=0) for k in a)


def test_resume_between_epochs_reaches_the_same_weights(data, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(_finetune_args(data, straight)) == 0
    assert main(_finetune_args(data, split, "--set", "epochs=1")) == 0
    assert main(_finetune_args(data, split, "--resume", "auto")) == 0
    assert _same_weights(_weights(straight / "checkpoint-last.pth"), _weights(split / "checkpoint-last.pth"))


@pytest.mark.parametrize("save", ["save_every_steps=1", "save_every_minutes=0.00001"])
def test_killed_mid_epoch_and_resumed_reaches_the_same_weights(data, tmp_path, save):
    """Saving every step, or by wall time (here after every step: 0.6 ms)."""
    args = _finetune_args(
        data, tmp_path / "killed", "--set", save, "--set", "epochs=1", "--set", "mixup=0.8", "--set", "drop_path=0.1"
    )
    straight = _finetune_args(
        data, tmp_path / "straight", "--set", "epochs=1", "--set", "mixup=0.8", "--set", "drop_path=0.1"
    )
    assert main(straight) == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "maedfer", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    last = tmp_path / "killed" / "checkpoint-last.pth"
    deadline = time.time() + 120
    while time.time() < deadline:  # wait for a mid-epoch checkpoint, then kill -9
        if last.exists() and read_checkpoint(last)["step"] >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = read_checkpoint(last)["step"]
    assert 2 <= step < 7 and read_checkpoint(last)["epoch"] == 0  # really stopped inside the epoch
    assert main(args + ["--resume", "auto"]) == 0
    assert _same_weights(_weights(tmp_path / "straight" / "checkpoint-last.pth"), _weights(last))


def test_bad_configs_are_one_line_errors(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"unknown config key 'lrr' \(did you mean 'lr'\?\)"):
        resolve_config("finetune", "dfew", overrides={"lrr": 1})
    with pytest.raises(ConfigError, match="epochs must be a int, got 'ten'"):
        resolve_config("finetune", overrides={"epochs": "ten"})
    with pytest.raises(ConfigError, match="preset 'voxceleb2' is a pretrain recipe, not finetune"):
        resolve_config("finetune", "voxceleb2")
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("lr: [1, 2\n")
    with pytest.raises(ConfigError, match="c.yaml: not valid YAML"):
        resolve_config("finetune", yaml_file=yaml_file)
    yaml_file.write_text("lr: 0.01\nepochs: 3\n")
    assert resolve_config("finetune", "mafw", yaml_file, {"epochs": 4})["epochs"] == 4
    assert resolve_config("finetune", "mafw", yaml_file)["lr"] == 0.01
    for argv, message in [
        (["finetune", "--preset", "synth-tiny"], "config key 'train' is required"),
        (["finetune", "--set", "precision=fp16", "--set", "train=x.csv"], "x.csv: no such annotation file"),
        (
            ["pretrain", "--preset", "synth-tiny-pretrain", "--set", "data=nope.csv"],
            "nope.csv: no such annotation file",
        ),
        (
            ["finetune", "--preset", "synth-tiny", "--set", "input_size=96", "--set", "train=a.csv"],
            "input_size 96 do not match model lgi_former_tiny",
        ),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def _figures(summary: dict) -> dict:
    """demo.json without its wall-clock minutes: what two runs of one seed must share."""
    if isinstance(summary, dict):
        return {k: _figures(v) for k, v in summary.items() if k != "minutes"}
    return summary


def test_demo_quick(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path / "demo"), "--workers", "0"]) == 0
    summary = json.loads((tmp_path / "demo" / "demo.json").read_text())
    assert summary["quick"] is True and sorted(summary["seeds"]) == ["0", "1"]
    # the precision is the hardware's default, recorded with the machine
    assert summary["machine"]["precision"] == training_precision(torch.device("cpu"))[0]
    assert summary["machine"]["threads"] == torch.get_num_threads() and summary["machine"]["torch"] == torch.__version__
    agg = summary["summary"]
    for name in ("pretrained", "scratch"):
        per_seed = [summary["seeds"][s]["finetune"][name]["uar"] for s in ("0", "1")]
        assert agg["finetune"][name]["uar"]["per_seed"] == per_seed
        assert agg["finetune"][name]["uar"]["mean"] == pytest.approx(sum(per_seed) / 2)
        assert all(0 <= u <= 100 for u in per_seed)
    gaps = [
        summary["seeds"][s]["finetune"]["pretrained"]["uar"] - summary["seeds"][s]["finetune"]["scratch"]["uar"]
        for s in ("0", "1")
    ]
    assert agg["uar_gap"]["per_seed"] == pytest.approx(gaps)
    assert set(agg["probe"]) == {"MAE-DFER (appearance + motion)", "random initialisation"}
    # each claim: the paired differences recomputed from the saved predictions, an interval, a verdict
    claim = agg["claims"]["fine-tuned UAR: pre-trained − scratch"]
    assert claim["per_seed"] == pytest.approx(gaps) and claim["test_clips"] == len(summary["seeds"]["0"]["test_labels"])
    for c in agg["claims"].values():
        assert c["interval"][0] <= c["seeds_interval"][0] <= c["mean"] <= c["seeds_interval"][1] <= c["interval"][1]
        assert c["verdict"] in VERDICTS and len(c["evaluation_per_seed"]) == 2
    assert len(agg["targets"]) == 6 and all(t["verdict"] in VERDICTS for t in agg["targets"].values())
    # the pre-training figures are the last epoch of each seed's own log
    log = [json.loads(l) for l in (tmp_path / "demo" / "seed1" / "pretrain" / "metrics.jsonl").read_text().splitlines()]
    assert summary["seeds"]["1"]["pretrain_last_epoch"]["motion_ratio"] == log[-1]["train_motion_ratio"]
    assert (
        summary["seeds"]["1"]["heldout_last_epoch"]["appearance_floor_ratio"]
        == (log[-1]["heldout_appearance_floor_ratio"])
    )
    assert agg["targets"]["held-out motion ÷ zero ≤ 0.95"]["per_seed"] == [
        summary["seeds"][s]["heldout_last_epoch"]["motion_ratio"] for s in ("0", "1")
    ]
    # the pre-training is the small setting's, scored on the held-out videos
    config = read_checkpoint(tmp_path / "demo" / "seed0" / "pretrain" / "checkpoint-last.pth")["config"]
    assert config["mask_ratio"] == 0.75 and config["model_overrides"] == {"decoder_mask_ratio": 0.5}
    assert config["heldout"] == str(tmp_path / "demo" / "data" / "heldout.csv") and config["seed"] == 0
    assert config["precision"] == summary["machine"]["precision"]
    assert (tmp_path / "demo" / "demo.png").stat().st_size > 5000
    table = (tmp_path / "demo" / "demo.md").read_text()
    assert "| MAE-DFER pre-training |" in table and "| random initialisation |" in table
    assert "| held-out motion ÷ zero ≤ 0.95 | " in table and "÷ no-input floor (per seed)" in table
    assert "| fine-tuned UAR: pre-trained − scratch | " in table and "| verdict |" in table
    out = capsys.readouterr().out
    assert "mean ± std over seeds 0 / 1" in out and "| scratch (control) |" in out
    assert f"training precision {summary['machine']['precision']} (the default: " in out
    # a second run from nothing gives the same figures: same seed, same machine, same numbers
    assert main(["demo", "--quick", "--out", str(tmp_path / "again"), "--workers", "0"]) == 0
    assert _figures(json.loads((tmp_path / "again" / "demo.json").read_text())) == _figures(summary)
    # running it again resumes the finished runs and reports the same tables
    assert main(["demo", "--quick", "--out", str(tmp_path / "demo"), "--workers", "0"]) == 0
    assert json.loads((tmp_path / "demo" / "demo.json").read_text())["summary"] == summary["summary"]
    assert (tmp_path / "demo" / "demo.md").read_text() == table


def test_gradient_accumulation_equals_the_larger_batch(data, tmp_path):
    common = [
        "--set",
        "mixup=0.0",
        "--set",
        "cutmix=0.0",
        "--set",
        "drop_path=0.0",
        "--set",
        "epochs=1",
        "--set",
        "test=",
    ]
    assert main(_finetune_args(data, tmp_path / "big", *common, "--set", "batch_size=4")) == 0
    assert main(_finetune_args(data, tmp_path / "acc", *common, "--set", "batch_size=2", "--set", "accum_steps=2")) == 0
    assert _same_weights(
        _weights(tmp_path / "big" / "checkpoint-last.pth"),
        _weights(tmp_path / "acc" / "checkpoint-last.pth"),
        atol=1e-6,
    )


def test_bf16_with_clipping_and_fp16_refused_on_cpu(data, tmp_path, capsys):
    out = tmp_path / "bf16"
    assert (
        main(
            _finetune_args(
                data, out, "--set", "precision=bf16", "--set", "clip_grad=1.0", "--set", "epochs=1", "--set", "test="
            )
        )
        == 0
    )
    assert json.loads((out / "metrics.jsonl").read_text())["train_loss"] > 0
    assert main(_finetune_args(data, tmp_path / "fp16", "--set", "precision=fp16")) == 2
    assert "precision fp16 needs a GPU" in capsys.readouterr().err


def test_repeated_augmentation_trains_on_k_clips_per_decoded_video(data, tmp_path, monkeypatch):
    """batch_size counts clips: with repeated_aug 2 the loader takes 2 videos per batch of 4
    clips, so an epoch has about twice the steps and decodes each video once."""
    from maedfer.engine import trainer

    steps = {}
    original = trainer.Trainer.fit

    def fit(self, *args, **kwargs):
        steps[self.repeats] = (self.steps_per_epoch, self.batch_size)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(trainer.Trainer, "fit", fit)
    for k in (1, 2):
        assert main(_finetune_args(data, tmp_path / f"ft{k}", "--set", "epochs=1", "--set", f"repeated_aug={k}")) == 0
    videos = len((data / "split01" / "train.csv").read_text().splitlines())
    assert steps[1] == (videos // 4, 4) and steps[2] == (videos // 2, 2)
    assert (
        main(
            [
                "pretrain",
                "--preset",
                "synth-tiny-pretrain",
                "--set",
                f"data={data / 'pretrain.csv'}",
                "--set",
                f"output_dir={tmp_path / 'pt'}",
                "--set",
                "epochs=1",
                "--set",
                "batch_size=4",
                "--set",
                "workers=0",
                "--set",
                "warmup_epochs=0",
                "--set",
                "repeated_aug=2",
            ]
        )
        == 0
    )
    assert (tmp_path / "pt" / "figures" / "reconstruction-epoch001.png").is_file()
    assert steps[2] == (4, 2)  # 8 pool videos, 2 per batch
    assert main(_finetune_args(data, tmp_path / "bad", "--set", "repeated_aug=3")) == 2
