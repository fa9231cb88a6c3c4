"""The floors that say whether pre-training learned anything, and decoder masking."""

import pytest
import torch

from maedfer.engine.floors import position_mean_floor, reconstruction_floors
from maedfer.registry import ModelConfigError, create_model


def test_position_mean_floor_on_known_targets():
    # two clips, two tokens, one value: position 0 holds 3 and 1 (variance 2, ddof 1),
    # position 1 holds 5 in both (variance 0); only the hidden tokens count
    targets = torch.tensor([[[3.0], [5.0]], [[1.0], [5.0]]])
    everything = torch.ones(2, 2, dtype=torch.bool)
    assert position_mean_floor(targets, everything).tolist() == [1.0]  # (2 + 0 + 2 + 0) / 4
    first_only = torch.tensor([[True, False], [True, False]])
    assert position_mean_floor(targets, first_only).tolist() == [2.0]
    second_only = ~first_only
    assert position_mean_floor(targets, second_only).tolist() == [0.0]  # identical clips: nothing left
    # unbiased: on many clips drawn around a known variance the floor finds that variance
    torch.manual_seed(0)
    many = torch.randn(4000, 3, 1) * torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1) + 7
    assert position_mean_floor(many, torch.ones(4000, 3, dtype=torch.bool)).item() == pytest.approx(14 / 3, rel=0.03)
    few = torch.randn(20000, 4, 1)  # 5,000 sets of 4 clips: the ddof-1 estimate averages to 1
    floors = [
        position_mean_floor(few[i : i + 4], torch.ones(4, 4, dtype=torch.bool)).item() for i in range(0, 20000, 4)
    ]
    assert sum(floors) / len(floors) == pytest.approx(1.0, abs=0.03)
    with pytest.raises(ValueError, match="at least 2"):
        position_mean_floor(targets[:1], everything[:1])


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("mae_dfer_tiny", mask_ratio=0.75).eval()


def test_a_no_input_predictor_scores_exactly_its_floor(model):
    torch.manual_seed(1)
    x = torch.randn(6, *model.input_shape)
    masks = model.masking(6)
    targets = model.targets(x, torch.ones_like(masks)).view(6, masks.shape[1], -1)
    mean = targets.mean(dim=0)

    class NoInput(torch.nn.Module):  # each position's average target, whatever the clip shows
        def forward(self, x, mask):
            return mean.expand(len(x), -1, -1)[mask].view(len(x), -1, mean.shape[-1])

    oracle = NoInput()
    oracle.targets, oracle.target_parts = model.targets, model.target_parts
    scores = reconstruction_floors(oracle, x, masks, batch_size=4)  # two batches: pooled, not averaged
    # the clips' own mean fits them better than the average position target would new clips:
    # by (B - 1) / B exactly, which the floor's unbiased estimate undoes
    assert scores["appearance_floor_ratio"] == pytest.approx(5 / 6, abs=1e-6)
    assert scores["motion_floor_ratio"] == pytest.approx(5 / 6, abs=1e-6)
    assert scores["appearance_ratio"] == pytest.approx(scores["appearance_floor"] * 5 / 6, abs=1e-6)
    assert 0 < scores["appearance_floor"] < 1

    class Zero(NoInput):
        def forward(self, x, mask):
            return torch.zeros(len(x), int(mask[0].sum()), mean.shape[-1])

    zero = Zero()
    zero.targets, zero.target_parts = model.targets, model.target_parts
    scores = reconstruction_floors(zero, x, masks, batch_size=6)
    assert scores["appearance_ratio"] == pytest.approx(1.0) and scores["motion_ratio"] == pytest.approx(1.0)
    assert scores["motion_floor_ratio"] == pytest.approx(1 / scores["motion_floor"])


def test_the_real_model_is_scored_on_every_hidden_token_and_left_as_it_was(model):
    model.train()
    x = torch.randn(3, *model.input_shape)
    masks = model.masking(3)
    scores = reconstruction_floors(model, x, masks, batch_size=2)
    assert model.training
    with torch.no_grad():
        model.eval()
        loss, parts = model.loss(model(x, masks), model.targets(x, masks))
    assert scores["appearance_ratio"] == pytest.approx(float(parts["appearance"] / parts["appearance_zero"]), rel=1e-5)
    assert set(scores) == {
        f"{part}_{kind}" for part in ("appearance", "motion") for kind in ("ratio", "floor_ratio", "floor")
    }


def test_decoder_masking_reconstructs_an_equal_share_of_each_clips_hidden_tokens():
    torch.manual_seed(0)
    model = create_model("mae_dfer_tiny", mask_ratio=0.75, decoder_mask_ratio=0.5).eval()
    x, masks = model.example_inputs(4)
    chosen = model.decoder_subset(masks, torch.Generator().manual_seed(3))
    assert (chosen & ~masks).sum() == 0  # only hidden tokens
    assert masks.sum(1).tolist() == [592] * 4 and chosen.sum(1).tolist() == [296] * 4  # half, each clip
    assert torch.equal(chosen, model.decoder_subset(masks, torch.Generator().manual_seed(3)))
    out = model(x, masks, chosen)
    assert out.shape == (4, 296, model.target_dim) and model.targets(x, chosen).shape == out.shape
    # every hidden position is chosen about equally often
    counts = sum(model.decoder_subset(masks[:1]).float() for _ in range(400))[0][masks[0]]
    assert counts.min() > 140 and counts.max() < 260  # binomial(400, 0.5): 200 ± 5 sd
    # without decoder masking (the original) every hidden token is reconstructed
    assert create_model("mae_dfer_tiny", mask_ratio=0.75).decoder_subset(masks) is masks
    with pytest.raises(ModelConfigError, match="decoder_mask_ratio"):
        create_model("mae_dfer_tiny", decoder_mask_ratio=1.0)
