import argparse
import json
import os

import pytest
import torch
from conftest import REFERENCE_KEYS

import maedfer
from maedfer import CheckpointError, load_checkpoint, save_checkpoint


def _official_file(path, state, **args):
    """A checkpoint laid out as the original's utils.save_model writes it."""
    torch.save(
        {
            "model": state,
            "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3}]},
            "epoch": 49,
            "scaler": {"scale": 65536.0},
            "args": argparse.Namespace(model="m", nb_classes=7, **args),
        },
        path,
    )
    return path


def _one_line(err):
    return "\n" not in str(err.value)


def test_our_checkpoint_round_trip(tmp_path):
    model = maedfer.create_model("lgi_former_tiny", num_classes=5).eval()
    path = save_checkpoint(model, tmp_path / "sub" / "ck.pth", epoch=3)
    assert path.exists() and [p.name for p in path.parent.iterdir()] == ["ck.pth"]  # no temp file left
    raw = torch.load(path, weights_only=True)
    assert raw["model_name"] == "lgi_former_tiny" and raw["model_config"]["num_classes"] == 5
    assert raw["epoch"] == 3 and raw["format"] == "maedfer"
    other = maedfer.create_model("lgi_former_tiny", num_classes=5).eval()
    x = torch.randn(1, 3, 16, 80, 80)
    assert not torch.allclose(model(x), other(x))
    result = load_checkpoint(other, path)
    assert result.rule == "strict" and result.fresh_keys == []
    with torch.no_grad():
        assert torch.equal(model(x), other(x))


def test_failed_save_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    model = maedfer.create_model("lgi_former_tiny")
    path = save_checkpoint(model, tmp_path / "ck.pth")
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(
        CheckpointError,
        match=r"ck.pth: could not be written \(disk full\); the file that was there "
        r"is intact",
    ):
        save_checkpoint(model, path, epoch=9)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ck.pth"]


def test_official_pretrained_file_initialises_a_classifier_by_the_official_rules(tmp_path):
    mae = maedfer.create_model("mae_dfer_tiny")
    path = _official_file(tmp_path / "checkpoint-49.pth", mae.state_dict(), mask_type="part_window")
    clf = maedfer.create_model("lgi_former_tiny", num_classes=11)
    head_before = clf.head.weight.clone()
    result = load_checkpoint(clf, path)
    assert result.rule == "pretrained-encoder"
    assert result.fresh_keys == ["fc_norm.weight", "fc_norm.bias", "head.weight", "head.bias"]
    assert torch.equal(clf.lg_region_tokens, mae.encoder.lg_region_tokens)
    assert torch.equal(clf.blocks[2].third_attn.kv.weight, mae.encoder.blocks[2].third_attn.kv.weight)
    assert torch.equal(clf.head.weight, head_before)  # fresh head untouched
    # the pre-trained model itself reloads strictly from the same file
    again = maedfer.create_model("mae_dfer_tiny")
    assert load_checkpoint(again, path).rule == "strict"
    assert torch.equal(again.decoder.head.weight, mae.decoder.head.weight)


def _state_from_reference(key):
    return {k: torch.randn(shape) for k, shape in json.loads(REFERENCE_KEYS.read_text())[key].items()}


def test_official_files_of_the_real_shapes_load(tmp_path):
    """Files with exactly the official keys and shapes (random values) load into the base models."""
    finetuned = _state_from_reference("finetune_dfew_7cls")
    model = maedfer.create_model("lgi_former_base")
    load_checkpoint(model, _official_file(tmp_path / "dfew.pth", finetuned))
    assert torch.equal(model.blocks[15].mlp.fc2.weight, finetuned["blocks.15.mlp.fc2.weight"])
    assert torch.equal(model.head.bias, finetuned["head.bias"])

    pretrained = _state_from_reference("pretrain")
    load_checkpoint(model, {"model": pretrained})  # into the classifier: encoder only
    assert torch.equal(model.blocks[0].first_attn.q.weight, pretrained["encoder.blocks.0.first_attn.q.weight"])
    mae = maedfer.create_model("mae_dfer_base")
    load_checkpoint(mae, pretrained)  # a bare state dict works too
    assert torch.equal(mae.encoder_to_decoder.weight, pretrained["encoder_to_decoder.weight"])


