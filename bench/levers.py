"""What each lever of the small setting moves (issue 31): one seed of pre-training, scored on
held-out videos against its floors, probes of the frozen encoder, and fine-tuning from it and
from scratch, with any setting changed.

Everything runs in memory (maedfer.engine.in_memory): the demo's version-3 synthetic data
rendered once into uint8 tensors, crops, flips, masks and batches drawn by torch, no
DataLoader, no files, so a step costs only the model's time. The recipes are the demo's
(the synth-small-pretrain and synth-small presets with the demo's epochs); ``--pretrain`` and
``--finetune`` change any of their settings, as ``--set`` does on the command line.

    python bench/levers.py --out runs/levers/base.json                                   # the demo's setting
    python bench/levers.py --out runs/levers/m09.json --pretrain mask_ratio=0.9 epochs=50  # levers changed
    python bench/levers.py --out runs/levers/ft.json --no-pretrain --scratch-lrs 1e-3 3e-3 1e-2

Writes the JSON of every number (the settings, per epoch of the pre-training its held-out
floors, the probes, each fine-tuning's first and last epoch loss and test UAR) to --out and
prints the summary. bench/results/levers-2026-12-05/ was made by this script's first form
(commit 833e083: its own loops, crops drawn per clip on the CPU), with the settings in its
JSON files.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from maedfer.cli.overrides import parse_overrides
from maedfer.engine import in_memory
from maedfer.engine.demo import FULL
from maedfer.precision import training_precision
from maedfer.registry import create_model


@torch.no_grad()
def feature_spread(model: torch.nn.Module, bank: in_memory.VideoBank, config) -> float:
    """How much the classifier's pooled features (what its head reads: the LayerNormed mean of
    the region tokens) differ between the first 64 labelled clips before fine-tuning: the norm
    of their per-feature std across clips ÷ the norm of their mean. Near 0, every clip looks
    alike to the head, and the trunk must first learn where to look."""
    x = model.eval().forward_features(bank.clips(torch.arange(64), config.input_size, 16, config.sampling_rate))
    return float(x.std(0).norm() / x.mean(0).norm())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="JSON file for every number")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pretrain", nargs="*", default=[], metavar="KEY=VALUE", help="pre-training settings changed")
    ap.add_argument("--finetune", nargs="*", default=[], metavar="KEY=VALUE", help="fine-tuning settings changed")
    ap.add_argument("--finetune-lrs", type=float, nargs="*", default=None, help="absolute peak lrs from pre-training")
    ap.add_argument("--scratch-lrs", type=float, nargs="*", default=None, help="absolute peak lrs from scratch")
    ap.add_argument("--no-pretrain", action="store_true", help="scratch only (the lr sweep, the read-out)")
    ap.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    args = ap.parse_args()
    started = time.perf_counter()
    device = torch.device("cpu")
    precision = training_precision(device)[0] if args.precision == "auto" else args.precision
    common = dict(seed=args.seed, precision=precision)
    pre_cfg, ft_cfg = in_memory.small_recipes(
        dict(FULL.pretrain, **common, **parse_overrides(args.pretrain)),
        dict(FULL.finetune, **common, **parse_overrides(args.finetune)),
    )

    def at(lr: float | None):  # the fine-tuning settings at an absolute peak lr (None: as set)
        return ft_cfg if lr is None else in_memory.at_absolute_lr(ft_cfg, lr)

    data = in_memory.synth_data(FULL.synth, device, workers=2)
    result: dict = {
        "settings": {"pretrain": vars(pre_cfg), "finetune": vars(ft_cfg), "args": vars(args)},
        "render_seconds": time.perf_counter() - started,
    }
    torch.manual_seed(args.seed)
    num_classes = int(data["labels"].max()) + 1
    result["probe_random"] = in_memory.probe(
        create_model(pre_cfg.model), data["labelled"], data["labels"], data["train"], ft_cfg.sampling_rate, num_classes
    )
    result["feature_spread_scratch"] = feature_spread(in_memory.classifier(ft_cfg), data["labelled"], ft_cfg)
    if not args.no_pretrain:
        torch.manual_seed(args.seed)
        mae = create_model(pre_cfg.model, mask_ratio=pre_cfg.mask_ratio, **pre_cfg.model_overrides)
        result["pretrain"] = in_memory.pretrain(mae, data["pool"], pre_cfg, data["heldout"])
        result["probe_pretrained"] = in_memory.probe(
            mae, data["labelled"], data["labels"], data["train"], ft_cfg.sampling_rate, num_classes
        )
        result["feature_spread_pretrained"] = feature_spread(
            in_memory.classifier(ft_cfg, mae), data["labelled"], ft_cfg
        )
        result["finetune_pretrained"] = [in_memory.fine_tuned(at(lr), mae, data) for lr in args.finetune_lrs or [None]]
    result["finetune_scratch"] = [in_memory.fine_tuned(at(lr), None, data) for lr in args.scratch_lrs or [None]]
    result["seconds"] = time.perf_counter() - started
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps({k: v for k, v in result.items() if k not in ("pretrain", "settings")}, indent=2))


if __name__ == "__main__":
    main()
