import copy

import numpy as np
import pytest
import torch

import maedfer
from maedfer.engine.optim import build_optimizer, cosine_schedule, layer_id, param_groups, set_lr


def test_layer_ids_follow_the_spec():
    assert layer_id("patch_embed.proj.weight", 16) == 0
    assert layer_id("blocks.0.first_attn.q.weight", 16) == 1
    assert layer_id("blocks.15.mlp.fc2.bias", 16) == 16
    for name in ("lg_region_tokens", "fc_norm.weight", "head.bias"):
        assert layer_id(name, 16) == 17


def test_layer_decay_groups_of_lgi_former_base():
    model = maedfer.create_model("lgi_former_base")
    groups = param_groups(model, weight_decay=0.05, layer_decay=0.75)
    scale = {n: g["lr_scale"] for g in groups for n in g["names"]}
    decay = {n: g["weight_decay"] for g in groups for n in g["names"]}
    assert scale["patch_embed.proj.weight"] == pytest.approx(0.75**17)  # ~0.0075
    assert scale["blocks.15.first_attn.q.weight"] == pytest.approx(0.75)
    assert scale["head.weight"] == scale["lg_region_tokens"] == scale["fc_norm.bias"] == 1.0
    assert decay["blocks.3.mlp.fc1.weight"] == 0.05 and decay["head.weight"] == 0.05
    for name in (
        "blocks.3.mlp.fc1.bias",
        "blocks.3.norm2.weight",
        "blocks.3.first_attn.q_bias",
        "lg_region_tokens",
        "patch_embed.proj.bias",
    ):
        assert decay[name] == 0.0
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert sum(len(g["params"]) for g in groups) == len(trainable) == len(list(model.parameters())) - 10
    assert not any("blocks.15.third_attn" in n for g in groups for n in g["names"])  # frozen: never used
    assert len(groups) == 18 * 2  # 18 layer ids x {decay, no decay}


def test_pretraining_groups_decay_weights_but_not_tokens():
    model = maedfer.create_model("mae_dfer_tiny")
    groups = param_groups(model, weight_decay=0.05)
    decay = {n: g["weight_decay"] for g in groups for n in g["names"]}
    assert {g["lr_scale"] for g in groups} == {1.0}
    assert decay["encoder.lg_region_tokens"] == 0.0 and decay["mask_token"] == 0.0  # the original decayed the first
    assert decay["encoder_to_decoder.weight"] == 0.05 and decay["decoder.head.bias"] == 0.0


def test_cosine_schedule_matches_the_original_formula():
    s = cosine_schedule(base=3.75e-4, final=3.75e-7, epochs=100, steps_per_epoch=97, warmup_epochs=5)
    assert len(s) == 9700
    assert s[0] == 0.0 and s[484] == pytest.approx(3.75e-4)  # linspace(0, base, 485) ends at base
    assert s[485] == pytest.approx(3.75e-4)  # cosine starts at base
    n = 9700 - 485
    i = 4000
    assert s[485 + i] == pytest.approx(3.75e-7 + 0.5 * (3.75e-4 - 3.75e-7) * (1 + np.cos(np.pi * i / n)))
    assert s[-1] > 3.75e-7 and s[-1] == pytest.approx(3.75e-7, rel=1e-3)
    assert np.all(np.diff(s[485:]) <= 0) and np.all(np.diff(s[:485]) > 0)
    with pytest.raises(ValueError, match="warm-up"):
        cosine_schedule(1.0, 0.0, epochs=2, steps_per_epoch=3, warmup_epochs=5)


def test_set_lr_applies_the_layer_scale():
    model = maedfer.create_model("lgi_former_tiny")
    opt = build_optimizer(param_groups(model, 0.05, 0.75), lr=1e-3, betas=(0.9, 0.999))
    set_lr(opt, 1e-3)
    lrs = sorted({round(g["lr"], 12) for g in opt.param_groups})
    assert lrs[0] == pytest.approx(1e-3 * 0.75**5) and lrs[-1] == pytest.approx(1e-3)
    assert isinstance(opt, torch.optim.AdamW)


def test_adamw_is_fused_on_cpu_and_matches_the_default_step():
    torch.manual_seed(0)
    model = maedfer.create_model("lgi_former_tiny")
    groups = param_groups(model, 0.05, 0.75)
    fused = build_optimizer(groups, 1e-3, (0.9, 0.999))
    assert fused.defaults["fused"] is True
    reference = copy.deepcopy(model)
    plain = torch.optim.AdamW(
        [
            {
                **{k: v for k, v in g.items() if k != "names"},
                "params": [dict(reference.named_parameters())[n] for n in g["names"]],
            }
            for g in groups
        ],
        lr=1e-3,
        betas=(0.9, 0.999),
    )
    for m, opt in ((model, fused), (reference, plain)):
        for p in m.parameters():
            p.grad = torch.ones_like(p) * 0.01
        opt.step()
    for (name, a), b in zip(model.named_parameters(), reference.parameters()):
        assert torch.allclose(a, b, atol=1e-6), name
