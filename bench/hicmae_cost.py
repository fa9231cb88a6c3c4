"""Cost of HiCMAE with an LGI-Former video encoder against the official ViT form, side by side in one run.

Two pairs, at batch 1: the pre-training models ``hicmae_base`` vs ``hicmae_lgi_base``, each
with its own video mask (tube vs part-window: 80 of 800 video tokens visible either way; the
same audio mask, 26 of 128 patches visible), and the classifiers ``hicmae_classifier_base``
vs ``hicmae_lgi_classifier_base`` (all tokens). For each model: GMACs per clip (the
project's counter, ``maedfer.models.cost.count_macs``), parameters, and CPU milliseconds per
clip: the median of ``--repeats`` forward passes after one warm-up pass, under
``torch.inference_mode``, the two forms of a pair timed in turn (ViT, LGI, ViT, LGI, ...) so
that both see the same machine. fp32 always; bf16 autocast too where the CPU runs bf16
natively (``maedfer.precision.training_precision``). Then the ratio LGI / ViT of each figure.

    python bench/hicmae_cost.py --out runs/hicmae-cost/hicmae_cost.json
    taskset -c 0 python bench/hicmae_cost.py --repeats 5     # pinned to one core

``taskset -c N`` pins the process to core N; torch then runs one thread (``--threads``
defaults to the number of cores the process may use). Times are figures of the machine that
made them (CPU model, cores, torch build, what else ran there), all written to the JSON;
GMACs and parameters are the same everywhere.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

import maedfer
from maedfer.models.cost import count_macs, count_parameters
from maedfer.precision import autocast, cpu_name, training_precision

PAIRS = (("hicmae_base", "hicmae_lgi_base"), ("hicmae_classifier_base", "hicmae_lgi_classifier_base"))
CPU = torch.device("cpu")


def pair_inputs(vit: torch.nn.Module, lgi: torch.nn.Module) -> tuple[tuple, tuple]:
    """The same clip and spectrogram for both models; pre-training models get their own
    video mask (tube for the ViT, part-window for LGI-Former) and the same audio mask."""
    inputs = vit.example_inputs(1)
    if len(inputs) == 2:  # classifiers: (video, audio)
        return inputs, inputs
    video, _, audio, audio_mask = inputs
    return inputs, (video, lgi.masking(1), audio, audio_mask)


def time_pair(models: tuple, inputs: tuple, precision: str, repeats: int) -> list[float]:
    """Median ms per clip of each model (batch 1), the models timed in turn."""
    times: list[list[float]] = [[] for _ in models]
    with torch.inference_mode(), autocast(precision, CPU):
        for model, x in zip(models, inputs):
            model(*x)  # warm-up: oneDNN primitives, allocator
        for _ in range(repeats):
            for i, (model, x) in enumerate(zip(models, inputs)):
                start = time.perf_counter()
                model(*x)
                times[i].append(1e3 * (time.perf_counter() - start))
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/hicmae-cost/hicmae_cost.json"))
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per model and precision (median)")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bf16, bf16_reason = training_precision(CPU)
    precisions = ["fp32"] + (["bf16"] if bf16 == "bf16" else [])
    record = {
        "date": datetime.date.today().isoformat(),
        "command": " ".join(["python", *sys.argv]),
        "cpu": cpu_name(),
        "cores": sorted(os.sched_getaffinity(0)),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "bf16": bf16_reason,
        "repeats": args.repeats,
        "batch_size": 1,
        "pairs": [],
    }
    print(f"{record['cpu']}, cores {record['cores']}, {record['threads']} thread(s), torch {record['torch']}")
    print(f"bf16: {bf16_reason}")
    header = f"{'model':<30}{'GMACs':>8}{'params (M)':>12}" + "".join(f"{p + ' ms':>11}" for p in precisions)
    print(header)
    for names in PAIRS:
        torch.manual_seed(0)
        models = tuple(maedfer.create_model(n).eval() for n in names)
        inputs = pair_inputs(*models)
        rows = {
            name: {"gmacs": count_macs(m, *x) / 1e9, "params": count_parameters(m), "ms": {}}
            for name, m, x in zip(names, models, inputs)
        }
        for precision in precisions:
            for name, ms in zip(names, time_pair(models, inputs, precision, args.repeats)):
                rows[name]["ms"][precision] = ms
        vit, lgi = (rows[n] for n in names)
        ratio = {
            "gmacs": lgi["gmacs"] / vit["gmacs"],
            "params": lgi["params"] / vit["params"],
            "ms": {p: lgi["ms"][p] / vit["ms"][p] for p in precisions},
        }
        for name, row in rows.items():
            ms = "".join(f"{row['ms'][p]:>11.0f}" for p in precisions)
            print(f"{name:<30}{row['gmacs']:>8.2f}{row['params'] / 1e6:>12.2f}{ms}")
        ms = "".join(f"{ratio['ms'][p]:>11.3f}" for p in precisions)
        print(f"{'  ratio LGI / ViT':<30}{ratio['gmacs']:>8.3f}{ratio['params']:>12.3f}{ms}", flush=True)
        record["pairs"].append({"vit": names[0], "lgi": names[1], "models": rows, "ratio_lgi_over_vit": ratio})
        del models
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
