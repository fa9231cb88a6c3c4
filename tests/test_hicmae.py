"""HiCMAE against the official code (github.com/sunlicai/HiCMAE): key names and shapes of the
full-size models, and the outputs of a small configuration with the same random weights,
inputs and masks (``tests/data/hicmae_golden.pt``, written by ``bench/hicmae_reference.py``
from the official modules and training step)."""

import json
from pathlib import Path

import pytest
import torch

import maedfer
from maedfer.models import HiCMAE, HiCMAEClassifier
from maedfer.models.cost import count_parameters
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
    ],
)
def test_impossible_settings_are_clear_errors(overrides, message):
    with pytest.raises(ModelConfigError, match=message):
        maedfer.create_model("hicmae_tiny", **overrides)
