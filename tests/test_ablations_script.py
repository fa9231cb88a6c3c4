"""bench/ablations.py end to end at its quick scale (in memory): every variant runs what it
says and the table says what each one measured."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OFFICIAL = "λ 0.5, mask 0.75, LGI-Former (the demo's setting)"


def test_ablations_quick_scale_writes_the_table(tmp_path):
    out = tmp_path / "abl"
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "ablations.py"),
            "--scale",
            "quick",
            "--out",
            str(out),
            "--seeds",
            "0",
            "1",
            "--variants",
            "λ 1.0 (appearance only)",
            "ViT encoder (joint attention)",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads((out / "ablations.json").read_text())
    assert result["seeds"] == [0, 1] and set(result["runs"]) == {
        OFFICIAL,
        "λ 1.0 (appearance only)",
        "ViT encoder (joint attention)",
    }
    vit = result["runs"]["ViT encoder (joint attention)"]["0"]
    assert 0 <= vit["uar"] <= 100 and 0 <= vit["linear_uar"] <= 100 and vit["motion_ratio"] > 0
    assert vit["appearance_floor_ratio"] > 0  # scored on the held-out videos
    # each variant ran what it says, beside the preset's settings
    assert vit["ran"]["pretrain"] == "mae_dfer_vit_tiny" and vit["ran"]["finetune"] == "vit_tiny"
    lam = result["runs"]["λ 1.0 (appearance only)"]["1"]["ran"]
    assert lam["appearance_weight"] == 1.0 and lam["decoder_mask_ratio"] == 0.5 and lam["mask_ratio"] == 0.75
    official = result["runs"][OFFICIAL]["0"]["ran"]
    assert official["pretrain"] == "mae_dfer_tiny" and "appearance_weight" not in official
    assert result["forward_ms_per_clip"]["ViT encoder (joint attention)"] > 0
    table = (out / "ablations.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert len(rows) == 4 and rows[0].startswith("| variant | fine-tuned UAR")
    mean = (result["runs"][OFFICIAL]["0"]["uar"] + result["runs"][OFFICIAL]["1"]["uar"]) / 2
    assert f"| {OFFICIAL} | {mean:.1f} ± " in table
    assert "fine-tuned: " in rows[2] and "; probe: " in rows[2]
