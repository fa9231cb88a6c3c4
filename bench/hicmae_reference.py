"""Golden outputs of the official HiCMAE code, for ``tests/test_hicmae.py``.

Runs only in an environment of its own that can import the official code (torch, timm 0.4.12,
einops; a stub ``torchvision`` is enough for timm's imports), with the official checkout given:

    python3 -m venv /tmp/hicmae-venv --system-site-packages
    /tmp/hicmae-venv/bin/pip install timm==0.4.12 einops==0.6.1 --no-deps
    /tmp/hicmae-venv/bin/python bench/hicmae_reference.py --official /path/to/HiCMAE

It imports the official modules from that checkout (nothing of them is copied here), and writes

- ``tests/data/hicmae_official_keys.json``: the state-dict key names and shapes, in order, of the
  official full-size models as the official scripts build them (pre-training
  ``pretrain_hicmae_dim512_patch16_160_a256`` with depths 10/4/10/4/2 and layers 3 6 9; the
  classifier ``avit_dim512_patch16_160_a256`` with depths 10/10/2 and 6 classes);
- ``tests/data/hicmae_golden.pt``: a small configuration of both official models with random
  weights (every tensor, biases and LayerNorms included, rounded to float16 so that the file is
  small; both sides use the same float32 values), inputs, masks from the official mask
  generators, and the official outputs: decoder outputs, contrastive logits, targets and each
  loss term, computed by running the official ``engine_for_pretraining_av.train_one_epoch`` on
  one batch (optimiser step replaced by a recorder), and the classifier's logits (eval mode).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import types
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent
BATCH = 2
# The small configuration (ours; the official arguments are derived from it): 16 frames of
# 16x16 pixels in 2x4x4 tubelets (8x4x4 tokens), a 64x32 spectrogram in 8x8 patches (8x4),
# encoders 32 wide with 2 heads and 4 blocks, decoders 16 (video) and 24 (audio) wide.
LAYERS = (0, 2, 3)  # out of order, and the last block among them, as the official (3, 6, 9) of 10
SHAPE = dict(img_size=16, num_frames=16, tubelet_size=2, patch_size=4, audio_size=(64, 32), audio_patch_size=8)
DIM, HEADS, DEPTH = 32, 2, 4
CONFIG = dict(
    **SHAPE, encoder_embed_dim=DIM, encoder_depth=DEPTH, encoder_num_heads=HEADS, audio_encoder_embed_dim=DIM,
    audio_encoder_depth=DEPTH, audio_encoder_num_heads=HEADS, decoder_embed_dim=16, decoder_num_heads=HEADS,
    audio_decoder_embed_dim=24, audio_decoder_num_heads=HEADS, decoder_depth=len(LAYERS) + 1, fusion_depth=2,
    fusion_num_heads=HEADS, intermediate_layers=LAYERS, contrastive_weight=0.0025,
)  # fmt: skip
CLASSIFIER_CONFIG = dict(
    **SHAPE, embed_dim=DIM, depth=DEPTH, num_heads=HEADS, audio_embed_dim=DIM, audio_depth=DEPTH,
    audio_num_heads=HEADS, fusion_depth=2, fusion_num_heads=HEADS, num_classes=6, drop_path_rate=0.0,
)  # fmt: skip


def stub_utils() -> None:
    """The engine imports the official ``utils`` (distributed helpers, a metric logger); only
    its metric logger is used on this path."""

    class Meter:
        def __init__(self, *args, **kwargs):
            self.values = []

        def update(self, value, n=1):
            self.values.append(value)

        global_avg = 0.0

    class MetricLogger:
        def __init__(self, delimiter=""):
            self.meters = {}

        def add_meter(self, name, meter):
            self.meters[name] = meter

        def update(self, **kwargs):
            for k, v in kwargs.items():
                self.meters.setdefault(k, Meter()).update(v)

        def log_every(self, iterable, print_freq, header=None):
            yield from iterable

        def synchronize_between_processes(self):
            pass

    sys.modules["utils"] = types.SimpleNamespace(MetricLogger=MetricLogger, SmoothedValue=Meter)


def randomise(state: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Every tensor perturbed (biases and q/v biases away from 0, LayerNorms away from 1/0),
    rounded to float16 and back: the values both sides load."""
    out = {}
    for k, v in state.items():
        noise = torch.randn(v.shape, generator=generator)
        scale = 0.2 if v.ndim == 1 else max(float(v.std()), 0.05)
        out[k] = (v + scale * noise).half().float()
    return out


