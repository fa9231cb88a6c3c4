"""bench/motion_target.py: its simple predictors score what is predictable and only that,
and the script runs end to end on a small pool."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import torch

import maedfer
from maedfer.data.synth import brightness_step_clips, generate
from maedfer.data.transforms import Normalize
from maedfer.engine.demo import QUICK

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "motion_target.py"


def _bench():
    spec = importlib.util.spec_from_file_location("motion_target", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_simple_predictors_score_brightness_steps_and_not_noise(smooth_images):
    bench = _bench()
    g = torch.Generator().manual_seed(0)
    model = maedfer.create_model("mae_dfer_tiny", num_frames=4)
    images = smooth_images(6, g)
    mask = model.masking(6)
    steps = brightness_step_clips(images, 4, 0.1, g)
    # a still image under independent per-frame noise: nothing about its motion is predictable
    noisy = images.unsqueeze(2).repeat(1, 1, 4, 1, 1) + 0.02 * torch.randn(6, 3, 4, 80, 80, generator=g)
    noisy = Normalize()(noisy.transpose(1, 2) * 255).transpose(1, 2)
    assert bench.visible_median_predictor(model, steps, mask) < 0.2
    assert bench.visible_median_predictor(model, noisy, mask) > 0.98
    appearance, motion = bench.neighbour_predictor(model, steps)
    assert appearance < 0.3 and motion < 0.3


def test_brightness_step_clips_step_between_the_frames_of_every_tubelet(smooth_images):
    g = torch.Generator().manual_seed(1)
    images = smooth_images(4, g)
    clips = brightness_step_clips(images, 6, 0.1, g)
    assert clips.shape == (4, 3, 6, 80, 80)
    norm = Normalize()
    pixels = (clips.transpose(1, 2) * norm.std + norm.mean).transpose(1, 2)
    factor = (pixels[:, :, 1::2] / pixels[:, :, 0::2]).mean(dim=(1, 3, 4))  # (4, 3 tubelets)
    assert torch.allclose(factor.abs(), factor[:, :1].abs().expand(-1, 3), atol=1e-4)  # same in every tubelet
    assert torch.allclose((factor - 1).abs(), torch.full_like(factor, 0.1), atol=1e-4)
    assert torch.allclose(pixels[:, :, 0], images, atol=1e-5)


def test_script_runs_on_a_small_pool(tmp_path):
    generate(tmp_path / "data", QUICK.synth)
    checkpoint = maedfer.save_checkpoint(
        maedfer.create_model("mae_dfer_tiny"), tmp_path / "pre.pth", config={"stride": 2}
    )
    run = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--data",
            str(tmp_path / "data" / "pretrain.csv"),
            "--checkpoint",
            str(checkpoint),
            "--clips",
            "6",
            "--steps",
            "2",
            "--lrs",
            "1e-3",
            "--seeds",
            "0",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.stdout
    assert "6 clips" in out and "score of predicting zero" in out
    assert "| median brightness change of the visible tubelets, per time slice | – | " in out
    assert f"| {checkpoint} | " in out and "its motion predictions: rms" in out
    row = next(line for line in out.splitlines() if line.startswith("| 1.0e-03 |"))
    assert len(row.split("|")[2].split(" / ")) == 2  # one score per seed
    missing = subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(tmp_path / "none.csv")], capture_output=True, text=True, timeout=120
    )
    assert missing.returncode == 1 and "none.csv: no such annotation file" in missing.stderr
