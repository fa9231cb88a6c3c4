"""Two processes on the CPU (gloo, torchrun --standalone) against one: the same weights,
the same metrics, and files written by rank 0 only.

Tolerance: ‖w₂ − w₁‖ / ‖w₁‖ < 1e-5 over all weights. Two processes compute the same
gradients as one, but all-reduce sums the two halves' gradients in another order than one
process's batch sum does, so float rounding differs, and AdamW's normalised step turns a
rounding difference in a gradient near zero into a step-sized one (measured: 1.2e-6 for
pre-training, with single tensors such as zero-initialised biases up to 3e-3).
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from maedfer.checkpoint import read_checkpoint
from maedfer.cli import main
from maedfer.data.annotations import read_annotations, write_annotations

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def data(tiny_synth):
    return tiny_synth


FAULT_RUN = str(Path(__file__).parent / "fault_run.py")


def launch(*args: str, restarts: int = 0, **env: str) -> subprocess.CompletedProcess:
    """``torchrun --standalone`` with 2 processes on the CPU; ``args``: what it runs."""
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
        env=dict(os.environ, OMP_NUM_THREADS="1", **env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def torchrun(*args: str) -> subprocess.CompletedProcess:
    """A maedfer command on 2 processes, which must succeed."""
    run = launch("-m", "maedfer", *args)
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def _weights(path):
    return read_checkpoint(path)["model"]


def _relative_difference(a, b) -> float:
    assert a.keys() == b.keys()
    diff = sum(((a[k].float() - b[k].float()) ** 2).sum() for k in a) ** 0.5
    return (diff / sum((a[k].float() ** 2).sum() for k in a) ** 0.5).item()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _files(folder):
    return sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and "tensorboard" not in p.parts
    )


def test_pretraining_on_two_processes_ends_with_the_weights_of_one(data, tmp_path):
    """With the device-side augmentation and a pool decoded once into a file (built by rank 0,
    read by rank 1), as a GPU run would use them."""
    common = [
        "pretrain",
        "--preset",
        "synth-tiny-pretrain",
        "--set",
        f"data={data / 'pretrain.csv'}",
        "--set",
        "epochs=1",
        "--set",
        "workers=0",
        "--set",
        "warmup_epochs=0.5",
        "--set",
        "augment_on=device",
        "--set",
        f"pool_cache={tmp_path / 'pool.u8'}",
        "--set",
        "figure_every=1",
    ]
    assert main([*common, "--set", "batch_size=4", "--set", f"output_dir={tmp_path / 'one'}"]) == 0
    torchrun(*common, "--set", "batch_size=2", "--set", f"output_dir={tmp_path / 'two'}")
    one, two = tmp_path / "one", tmp_path / "two"
    assert (
        _relative_difference(_weights(one / "checkpoint-last.pth"), _weights(two / "checkpoint-last.pth")) < TOLERANCE
    )
    # only rank 0 writes: the same files, one line per epoch in the log
    assert _files(one) == _files(two)
    assert len((two / "metrics.jsonl").read_text().splitlines()) == 1
    logged = [json.loads((f / "metrics.jsonl").read_text()) for f in (one, two)]
    assert logged[0]["train_loss"] == pytest.approx(logged[1]["train_loss"], rel=1e-4)


def test_finetuning_on_two_processes_ends_with_the_weights_of_one(data, tmp_path):
    """Mixup and drop path off: they draw from each process's own random stream."""
    common = [
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
        "workers=0",
        "--set",
        "warmup_epochs=0.3",
        "--set",
        "mixup=0.0",
        "--set",
        "cutmix=0.0",
        "--set",
        "drop_path=0.0",
    ]
    assert main([*common, "--set", "batch_size=4", "--set", f"output_dir={tmp_path / 'one'}"]) == 0
    torchrun(*common, "--set", "batch_size=2", "--set", f"output_dir={tmp_path / 'two'}")
    a, b = (_weights(tmp_path / f / "checkpoint-last.pth") for f in ("one", "two"))
    assert _relative_difference(a, b) < TOLERANCE
    changed = dict(a, **{"head.bias": a["head.bias"] + 1e-3})  # the comparison does see a change this small
    assert _relative_difference(changed, b) > TOLERANCE
    assert _files(tmp_path / "one") == _files(tmp_path / "two")


