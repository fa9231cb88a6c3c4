"""Datasets: labelled clips for fine-tuning/testing and unlabelled videos for pre-training.

Both are map-style and work with DataLoader workers (randomness comes from torch's RNG,
which DataLoader seeds per worker). An unreadable item raises a one-line
:class:`~maedfer.data.readers.VideoReadError` naming the file; with ``on_error="skip"``
(training only) it is replaced by the next readable item, reported once with a warning,
and counted in ``dataset.skipped``.

Repeated augmentation (``repeats=K``, VideoMAE's ``num_sample``): a training item decodes its
video once and cuts K clips from it, each with its own frame sampling and augmentation, and
returns them stacked; :func:`repeat_collate` makes a batch of clips of them. Decoding, the
costly part of an mp4 pool, is then paid once per K clips.
"""

from __future__ import annotations

import abc
import logging
import os
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from .annotations import Item, read_annotations
from .readers import VideoReadError, open_clip
from .sampling import View, eval_views, pretrain_indices, train_indices

log = logging.getLogger(__name__)
Transform = Callable[[torch.Tensor], torch.Tensor]


def _flatten_repeats(x):
    return x.flatten(0, 1) if isinstance(x, torch.Tensor) else [_flatten_repeats(t) for t in x]


def repeat_collate(batch: list) -> list:
    """Collate items of K stacked clips each into batches of clips: (B, K, ...) -> (B*K, ...)
    for every tensor of an item (nested lists and tuples too)."""
    return _flatten_repeats(default_collate(batch))


def _stack_clips(clips: list):
    """K transformed clips of one video stacked: tensors, or tuples of tensors part by part
    (the uint8 frames and crop of :class:`~maedfer.data.transforms.DrawPretrainCrop`)."""
    if isinstance(clips[0], torch.Tensor):
        return torch.stack(clips)
    return tuple(torch.stack(parts) for parts in zip(*clips))


def _read_repeats(reader, index_lists: list[list[int]]) -> list[torch.Tensor]:
    """The frames of several samplings of one clip, decoded in one pass over their union."""
    union = sorted({i for indices in index_lists for i in indices})
    frames = reader.read(union)
    where = {i: n for n, i in enumerate(union)}
    return [frames[[where[i] for i in indices]] for indices in index_lists]


def _check_repeats(repeats: int) -> int:
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a whole number >= 1, got {repeats!r}")
    return repeats


def _rng() -> np.random.Generator:
    # Seeded from torch so that every DataLoader worker draws differently.
    return np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))


class _SkippingDataset(Dataset, abc.ABC):
    """Shared error policy: raise, or (training) skip to the next readable item."""

    def __init__(self, items: Sequence[Item], on_error: str) -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.items, self.on_error = list(items), on_error
        self.skipped: dict[str, str] = {}  # path -> problem, for the summary
        self.seed: int | None = None
        self.epoch = 0
        self.repeats = 1  # clips per item (repeated augmentation)

    def set_seed(self, seed: int | None) -> None:
        """With a seed, an item's random sampling and augmentation depend only on
        (seed, epoch, index): not on workers, processes or what was read before, so a
        resumed or distributed run sees exactly the clips a plain run sees."""
        self.seed = seed

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    @abc.abstractmethod
    def load(self, index: int):
        """Read and transform item ``index``; raises VideoReadError for a bad clip."""

    def __getitem__(self, index: int | tuple[int, int]):
        """Item ``index``, or ``(epoch, index)``: the item as epoch ``epoch`` draws it (the
        trainer's persistent loader workers learn the epoch this way)."""
        epoch = self.epoch
        if isinstance(index, tuple):
            epoch, index = index
        if self.seed is None:
            return self._get(index)
        with torch.random.fork_rng(devices=[]):  # leave the caller's RNG untouched
            torch.manual_seed((self.seed * 1_000_003 + epoch) * 10_000_019 + index)
            return self._get(index)

    def _get(self, index: int):
        if self.on_error == "raise":
            return self.load(index)
        for step in range(len(self.items)):
            i = (index + step) % len(self.items)
            try:
                return self.load(i)
            except VideoReadError as e:
                path = self.items[i].path
                if path not in self.skipped:
                    self.skipped[path] = str(e)
                    log.warning("skipping unreadable clip: %s", e)
        raise VideoReadError(f"no readable clip among the {len(self.items)} items")


