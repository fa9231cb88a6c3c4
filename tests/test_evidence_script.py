"""bench/evidence.py end to end at its quick scale (the CPU form of the GPU evidence run, in
memory): both pre-trainings with their held-out floors, three fine-tuning starts (scratch
with its lr sweep), three probes per seed, and the tables."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert result["seeds"] == [0, 1] and result["scale"] == "quick" and result["device"] == "CPU"
    assert result["clip_views"] == 16  # 8 videos, 2 passes
    for seed in ("0", "1"):
        r = result["runs"][seed]
        assert set(r["finetune"]) == {"pretrained", "appearance_only", "scratch"}
        assert all(0 <= v["uar"] <= 100 for v in r["finetune"].values())
        # scratch is the best of its sweep, one run per lr
        sweep = r["finetune"]["scratch"]["sweep"]
        assert [s["lr"] for s in sweep] == [1e-3, 3e-3]
        assert r["finetune"]["scratch"]["uar"] == max(s["uar"] for s in sweep)
        assert r["finetune"]["pretrained"]["lr"] == pytest.approx(3.2e-2 * 4 / 256)  # the preset's, batch 4
        assert set(r["probe"]) == {"pretrained", "appearance_only", "random"}
        for enc, weight in (("pretrained", 0.5), ("appearance_only", 1.0)):
            epochs = r["epochs"][enc]
            assert [e["epoch"] for e in epochs] == [1, 2]
            for e in epochs:  # each pre-training optimised its own lambda
                assert e["loss"] == pytest.approx(weight * e["appearance_loss"] + (1 - weight) * e["motion_loss"])
                assert e["appearance"] > 0 and e["appearance_floor"] > 0 and e["motion"] > 0
    table = (out / "evidence.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[1].startswith("| 1 | ") and rows[2].startswith("| 2 | ")
    scratch = [row for row in rows if row.startswith("| scratch | ")]
    best = [result["runs"][s]["finetune"]["scratch"]["lr"] for s in ("0", "1")]
    assert scratch == [
        f"| scratch | {scratch[0].split(' | ')[1]} | {scratch[0].split(' | ')[2]} | "
        + " / ".join(f"{result['runs'][s]['finetune']['scratch']['uar']:.1f}" for s in ("0", "1"))
        + " | "
        + " / ".join(f"{lr:g}" for lr in best)
        + " |"
    ]
    assert "Scratch's lr sweep, UAR in % (mean over seeds): 0.001: " in table
