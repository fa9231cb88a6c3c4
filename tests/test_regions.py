import pytest
import torch

import maedfer
from maedfer.models.regions import RegionPartition

GRID = (8, 10, 10)


def _coords(raster):
    return raster // 100, (raster // 10) % 10, raster % 10


def test_region_ids_follow_the_official_partition():
    part = RegionPartition(GRID, (2, 5, 10))
    t, h, _ = _coords(torch.arange(800))
    assert torch.equal(part.region_of, (t // 2) * 2 + h // 5)
    # full token set: region-major, raster order inside a region (index t*50 + h*10 + w)
    order = part.order(None, 1)[0]
    assert torch.equal(order[:100], torch.cat([torch.arange(0, 50), torch.arange(100, 150)]))
    assert torch.equal(order[100:110], torch.arange(50, 60))


def _odd_mask(batch):
    """Equal visible count per region (7), but nothing like a part-window mask: no tube,
    visible tokens clumped differently in every region, clip and frame."""
    part = RegionPartition(GRID, (2, 5, 10))
    mask = torch.ones(batch, 800, dtype=torch.bool)
    g = torch.Generator().manual_seed(1)
    for b in range(batch):
        for r in range(8):
            members = torch.nonzero(part.region_of == r).flatten()
            keep = members[torch.randperm(100, generator=g)[:7]] if b % 2 else members[r : r + 7]
            mask[b, keep] = False
    return mask


def test_visible_tokens_go_to_the_region_of_their_position():
    part = RegionPartition(GRID, (2, 5, 10))
    mask = _odd_mask(4)
    order = part.order(mask, 4)
    assert order.shape == (4, 56)
    for b in range(4):
        assert not mask[b, order[b]].any()  # only visible tokens
        regions = part.region_of[order[b]].view(8, 7)
        assert torch.equal(regions, torch.arange(8)[:, None].expand(8, 7))
        assert (order[b].view(8, 7).diff(dim=1) > 0).all()  # raster order inside a region


def test_the_encoder_gives_a_region_token_only_its_own_tokens():
    # With S2 and S3 off, region token r sees nothing but region r: changing one visible
    # token changes exactly the region token of the region the token lies in.
    model = maedfer.create_model("mae_dfer_tiny", global_step=False, local_global_step=False).eval()
    enc = model.encoder
    mask = _odd_mask(2)
    x = torch.randn(2, 3, 16, 80, 80)
    raster = int(torch.nonzero(~mask[1]).flatten()[30])  # some visible token of clip 1
    t, h, w = _coords(torch.tensor(raster))
    x2 = x.clone()
    x2[1, :, 2 * t : 2 * t + 2, 8 * h : 8 * h + 8, 8 * w : 8 * w + 8] += 1.0  # its tubelet's pixels
    with torch.no_grad():
        r1, _, _ = enc.forward_tokens(x, mask)
        r2, _, _ = enc.forward_tokens(x2, mask)
    changed = (r1 - r2).abs().amax(-1) > 1e-6
    expected = torch.zeros(2, 8, dtype=torch.bool)
    expected[1, int(enc.regions.region_of[raster])] = True
    assert torch.equal(changed, expected)


def test_masks_with_unequal_region_counts_are_rejected():
    part = RegionPartition(GRID, (2, 5, 10))
    mask = _odd_mask(2)
    mask[0, int(torch.nonzero(~mask[0])[0])] = True  # region 0 of clip 0 now keeps 6
    with pytest.raises(ValueError, match=r"same number of visible tokens in every region.*keeps \[6, 7\]"):
        part.order(mask, 2)
    with pytest.raises(ValueError, match=r"bool tensor of shape \(2, 800\)"):
        part.order(mask.long(), 2)


def test_tube_masks_are_rejected_where_the_original_silently_misgroups():
    model = maedfer.create_model("mae_dfer_tiny", mask_type="tube", region_size=(2, 10, 10))
    x, mask = model.example_inputs(2)
    assert model(x, mask).shape == (2, 720, 384)  # whole-frame regions: tube masks fit
    with pytest.raises(ValueError, match="regions would get unequal visible counts"):
        maedfer.create_model("mae_dfer_tiny", mask_type="tube")
    tiny = maedfer.create_model("mae_dfer_tiny")
    tube = maedfer.models.TubeMasking((8, 10, 10), 0.9)(batch_size=64)
    with pytest.raises(ValueError, match="same number of visible tokens"):
        tiny(x[:1].expand(64, -1, -1, -1, -1), tube)
