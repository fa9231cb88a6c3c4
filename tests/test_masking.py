import pytest
import torch

from maedfer.models.masking import PartWindowMasking, TubeMasking, make_masking

GRID = (8, 10, 10)


def _frames(mask):
    return mask.view(*mask.shape[:-1], 8, 10, 10)


def test_part_window_mask_is_official():
    mask = PartWindowMasking(GRID, 0.9, window=(5, 10))()
    assert mask.dtype == torch.bool and mask.shape == (800,)
    assert int(mask.sum()) == 720
    f = _frames(mask)
    assert (f[:, :5].sum(dim=(1, 2)) == 45).all() and (f[:, 5:].sum(dim=(1, 2)) == 45).all()
    assert (f == f[0]).all()  # a tube: the same frame mask at every temporal slice


def test_tube_mask_is_per_frame_and_tubed():
    masking = TubeMasking(GRID, 0.9)
    mask = masking(batch_size=4)
    assert mask.shape == (4, 800)
    f = _frames(mask)
    assert (f.sum(dim=(2, 3)) == 90).all() and (f == f[:, :1]).all()
    # with one window per frame, the 10 visible tokens are not tied to the half-frames
    top_visible = (~f[:, 0, :5]).sum(dim=(1, 2))
    assert masking.window == (10, 10) and masking.num_masked == 720
    assert top_visible.min() >= 0 and top_visible.max() <= 10


def test_masks_are_random_per_sample_and_reproducible_with_a_generator():
    masking = PartWindowMasking(GRID, 0.9, window=(5, 10))
    batch = masking(batch_size=8)
    assert len({tuple(m.tolist()) for m in batch}) == 8
    a = masking(batch_size=2, generator=torch.Generator().manual_seed(3))
    b = masking(batch_size=2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_positions_are_uniform_within_a_window():
    counts = PartWindowMasking(GRID, 0.9, window=(5, 10))(batch_size=4000)[:, :100].float().mean(0)
    assert counts.min() > 0.87 and counts.max() < 0.93  # every position masked with p = 0.9


@pytest.mark.parametrize("ratio,per_window", [(0.75, 37), (0.95, 47), (0.5, 25)])
def test_other_ratios_truncate_like_the_original(ratio, per_window):
    masking = PartWindowMasking(GRID, ratio, window=(5, 10))
    assert masking.num_masked_per_window == per_window and int(masking().sum()) == 16 * per_window


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="window 4x10 does not tile a 10x10 token frame"):
        PartWindowMasking(GRID, 0.9, window=(4, 10))
    with pytest.raises(ValueError, match="must hide some and keep some"):
        PartWindowMasking(GRID, 1.0, window=(5, 10))
    with pytest.raises(ValueError, match="masks 0 of 50 tokens per window"):
        PartWindowMasking(GRID, 0.01, window=(5, 10))
    with pytest.raises(ValueError, match="unknown mask type 'random'"):
        make_masking("random", GRID, 0.9)
    assert isinstance(make_masking("tube", GRID, 0.9), TubeMasking)