def official_keys(pretrain, finetune) -> dict:
    """Key names and shapes of the full-size official models, as the official scripts build them."""
    pre = pretrain.pretrain_hicmae_dim512_patch16_160_a256(
        encoder_depth=10,
        decoder_depth=4,
        encoder_depth_audio=10,
        decoder_depth_audio=4,
        encoder_fusion_depth=2,
        return_intermediate_features=(3, 6, 9),
        inter_contrastive_temperature=0.07,
    )
    fine = finetune.avit_dim512_patch16_160_a256(num_classes=6, depth=10, depth_audio=10, fusion_depth=2)
    shapes = lambda m: {k: list(v.shape) for k, v in m.state_dict().items()}  # noqa: E731
    return {"pretrain": shapes(pre), "finetune_6cls": shapes(fine)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--official", required=True, type=Path, help="a checkout of github.com/sunlicai/HiCMAE")
    ap.add_argument("--out", type=Path, default=REPO / "tests" / "data")
    args = ap.parse_args()
    sys.path.insert(0, str(args.official))
    stub_utils()
    torch.cuda.synchronize = lambda *a, **k: None  # the engine syncs after each step
    import engine_for_pretraining_av as engine  # the official modules
    import modeling_finetune_av as finetune
    import modeling_pretrain_av as pretrain
    from masking_generator import RandomMaskingGenerator2D, TubeMaskingGenerator

    commit = subprocess.run(
        ["git", "-C", str(args.official), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    torch.manual_seed(0)
    np.random.seed(0)
    keys = {"commit": commit, **official_keys(pretrain, finetune)}

    c = CONFIG
    common = dict(
        img_size=c["img_size"], patch_size=c["patch_size"], tubelet_size=c["tubelet_size"],
        img_size_audio=c["audio_size"], patch_size_audio=c["audio_patch_size"], mlp_ratio=4, qkv_bias=True,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
    )  # fmt: skip
    model = pretrain.PretrainAudioVisionTransformer(
        **common, encoder_embed_dim=DIM, encoder_depth=DEPTH, encoder_num_heads=HEADS,
        decoder_num_classes=3 * c["tubelet_size"] * c["patch_size"] ** 2, decoder_embed_dim=c["decoder_embed_dim"],
        decoder_depth=c["decoder_depth"], decoder_num_heads=HEADS, encoder_embed_dim_audio=DIM,
        encoder_depth_audio=DEPTH, encoder_num_heads_audio=HEADS, decoder_num_classes_audio=c["audio_patch_size"] ** 2,
        decoder_embed_dim_audio=c["audio_decoder_embed_dim"], decoder_depth_audio=c["decoder_depth"],
        decoder_num_heads_audio=HEADS, encoder_fusion_depth=c["fusion_depth"], encoder_fusion_num_heads=HEADS,
        return_intermediate_features=LAYERS, inter_contrastive_temperature=0.07,
    )  # fmt: skip
    g = torch.Generator().manual_seed(1)
    state = randomise(model.state_dict(), g)
    model.load_state_dict(state, strict=True)

    video_masks = TubeMaskingGenerator((8, 4, 4), 0.9)  # 14 of 16 per frame
    audio_masks = RandomMaskingGenerator2D((8, 4), 0.8)  # 25 of 32
    mask = torch.from_numpy(np.stack([video_masks() for _ in range(BATCH)])).bool()
    audio_mask = torch.from_numpy(np.stack([audio_masks() for _ in range(BATCH)])).bool()
    video = torch.randn(BATCH, 3, 16, 16, 16, generator=g).half().float()
    audio = torch.randn(BATCH, 1, 64, 32, generator=g).half().float()

    # One step of the official training loop, recording its outputs and loss terms.
    seen = {"mse": [], "ce": []}

    class Recording(nn.Module):
        def __init__(self, kind, loss):
            super().__init__()
            self.kind, self.loss = kind, loss

        def forward(self, input, target):
            value = self.loss(input, target)
            seen[self.kind].append((input.detach().clone(), target.detach().clone(), value.detach().clone()))
            return value

    engine.nn = types.SimpleNamespace(
        MSELoss=lambda: Recording("mse", nn.MSELoss()), CrossEntropyLoss=lambda: Recording("ce", nn.CrossEntropyLoss())
    )

    class Scaler:
        def __call__(self, loss, optimizer, **kwargs):
            seen["loss"] = loss.detach().clone()
            return 0.0

        def state_dict(self):
            return {"scale": 1.0}

    optimizer = types.SimpleNamespace(param_groups=[{"lr": 0.0, "weight_decay": 0.0}], zero_grad=lambda: None)
    model.register_forward_hook(lambda m, i, o: seen.__setitem__("outputs", o))
    engine.train_one_epoch(
        model,
        [(video, mask, audio, audio_mask)],
        optimizer,
        torch.device("cpu"),
        epoch=0,
        loss_scaler=Scaler(),
        patch_size=c["patch_size"],
        normlize_target=True,
        start_steps=0,
        num_samples=1,
        normlize_target_audio=True,
        patch_size_audio=c["audio_patch_size"],
        loss_weight=CONFIG["contrastive_weight"],
        use_frame_diff_as_target=True,  # pretrain_base.sh
        frame_diff_group_size=2,
        target_diff_weight=None,
    )
    out = seen["outputs"]
    (_, video_target, loss_video), (_, audio_target, loss_audio) = seen["mse"]
    ce = [value for _, _, value in seen["ce"]]
    contrastive = sum(0.5 * (ce[2 * i] + ce[2 * i + 1]) for i in range(len(LAYERS)))

    classifier = finetune.AudioVisionTransformer(
        **common, num_classes=CLASSIFIER_CONFIG["num_classes"], embed_dim=DIM, depth=DEPTH, num_heads=HEADS,
        all_frames=c["num_frames"], embed_dim_audio=DIM, depth_audio=DEPTH, num_heads_audio=HEADS,
        fusion_depth=c["fusion_depth"], fusion_num_heads=HEADS,
    ).eval()  # fmt: skip
    own = randomise(
        {
            k: v
            for k, v in classifier.state_dict().items()
            if not k.startswith(("encoder.", "encoder_audio.", "encoder_fusion."))
        },
        g,
    )
    shared = {k: v for k, v in state.items() if k.startswith(("encoder.", "encoder_audio.", "encoder_fusion."))}
    classifier.load_state_dict({**own, **shared}, strict=True)
    with torch.no_grad():
        logits = classifier(video, audio)

    half = lambda d: {k: v.half() for k, v in d.items()}  # noqa: E731 (exact: the values are float16)
    golden = {
        "commit": commit,
        "config": CONFIG,
        "classifier_config": CLASSIFIER_CONFIG,
        "state": half(state),
        "classifier_own": half(own),
        "video": video.half(),
        "audio": audio.half(),
        "mask": mask,
        "audio_mask": audio_mask,
        "pred_video": out[0].detach().clone(),
        "pred_audio": out[1].detach().clone(),
        "logits": torch.stack([s.detach() for s in out[2]]),
        "logits_audio": torch.stack([s.detach() for s in out[3]]),
        "target_video": video_target,
        "target_audio": audio_target,
        "loss_video": loss_video,
        "loss_audio": loss_audio,
        "loss_contrastive": contrastive,
        "loss": seen["loss"],
        "classifier_logits": logits,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(golden, args.out / "hicmae_golden.pt")
    (args.out / "hicmae_official_keys.json").write_text(json.dumps(keys, indent=0) + "\n")
    size = (args.out / "hicmae_golden.pt").stat().st_size
    print(f"commit {commit}: {len(keys['pretrain'])} + {len(keys['finetune_6cls'])} keys; golden {size / 1e6:.2f} MB")
    print(f"losses: video {float(loss_video):.6f} audio {float(loss_audio):.6f} contrastive {float(contrastive):.6f}")


if __name__ == "__main__":
    main()
