"""Steps with a non-finite loss or gradient: skipped on every rank, counted per epoch, and
after max_nonfinite_steps in a row the run stops in one line (printed once) naming the step
and the last good checkpoint. Injected on one rank of two, and in one process, in each
precision this machine runs (fp16 needs a GPU: the CUDA-marked case; its scaler's branch of
the optimiser step is also tested on the CPU)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
RUN = HERE / "fault_run.py"


@pytest.fixture(scope="module")
def data(tiny_synth):
    return tiny_synth


def run(
    out: Path, data: Path, precision: str, kind: str, steps: str, ranks: str, processes: int, limit: int = 25
) -> subprocess.CompletedProcess:
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
        if processes > 1
        else [sys.executable]
    )
    return subprocess.run(
        [*launcher, str(RUN), str(out), str(data), precision, kind, steps, ranks, str(limit)],
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _weights(out: Path, rank: int) -> dict:
    return torch.load(out / f"weights-rank{rank}.pt")


def _skipped(out: Path) -> list[int]:
    return [json.loads(line)["skipped_steps"] for line in (out / "run" / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def clean_two_process_runs(data, tmp_path_factory):
    """Per precision, the same 2-process run without any injection (made once)."""
    runs = {}

    def get(precision: str) -> Path:
        if precision not in runs:
            out = tmp_path_factory.mktemp(f"clean-{precision}")
            done = run(out, data, precision, "loss", "-", "-", processes=2)
            assert done.returncode == 0, done.stderr[-2000:]
            runs[precision] = out
        return runs[precision]

    return get


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("kind", ["loss", "grad"])
def test_one_rank_of_two_goes_non_finite_and_both_skip_that_step(
    data, tmp_path, precision, kind, clean_two_process_runs
):
    clean, bad = clean_two_process_runs(precision), tmp_path / "bad"
    done = run(bad, data, precision, kind, "1", "1", processes=2)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _skipped(bad) == [1, 0] and _skipped(clean) == [0, 0]
    a, b = _weights(bad, 0), _weights(bad, 1)
    assert all(torch.equal(a[k], b[k]) for k in a)  # the ranks skipped together: still one model
    assert all(torch.isfinite(v).all() for v in a.values())
    assert any(not torch.equal(a[k], _weights(clean, 0)[k]) for k in a)  # a step was really left out


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("kind", ["loss", "grad"])
def test_one_process_skips_the_step_and_goes_on(data, tmp_path, precision, kind):
    done = run(tmp_path, data, precision, kind, "2,5", "0", processes=1)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _skipped(tmp_path) == [1, 1]
    assert all(torch.isfinite(v).all() for v in _weights(tmp_path, 0).values())


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fp16_reports_its_skipped_steps_the_same_way(data, tmp_path):
    done = run(tmp_path, data, "fp16", "grad", "2", "0", processes=1)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _skipped(tmp_path)[0] >= 1  # the injected one, and any of the scaler's own overflows


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
def test_the_fp16_step_skips_a_non_finite_gradient_through_its_scaler(bad):
    """fp16's branch of the optimiser step, on the CPU (fp16 training itself needs a GPU):
    the GradScaler finds the bad gradient, leaves the weights alone and halves its scale, and
    the step reports itself skipped, which the epoch counts as for fp32 and bf16."""
    from types import SimpleNamespace

    from maedfer.engine.trainer import Trainer

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    trainer = SimpleNamespace(
        scaler=torch.amp.GradScaler("cpu", init_scale=2.0**16),
        optimizer=optimizer,
        module=model,
        config=SimpleNamespace(clip_grad=1.0),
    )
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.scaler.scale(model(torch.ones(1, 3)).sum() * bad).backward()
    assert Trainer._optimizer_step(trainer) is False
    assert trainer.scaler.get_scale() == 2.0**15
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    optimizer.zero_grad()
    trainer.scaler.scale(model(torch.ones(1, 3)).sum()).backward()
    assert Trainer._optimizer_step(trainer) is True
    assert not torch.equal(before["weight"], model.weight)


@pytest.mark.parametrize(
    "processes,where,saved", [(1, "epoch 1, batch 3", "none written yet"), (2, "epoch 2, batch 1", "end of epoch 1")]
)
def test_too_many_in_a_row_stop_the_run_in_one_line(data, tmp_path, processes, where, saved):
    """An lr of 1e30: the first step blows the weights up, every later one is non-finite; the
    third in a row stops the run, on every rank, and the line is printed once."""
    out = tmp_path / "run"
    args = [
        "-m",
        "maedfer",
        "pretrain",
        "--preset",
        "synth-tiny-pretrain",
        "--set",
        f"data={data / 'pretrain.csv'}",
        "--set",
        f"epochs={processes + 1}",
        "--set",
        "batch_size=2",
        "--set",
        "workers=0",
        "--set",
        "warmup_epochs=0",
        "--set",
        "lr=1e32",
        "--set",
        "min_lr=1e31",
        "--set",
        "figure_every=0",
        "--set",
        "max_nonfinite_steps=3",
        "--set",
        f"output_dir={out}",
    ]
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
        if processes > 1
        else [sys.executable]
    )
    done = subprocess.run(
        [*launcher, *args], env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.startswith("maedfer: error:")]
    assert lines == [
        f"maedfer: error: 3 steps in a row had a non-finite loss or gradient, the last at {where}; "
        f"the last good state is {out / 'checkpoint-last.pth'} ({saved}): lower lr, use fp32 or "
        f"bf16, or raise max_nonfinite_steps"
    ]
