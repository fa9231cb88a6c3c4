"""--resume with a checkpoint of another run: one line naming the file and what differs
(README: "Resuming"), never torch's raw optimiser error; what a resume allows works."""

import pytest

from maedfer.checkpoint import read_checkpoint
from maedfer.cli import main


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_synth):
    root = tmp_path_factory.mktemp("resume")
    pre = [
        "pretrain",
        "--preset",
        "synth-tiny-pretrain",
        "--set",
        f"data={tiny_synth / 'pretrain.csv'}",
        "--set",
        "epochs=1",
        "--set",
        "batch_size=2",
        "--set",
        "workers=0",
        "--set",
        "warmup_epochs=0.5",
        "--set",
        "save_every_steps=1",
        "--set",
        "figure_every=0",
        "--set",
        f"output_dir={root / 'pre'}",
    ]
    assert main(pre) == 0
    return root, pre


def _finetune(data, out, *extra):
    return [
        "finetune",
        "--preset",
        "synth-tiny",
        "--set",
        f"train={data / 'split01' / 'train.csv'}",
        "--set",
        "test=",
        "--set",
        "epochs=1",
        "--set",
        "batch_size=4",
        "--set",
        "workers=0",
        "--set",
        "warmup_epochs=0.3",
        "--set",
        f"output_dir={out}",
        *extra,
    ]


def _one_line_error(capsys, *parts):
    err = capsys.readouterr().err
    assert err.startswith("maedfer: error:") and err.count("\n") == 1, err
    for part in parts:
        assert part in err, err


def test_finetune_resumed_from_a_pretraining_checkpoint(runs, tiny_synth, tmp_path, capsys):
    root, _ = runs
    ckpt = root / "pre" / "checkpoint-last.pth"
    assert main(_finetune(tiny_synth, tmp_path / "ft", "--resume", str(ckpt))) == 2
    _one_line_error(
        capsys,
        str(ckpt),
        "holds a pretrain run of mae_dfer_tiny",
        "this run is a finetune of lgi_former_tiny",
        f"--set init={ckpt}",
    )


def test_resume_with_another_model(runs, tmp_path, capsys):
    root, pre = runs
    ckpt = root / "pre" / "checkpoint-last.pth"
    other = [*pre[:-2], "--set", f"output_dir={tmp_path / 'vit'}", "--set", "model=mae_dfer_vit_tiny"]
    assert main([*other, "--resume", str(ckpt)]) == 2
    _one_line_error(capsys, "holds a run of mae_dfer_tiny", "this run trains mae_dfer_vit_tiny")
    overrides = [
        *pre[:-2],
        "--set",
        f"output_dir={tmp_path / 'deeper'}",
        "--set",
        "model_overrides={'encoder_depth': 2}",
    ]
    assert main([*overrides, "--resume", str(ckpt)]) == 2
    _one_line_error(capsys, "this run trains mae_dfer_tiny {'encoder_depth': 2}")


def test_resume_inside_an_epoch_needs_the_same_batches_and_an_epoch_boundary_does_not(runs, tmp_path, capsys):
    root, pre = runs
    import shutil

    out = tmp_path / "mid"
    shutil.copytree(root / "pre", out)
    last = out / "checkpoint-last.pth"
    # a mid-epoch position: rewrite the finished run's last checkpoint as if stopped after batch 2
    import torch

    state = read_checkpoint(last)
    state.update(epoch=0, step=2)
    torch.save(state, last)
    again = [*pre[:-2], "--set", f"output_dir={out}", "--resume", "auto"]
    bigger = [a if a != "batch_size=2" else "batch_size=4" for a in again]
    assert main(bigger) == 2
    _one_line_error(
        capsys, str(last), "stopped inside epoch 1 after 2 batches", "batch_size 2 -> 4", "checkpoint-epochNNN.pth"
    )
    # the same settings continue it
    assert main(again) == 0
    # from the epoch boundary, another batch size is allowed (one more epoch at batch 4)
    longer = [a if a != "epochs=1" else "epochs=2" for a in bigger]
    assert main(longer) == 0
    assert read_checkpoint(last)["epoch"] == 2 and read_checkpoint(last)["config"]["batch_size"] == 4