class ClipDataset(_SkippingDataset):
    """Labelled clips from an annotation file (or a list of items).

    ``mode="train"``: one clip per item with the official training sampling; returns
    (clip (C, T, H, W), label). ``mode="test"``: ``num_clips x num_crops`` views per item;
    returns (clip, label, item index, view id), so that predictions can be merged per video.
    """

    def __init__(
        self,
        annotations: str | os.PathLike | Sequence[Item],
        transform: Transform,
        mode: str = "train",
        num_frames: int = 16,
        sampling_rate: int = 4,
        num_clips: int = 2,
        num_crops: int = 2,
        num_classes: int | None = None,
        root: str | os.PathLike | None = None,
        strip_prefix: str | None = None,
        on_error: str = "raise",
        repeats: int = 1,
    ) -> None:
        if mode not in ("train", "test"):
            raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
        if mode == "test" and repeats != 1:
            raise ValueError("repeats (repeated augmentation) is for training; the test protocol has its views")
        if mode == "test" and on_error == "skip":
            raise ValueError(
                "on_error='skip' would silently change the test set; run 'maedfer check-data' "
                "on the annotation file and fix or drop the bad items instead"
            )
        if isinstance(annotations, (str, os.PathLike)):
            annotations = read_annotations(annotations, root=root, strip_prefix=strip_prefix, num_classes=num_classes)
        super().__init__(annotations, on_error)
        self.transform, self.mode = transform, mode
        self.num_frames, self.sampling_rate = num_frames, sampling_rate
        self.num_clips, self.num_crops = num_clips, num_crops
        self.repeats = _check_repeats(repeats)

    @property
    def views_per_item(self) -> int:
        return self.num_clips * self.num_crops if self.mode == "test" else 1

    def __len__(self) -> int:
        return len(self.items) * self.views_per_item

    def _get(self, index: int):
        if self.mode == "test":
            return self.load(index)
        return super()._get(index)

    def load(self, index: int):
        item_index, view_index = divmod(index, self.views_per_item)
        item = self.items[item_index]
        with open_clip(item.path, image_repeat=self.num_frames, threads=1) as reader:
            if self.mode == "train":
                if self.repeats == 1:
                    frames = reader.read(train_indices(len(reader), _rng(), self.num_frames, self.sampling_rate))
                    return self.transform(frames), item.label
                rng = _rng()
                samplings = [
                    train_indices(len(reader), rng, self.num_frames, self.sampling_rate) for _ in range(self.repeats)
                ]
                clips = torch.stack([self.transform(f) for f in _read_repeats(reader, samplings)])
                return clips, torch.full((self.repeats,), item.label, dtype=torch.long)
            view: View = eval_views(len(reader), self.num_frames, self.sampling_rate, self.num_clips, self.num_crops)[
                view_index
            ]
            frames = reader.read(list(view.indices))
        return self.transform(frames), item.label, item_index, view.view_id


class VideoDataset(_SkippingDataset):
    """Unlabelled videos for pre-training: one clip per video per epoch (16 frames, stride
    4 by default) and, if a mask generator is given, a fresh mask per clip.
    Returns (clip, mask (N,)) or just the clip; with ``repeats`` K, K of each stacked. The
    clip is what ``transform`` makes: (C, T, H, W), or with
    :class:`~maedfer.data.transforms.DrawPretrainCrop` the uint8 frames and their crop.
    With a ``cache`` (:class:`~maedfer.data.pool_cache.DecodedPool` of the same items) frames
    come from memory instead of the files."""

    def __init__(
        self,
        annotations: str | os.PathLike | Sequence[Item],
        transform: Transform,
        num_frames: int = 16,
        stride: int = 4,
        masking: Callable[[], torch.Tensor] | None = None,
        root: str | os.PathLike | None = None,
        strip_prefix: str | None = None,
        on_error: str = "raise",
        repeats: int = 1,
        cache=None,
    ) -> None:
        if isinstance(annotations, (str, os.PathLike)):
            annotations = read_annotations(annotations, root=root, strip_prefix=strip_prefix)
        super().__init__(annotations, on_error)
        self.transform, self.num_frames, self.stride, self.masking = transform, num_frames, stride, masking
        self.repeats = _check_repeats(repeats)
        if cache is not None and len(cache) != len(self.items):
            raise ValueError(f"the decoded pool holds {len(cache)} videos, the dataset {len(self.items)}")
        self.cache = cache

    def _open(self, index: int):
        if self.cache is not None:
            return self.cache.reader(index)
        return open_clip(self.items[index].path, image_repeat=self.num_frames, threads=1)

    def load(self, index: int):
        with self._open(index) as reader:
            rng = _rng()
            samplings = [pretrain_indices(len(reader), rng, self.num_frames, self.stride) for _ in range(self.repeats)]
            frames = _read_repeats(reader, samplings) if self.repeats > 1 else [reader.read(samplings[0])]
        clips = [self.transform(f) for f in frames]
        clip = clips[0] if self.repeats == 1 else _stack_clips(clips)
        if self.masking is None:
            return clip
        return clip, (self.masking() if self.repeats == 1 else torch.stack([self.masking() for _ in clips]))
