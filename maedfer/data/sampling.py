"""Which frames of a clip to read: the three samplers of the original (pre-training, fine-tuning training and testing).

All take the clip's frame count ``n`` and return frame indices; the random ones take a
``numpy.random.Generator`` so that DataLoader workers can be seeded independently (numpy's
global state is copied into every worker, which would repeat the same "random" clips).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def pretrain_indices(n: int, rng: np.random.Generator, num_frames: int = 16, stride: int = 4) -> list[int]:
    """Pre-training: ``num_frames`` frames ``stride`` apart from a start uniform in
    [0, n - num_frames * stride]; a shorter video starts at 0 and repeats its last
    reachable frame."""
    span = num_frames * stride
    start = int(rng.integers(0, n - span + 1)) if n >= span else 0
    last = start + ((n - 1 - start) // stride) * stride  # last frame on the stride grid
    return [min(start + i * stride, last) for i in range(num_frames)]


def train_indices(n: int, rng: np.random.Generator, num_frames: int = 16, sampling_rate: int = 4) -> list[int]:
    """Fine-tuning training (the original's frame-folder loader). With L = num_frames *
    sampling_rate: if n <= L, linspace(0, n, n // rate) padded with n, clipped to n - 1;
    else an end e uniform in [L, n), and linspace(e - L, e, num_frames) clipped to e - 1.
    Indices are truncated to integers."""
    length = num_frames * sampling_rate
    if n <= length:
        head = np.linspace(0, n, num=n // sampling_rate)
        index = np.concatenate([head, np.full(num_frames - len(head), n)])
        return np.clip(index, 0, n - 1).astype(np.int64).tolist()
    end = int(rng.integers(length, n))
    index = np.linspace(end - length, end, num=num_frames)
    return np.clip(index, end - length, end - 1).astype(np.int64).tolist()


@dataclass(frozen=True)
class View:
    """One test view of a video: which frames and which spatial crop."""

    view_id: int
    indices: tuple[int, ...]
    crop: int  # spatial crop number, 0..num_crops - 1


def eval_views(
    n: int, num_frames: int = 16, sampling_rate: int = 4, num_clips: int = 2, num_crops: int = 2
) -> list[View]:
    """The test protocol: frames 0, rate, 2 * rate, ... (padded with the last to at least
    num_frames), ``num_clips`` windows of num_frames evenly spread from the first to the
    last, times ``num_crops`` spatial crops. View id = clip * num_crops + crop."""
    sampled = list(range(0, n, sampling_rate))
    sampled += [sampled[-1]] * max(0, num_frames - len(sampled))
    step = max((len(sampled) - num_frames) / (num_clips - 1), 0.0) if num_clips > 1 else 0.0
    views = []
    for k in range(num_clips):
        start = int(k * step)
        window = tuple(sampled[start : start + num_frames])
        for m in range(num_crops):
            views.append(View(k * num_crops + m, window, m))
    return views
