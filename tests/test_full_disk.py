"""A checkpoint that cannot be written (a full disk): one line, the previous checkpoint and
the run's other files intact, and --resume auto continues from it."""

import os
import subprocess

import pytest
import torch

from maedfer.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from maedfer.cli import main
from maedfer.registry import create_model


@pytest.fixture(scope="module")
def data(tiny_synth):
    return tiny_synth


def test_a_full_disk_while_saving_stops_in_one_line_and_loses_nothing(data, tmp_path, monkeypatch, capsys):
    args = [
        "pretrain",
        "--preset",
        "synth-tiny-pretrain",
        "--set",
        f"data={data / 'pretrain.csv'}",
        "--set",
        "epochs=2",
        "--set",
        "batch_size=4",
        "--set",
        "workers=0",
        "--set",
        "warmup_epochs=0.5",
        "--set",
        "figure_every=0",
        "--set",
        "save_every=1",
    ]
    assert main([*args, "--set", f"output_dir={tmp_path / 'straight'}"]) == 0
    out = tmp_path / "full"
    real_save, saves = torch.save, {"n": 0}

    def full_disk_at_the_second_save(obj, f, *a, **k):
        saves["n"] += 1
        if saves["n"] == 2:
            f.write(b"partial bytes")
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 2089984 vs 2089872")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", full_disk_at_the_second_save)
    capsys.readouterr()
    assert main([*args, "--set", f"output_dir={out}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        f"maedfer: error: {out / 'checkpoint-last.pth'}: could not be written (the write failed with "
    )
    assert "the file that was there is intact" in err and "--resume auto continues" in err
    # epoch 1's state is there, whole; no temporary file is left; the log has epoch 1
    assert read_checkpoint(out / "checkpoint-last.pth")["epoch"] == 1
    assert sorted(p.name for p in out.iterdir() if p.name.startswith((".", "checkpoint"))) == [
        "checkpoint-epoch001.pth",
        "checkpoint-last.pth",
    ]
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1
    monkeypatch.setattr(torch, "save", real_save)
    assert main([*args, "--set", f"output_dir={out}", "--resume", "auto"]) == 0
    a, b = (read_checkpoint(f / "checkpoint-last.pth")["model"] for f in (tmp_path / "straight", out))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_log_that_cannot_be_written_is_one_line(data, tmp_path, monkeypatch, capsys):
    from maedfer.engine import trainer

    real = trainer.RunLog.write

    def failing(self, record, step):
        if self.enabled:
            self.path = self.path.parent / "missing-folder" / "metrics.jsonl"  # open() fails like a full disk
        return real(self, record, step)

    monkeypatch.setattr(trainer.RunLog, "write", failing)
    out = tmp_path / "log"
    assert (
        main(
            [
                "pretrain",
                "--preset",
                "synth-tiny-pretrain",
                "--set",
                f"data={data / 'pretrain.csv'}",
                "--set",
                "epochs=1",
                "--set",
                "batch_size=4",
                "--set",
                "workers=0",
                "--set",
                "warmup_epochs=0.5",
                "--set",
                "figure_every=0",
                "--set",
                f"output_dir={out}",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "metrics.jsonl: cannot write the run's log (No such file or directory)" in err
    assert read_checkpoint(out / "checkpoint-last.pth")["epoch"] == 1


def test_on_a_really_full_filesystem(tmp_path):
    """A 1 MiB tmpfs, where one can be mounted (root on Linux): torch's writer fails for
    real, and the earlier file stays."""
    mount = tmp_path / "small"
    mount.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
        ).returncode
    ):
        pytest.skip("cannot mount a small tmpfs here")
    try:
        small, big = torch.nn.Linear(4, 4), create_model("mae_dfer_tiny")
        save_checkpoint(small, mount / "model.pth")
        with pytest.raises(
            CheckpointError,
            match=r"model.pth: could not be written \(.*MiB free on that disk\); "
            r"the file that was there is intact",
        ):
            save_checkpoint(big, mount / "model.pth")
        assert set(read_checkpoint(mount / "model.pth")["model"]) == {"weight", "bias"}
        assert [p.name for p in mount.iterdir()] == ["model.pth"]
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