def test_evaluation_on_two_ranks_of_an_odd_test_set_gives_the_metrics_of_one(data, tmp_path):
    """13 videos x 2 views over 2 ranks: the sampler pads one rank with a repeated view,
    which must count once."""
    items = read_annotations(data / "split01" / "test.csv")[:13]
    test = write_annotations(tmp_path / "test13.csv", items)
    run = tmp_path / "ft"
    assert (
        main(
            [
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
                "workers=0",
                "--set",
                "batch_size=4",
                "--set",
                "warmup_epochs=0.3",
                "--set",
                f"output_dir={run}",
            ]
        )
        == 0
    )
    ckpt = str(run / "checkpoint-last.pth")
    views = ["--set", "test_clips=2", "--set", "test_crops=1", "--set", "workers=0", "--set", "batch_size=3"]
    assert main(["evaluate", ckpt, "--test", str(test), "--out", str(tmp_path / "one"), *views]) == 0
    torchrun("evaluate", ckpt, "--test", str(test), "--out", str(tmp_path / "two"), *views)
    one, two = (json.loads((tmp_path / f / "metrics.json").read_text()) for f in ("one", "two"))
    assert one["videos"] == two["videos"] == 13
    assert one.pop("per_class_accuracy") == two.pop("per_class_accuracy") and one == pytest.approx(two)
    # every video's averaged probabilities, not only the metrics (which a constant model would pass)
    rows = [
        [r.split(",") for r in (tmp_path / f / "predictions.csv").read_text().splitlines()[1:]] for f in ("one", "two")
    ]
    assert len(rows[0]) == len(rows[1]) == 13
    assert [r[:3] for r in rows[0]] == [r[:3] for r in rows[1]]
    probabilities = [torch.tensor([[float(v) for v in r[3:]] for r in table]) for table in rows]
    assert probabilities[0].std(0).max() > 1e-4  # the videos' outputs differ: a real comparison
    assert torch.allclose(probabilities[0], probabilities[1], atol=2e-5, rtol=0)
    assert _files(tmp_path / "one") == _files(tmp_path / "two")


def test_a_failing_rank_ends_the_job_in_seconds_with_its_one_line(data, tmp_path):
    """A clip that cannot be read (on_error raise) reaches one rank: that rank's line says
    why, the other stops in one line too, and no process prints a traceback."""
    import shutil
    import time

    bad = tmp_path / "pool"
    shutil.copytree(data / "pool", bad)
    (bad / "broken.mp4").write_bytes((bad / "00000.mp4").read_bytes()[:3000])
    items = read_annotations(data / "pretrain.csv")
    annotation = write_annotations(tmp_path / "pool.csv", [*items[:3], type(items[0])(str(bad / "broken.mp4"), 0)])
    started = time.monotonic()
    run = launch(
        "-m",
        "maedfer",
        "pretrain",
        "--preset",
        "synth-tiny-pretrain",
        "--set",
        f"data={annotation}",
        "--set",
        "epochs=2",
        "--set",
        "batch_size=1",
        "--set",
        "workers=0",
        "--set",
        "warmup_epochs=0.5",
        "--set",
        "figure_every=0",
        "--set",
        f"output_dir={tmp_path / 'run'}",
    )
    assert run.returncode != 0 and time.monotonic() - started < 60
    ours = [line for line in run.stderr.splitlines() if line.startswith("maedfer: error:")]
    why = (
        f"maedfer: error: {bad / 'broken.mp4'}: cannot open video (InvalidDataError: [Errno 1094995529] "
        f"Invalid data found when processing input: '{bad / 'broken.mp4'}')"
    )
    assert ours.count(why) == 1  # the failing rank's line; the other rank's, in either order:
    assert all(
        line.startswith("maedfer: error: rank ") and "another process of the run failed" in line
        for line in ours
        if line != why
    )
    assert not [line for line in run.stderr.splitlines() if line.startswith("[rank")]  # no process's traceback


def test_a_stalled_rank_ends_the_job_after_the_collective_timeout(data, tmp_path):
    """Rank 1 sleeps 60 s inside its second step; with MAEDFER_DIST_TIMEOUT=4 rank 0 stops
    after waiting 4 s for it in the step's all-reduce, in one line, and the job ends."""
    import time

    started = time.monotonic()
    run = launch(FAULT_RUN, str(tmp_path), str(data), "fp32", "stall", "1", "1", MAEDFER_DIST_TIMEOUT="4")
    elapsed = time.monotonic() - started
    assert run.returncode != 0 and elapsed < 40, (elapsed, run.stderr[-2000:])
    assert (
        "maedfer: error: rank 0 stopped: waited 4 s (MAEDFER_DIST_TIMEOUT) for the other processes in a "
        "collective: one of them stalled" in run.stderr
    )
    assert not [line for line in run.stderr.splitlines() if line.startswith("[rank0]")]


