"""maedfer.engine.in_memory: clips cut on the device by indexing, and the short trainings of
the benches on them (pre-training with its held-out floors, fine-tuning, test, probes)."""

import pytest
import torch

from maedfer.config import resolve_config
from maedfer.constants import IMAGENET_MEAN, IMAGENET_STD
from maedfer.engine import in_memory
from maedfer.engine.in_memory import VideoBank
from maedfer.registry import create_model
from maedfer.settings import ConfigError

MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1, 1)
STD = torch.tensor(IMAGENET_STD).view(3, 1, 1, 1)


def pixels(clip: torch.Tensor) -> torch.Tensor:
    """A normalised clip (3, T, H, W) back to 0..255 values."""
    return (clip * STD + MEAN) * 255


def test_centre_clip_is_the_videos_own_frames_and_pixels():
    v = torch.randint(0, 256, (3, 20, 12, 12, 3), dtype=torch.uint8)
    x = VideoBank(v).clips(torch.tensor([2, 0]), size=8, frames=4, stride=3, position=0.0)
    assert x.shape == (2, 3, 4, 8, 8) and x.dtype == torch.float32
    expected = v[2, [0, 3, 6, 9], 2:10, 2:10].permute(3, 0, 1, 2).float()
    assert torch.allclose(pixels(x[0]), expected, atol=1e-3)
    # the last possible start: frames 11, 14, 17, 19 would overrun, so position 1 starts at 20 - 10
    late = VideoBank(v).clips(torch.tensor([1]), size=8, frames=4, stride=3, position=1.0)
    assert torch.allclose(pixels(late[0]), v[1, [10, 13, 16, 19], 2:10, 2:10].permute(3, 0, 1, 2).float(), atol=1e-3)


def test_random_clips_are_crops_of_the_video_flipped_as_asked():
    v = torch.randint(0, 256, (2, 12, 10, 10, 3), dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)
    x = VideoBank(v).clips(torch.tensor([1] * 20), size=6, frames=3, stride=2, generator=g, flip=1.0)
    crops = {
        (t0, top, left): v[1, [t0, t0 + 2, t0 + 4], top : top + 6, left : left + 6].flip(2).permute(3, 0, 1, 2).float()
        for t0 in range(8)
        for top in range(5)
        for left in range(5)
    }
    drawn = set()
    for clip in x:
        match = [k for k, c in crops.items() if torch.allclose(pixels(clip), c, atol=1e-3)]
        assert len(match) == 1  # every clip is one flipped crop of video 1
        drawn.add(match[0])
    assert len(drawn) > 10  # and they differ
    unflipped = VideoBank(v).clips(torch.tensor([0]), 6, 3, 2, torch.Generator().manual_seed(0), flip=0.0)
    assert any(
        torch.allclose(pixels(unflipped[0]), v[0, [t, t + 2, t + 4], a : a + 6, b : b + 6].permute(3, 0, 1, 2).float())
        for t in range(8)
        for a in range(5)
        for b in range(5)
    )


def test_bank_refuses_wrong_videos_and_crops():
    with pytest.raises(ValueError, match="uint8 videos"):
        VideoBank(torch.zeros(2, 4, 8, 8, 3))
    with pytest.raises(ValueError, match="crops of 10 pixels do not fit frames of 8x8"):
        VideoBank(torch.zeros(2, 4, 8, 8, 3, dtype=torch.uint8)).clips(torch.tensor([0]), 10, 2, 1)


def tiny_videos(n: int, frames: int = 20, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, frames, 80, 80, 3), dtype=torch.uint8, generator=g)


def pretrain_settings(**changes):
    base = dict(epochs=2, warmup_epochs=0.5, batch_size=2, stride=1, precision="fp32", seed=0)
    return resolve_config("pretrain", "synth-small-pretrain", overrides={**base, **changes})


def test_pretrain_logs_its_parts_and_floors_and_repeats_exactly():
    pool, held = VideoBank(tiny_videos(4)), VideoBank(tiny_videos(3, seed=1))
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = create_model("mae_dfer_tiny", appearance_weight=1.0, decoder_mask_ratio=0.5)
        runs.append(in_memory.pretrain(model, pool, pretrain_settings(epochs=3), held, evaluate_every=2))
    records = runs[0]
    assert [r["epoch"] for r in records] == [1, 2, 3] and [r["step"] for r in records] == [2, 4, 6]
    # held-out floors every 2nd epoch and at the last
    assert ["heldout_motion_ratio" in r for r in records] == [False, True, True]
    for r in records:
        assert r["loss"] == pytest.approx(r["appearance"], rel=1e-6)  # lambda 1: appearance only
    last = records[2]
    for part in ("appearance", "motion"):  # loss ÷ zero = loss ÷ floor x floor ÷ zero
        ratio = last[f"heldout_{part}_floor_ratio"] * last[f"heldout_{part}_floor"]
        assert last[f"heldout_{part}_ratio"] == pytest.approx(ratio, rel=1e-6) and ratio > 0
    assert [r["loss"] for r in runs[0]] == [r["loss"] for r in runs[1]]  # seeded: the same run twice


def test_pretrain_refuses_what_it_cannot_do():
    model = create_model("mae_dfer_tiny")
    pool = VideoBank(tiny_videos(2))
    with pytest.raises(ConfigError, match="larger than the pool"):
        in_memory.pretrain(model, pool, pretrain_settings(batch_size=4))
    with pytest.raises(ConfigError, match="no gradient accumulation"):
        in_memory.pretrain(model, pool, pretrain_settings(accum_steps=2))


def finetune_settings(**changes):
    base = dict(epochs=6, warmup_epochs=1, batch_size=4, precision="fp32", seed=0, num_frames=16, test_clips=2)
    return resolve_config("finetune", "synth-small", overrides={**base, **changes})


def test_finetune_learns_an_easy_task_and_tests_it():
    # class 0: dark videos, class 1: bright ones; 8 train, 4 test
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 1] * 6)
    base = torch.where(labels == 1, 200, 40).view(-1, 1, 1, 1, 1)
    videos = (base + torch.randint(-20, 20, (12, 16, 80, 80, 3), generator=g)).to(torch.uint8)
    bank = VideoBank(videos)
    train = torch.arange(12) < 8
    torch.manual_seed(0)
    model = create_model("lgi_former_tiny", init_scale=1.0, drop_path_rate=0.0)
    records = in_memory.finetune(model, bank, labels, train, finetune_settings())
    assert len(records) == 6 and records[-1]["step"] == 12
    assert records[-1]["loss"] < records[0]["loss"]
    assert in_memory.uar_war(model, bank, labels, ~train, finetune_settings()) == {"uar": 100.0, "war": 100.0}
    probs = in_memory.predict(model, bank, torch.tensor([8, 9]), finetune_settings())
    assert probs.shape == (2, 7) and torch.allclose(probs.sum(1), torch.ones(2))
    probe = in_memory.probe(create_model("mae_dfer_tiny"), bank, labels, train, stride=1, num_classes=7)
    assert set(probe) == {"knn_uar", "linear_uar"} and probe["linear_uar"] == 100.0


def test_finetune_refuses_mixup_and_friends_in_one_line():
    bank = VideoBank(tiny_videos(4, frames=16))
    model = create_model("lgi_former_tiny")
    with pytest.raises(ConfigError, match="no mixup, randaugment"):
        in_memory.finetune(
            model,
            bank,
            torch.zeros(4, dtype=torch.long),
            torch.ones(4, dtype=torch.bool),
            finetune_settings(mixup=0.8, randaugment="rand-m7-n4"),
        )
