"""Numeric precision of training and inference: one list of names, one autocast, and the
choice of ``auto`` for inference (by measurement, cached per machine).

- ``fp32``: plain float32;
- ``bf16``: autocast to bfloat16 (GPUs; CPUs with AMX or AVX512-BF16 run it natively,
  others emulate it and are several times slower than fp32);
- ``fp16``: autocast to float16, GPUs only (training adds a gradient scaler).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from .errors import MaedferError
from .files import atomic_write, cache_dir

PRECISIONS = ("fp32", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str, device: torch.device, allow_auto: bool = False) -> str:
    """``precision`` if it is known and can run on ``device``; else a one-line error."""
    names = ("auto", *PRECISIONS) if allow_auto else PRECISIONS
    if precision not in names:
        raise MaedferError(f"precision must be one of {', '.join(names)}, got {precision!r}")
    if precision == "fp16" and device.type != "cuda":
        raise MaedferError(f"precision fp16 needs a GPU (device is {device}); use bf16 or fp32")
    return precision


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context of ``precision`` on ``device`` (nothing for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def _cpuinfo(field: str) -> str | None:
    """The first value of ``field`` in /proc/cpuinfo (None where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_name() -> str:
    """The CPU's model name (what tells two machines apart; "x86_64" does not)."""
    return _cpuinfo("model name") or platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """The CPU's feature flags as /proc/cpuinfo lists them (empty where there is none)."""
    return set((_cpuinfo("flags") or "").split())


# CPU features that run bf16 matrix products natively (oneDNN uses them); without one, bf16 is
# emulated and several times slower than fp32.
NATIVE_BF16 = ("amx_bf16", "avx512_bf16")


def training_precision(device: torch.device) -> tuple[str, str]:
    """The precision to train in on ``device`` by default, and why: bf16 on a GPU that has it
    and on a CPU with native bf16 instructions, else fp32. Decided from the hardware alone,
    never by timing: a choice timed at start-up flipped on a busy machine, and a run of the
    same seed then gave other numbers (the demo moved by 5-6 UAR points, 2026-12-07)."""
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return "bf16", f"{torch.cuda.get_device_name(device)} runs bf16"
        return "fp32", f"{torch.cuda.get_device_name(device)} has no bf16"
    native = [flag for flag in NATIVE_BF16 if flag in cpu_flags()]
    if native:
        return "bf16", f"this CPU runs bf16 natively ({', '.join(native)})"
    return "fp32", "this CPU has no native bf16 (no amx_bf16 or avx512_bf16): bf16 would be emulated"


def _machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{cpu_name()}:{torch.backends.cpu.get_cpu_capability()}:{torch.get_num_threads()} threads"


def time_forward(model: nn.Module, x: torch.Tensor, repeats: int = 3, give_up_after: float | None = None) -> float:
    """Median seconds of ``model(x)`` over ``repeats`` runs after one untimed warm-up run
    (which pays one-off costs: CUDA kernels and library handles, oneDNN primitives), without
    autograd. ``give_up_after``: return the first timed run at once if it took longer."""

    def run() -> float:
        start = time.perf_counter()
        model(x)
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        return time.perf_counter() - start

    with torch.inference_mode():
        run()  # warm-up: on a GPU the first bf16 call took 347 ms against 14 ms for the next
        first = run()
        if give_up_after is not None and first > give_up_after:
            return first
        return statistics.median([first, *(run() for _ in range(repeats - 1))])


def choose_precision(model: nn.Module, device: torch.device, name: str = "") -> tuple[str, str]:
    """fp32 or bf16 for inference of ``model`` on ``device``, chosen by timing one forward
    pass of each (a bf16 copy of the model; the model itself is not changed), and the
    reason in words. CPU flags are only a proxy (bf16 is 2x faster than fp32 on some CPUs,
    up to 9x slower on others), so the choice is measured once per machine, torch version
    and model, and cached in ``cache_dir()/precision.json``."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return "fp32", f"{torch.cuda.get_device_name(device)} has no bf16"
    config = json.dumps(getattr(model, "model_config", {}), sort_keys=True, default=str)
    key = "|".join(
        (
            _machine(device),
            f"torch {torch.__version__}",
            name or type(model).__name__,
            hashlib.sha1(config.encode()).hexdigest()[:12],
        )
    )
    path = cache_dir() / "precision.json"
    try:
        cache = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        cache = {}  # a damaged cache is measured again and rewritten
    entry = cache.get(key) if isinstance(cache, dict) else None
    if isinstance(entry, dict) and entry.get("precision") in ("fp32", "bf16"):
        return entry["precision"], f"{entry['reason']} (cached in {path})"

    x = torch.randn(1, *model.input_shape, device=device)
    fp32 = time_forward(model, x, repeats=2)
    trial = copy.deepcopy(model).to(torch.bfloat16)
    bf16 = time_forward(trial, x.to(torch.bfloat16), repeats=2, give_up_after=3 * fp32)
    del trial
    choice = "bf16" if bf16 < fp32 else "fp32"
    reason = f"measured on first use: fp32 {fp32 * 1e3:.0f} ms, bf16 {bf16 * 1e3:.0f} ms per clip"
    if isinstance(cache, dict):
        cache[key] = {"precision": choice, "reason": reason}
        try:
            text = json.dumps(cache, indent=1).encode()
            atomic_write(path, lambda f: f.write(text))
        except (OSError, MaedferError):
            pass  # an unwritable cache only means measuring again next time
    return choice, reason


def resolve_device(device: str | torch.device | None) -> torch.device:
    """A usable torch device from a user's string: None picks cuda when there is one.
    Unknown names and GPUs that are not there are one-line errors."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise MaedferError(f"--device {device!r}: not a device (use cpu, cuda or cuda:N)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise MaedferError(f"--device {device}: this machine has no CUDA GPU usable by torch; use cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise MaedferError(f"--device {device}: only {torch.cuda.device_count()} GPU(s) here")
    elif device.type != "cpu":
        raise MaedferError(f"--device {device}: only cpu and cuda devices are supported")
    return device
