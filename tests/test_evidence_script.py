"""bench/evidence.py end to end at its quick scale (the CPU form of the GPU evidence run):
both pre-trainings, three fine-tunings and three probes per seed, per-epoch ratios read
from the runs' own logs, and the tables."""

import json
import subprocess
import sys
from pathlib import Path

from maedfer.checkpoint import read_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def test_evidence_quick_scale_writes_the_tables(tmp_path):
    out = tmp_path / "ev"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "evidence.py"), "--scale", "quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads((out / "evidence.json").read_text())
    assert result["seeds"] == [0, 1] and result["scale"] == "quick"
    for seed in ("0", "1"):
        r = result["runs"][seed]
        assert set(r["finetune"]) == {"pretrained", "appearance_only", "scratch"}
        assert all(0 <= v["uar"] <= 100 for v in r["finetune"].values())
        assert set(r["probe"]) == {
            "MAE-DFER (appearance + motion)",
            "appearance only (lambda 1)",
            "random initialisation",
        }
        # the per-epoch ratios are the runs' own logged ones
        for enc in ("pretrain", "pretrain-appearance"):
            logged = [
                json.loads(line) for line in (out / f"seed{seed}" / enc / "metrics.jsonl").read_text().splitlines()
            ]
            assert [e["motion"] for e in r["epochs"][enc]] == [row["heldout_motion_ratio"] for row in logged]
            assert [e["appearance_floor"] for e in r["epochs"][enc]] == [
                row["heldout_appearance_floor_ratio"] for row in logged
            ]
    # the appearance-only model was pre-trained with lambda 1, from the pool decoded once in memory,
    # and fine-tuned from
    state = read_checkpoint(out / "seed1" / "pretrain-appearance" / "checkpoint-last.pth")
    assert (
        state["config"]["model_overrides"]["appearance_weight"] == 1.0
        and state["config"]["pool_cache"] == str(out / "data" / "pool.u8")
        and (out / "data" / "pool.u8").is_file()
    )
    ft = read_checkpoint(out / "seed1" / "finetune-appearance_only" / "checkpoint-last.pth")
    assert ft["config"]["init"].endswith("pretrain-appearance/checkpoint-last.pth")
    table = (out / "evidence.md").read_text()
    assert "| 1 | " in table and "| appearance only (λ 1) | " in table and "| scratch | " in table
