"""Numeric precision of training and inference: one list of names, one autocast, and the
choice of ``auto`` for inference.

- ``fp32``: plain float32;
- ``bf16``: autocast to bfloat16 (GPUs; CPUs with AMX or AVX512-BF16 run it natively,
  others emulate it and are several times slower than fp32);
- ``fp16``: autocast to float16, GPUs only (training adds a gradient scaler).
"""
from __future__ import annotations

import contextlib

import torch

from .errors import MaedferError

PRECISIONS = ("fp32", "bf16", "fp16")


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


def auto_precision(device: torch.device) -> str:
    """bf16 where the hardware computes it natively (CUDA with bf16; CPUs with AMX or
    AVX512-BF16), fp32 elsewhere: on AVX2-only CPUs bf16 autocast is several times slower."""
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    try:
        native = torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()
    except AttributeError:  # private helpers; absent in some builds
        native = False
    return "bf16" if native else "fp32"


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
