import logging

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from maedfer.data.annotations import Item, write_annotations
from maedfer.data.datasets import ClipDataset, VideoDataset
from maedfer.data.readers import VideoReadError
from maedfer.data.transforms import eval_transform, pretrain_transform, train_transform
from maedfer.data.writers import write_frames, write_video
from maedfer.models.masking import PartWindowMasking


def _frames(n, value, h=40, w=48):
    return np.full((n, h, w, 3), value, np.uint8)


@pytest.fixture()
def labelled(tmp_path):
    items = []
    for i in range(6):
        write_frames(tmp_path / "clips" / f"{i:05d}", _frames(20 + 10 * i, 20 * i))
        items.append(Item(str(tmp_path / "clips" / f"{i:05d}"), i % 3))
    return write_annotations(tmp_path / "train.csv", items)


def test_train_mode_yields_model_ready_clips_with_workers(labelled):
    ds = ClipDataset(labelled, train_transform(32), mode="train", num_classes=3)
    assert len(ds) == 6
    clip, label = ds[4]
    assert clip.shape == (3, 16, 32, 32) and label == 1
    loader = DataLoader(ds, batch_size=3, num_workers=2, shuffle=False)
    batches = list(loader)
    assert [tuple(b[0].shape) for b in batches] == [(3, 3, 16, 32, 32)] * 2
    assert torch.equal(torch.cat([b[1] for b in batches]), torch.tensor([0, 1, 2, 0, 1, 2]))


def test_test_mode_gives_every_view_with_its_ids(labelled):
    ds = ClipDataset(labelled, eval_transform(32), mode="test", num_clips=2, num_crops=2)
    assert len(ds) == 24 and ds.views_per_item == 4
    clip, label, item, view = ds[4 * 5 + 3]
    assert clip.shape == (3, 16, 32, 32) and (label, item, view) == (2, 5, 3)
    # the clip's pixels are the item's value (100 for item 5), normalised: red channel
    assert abs(clip[0].mean().item() - ((20 * 5) / 255 - 0.485) / 0.229) < 0.02
    with pytest.raises(ValueError, match="would silently change the test set"):
        ClipDataset(labelled, eval_transform(32), mode="test", on_error="skip")


def test_workers_draw_different_clips(tmp_path):
    frames = np.zeros((300, 16, 16, 3), np.uint8)
    frames[:, :, :, 0] = (np.arange(300) % 256)[:, None, None]
    write_frames(tmp_path / "long", frames, ext="png")
    ds = ClipDataset([Item(str(tmp_path / "long"), 0)] * 8, lambda f: f[:, 0, 0, 0].clone(), mode="train")
    firsts = [int(x[0]) for batch, _ in DataLoader(ds, batch_size=2, num_workers=2) for x in batch]
    assert len(set(firsts)) >= 6  # numpy's copied global state would repeat starts across workers


def test_bad_items_raise_or_are_skipped_and_counted(labelled, tmp_path, caplog):
    (tmp_path / "clips" / "00002" / "00001.jpg").write_bytes(b"broken")
    ds = ClipDataset(labelled, train_transform(32), mode="train")
    with pytest.raises(VideoReadError, match=r"00002/00001.jpg: cannot decode image"):
        for i in range(20):  # the broken frame is read whenever the sampler picks it
            ds[2]
    ds = ClipDataset(labelled, train_transform(32), mode="train", on_error="skip")
    with caplog.at_level(logging.WARNING):
        for _ in range(20):
            _, label = ds[2]
            assert label in (2, 0)
    assert list(ds.skipped) == [str(tmp_path / "clips/00002")]
    assert sum("skipping unreadable clip" in r.message for r in caplog.records) == 1
    with pytest.raises(ValueError, match="on_error must be 'raise' or 'skip'"):
        ClipDataset(labelled, train_transform(32), on_error="ignore")


def test_missing_clip_names_the_file(tmp_path):
    file = write_annotations(tmp_path / "a.csv", [(str(tmp_path / "gone/00001"), 0)])
    with pytest.raises(VideoReadError, match=r"gone/00001: no such file or folder"):
        ClipDataset(file, eval_transform(32), mode="test")[0]


def test_unlabelled_videos_with_masks(tmp_path):
    paths = [write_video(tmp_path / f"v{i}.mp4", _frames(30 + 40 * i, 50, h=224, w=224)) for i in range(3)]
    file = write_annotations(tmp_path / "pool.csv", [(str(p), 0) for p in paths])
    masking = PartWindowMasking((8, 10, 10), 0.9, (5, 10))
    ds = VideoDataset(file, pretrain_transform(160), masking=masking)
    clip, mask = ds[2]
    assert clip.shape == (3, 16, 160, 160) and mask.shape == (800,) and int(mask.sum()) == 720
    batch = next(iter(DataLoader(ds, batch_size=3, num_workers=2)))
    assert batch[0].shape == (3, 3, 16, 160, 160) and batch[1].shape == (3, 800)
    assert VideoDataset(file, pretrain_transform(160))[0].shape == (3, 16, 160, 160)


def test_seeded_items_depend_only_on_seed_epoch_and_index(labelled):
    ds = ClipDataset(labelled, train_transform(32), mode="train")
    ds.set_seed(5)
    first = ds[3][0]
    torch.rand(100)  # whatever else happens to the global RNG
    ds[1]
    assert torch.equal(ds[3][0], first)
    state = torch.get_rng_state()
    ds[2]
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG is untouched
    ds.set_epoch(1)
    assert not torch.equal(ds[3][0], first)
    via_workers = next(iter(DataLoader(ds, batch_size=6, num_workers=2)))[0]
    assert torch.equal(via_workers[3], ds[3][0])


def test_repeated_augmentation_cuts_k_clips_from_one_decode(tmp_path, monkeypatch):
    from maedfer.data import readers
    from maedfer.data.datasets import repeat_collate

    numbered = np.stack([np.full((40, 48, 3), 2 * k, np.uint8) for k in range(120)])  # frame k has level 2k
    path = write_video(tmp_path / "v.mp4", numbered)
    file = write_annotations(tmp_path / "pool.csv", [(str(path), 0)] * 4)
    reads = []
    original = readers.VideoReader.read
    monkeypatch.setattr(readers.VideoReader, "read", lambda self, idx: reads.append(list(idx)) or original(self, idx))
    masking = PartWindowMasking((8, 10, 10), 0.9, (5, 10))
    ds = VideoDataset(file, pretrain_transform(160, voxceleb_crop=False), masking=masking, repeats=3)
    ds.set_seed(0)
    clips, masks = ds[1]
    assert clips.shape == (3, 3, 16, 160, 160) and masks.shape == (3, 800) and len(reads) == 1  # one decode
    assert not torch.equal(clips[0], clips[1]) and not torch.equal(masks[0], masks[1])  # own sampling, own mask
    batch = repeat_collate([ds[0], ds[1]])
    assert batch[0].shape == (6, 3, 16, 160, 160) and batch[1].shape == (6, 800)

    labelled = ClipDataset(file, train_transform(32), mode="train", num_classes=1, repeats=2)
    clips, labels = labelled[0]
    assert clips.shape == (2, 3, 16, 32, 32) and labels.tolist() == [0, 0]
    with pytest.raises(ValueError, match="repeats .* is for training"):
        ClipDataset(file, eval_transform(32), mode="test", repeats=2)
    with pytest.raises(ValueError, match="repeats must be a whole number >= 1"):
        VideoDataset(file, pretrain_transform(160), repeats=0)
