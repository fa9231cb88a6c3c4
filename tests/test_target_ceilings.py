"""bench/target_ceilings.py on a few clips: the shares it reports are what they say."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_target_ceilings_reports_shares_and_floors(tmp_path):
    out = tmp_path / "ceilings.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "target_ceilings.py"), "--clips-per-class", "3", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["clips"] == 21
    appearance, motion = result["parts"]["appearance"], result["parts"]["motion"]
    # noise, light and rounding are a small part of appearance and a large one of motion
    assert 0 < appearance["noise_light_rounding_share"] < 0.2 < motion["noise_light_rounding_share"] < 0.6
    # faces look alike where they are; frame differences have no average position
    assert appearance["no_input_floor"] < 0.9 and motion["no_input_floor"] > 0.9
    assert "| motion | " in run.stdout
