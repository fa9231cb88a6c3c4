"""Lever: the pre-training's absolute peak lr (1e-3, 3e-3 the demo's, 1e-2), 300 steps of the
demo's setting in memory (maedfer.engine.in_memory, commit c077b5f), held-out scores every 5
epochs. Ran on 2026-12-06 as ``python prelr.py 1e-3 3e-3 1e-2`` from the repository root:
prelr.log and prelr.json beside it.
"""

import json
import sys

import torch

from maedfer.config import resolve_config
from maedfer.data.synth import render_arrays
from maedfer.engine import in_memory
from maedfer.engine.demo import FULL, over_preset
from maedfer.registry import create_model

if __name__ == "__main__":
    arrays = render_arrays(FULL.synth, workers=2)
    pool, held = in_memory.VideoBank(arrays["pool"]), in_memory.VideoBank(arrays["heldout"])
    out = {}
    for lr_abs in map(float, sys.argv[1:]):
        cfg = resolve_config(
            "pretrain",
            "synth-small-pretrain",
            overrides=over_preset(
                "synth-small-pretrain",
                dict(FULL.pretrain, precision="bf16", lr=lr_abs * 256 / 8, min_lr=lr_abs * 256 / 8 / 100),
            ),
        )
        torch.manual_seed(0)
        mae = create_model(cfg.model, mask_ratio=cfg.mask_ratio, **cfg.model_overrides)
        recs = in_memory.pretrain(
            mae, pool, cfg, held, evaluate_every=5, report=lambda line: print(lr_abs, line, flush=True)
        )
        out[lr_abs] = recs
    json.dump(out, open("/tmp/exp/prelr.json", "w"))
