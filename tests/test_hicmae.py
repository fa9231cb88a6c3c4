"""HiCMAE against the official code (github.com/sunlicai/HiCMAE): key names and shapes of the
full-size models, and the outputs of a small configuration with the same random weights,
inputs and masks (``tests/data/hicmae_golden.pt``, written by ``bench/hicmae_reference.py``
from the official modules and training step)."""

import functools
import json
from pathlib import Path

import pytest
import torch

import maedfer
from maedfer.models import HiCMAE, HiCMAEClassifier, LGIEncoder
from maedfer.models.cost import count_parameters
from maedfer.models.regions import RegionPartition
from maedfer.registry import ModelConfigError

DATA = Path(__file__).resolve().parent / "data"
OFFICIAL_COMMIT = "cdd28d481d7a03fe6cd5d27e968f51ec20d892a4"
SHARED = ("encoder.", "encoder_audio.", "encoder_fusion.")


@pytest.fixture(scope="module")
def golden():
    return torch.load(DATA / "hicmae_golden.pt")


@pytest.fixture(scope="module")
def official_keys():
    return json.loads((DATA / "hicmae_official_keys.json").read_text())


def _meta(name, **overrides):
    with torch.device("meta"):
        return maedfer.create_model(name, **overrides)


def _shapes(model):
    return {k: list(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    "name,ref_key,count,params",
    [("hicmae_base", "pretrain", 540, 99_609_344), ("hicmae_classifier_base", "finetune_6cls", 370, 80_792_602)],
)
def test_keys_shapes_and_sizes_are_the_official_ones(official_keys, name, ref_key, count, params):
    assert official_keys["commit"] == OFFICIAL_COMMIT
    official = official_keys[ref_key]
    model = _meta(name)
    ours = _shapes(model)
    assert len(official) == count and list(ours) == list(official)  # same names, same order
    assert ours == official
    assert count_parameters(model) == params


def test_small_sizes_match_the_official_constructors():
    assert count_parameters(_meta("hicmae_small")) == 50_584_576
    assert count_parameters(_meta("hicmae_classifier_small")) == 45_652_250


def _max_errors(golden):
    model = HiCMAE(**golden["config"]).eval()
    model.load_state_dict({k: v.float() for k, v in golden["state"].items()}, strict=True)
    video, audio, mask, audio_mask = (
        golden["video"].float(),
        golden["audio"].float(),
        golden["mask"],
        golden["audio_mask"],
    )
    with torch.no_grad():
        out = model(video, mask, audio, audio_mask)
        targets = model.targets(video, mask, audio, audio_mask)
        loss, parts = model.loss(out, targets)
    classifier = HiCMAEClassifier(**golden["classifier_config"]).eval()
    shared = {k: v for k, v in golden["state"].items() if k.startswith(SHARED)}
    classifier.load_state_dict({k: v.float() for k, v in {**shared, **golden["classifier_own"]}.items()}, strict=True)
    with torch.no_grad():
        logits = classifier(video, audio)
    pairs = {
        "pred_video": (out.video, golden["pred_video"]),
        "pred_audio": (out.audio, golden["pred_audio"]),
        "logits": (torch.stack(out.logits), golden["logits"]),
        "logits_audio": (torch.stack([s.t() for s in out.logits]), golden["logits_audio"]),
        "target_video": (targets[0], golden["target_video"]),
        "target_audio": (targets[1], golden["target_audio"]),
        "loss_video": (parts["video"], golden["loss_video"]),
        "loss_audio": (parts["audio"], golden["loss_audio"]),
        "loss_contrastive": (parts["contrastive"], golden["loss_contrastive"]),
        "loss": (loss, golden["loss"]),
        "classifier_logits": (logits, golden["classifier_logits"]),
    }
    for name, (ours, theirs) in pairs.items():
        assert ours.shape == theirs.shape, name
    return {name: (ours - theirs).abs().max().item() for name, (ours, theirs) in pairs.items()}


def test_outputs_equal_the_official_code(golden):
    assert golden["commit"] == OFFICIAL_COMMIT
    errors = _max_errors(golden)
    print({k: f"{v:.1e}" for k, v in errors.items()})
    assert max(errors.values()) <= 1e-5, errors
    assert golden["loss_contrastive"] > 1 and golden["pred_video"].abs().max() > 1  # not degenerate


def test_masking_counts():
    pre = _meta("hicmae_base")
    mask, audio_mask = pre.masking(3), pre.audio_masking(3)
    assert mask.shape == (3, 800) and (mask.sum(1) == 720).all()
    assert audio_mask.shape == (3, 128) and (audio_mask.sum(1) == 102).all()
    assert not torch.equal(audio_mask[0], audio_mask[1])  # a new mask per sample
    tiny = maedfer.create_model("hicmae_tiny")
    assert tiny.masking.num_masked == 720 and tiny.audio_masking.num_masked == 102


def test_two_stream_classifier_forward():
    model = maedfer.create_model("hicmae_classifier_tiny").eval()
    video, audio = model.example_inputs(2)
    assert video.shape == (2, 3, 16, 80, 80) and audio.shape == (2, 1, 128, 64)
    with torch.no_grad():
        assert model.forward_features(video, audio).shape == (2, 4 * 128)
        logits = model(video, audio)
    assert logits.shape == (2, 6) and torch.isfinite(logits).all()
    with pytest.raises(ValueError, match=r"expects spectrograms of shape \(B, 1, 128, 64\), got \(2, 1, 64, 64\)"):
        model(video, audio[:, :, :64])


def test_pretrained_weights_initialise_the_classifier():
    pre, fine = _meta("hicmae_base"), _meta("hicmae_classifier_base")
    pre_shapes, fine_shapes = _shapes(pre), _shapes(fine)
    used = [k for k in fine_shapes if pre_shapes.get(k) == fine_shapes[k]]
    assert len(used) == 364 and all(k.startswith(SHARED) for k in used)
    assert set(fine_shapes) - set(used) == {
        "video_layer_weights",
        "audio_layer_weights",
        "fc_norm.weight",
        "fc_norm.bias",
        "head.weight",
        "head.bias",
    }
    pre, fine = maedfer.create_model("hicmae_tiny"), maedfer.create_model("hicmae_classifier_tiny")
    result = fine.load_state_dict(pre.state_dict(), strict=False)
    assert len(result.missing_keys) == 6 and not any(k.startswith(SHARED) for k in result.unexpected_keys)
    assert torch.equal(
        fine.encoder_fusion.blocks_audio[1].cross_attn.kv.weight,
        pre.encoder_fusion.blocks_audio[1].cross_attn.kv.weight,
    )


def test_loss_parts_and_weight():
    # Another number of skips than the registered 3 needs the class: the registry keeps tuple lengths.
    settings = {**maedfer.create_model("hicmae_tiny").model_config, "decoder_depth": 2, "intermediate_layers": (3,)}
    model = HiCMAE(**{**settings, "contrastive_weight": 0.5})
    inputs = model.example_inputs(2)
    out = model(*inputs)
    assert len(out.logits) == 1 and out.audio.shape == (2, 102, 64)
    targets = model.targets(*inputs)
    loss, parts = model.loss(out, targets)
    torch.testing.assert_close(loss.detach(), parts["video"] + parts["audio"] + 0.5 * parts["contrastive"])
    heavier, _ = model.loss(out, targets, contrastive_weight=2.0)
    torch.testing.assert_close(heavier.detach(), parts["video"] + parts["audio"] + 2.0 * parts["contrastive"])
    loss.backward()
    untrained = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert untrained == []


@pytest.mark.parametrize(
    "overrides,message",
    [
        (dict(decoder_depth=3), r"decoder_depth 3 needs 2 intermediate layers .* got \(1, 2, 3\)"),
        (dict(intermediate_layers=(1, 2, 4)), r"intermediate layers \(1, 2, 4\) must be blocks of both encoders"),
        (dict(audio_encoder_embed_dim=64), "encoder_embed_dim 128 and audio_encoder_embed_dim 64 must be equal"),
        (dict(video_encoder="swin"), "unknown video_encoder 'swin'; expected one of lgi_former, vit"),
    ],
)
def test_impossible_settings_are_clear_errors(overrides, message):
    with pytest.raises(ModelConfigError, match=message):
        maedfer.create_model("hicmae_tiny", **overrides)


# HiCMAE with an LGI-Former video encoder (ours: hicmae_lgi_*). One LGIBlock less one Block at width
# 512 with MLP ratio 4: two more GeneralAttentions (each 4 C^2 + 3 C) and three more LayerNorms.
LGI_EXTRA_PER_BLOCK = 2 * (4 * 512**2 + 3 * 512) + 3 * 2 * 512


def _regions_visible(model, mask):
    """Visible tokens per LGI region, (B, R) (the partition rebuilt: a meta model's is not on the CPU)."""
    regions = RegionPartition(model.encoder.regions.grid, model.encoder.regions.region_size)
    counts = torch.zeros(mask.shape[0], regions.num_regions, dtype=torch.long)
    return counts.scatter_add_(1, regions.region_of.expand(mask.shape[0], -1), (~mask).long())


@pytest.mark.parametrize("name", ["hicmae_lgi_base", "hicmae_lgi_tiny"])
def test_lgi_form_masks_keep_ten_tokens_in_every_region(name):
    model = _meta(name) if name.endswith("base") else maedfer.create_model(name)
    mask = model.masking(4)
    assert type(model.masking).__name__ == "PartWindowMasking" and model.masking.window == (5, 10)
    assert mask.shape == (4, 800) and (mask.sum(1) == 720).all()
    assert (_regions_visible(model, mask) == 10).all() and model.encoder.regions.num_regions == 8
    assert not torch.equal(mask[0], mask[1])
    assert (model.audio_masking(4).sum(1) == 102).all()  # audio as the ViT form


def test_lgi_form_sizes_and_what_its_classifier_takes_from_pretraining():
    vit, lgi = _meta("hicmae_base"), _meta("hicmae_lgi_base")
    extra = 10 * LGI_EXTRA_PER_BLOCK + 8 * 512  # ten blocks and eight region tokens
    assert count_parameters(lgi) == count_parameters(vit) + extra == 120_646_400
    fine = _meta("hicmae_lgi_classifier_base")
    assert count_parameters(fine) == 80_792_602 + extra == 101_829_658
    pre_shapes, fine_shapes = _shapes(lgi), _shapes(fine)
    used = [k for k in fine_shapes if pre_shapes.get(k) == fine_shapes[k]]
    # 364 shared tensors of the ViT form, less the ViT's 134 video-encoder ones, plus LGI-Former's
    # 325 (32 per block, the region tokens, the patch embedding and the final LayerNorm).
    assert len(used) == 364 - 134 + 325 == 555 and all(k.startswith(SHARED) for k in used)
    assert "encoder.lg_region_tokens" in used
    assert len(set(fine_shapes) - set(used)) == 6
    pre, clf = maedfer.create_model("hicmae_lgi_tiny"), maedfer.create_model("hicmae_lgi_classifier_tiny")
    result = clf.load_state_dict(pre.state_dict(), strict=False)
    assert len(result.missing_keys) == 6 and not any(k.startswith(SHARED) for k in result.unexpected_keys)
    assert torch.equal(clf.encoder.lg_region_tokens, pre.encoder.lg_region_tokens)


def test_lgi_form_outputs_losses_and_classifier():
    torch.manual_seed(0)
    model = maedfer.create_model("hicmae_lgi_tiny")
    inputs = model.example_inputs(3)
    out = model(*inputs)
    assert out.video.shape == (3, 720, 384) and out.audio.shape == (3, 102, 64)
    assert len(out.logits) == 3 and all(s.shape == (3, 3) for s in out.logits)
    loss, parts = model.loss(out, model.targets(*inputs))
    assert all(torch.isfinite(v) for v in parts.values()) and parts["contrastive"] > 0
    loss.backward()
    assert model.encoder.lg_region_tokens.grad.abs().min() > 0  # every region token, every channel
    untrained = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert untrained == []
    clf = maedfer.create_model("hicmae_lgi_classifier_tiny", drop_path_rate=0.0)
    video, _, audio, _ = inputs
    assert clf.forward_features(video, audio).shape == (3, 4 * 128)
    clf(video, audio).logsumexp(-1).sum().backward()
    assert [n for n, p in clf.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0] == []


def test_lgi_form_video_target_is_the_vit_forms():
    vit, lgi = maedfer.create_model("hicmae_tiny"), maedfer.create_model("hicmae_lgi_tiny")
    video, mask, _, _ = lgi.example_inputs(2)
    target = lgi.video_targets(video, mask)
    assert target.shape == (2, 720, 384) and torch.equal(target, vit.video_targets(video, mask))


def _raster_first(model, bug=False):
    """Make the LGI encoder return its tokens sorted into raster order (same positions), or,
    with ``bug``, keep them region-major but claim raster order (MAE-DFER's original decoder
    positions)."""
    forward_layers = functools.partial(LGIEncoder.forward_layers, model.encoder)  # not an earlier patch

    def patched(x, mask, layers):
        out, inter, order = forward_layers(x, mask, layers)
        if bug:
            return out, inter, None
        idx = order.argsort(dim=1)
        take = lambda t: torch.gather(t, 1, idx.unsqueeze(-1).expand_as(t))  # noqa: E731
        return take(out), [take(t) for t in inter], torch.gather(order, 1, idx)

    model.encoder.forward_layers = patched


def test_lgi_form_decoder_positions_follow_the_encoder_token_order():
    torch.manual_seed(1)
    model = maedfer.create_model("hicmae_lgi_tiny").eval()
    inputs = model.example_inputs(2)
    with torch.no_grad():
        _, _, order = model.encoder.forward_layers(inputs[0], inputs[1], ())
        region_of = model.encoder.regions.region_of[order].view(2, 8, 10)
        assert torch.equal(region_of, torch.arange(8).view(1, 8, 1).expand(2, 8, 10))  # region-major
        assert not torch.equal(order, order.sort(dim=1).values)
        out = model(*inputs)
        _raster_first(model)
        raster = model(*inputs)
        _raster_first(model, bug=True)
        permuted = model(*inputs)
    # The decoder, fusion and contrast do not care in which order the tokens come, as long as
    # each keeps its own position; the original's raster positions change the reconstruction.
    torch.testing.assert_close(out.video, raster.video, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(torch.stack(out.logits), torch.stack(raster.logits), atol=1e-5, rtol=1e-4)
    assert (out.video - permuted.video).abs().max() > 1e-2


def test_lgi_form_never_sees_hidden_tubelets():
    torch.manual_seed(2)
    model = maedfer.create_model("hicmae_lgi_tiny").eval()
    video, mask, audio, audio_mask = model.example_inputs(2)
    # Replace the pixels of every hidden tubelet of region 5 in clip 0 (tubelets of 2x8x8 pixels).
    hidden = mask[0] & (model.encoder.regions.region_of == 5)
    changed = video.clone()
    tubes = changed[0].view(3, 8, 2, 10, 8, 10, 8).permute(1, 3, 5, 0, 2, 4, 6).reshape(800, -1)
    tubes[hidden] = torch.randn(int(hidden.sum()), tubes.shape[1])
    changed[0] = tubes.view(8, 10, 10, 3, 2, 8, 8).permute(3, 0, 4, 1, 5, 2, 6).reshape(3, 16, 80, 80)
    with torch.no_grad():
        before, after = model(video, mask, audio, audio_mask), model(changed, mask, audio, audio_mask)
    torch.testing.assert_close(after.video, before.video, atol=1e-6, rtol=0)
    torch.testing.assert_close(torch.stack(after.logits), torch.stack(before.logits), atol=1e-6, rtol=0)
    # ... while the targets of exactly those tubelets change (hidden tokens in raster order).
    rows = (model.video_targets(changed, mask) != model.video_targets(video, mask)).any(dim=-1)
    assert torch.equal(rows[0], hidden[mask[0]]) and not rows[1].any() and int(hidden.sum()) == 90
