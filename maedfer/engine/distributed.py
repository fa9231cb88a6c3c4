"""One process or many under torchrun (DDP): NCCL on GPUs, gloo on CPU. torchrun's own
rendezvous handles multi-node runs; nothing here needs to know about nodes.

Restarts (``torchrun --max-restarts``): torchrun's agent keeps one key-value store for the
whole job, and torch (2.5 to at least 2.14) lets every restarted process group use the same
keys as the one before (pytorch/pytorch#135712). A restarted process then read the address a
killed one had published and failed in gloo's "connectFullMesh … Connection refused" (3 of 5
restarts on torch 2.13). Each process group here starts in a namespace of its own, agreed by
a handshake that no key of an earlier, dead group can satisfy (:func:`_fresh_namespace`).

How long a process waits for the others in a collective is set here, not left to the
backends' defaults (gloo 30 min, NCCL 10 min): ``MAEDFER_DIST_TIMEOUT`` seconds, default 1800
(rank 0 alone builds a ``pool_cache`` file or writes a large checkpoint to a slow disk while
the others wait). A process that dies ends the job at once anyway: torchrun stops the others.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterator

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def is_main_process() -> bool:
    """Whether this process is rank 0 (or the only one), as torchrun's RANK says."""
    return int(os.environ.get("RANK", "0")) == 0


