"""bench/pretrain_length.py end to end on the --quick demo data: it keeps and probes the
checkpoints it names, reports the run's own logged ratios, and refuses impossible epochs."""

import json
import subprocess
import sys
from pathlib import Path

from maedfer.checkpoint import read_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "pretrain_length.py"


def test_pretrain_length_probes_the_kept_checkpoints(tmp_path):
    out = tmp_path / "pl"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--scale", "quick", "--out", str(out), "--epochs", "4", "--probe-at", "2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads((out / "pretrain_length.json").read_text())
    # the --quick pool has 8 videos, batch 4: 2 steps an epoch; the last epoch is always probed
    assert [(r["epoch"], r["steps"]) for r in result["checkpoints"]] == [(2, 4), (4, 8)]
    log = {r["epoch"]: r for r in map(json.loads, (out / "pretrain" / "metrics.jsonl").read_text().splitlines())}
    for r in result["checkpoints"]:
        assert r["motion_ratio"] == log[r["epoch"]]["train_motion_ratio"]
        assert r["appearance_ratio"] == log[r["epoch"]]["train_appearance_ratio"]
        assert 0 <= r["knn_uar"] <= 100 and 0 <= r["linear_uar"] <= 100
    # the demo's schedule stretched: --quick warms up for half of its 1 epoch, so 2 of 4 here
    config = read_checkpoint(out / "pretrain" / "checkpoint-epoch002.pth")["config"]
    assert config["epochs"] == 4 and config["warmup_epochs"] == 2.0 and config["seed"] == 0
    assert (out / "pretrain" / "checkpoint-epoch004.pth").is_file()
    assert read_checkpoint(out / "finetune-scratch" / "checkpoint-last.pth")["config"]["init"] is None
    table = (out / "pretrain_length.md").read_text()
    two = result["checkpoints"][0]
    assert (
        f"| pre-trained, epoch 2 | 4 | {two['appearance_ratio']:.3f} | {two['motion_ratio']:.3f} | "
        f"{two['knn_uar']:.1f} | {two['linear_uar']:.1f} |"
    ) in table
    assert f"from scratch {result['finetune']['scratch']['uar']:.1f} UAR" in table


def test_pretrain_length_refuses_probe_epochs_past_the_end(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--scale",
            "quick",
            "--out",
            str(tmp_path / "x"),
            "--epochs",
            "4",
            "--probe-at",
            "6",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        "pretrain_length.py: error: --probe-at must lie in 1..--epochs (4), got [4, 6]"
    ]
    assert not (tmp_path / "x").exists()
