"""Lever: the classifier's read-out. The mean of the region tokens (the original's default,
``lg_classify_token_type region``) against the mean of the local tokens (its unused 'org'),
from the same pre-training (300 steps) and from scratch, fine-tuned at an absolute lr of 1e-3.

Ran on 2026-12-06 against bench/levers.py of commit 833e083 (its own in-memory loops), from
the repository root: ``git show 833e083:bench/levers.py > /tmp/levers.py`` and this script
with /tmp on its path; its output is readout.log and readout.json beside it.
"""

import json
import sys
import time
import types

sys.path.insert(0, "/tmp")  # levers.py of commit 833e083
import levers

from maedfer.engine.demo import FULL
from maedfer.models.lgi_former import LGIFormer
from maedfer.registry import create_model


def local_features(self, x):
    _, local, _ = self.forward_tokens(x, with_local=True)
    return self.fc_norm(local.mean(dim=1))


orig_ff = LGIFormer.forward_features
args = types.SimpleNamespace(
    mask=0.75,
    decoder_mask=0.5,
    lam=0.5,
    stride=4,
    pretrain_steps=300,
    pretrain_lr=3e-3,
    batch=8,
    every=100,
    finetune_steps=300,
    layer_decay=1.0,
    init_scale=1.0,
    drop_path=0.0,
    bf16=True,
    seed=0,
)
t = time.time()
data = levers.render_all(FULL.synth)
print("render", time.time() - t, flush=True)
model, log = levers.pretrain(data, args, 0)
res = {"pretrain": log}
orig_create = levers.create_model
for readout in ("region", "local"):
    if readout == "local":
        LGIFormer.forward_features = local_features

        def cm(name, **kw):
            m = create_model(name, **kw)
            if name == "lgi_former_tiny":
                m.requires_grad_(True)
            return m

        levers.create_model = cm
    res[readout] = {
        "pre": levers.finetune(model, data, args, 0, 1e-3),
        "scratch": levers.finetune(None, data, args, 0, 1e-3),
    }
    print(readout, res[readout], flush=True)
json.dump(res, open("/tmp/exp/readout.json", "w"), indent=1)
