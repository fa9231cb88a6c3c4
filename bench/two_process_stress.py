"""Do 2-process runs fail by chance? The small cases of tests/test_two_processes.py, repeated.

Per round, on gloo with ``torchrun --standalone --nproc_per_node=2`` (the torch of the Python
that runs this script):

- ``finetune``: a tiny fine-tuning with a test set (evaluation at the end of every epoch),
  uninterrupted, through the ``maedfer`` command. Must exit 0 with the weights of round 1.
- ``restart``: ``torchrun --max-restarts 1`` over tests/fault_run.py; rank 1 kills itself
  (SIGKILL) mid-run, torchrun restarts both processes and they resume from the last
  checkpoint. Must exit 0, resume at epoch 2, batch 1, and end with the weights of the same
  run uninterrupted (‖Δw‖/‖w‖ < 1e-5, as the tests).

    python bench/two_process_stress.py --runs 20 --out runs/stress [--cases finetune]

Prints one line per run and a summary (failures per case; the time a restart took, from the
step in which a process died to the first step after resuming); writes
stress-torch<version>.json to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from maedfer.data import synth
from maedfer.precision import cpu_name

HERE = Path(__file__).resolve().parent
FAULT_RUN = HERE.parent / "tests" / "fault_run.py"
TOLERANCE = 1e-5


def torchrun(args: list[str], restarts: int = 0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            f"--max-restarts={restarts}",
            *args,
        ],
        # PYTHONFAULTHANDLER: a process that aborts (SIGABRT) prints where each thread was
        env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONFAULTHANDLER="1"),
        capture_output=True,
        text=True,
        timeout=600,
    )


def relative_difference(a: dict, b: dict) -> float:
    diff = sum(((a[k].float() - b[k].float()) ** 2).sum() for k in a) ** 0.5
    return (diff / sum((a[k].float() ** 2).sum() for k in a) ** 0.5).item()


def finetune(data: Path, out: Path) -> tuple[subprocess.CompletedProcess, Path]:
    run = torchrun(
        [
            "-m",
            "maedfer",
            "finetune",
            "--preset",
            "synth-tiny",
            "--set",
            f"train={data / 'split01' / 'train.csv'}",
            "--set",
            f"test={data / 'split01' / 'test.csv'}",
            "--set",
            "epochs=2",
            "--set",
            "workers=0",
            "--set",
            "batch_size=2",
            "--set",
            "warmup_epochs=0.3",
            "--set",
            "test_clips=1",
            "--set",
            "test_crops=1",
            "--set",
            f"output_dir={out}",
        ]
    )
    return run, out / "checkpoint-last.pth"


def restart(data: Path, out: Path, kill: bool) -> tuple[subprocess.CompletedProcess, Path]:
    fault = ["3", "1"] if kill else ["-", "-"]
    run = torchrun([str(FAULT_RUN), str(out), str(data), "fp32", "kill", *fault], restarts=1)
    return run, out / "weights-rank0.pt"


def resume_seconds(out: Path) -> float:
    """From the step in which rank 1 killed itself to its first step after the restart: torchrun
    noticing, stopping rank 0, the new rendezvous, starting Python, the model, the checkpoint
    and the first batch."""
    steps = [json.loads(line) for line in (out / "samples-rank1.jsonl").read_text().splitlines()]
    killed = max(s["time"] for s in steps if s["attempt"] == 0)
    return min(s["time"] for s in steps if s["attempt"] == 1) - killed


def weights(path: Path) -> dict:
    state = torch.load(path, map_location="cpu", weights_only=False)
    return state["model"] if "model" in state else state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("runs/stress"))
    parser.add_argument("--cases", nargs="+", choices=("finetune", "restart"), default=["finetune", "restart"])
    args = parser.parse_args()
    data = args.out / "data"
    if not (data / "pretrain.csv").is_file():  # tests/conftest.py's tiny dataset
        synth.generate(
            data,
            synth.SynthConfig(
                clips_per_class=4, pool_size=8, frames=16, pool_frames=20, size=48, identities=4, folds=2
            ),
        )
    version = torch.__version__.split("+")[0]
    work = args.out / f"torch{version}"
    first: dict[str, dict] = {}
    if "restart" in args.cases:
        reference_run, reference = restart(data, work / "restart-reference", kill=False)
        assert reference_run.returncode == 0, reference_run.stderr[-3000:]
        first["restart"] = weights(reference)
    results: dict[str, list] = {name: [] for name in args.cases}
    for i in range(args.runs):
        for name in results:
            started = time.monotonic()
            out = work / f"{name}-{i:02d}"
            try:
                run, path = finetune(data, out) if name == "finetune" else restart(data, out, kill=True)
            except subprocess.TimeoutExpired:
                run, path = None, out
            problem = ""
            if run is None:
                problem = "hung: stopped after 600 s"
            elif run.returncode != 0:
                out.mkdir(parents=True, exist_ok=True)
                (out / "stderr.txt").write_text(run.stderr)  # the whole story, for whoever looks
                lines = [
                    line.strip()
                    for line in run.stderr.splitlines()
                    if line.startswith("maedfer: error") or "terminate" in line or "exitcode" in line
                ]
                problem = (
                    f"exit {run.returncode}: {' | '.join(lines[:4]) or run.stderr[-300:]} (see {out / 'stderr.txt'})"
                )
            elif (
                name == "restart"
                and f"resumed from {out / 'run' / 'checkpoint-last.pth'}: epoch 1, batch 1" not in run.stdout
            ):
                problem = "did not resume at epoch 2, batch 1"
            else:
                first.setdefault(name, weights(path))
                difference = relative_difference(first[name], weights(path))
                if difference >= TOLERANCE:
                    problem = f"weights differ: {difference:.2e}"
            # load: the 1-minute load average as the run ended (other work beside it, on 2 cores)
            results[name].append(
                dict(seconds=round(time.monotonic() - started, 1), load=round(os.getloadavg()[0], 1), problem=problem)
            )
            if name == "restart" and not problem:
                results[name][-1]["resume_seconds"] = round(resume_seconds(out), 2)
            shown = ", ".join(f"{k} {v}" for k, v in results[name][-1].items() if k != "problem")
            print(f"{name} {i + 1}/{args.runs}: {problem or 'ok'} ({shown})", flush=True)
    summary = {name: sum(bool(r["problem"]) for r in runs) for name, runs in results.items()}
    resumes = sorted(r["resume_seconds"] for r in results.get("restart", []) if "resume_seconds" in r)
    record = dict(
        torch=torch.__version__,
        python=platform.python_version(),
        cpu=cpu_name(),
        runs=args.runs,
        failures=summary,
        results=results,
    )
    (args.out / f"stress-torch{version}.json").write_text(json.dumps(record, indent=1))
    print(
        f"torch {torch.__version__}: "
        + ", ".join(f"{name} {n} failed of {args.runs}" for name, n in summary.items())
        + (
            f"; a restart took {resumes[len(resumes) // 2]:.1f} s (median; {resumes[0]:.1f}-{resumes[-1]:.1f})"
            if resumes
            else ""
        )
    )


if __name__ == "__main__":
    main()