def init_distributed() -> Dist:
    """Join the process group torchrun describes in the environment, or run alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        backend, timeout = "nccl" if device.type == "cuda" else "gloo", timedelta(seconds=collective_timeout())
        if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True":  # torchrun's store, kept across restarts
            store = dist.TCPStore(
                os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world, is_master=False, timeout=timeout
            )
            namespace = _fresh_namespace(store, rank, world, timeout.total_seconds())
            dist.init_process_group(
                backend,
                store=dist.PrefixStore(f"maedfer/{namespace}", store),
                rank=rank,
                world_size=world,
                timeout=timeout,
            )
        else:
            dist.init_process_group(backend, timeout=timeout)
    return Dist(rank, world, local, device)


def _fresh_namespace(store: dist.Store, rank: int, world: int, timeout: float) -> str:
    """A key prefix that every process of this group gets, and that no earlier group used.

    A key alone cannot say whether this group or a dead one wrote it, so each side answers a
    nonce of the other's, drawn now: rank r (r > 0) posts a nonce of its own; rank 0 answers
    every nonce it sees with its own nonce (the namespace); rank r takes the answer that
    carries its nonce and confirms it with the namespace; rank 0 waits for every
    confirmation of its namespace. Old answers and confirmations carry other nonces.
    """
    from ..errors import MaedferError

    mine, deadline = uuid.uuid4().hex, time.monotonic() + timeout

    def read(key: str) -> str | None:
        return store.get(key).decode() if store.check([key]) else None

    def wait() -> None:
        if time.monotonic() > deadline:
            raise MaedferError(
                f"rank {rank}: the other processes did not join the process group within "
                f"{timeout:.0f} s (MAEDFER_DIST_TIMEOUT)"
            )
        time.sleep(0.02)

    if rank == 0:
        answered: dict[int, str] = {}
        waiting = set(range(1, world))
        while waiting:
            for r in sorted(waiting):
                if read(f"maedfer/confirm/{r}") == mine:
                    waiting.discard(r)
                    continue
                nonce = read(f"maedfer/hello/{r}")
                if nonce is not None and answered.get(r) != nonce:
                    store.set(f"maedfer/answer/{r}", f"{nonce} {mine}")
                    answered[r] = nonce
            if waiting:
                wait()
        return mine
    store.set(f"maedfer/hello/{rank}", mine)
    while True:
        answer = (read(f"maedfer/answer/{rank}") or " ").split(" ")
        if answer[0] == mine:
            store.set(f"maedfer/confirm/{rank}", answer[1])
            return answer[1]
        wait()


def collective_timeout() -> float:
    """Seconds a process waits for the others in a collective (``MAEDFER_DIST_TIMEOUT``)."""
    from ..errors import MaedferError

    text = os.environ.get("MAEDFER_DIST_TIMEOUT", "1800")
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise MaedferError(f"MAEDFER_DIST_TIMEOUT must be a positive number of seconds, got {text!r}")
    return seconds


def _collective_failure(error: BaseException) -> bool:
    """Whether ``error`` is a collective that failed because of another process (it died,
    closed its connections, or did not arrive in time)."""
    if isinstance(error, getattr(dist, "DistError", ())):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and any(
        s in text
        for s in (
            "Connection closed by peer",
            "Connection reset by peer",
            "Timed out",
            "timed out",
            "gloo",
            "NCCL",
            "ProcessGroup",
        )
    )


def all_gather_tensors(x: torch.Tensor) -> torch.Tensor:
    """Concatenate a tensor of equal shape from every rank (rank order)."""
    if not dist.is_initialized():
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def all_ranks_true(flag: bool, device: torch.device) -> bool:
    """Whether ``flag`` holds on every rank (one small all-reduce; the flag itself alone)."""
    if not dist.is_initialized():
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def all_reduce_mean(value: float, device: torch.device) -> float:
    if not dist.is_initialized():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.item() / dist.get_world_size()


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def _stopped(error: BaseException, rank: int) -> Exception:
    """The one line of a rank whose collective failed because of another process."""
    from ..errors import MaedferError

    reason = (
        f"waited {collective_timeout():.0f} s (MAEDFER_DIST_TIMEOUT) for the other processes in a collective: "
        f"one of them stalled"
        if _stalled(error)
        else "another process of the run failed or stopped; its own error says why"
    )
    return MaedferError(f"rank {rank} stopped: {reason}")


def _stalled(error: BaseException) -> bool:
    return "timed out" in str(error).lower()


def _end_together(rank: int) -> None:
    """Wait for every rank before the group is destroyed: a rank that destroyed it while
    another was still busy (rank 0 writing the last checkpoint and figure) aborted inside
    gloo ("terminate called without an active exception", SIGABRT) and failed the job.

    A process that is gone by then has nothing left to protect, and this rank's work is done:
    it ends normally and the lost process's own exit status (torchrun reports it) says whether
    the run failed, rather than a finished rank failing too. One that stalls still ends the
    job after MAEDFER_DIST_TIMEOUT: a rank that exited quietly would leave torchrun waiting on it."""
    try:
        dist.barrier()
    except Exception as e:
        if not _collective_failure(e):
            raise
        if _stalled(e):
            raise _stopped(e, rank) from None
        print(
            f"maedfer: warning: rank {rank} finished, but another process left before the end of the run; "
            "torchrun reports how it ended",
            file=sys.stderr,
            flush=True,
        )


@contextmanager
def distributed_run() -> Iterator[Dist]:
    """:func:`init_distributed` for the body, and a clean end: every rank waits for the others
    before the process group is destroyed (:func:`_end_together`). After an error the group is
    destroyed without waiting (the others may never arrive)."""
    dist_ = init_distributed()
    try:
        yield dist_
        if dist.is_initialized():
            _end_together(dist_.rank)
    except BaseException as e:
        if dist.is_initialized() and _collective_failure(e):
            # Another process failed (its own one line says why) or stalled: one line here too,
            # not a traceback per process.
            cleanup()
            raise _stopped(e, dist_.rank) from None
        if getattr(e, "every_rank", False) and dist.is_initialized():
            # Raised by every rank at the same step: rank 0 says it while the others wait, so
            # that torchrun, which stops the job when the first rank exits, cannot cut it off.
            if dist_.is_main:
                from ..errors import one_line

                print(f"maedfer: error: {one_line(e)}", file=sys.stderr, flush=True)
            e.reported = True
            dist.barrier()
        cleanup()
        raise
    cleanup()
