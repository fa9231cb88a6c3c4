import official_reference as ref
import pytest
import torch
import torch.nn.functional as F

import maedfer
from maedfer.constants import IMAGENET_MEAN, IMAGENET_STD


@pytest.fixture(scope="module")
def tiny():
    return maedfer.create_model("mae_dfer_tiny").eval()


@pytest.mark.parametrize("official_positions", [True, False])
def test_prediction_equals_the_official_forward(official_positions):
    model = maedfer.create_model("mae_dfer_tiny", official_decoder_pos=official_positions).eval()
    x, mask = model.example_inputs(2)
    with torch.no_grad():
        ours = model(x, mask)
        theirs = ref.mae_dfer_prediction(model, x, mask, fixed_positions=not official_positions)
        other = ref.mae_dfer_prediction(model, x, mask, fixed_positions=official_positions)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)
    assert (ours - other).abs().max() > 1e-3  # the two position layouts really differ


def test_official_decoder_positions_swap_40_of_80_visible_slots(tiny):
    mask = tiny.masking(batch_size=3)
    order = tiny.encoder.regions.order(mask, 3)  # the encoder's output order
    raster = torch.stack([torch.nonzero(~m).flatten() for m in mask])  # the original's positions
    differs = order != raster
    assert (differs.sum(dim=1) == 40).all()
    block = torch.zeros(20, dtype=torch.bool)
    block[5:15] = True  # per temporal pair: slots 5-9 and 10-14 are swapped
    assert torch.equal(differs, block.repeat(4).expand(3, -1))
    assert torch.equal(order[:, 5:10], raster[:, 10:15]) and torch.equal(order[:, 10:15], raster[:, 5:10])


