import json

import official_reference as ref
import pytest
import torch
from conftest import REFERENCE_KEYS

import maedfer
from maedfer.models.cost import count_parameters
from maedfer.models.layers import sinusoid_table
from maedfer.registry import ModelConfigError

# (name, output shape for a batch of 2) for every registered model.
EXPECTED_OUTPUTS = {
    "lgi_former_base": (2, 7),
    "lgi_former_tiny": (2, 7),
    "vit_base": (2, 7),
    "vit_tiny": (2, 7),
    "mae_dfer_base": (2, 720, 1536),
    "mae_dfer_tiny": (2, 720, 384),
    "mae_dfer_vit_tiny": (2, 720, 384),
    "hicmae_base": (2, 720, 1536),
    "hicmae_small": (2, 720, 1536),
    "hicmae_tiny": (2, 720, 384),
    "hicmae_classifier_base": (2, 6),
    "hicmae_classifier_small": (2, 6),
    "hicmae_classifier_tiny": (2, 6),
    "hicmae_lgi_base": (2, 720, 1536),
    "hicmae_lgi_tiny": (2, 720, 384),
    "hicmae_lgi_classifier_base": (2, 6),
    "hicmae_lgi_classifier_tiny": (2, 6),
}


def test_every_registered_model_is_covered():
    assert maedfer.list_models() == sorted(EXPECTED_OUTPUTS)
    assert maedfer.list_models("lgi*") == ["lgi_former_base", "lgi_former_tiny"]


@pytest.mark.parametrize("name", sorted(EXPECTED_OUTPUTS))
def test_output_shapes(name):
    model = maedfer.create_model(name).eval()
    with torch.no_grad():
        out = model(*model.example_inputs(2))
    out = out[0] if isinstance(out, tuple) else out  # HiCMAE pre-training: the video reconstruction first
    assert tuple(out.shape) == EXPECTED_OUTPUTS[name]
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    "name,params", [("lgi_former_base", 84_878_343), ("vit_base", 86_232_583), ("mae_dfer_base", 92_760_192)]
)
def test_parameter_counts_match_the_original(name, params):
    assert count_parameters(maedfer.create_model(name)) == params


def test_eleven_class_head_matches_the_mafw_logs():
    assert count_parameters(maedfer.create_model("lgi_former_base", num_classes=11)) == 84_880_395


@pytest.mark.parametrize("name,ref_key", [("lgi_former_base", "finetune_dfew_7cls"), ("mae_dfer_base", "pretrain")])
def test_state_dict_keys_and_shapes_are_the_official_ones(name, ref_key):
    official = json.loads(REFERENCE_KEYS.read_text())[ref_key]
    ours = {k: list(v.shape) for k, v in maedfer.create_model(name).state_dict().items()}
    assert list(ours) == list(official)  # same names, same order
    assert ours == official


def test_overrides_and_unknown_names():
    model = maedfer.create_model("lgi_former_tiny", num_classes=3, depth=2)
    assert model.head.out_features == 3 and len(model.blocks) == 2
    assert model.model_config["depth"] == 2 and model.model_name == "lgi_former_tiny"
    with pytest.raises(ModelConfigError, match="unknown model 'nope'"):
        maedfer.create_model("nope")
    with pytest.raises(ModelConfigError, match="model lgi_former_tiny: unknown setting 'colour'"):
        maedfer.create_model("lgi_former_tiny", colour=1)


@pytest.mark.parametrize(
    "overrides,message",
    [
        (dict(depth=-1), "setting depth must be at least 1, got -1"),
        (dict(depth=2.5), "setting depth must be a whole number, got 2.5"),
        (dict(num_classes=True), "setting num_classes must be a whole number, got True"),
        (dict(region_size=(2, 5)), r"setting region_size needs 3 values like \(2, 5, 10\), got \(2, 5\)"),
        (dict(region_size=(2, 0, 10)), r"setting region_size\[1\] must be at least 1, got 0"),
        (dict(drop_path_rate=1.0), "setting drop_path_rate must satisfy 0 <= x < 1, got 1.0"),
        (dict(mlp_ratio=float("nan")), "setting mlp_ratio must be a finite number, got nan"),
        (dict(global_step="yes"), "setting global_step must be True or False, got 'yes'"),
        (dict(dept=3), "unknown setting 'dept' \\(did you mean 'depth'\\?\\)"),
    ],
)
def test_model_settings_are_checked_before_building(overrides, message):
    with pytest.raises(ModelConfigError, match=message):
        maedfer.create_model("lgi_former_tiny", **overrides)


def test_region_size_must_divide_the_token_grid():
    with pytest.raises(ValueError, match=r"token grid 8x10x10 .* does not divide into regions of 2x3x10"):
        maedfer.create_model("lgi_former_tiny", region_size=(2, 3, 10))
    with pytest.raises(ValueError, match="does not tile into 2x8x8 tubelets"):
        maedfer.create_model("lgi_former_tiny", img_size=84)


def test_other_input_sizes_and_region_sizes_work():
    model = maedfer.create_model("lgi_former_tiny", img_size=96, num_frames=8, region_size=(1, 4, 6)).eval()
    assert model.grid == (4, 12, 12) and model.regions.num_regions == 4 * 3 * 2
    assert model.lg_region_tokens.shape == (24, 128)
    x = torch.randn(2, 3, 8, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref.lgi_former_logits(model, x), atol=1e-5, rtol=1e-4)