def test_state_dicts_saved_through_ddp_load(tmp_path):
    model = maedfer.create_model("vit_tiny")
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    other = maedfer.create_model("vit_tiny")
    load_checkpoint(other, {"model": state})
    assert torch.equal(other.head.weight, model.head.weight)


def test_head_of_another_size_is_a_one_line_error(tmp_path):
    path = save_checkpoint(maedfer.create_model("lgi_former_tiny", num_classes=11), tmp_path / "mafw.pth")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(maedfer.create_model("lgi_former_tiny"), path)
    assert str(err.value) == (
        f"{path}: does not fit model lgi_former_tiny: 2 shape mismatches "
        "(head.weight: checkpoint [11, 128] vs model [7, 128], "
        "head.bias: checkpoint [11] vs model [7])"
    )


def test_checkpoint_of_another_model_names_missing_and_unexpected_keys(tmp_path):
    path = save_checkpoint(maedfer.create_model("vit_tiny"), tmp_path / "vit.pth")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(maedfer.create_model("lgi_former_tiny"), path)
    msg = str(err.value)
    assert _one_line(err) and msg.startswith(f"{path}: does not fit model lgi_former_tiny: ")
    assert "missing keys (lg_region_tokens, blocks.0.first_attn_norm0.weight," in msg
    assert "unexpected keys (blocks.0.norm1.weight, blocks.0.norm1.bias," in msg and "more)" in msg
    # a fine-tuned classifier is not a pre-training checkpoint
    clf = save_checkpoint(maedfer.create_model("lgi_former_tiny"), tmp_path / "clf.pth")
    with pytest.raises(CheckpointError, match=r"missing keys \(mask_token, encoder.lg_region_tokens"):
        load_checkpoint(maedfer.create_model("mae_dfer_tiny"), clf)


def test_pretrained_encoder_of_another_width_is_refused(tmp_path):
    path = save_checkpoint(maedfer.create_model("mae_dfer_tiny"), tmp_path / "pre.pth")
    with pytest.raises(
        CheckpointError,
        match=r"shape mismatches \(lg_region_tokens: checkpoint \[8, 128\] vs "
        r"model \[8, 512\]",
    ):
        load_checkpoint(maedfer.create_model("lgi_former_base"), path)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_unreadable_files_are_one_line_errors(tmp_path):
    with pytest.raises(CheckpointError, match=r"missing.pth: no such checkpoint file$"):
        load_checkpoint(maedfer.create_model("vit_tiny"), tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(CheckpointError, match=r"junk.pth: not a readable PyTorch checkpoint") as err:
        load_checkpoint(maedfer.create_model("vit_tiny"), junk)
    assert _one_line(err)
    evil = tmp_path / "evil.pth"
    torch.save({"model": {}, "payload": _Exploit()}, evil)
    with pytest.raises(CheckpointError, match=r"evil.pth: refused to unpickle: .*\(posix.system\)") as err:
        load_checkpoint(maedfer.create_model("vit_tiny"), evil)
    assert _one_line(err)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(save_checkpoint(maedfer.create_model("vit_tiny"), tmp_path / "ok.pth").read_bytes()[:5000])
    with pytest.raises(CheckpointError, match=r"truncated.pth: not a readable PyTorch checkpoint, corrupt") as err:
        load_checkpoint(maedfer.create_model("vit_tiny"), truncated)
    assert _one_line(err)
    notdict = tmp_path / "list.pth"
    torch.save([1, 2], notdict)
    with pytest.raises(CheckpointError, match=r"list.pth: holds a list, not a checkpoint dict"):
        load_checkpoint(maedfer.create_model("vit_tiny"), notdict)
    with pytest.raises(CheckpointError, match=r"no model weights found .*non-tensor entries: epoch"):
        load_checkpoint(maedfer.create_model("vit_tiny"), {"epoch": 3})