def _tubelet_target(model, x, b, raster, pixel_only=False):
    """The target of one token, by the spec's recipe, with plain loops."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1, 1)
    p = model.encoder.patch_size
    t, h, w = raster // 100, (raster // 10) % 10, raster % 10
    cube = x[b, :, 2 * t : 2 * t + 2, p * h : p * h + p, p * w : p * w + p] * std + mean  # (3, 2, p, p)
    normed = torch.stack([(cube[c] - cube[c].mean()) / (cube[c].std(unbiased=True) + 1e-6) for c in range(3)])
    normed = normed.permute(1, 2, 3, 0)  # (frame, row, column, channel)
    if pixel_only:
        return normed.flatten()
    return torch.cat([normed[0].flatten(), (normed[1] - normed[0]).flatten()])


@pytest.mark.parametrize("target", ["pixel_motion", "pixel"])
def test_targets_follow_the_recipe(target):
    model = maedfer.create_model("mae_dfer_tiny", target=target)
    x, mask = model.example_inputs(2)
    targets = model.targets(x, mask)
    assert targets.shape == (2, 720, 384)
    for b in range(2):
        masked = torch.nonzero(mask[b]).flatten()  # raster order
        for j in (0, 1, 357, 719):
            expected = _tubelet_target(model, x, b, int(masked[j]), pixel_only=target == "pixel")
            torch.testing.assert_close(targets[b, j], expected, atol=1e-4, rtol=1e-4)


def test_appearance_half_has_unit_statistics_and_motion_half_sees_motion(tiny):
    still = torch.randn(1, 3, 1, 80, 80).expand(-1, -1, 16, -1, -1).contiguous()
    mask = tiny.masking(1)
    targets = tiny.targets(still, mask)
    appearance, motion = targets[..., :192], targets[..., 192:]
    assert motion.abs().max() < 1e-5  # a still video has no motion target
    # normalised with the statistics of both frames: here identical, so unit variance per channel
    per_channel = appearance.view(1, 720, 64, 3)
    assert per_channel.mean(dim=2).abs().max() < 1e-4
    # unbiased over the tubelet's 128 pixels (2 equal frames): mean square 127/128 per frame
    assert ((per_channel**2).mean(dim=2) - 127 / 128).abs().max() < 1e-4


def test_loss_weights_appearance_by_lambda():
    model = maedfer.create_model("mae_dfer_tiny", appearance_weight=0.3)
    target, pred = torch.randn(2, 720, 384), torch.randn(2, 720, 384)
    loss, parts = model.loss(pred, target)
    app = F.mse_loss(pred[..., :192], target[..., :192])
    mot = F.mse_loss(pred[..., 192:], target[..., 192:])
    torch.testing.assert_close(parts["appearance"], app)
    torch.testing.assert_close(loss, 0.3 * app + 0.7 * mot)
    official = maedfer.create_model("mae_dfer_tiny")  # lambda 0.5 = one MSE over both halves
    torch.testing.assert_close(official.loss(pred, target)[0], F.mse_loss(pred, target))
    # beside each part: the score of predicting zero on the same batch
    torch.testing.assert_close(parts["motion_zero"], target[..., 192:].pow(2).mean())
    torch.testing.assert_close(model.loss(torch.zeros_like(pred), target)[1]["motion"], parts["motion_zero"])
    pixel = maedfer.create_model("mae_dfer_tiny", target="pixel")
    assert set(pixel.loss(pred, target)[1]) == {"loss", "pixel", "pixel_zero"}


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match=r"appearance_weight must satisfy 0 <= x <= 1, got 1.5"):
        maedfer.create_model("mae_dfer_tiny", appearance_weight=1.5)
    with pytest.raises(ValueError, match="unknown target 'depth'"):
        maedfer.create_model("mae_dfer_tiny", target="depth")
    with pytest.raises(ValueError, match="pairs the 2 frames of a tubelet; tubelet_size is 4"):
        maedfer.create_model("mae_dfer_tiny", tubelet_size=4)


def test_training_learns_predictable_content():
    # Every tubelet is the same moving pattern, so hidden tokens are predictable; on white
    # noise the best possible loss would be 0.5 * 1 + 0.5 * 2 = 1.5 (predicting zeros).
    model = maedfer.create_model("mae_dfer_tiny").train()
    tubelet = torch.randn(1, 3, 2, 8, 8)
    x = tubelet.repeat(2, 1, 8, 10, 10)
    mask = model.masking(2)
    target = model.targets(x, mask)
    assert abs(target.pow(2).mean().item() - 1.5) < 0.3
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(30):
        loss, _ = model.loss(model(x, mask), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1


def test_motion_is_learned_where_the_visible_tokens_predict_it(smooth_images):
    # Smooth still images that brighten or darken (sign per clip) between the 2 frames of
    # every tubelet: a hidden tubelet's motion target is its normalised brightness change,
    # whose sign only the visible tokens tell. Knowing the sign, a constant per sign scores
    # about 0.3 of predicting zero; the model must read its visible tokens to get there.
    from maedfer.data.synth import brightness_step_clips

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = maedfer.create_model("mae_dfer_tiny", num_frames=4).train()  # 2x10x10 tokens: fast
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, betas=(0.9, 0.95))

    def batch():
        x = brightness_step_clips(smooth_images(8, g), 4, 0.1, g)
        return x, model.masking(8)

    ratios = []
    for _ in range(80):
        x, mask = batch()
        loss, parts = model.loss(model(x, mask), model.targets(x, mask))
        opt.zero_grad()
        loss.backward()
        opt.step()
        ratios.append((parts["motion"] / parts["motion_zero"]).item())
    assert sum(ratios[:10]) / 10 > 0.8  # starts near predicting zero
    assert sum(ratios[-10:]) / 10 < 0.3  # ends reading the sign from the visible tokens


def test_vit_encoder_variant_pretrains_and_initialises_vit_tiny():
    from maedfer.checkpoint import load_checkpoint

    torch.manual_seed(0)
    model = maedfer.create_model("mae_dfer_vit_tiny")
    x, mask = model.example_inputs(2)
    pred = model(x, mask)
    assert pred.shape == (2, 720, 384)  # the same objective and decoder as MAE-DFER
    loss, _ = model.loss(pred, model.targets(x, mask))
    loss.backward()
    assert model.encoder.patch_embed.proj.weight.grad.abs().sum() > 0
    vit = maedfer.create_model("vit_tiny")
    result = load_checkpoint(vit, {"model": model.state_dict()})
    assert result.rule == "pretrained-encoder" and result.fresh_keys == [
        "fc_norm.weight",
        "fc_norm.bias",
        "head.weight",
        "head.bias",
    ]
    torch.testing.assert_close(vit.blocks[3].attn.proj.weight, model.encoder.blocks[3].attn.proj.weight)
    with pytest.raises(ValueError, match="unknown encoder 'cnn'; expected one of lgi_former, vit"):
        maedfer.create_model("mae_dfer_tiny", encoder="cnn")