@pytest.mark.parametrize(
    "rank1,codes,rank0_says",
    [
        (
            "os._exit(3)",
            [0, 3],
            "maedfer: warning: rank 0 finished, but another process left before the end of the run; "
            "torchrun reports how it ended",
        ),
        (
            "time.sleep(30)",
            [2, -9],
            "maedfer: error: rank 0 stopped: waited 3 s (MAEDFER_DIST_TIMEOUT) for the other "
            "processes in a collective: one of them stalled",
        ),
    ],
)
def test_the_last_step_of_a_run_after_another_process_left_or_stalled(rank1, codes, rank0_says):
    """Every rank waits for the others at the end of a run. If rank 1 is gone by then (here it
    exits 3 after its work), rank 0, whose work is done, ends normally with a warning, not a
    traceback, and rank 1's own exit status fails the job. If rank 1 stalls, rank 0 stops after
    MAEDFER_DIST_TIMEOUT, so that torchrun stops the stalled one. Plain processes, not torchrun,
    which would stop rank 0 itself as soon as rank 1 is gone."""
    import time

    port = _free_port()
    script = (
        "import os, sys, time\n"
        "from maedfer.engine.distributed import distributed_run\n"
        "from maedfer.errors import MaedferError, one_line\n"
        "try:\n"
        "    with distributed_run() as d:\n"
        "        if d.rank == 1:\n"
        f"            {rank1}\n"
        "except MaedferError as e:\n"
        "    print(f'maedfer: error: {one_line(e)}', file=sys.stderr)\n"
        "    sys.exit(2)\n"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            stderr=subprocess.PIPE,
            text=True,
            env=dict(
                os.environ,
                RANK=str(r),
                LOCAL_RANK=str(r),
                WORLD_SIZE="2",
                MASTER_ADDR="127.0.0.1",
                MASTER_PORT=str(port),
                OMP_NUM_THREADS="1",
                MAEDFER_DIST_TIMEOUT="3",
            ),
        )
        for r in (0, 1)
    ]
    started = time.monotonic()
    rank0 = processes[0].communicate(timeout=60)[1]
    assert time.monotonic() - started < 25
    processes[1].kill()  # the stalled one, as torchrun would
    processes[1].communicate(timeout=60)
    assert [p.returncode for p in processes] == codes, rank0
    assert rank0.strip().splitlines() == [rank0_says], rank0


def test_two_nodes_on_localhost_train_the_model_of_one_process(data, tmp_path):
    """The README's multi-machine command in its one-machine form: 2 torchrun "nodes" of one
    process each, c10d rendezvous on 127.0.0.1, with restarts allowed and --resume auto, as
    the sbatch script passes them."""
    sbatch = (Path(__file__).parents[1] / "examples" / "slurm" / "pretrain.sbatch").read_text()
    assert all(flag in sbatch for flag in ("srun torchrun", "--rdzv_backend=c10d", "--max-restarts=", "--resume auto"))

    port = _free_port()  # for the rendezvous
    common = [
        "pretrain",
        "--preset",
        "synth-tiny-pretrain",
        "--set",
        f"data={data / 'pretrain.csv'}",
        "--set",
        "epochs=1",
        "--set",
        "workers=0",
        "--set",
        "warmup_epochs=0.5",
        "--set",
        "figure_every=0",
    ]
    assert main([*common, "--set", "batch_size=4", "--set", f"output_dir={tmp_path / 'one'}"]) == 0
    env = dict(os.environ, OMP_NUM_THREADS="1")
    nodes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes=2",
                "--nproc_per_node=1",
                f"--node_rank={node}",
                "--rdzv_id=test",
                "--rdzv_backend=c10d",
                f"--rdzv_endpoint=127.0.0.1:{port}",
                "--max-restarts=1",
                "-m",
                "maedfer",
                *common,
                "--resume",
                "auto",
                "--set",
                "batch_size=2",
                "--set",
                f"output_dir={tmp_path / 'two'}",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for node in (0, 1)
    ]
    for node in nodes:
        _, err = node.communicate(timeout=300)
        assert node.returncode == 0, err[-2000:]
    a, b = (_weights(tmp_path / f / "checkpoint-last.pth") for f in ("one", "two"))
    assert _relative_difference(a, b) < TOLERANCE