def test_wrong_input_shape_is_a_clear_error():
    model = maedfer.create_model("lgi_former_tiny")
    with pytest.raises(ValueError, match=r"expects clips of shape \(B, 3, 16, 80, 80\), got \(1, 3, 8, 80, 80\)"):
        model(torch.randn(1, 3, 8, 80, 80))


def test_sinusoid_table_matches_the_formula():
    torch.testing.assert_close(sinusoid_table(50, 24), ref.sinusoid(50, 24))
    table = sinusoid_table(800, 512)
    assert table.dtype == torch.float32 and table.shape == (800, 512)
    assert table[0, 0] == 0 and table[0, 1] == 1  # sin(0), cos(0): interleaved channels
    assert abs(float(table[3, 2]) - __import__("math").sin(3 / 10000 ** (2 / 512))) < 1e-6


def test_positions_are_not_parameters_or_saved():
    model = maedfer.create_model("lgi_former_tiny")
    assert "pos_embed" not in model.state_dict()
    assert all("pos" not in n for n, _ in model.named_parameters())


@pytest.mark.parametrize("global_step,local_global_step", [(True, True), (False, True), (True, False)])
def test_lgi_former_equals_the_official_forward(global_step, local_global_step):
    model = maedfer.create_model("lgi_former_tiny", global_step=global_step, local_global_step=local_global_step).eval()
    with torch.no_grad():
        model.head.weight.normal_()  # make logits sensitive to the whole trunk
    x = torch.randn(2, 3, 16, 80, 80)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref.lgi_former_logits(model, x), atol=1e-5, rtol=1e-4)


def test_ablation_switches_remove_their_weights():
    full = maedfer.create_model("lgi_former_tiny")
    no_global = maedfer.create_model("lgi_former_tiny", global_step=False)
    no_lg = maedfer.create_model("lgi_former_tiny", local_global_step=False)
    assert not any("second_attn" in k for k in no_global.state_dict())
    assert not any("third_attn" in k for k in no_lg.state_dict())
    per_attention = sum(p.numel() for p in full.blocks[0].second_attn.parameters()) + 2 * 128
    assert count_parameters(full) - count_parameters(no_global) == 4 * per_attention


def _untrained(model, *inputs, loss_fn):
    """Names of the parameters that one backward pass leaves without a gradient."""
    model.train()
    loss_fn(model(*inputs)).backward()
    return [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]


def test_gradient_reaches_every_parameter_of_the_vit():
    model = maedfer.create_model("vit_tiny", drop_path_rate=0.0)
    assert _untrained(model, torch.randn(2, 3, 16, 80, 80), loss_fn=lambda y: y.logsumexp(-1).sum()) == []


def test_gradient_reaches_every_parameter_of_lgi_former_that_can_change_its_output():
    model = maedfer.create_model("lgi_former_tiny", drop_path_rate=0.0)
    untrained = _untrained(model, torch.randn(2, 3, 16, 80, 80), loss_fn=lambda y: y.logsumexp(-1).sum())
    # Only region tokens reach the head, so the last block's local-global step cannot
    # affect the logits (in the original too); we skip it.
    assert untrained == [n for n, _ in model.blocks[-1].named_parameters(prefix="blocks.3") if "third_attn" in n]
    assert len(untrained) == 10
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen == untrained  # frozen, so optimisers and DDP leave them alone


def test_gradient_reaches_every_parameter_of_mae_dfer():
    model = maedfer.create_model("mae_dfer_tiny")
    x, mask = model.example_inputs(2)
    assert _untrained(model, x, mask, loss_fn=lambda p: model.loss(p, model.targets(x, mask))[0]) == []


def test_drop_path_is_per_region_in_the_local_step_and_per_clip_in_the_global_steps():
    model = maedfer.create_model("lgi_former_tiny", depth=2, drop_path_rate=0.5).train()
    seen = []
    for blk in model.blocks:
        blk.drop_path.forward = lambda x, f=blk.drop_path.forward: (seen.append(tuple(x.shape)), f(x))[1]
    model(torch.randn(3, 3, 16, 80, 80))
    # S1 and FFN see (B*R, 1+L, C); S2 (B, R, C); S3 (B, N, C). The classifier's last block
    # runs the FFN on region tokens only, still per (clip, region).
    assert seen == [
        (24, 101, 128),
        (3, 8, 128),
        (3, 800, 128),
        (24, 101, 128),
        (24, 101, 128),
        (3, 8, 128),
        (24, 1, 128),
    ]
    assert model.blocks[1].drop_path.p == pytest.approx(0.5)


def test_drop_path_rates_are_linear_from_zero():
    model = maedfer.create_model("lgi_former_base")
    rates = [blk.drop_path.p for blk in model.blocks]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.1) and rates[1] == pytest.approx(0.1 / 15)


def test_initialisation_follows_the_original():
    model = maedfer.create_model("lgi_former_base")
    q = model.blocks[0].first_attn.q.weight
    assert abs(q.std().item() - 0.02) < 1e-3 and model.blocks[0].first_attn.proj.bias.abs().sum() == 0
    assert model.head.weight.std().item() == pytest.approx(0.02 * 0.001, rel=0.1)
    mae = maedfer.create_model("mae_dfer_tiny")
    assert mae.mask_token.abs().max() <= 0.02 and mae.encoder.lg_region_tokens.abs().max() <= 0.02
    fc1 = mae.encoder.blocks[0].mlp.fc1.weight  # xavier-uniform bound sqrt(6 / (fan_in + fan_out))
    assert fc1.abs().max() <= (6 / (128 + 512)) ** 0.5 and fc1.abs().max() > 0.9 * (6 / 640) ** 0.5