def _trained_samples(folder: Path, rank: int) -> list[list[tuple[int, list[int]]]]:
    """Per attempt (torchrun's restart count), the (epoch, sample indices) of each step rank
    ``rank`` began, in order."""
    steps = [json.loads(line) for line in (folder / f"samples-rank{rank}.jsonl").read_text().splitlines()]
    return [
        [(s["epoch"], s["samples"]) for s in steps if s["attempt"] == a] for a in sorted({s["attempt"] for s in steps})
    ]


def test_a_worker_killed_mid_epoch_is_restarted_by_torchrun_and_the_run_ends_as_if_uninterrupted(data, tmp_path):
    """torchrun --max-restarts 1; rank 1 kills itself (SIGKILL) in its 4th step, epoch 2, after
    the checkpoint of epoch 2, batch 1 (save_every_steps 1). torchrun stops rank 0, starts both
    again, and they resume from that checkpoint. Against the same run uninterrupted: the same
    weights (tolerance of two processes; measured: identical), and every sample trained once."""
    runs = {}
    for name, fault in (("plain", ["-", "-"]), ("killed", ["3", "1"])):
        runs[name] = launch(FAULT_RUN, str(tmp_path / name), str(data), "fp32", "kill", *fault, restarts=1)
        assert runs[name].returncode == 0, runs[name].stderr[-3000:]
    assert "resumed from" not in runs["plain"].stdout
    assert (
        f"resumed from {tmp_path / 'killed' / 'run' / 'checkpoint-last.pth'}: epoch 1, batch 1" in runs["killed"].stdout
    )
    for rank in (0, 1):
        (plain,) = _trained_samples(tmp_path / "plain", rank)
        first, second = _trained_samples(tmp_path / "killed", rank)
        assert len(plain) == 4 and len(second) == 1  # 2 epochs of 2 steps; resumed at the 4th
        assert first[:3] + second == plain  # attempt 0 began the 4th step too, then died in it
        a, b = (torch.load(tmp_path / f / f"weights-rank{rank}.pt") for f in ("plain", "killed"))
        assert _relative_difference(a, b) < TOLERANCE
    for epoch in (0, 1):  # the 2 ranks share out the 8 videos of each epoch
        seen = [
            i
            for rank in (0, 1)
            for e, samples in _trained_samples(tmp_path / "plain", rank)[0]
            if e == epoch
            for i in samples
        ]
        assert sorted(seen) == list(range(8))


def test_each_process_group_gets_a_namespace_no_earlier_group_used():
    """The handshake behind restarts, on one store as torchrun's agent keeps it: a second group
    whose followers start before its rank 0 (so that they first find the dead group's answers),
    and a third after a group whose rank 2 died before it said hello, agree among themselves
    on a namespace of their own; a process whose group never comes stops in one line."""
    import threading
    import time
    from datetime import timedelta

    from maedfer.engine.distributed import _fresh_namespace
    from maedfer.errors import MaedferError

    server = torch.distributed.TCPStore("127.0.0.1", 0, is_master=True, timeout=timedelta(seconds=10))

    def group(ranks, delay_rank0=0.0) -> dict[int, str]:
        got = {}

        def process(rank):
            if rank == 0:
                time.sleep(delay_rank0)
            client = torch.distributed.TCPStore(
                "127.0.0.1", server.port, is_master=False, timeout=timedelta(seconds=10)
            )
            got[rank] = _fresh_namespace(client, rank, 3, timeout=10)

        threads = [threading.Thread(target=process, args=(r,), daemon=True) for r in ranks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=15)
        return got

    first = group([0, 1, 2])
    assert len(first) == 3 and len(set(first.values())) == 1
    second = group([0, 1, 2], delay_rank0=0.5)
    assert len(second) == 3 and len(set(second.values())) == 1 and second[0] != first[0]
    server.set("maedfer/hello/2", "a-nonce-of-a-process-that-died")  # then the group died
    third = group([0, 1, 2], delay_rank0=0.5)
    assert len(third) == 3 and len(set(third.values())) == 1 and third[0] not in (first[0], second[0])
    with pytest.raises(
        MaedferError,
        match=r"^rank 1: the other processes did not join the process group within 0 s "
        r"\(MAEDFER_DIST_TIMEOUT\)$",
    ):
        _fresh_namespace(server, 1, 3, timeout=0.3)
