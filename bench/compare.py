"""maedfer against the original MAE-DFER code, and LGI-Former against ViT, timed side by side
in one run, interleaved (every repeat runs each contender once, so drifts of the machine hit
all of them alike).

- "official": the literal transcription of the original forward passes in
  tests/official_reference.py (explicit-softmax attention, fixed region reshapes), on the same
  weights; its sinusoid table is computed once, as the original does at construction. In bf16
  it runs under autocast, as the original does. The official ViT is VideoMAE's forward (the
  same transcription's explicit attention over all tokens).
- "maedfer": our models as our inference and training code runs them: in bf16 inference the
  model is converted to bf16; training uses autocast and our (fused) AdamW.

Forward: ms per clip, inference mode. Train steps (batch 2): forward + backward + AdamW, ms per
step; pre-training is mae_dfer_base on 80 visible tokens, fine-tuning lgi_former_base with
Mixup/CutMix. The matmul limit is the model's FLOPs (2 x MACs) divided by this machine's
measured large-matmul rate in that precision.

    python bench/compare.py                             # batch 1 and 8, fp32 and bf16 (~10 min, 2 cores)
    python bench/compare.py --batch-sizes 1 --repeats 2 --no-train
    python bench/compare.py --device cuda --dtypes bf16 fp16 --compile   # + torch.compile'd LGI, SDPA kernels
"""

from __future__ import annotations

import argparse
import copy
import functools
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import official_reference as official  # noqa: E402

import maedfer  # noqa: E402
from maedfer.data.transforms import Mixup  # noqa: E402
from maedfer.engine.finetune import classification_loss  # noqa: E402
from maedfer.engine.optim import build_optimizer, param_groups  # noqa: E402
from maedfer.models.cost import count_macs  # noqa: E402
from maedfer.precision import DTYPES, autocast  # noqa: E402

_python_sinusoid = official.sinusoid


@functools.lru_cache(maxsize=None)
def _sinusoid_on(n: int, d: int, device: torch.device) -> torch.Tensor:
    return _python_sinusoid(n, d).to(device)


def use_device(device: torch.device) -> None:
    """The original builds its sinusoid tables once, at construction, on the model's device."""
    official.sinusoid = lambda n, d: _sinusoid_on(n, d, device)


def official_embed(trunk, x):
    tokens = trunk.patch_embed.proj(x).flatten(2).transpose(1, 2)
    return tokens + official.sinusoid(tokens.shape[1], tokens.shape[2]).type_as(tokens)  # as the original


official.embed = official_embed


def official_vit(model, x):
    h = official_embed(model, x)
    for blk in model.blocks:
        h = h + official.fused_attention(blk.attn, blk.norm1(h))
        h = h + blk.mlp(blk.norm2(h))
    return model.head(model.fc_norm(h.mean(1)))


def _ms(value: float) -> str:
    """Milliseconds with 3-4 significant digits (CPU clips take ~1000 ms, GPU ones ~1)."""
    return f"{value:.1f}" if value >= 10 else f"{value:.3f}"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(contenders: dict, repeats: int, device: torch.device) -> dict[str, float]:
    """Median seconds of each zero-argument callable, runs interleaved, one warm-up each."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for round_ in range(repeats + 1):
        for name, fn in contenders.items():
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            if round_:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def matmul_rate(dtype: torch.dtype, device: torch.device, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of a large square matrix product in ``dtype``."""
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    seconds = interleaved({"mm": lambda: a @ b}, repeats, device)["mm"]
    return 2 * n**3 / seconds / 1e9


def forward_table(args, device: torch.device) -> None:
    torch.manual_seed(0)
    lgi = maedfer.create_model("lgi_former_base", drop_path_rate=0.0).eval().to(device)
    vit = maedfer.create_model("vit_base", drop_path_rate=0.0).eval().to(device)
    x1 = torch.randn(1, *lgi.input_shape)
    gflop = {"lgi": 2 * count_macs(lgi.cpu(), x1) / 1e9, "vit": 2 * count_macs(vit.cpu(), x1) / 1e9}
    lgi.to(device), vit.to(device)
    print(f"\nforward, ms per clip (GFLOP per clip: lgi_former_base {gflop['lgi']:.1f}, vit_base {gflop['vit']:.1f})")
    print(
        f"{'dtype':<6}{'batch':>6}{'official LGI':>14}{'maedfer LGI':>13}{'official ViT':>14}{'maedfer ViT':>13}"
        f"{'speed-up LGI':>14}{'LGI/ViT':>9}{'limit LGI':>11}{'LGI/limit':>11}"
    )
    for dtype_name in args.dtypes:
        dtype = DTYPES[dtype_name]
        rate = matmul_rate(dtype, device)
        converted = {m: copy.deepcopy(m).to(dtype) for m in (lgi, vit)} if dtype != torch.float32 else {}
        for batch in args.batch_sizes:
            x = torch.randn(batch, *lgi.input_shape, device=device)
            xd = x.to(dtype)

            def run_official(fn, model):
                with torch.inference_mode(), autocast(dtype_name, device):
                    return fn(model, x)

            def run_ours(model):
                with torch.inference_mode():
                    return converted.get(model, model)(xd)

            t = interleaved(
                {
                    "official LGI": lambda: run_official(official.lgi_former_logits, lgi),
                    "maedfer LGI": lambda: run_ours(lgi),
                    "official ViT": lambda: run_official(official_vit, vit),
                    "maedfer ViT": lambda: run_ours(vit),
                },
                args.repeats,
                device,
            )
            ms = {k: 1e3 * v / batch for k, v in t.items()}
            limit = 1e3 * gflop["lgi"] / rate
            print(
                f"{dtype_name:<6}{batch:>6}{_ms(ms['official LGI']):>14}{_ms(ms['maedfer LGI']):>13}"
                f"{_ms(ms['official ViT']):>14}{_ms(ms['maedfer ViT']):>13}"
                f"{ms['official LGI'] / ms['maedfer LGI']:>13.2f}x{ms['maedfer LGI'] / ms['maedfer ViT']:>9.2f}"
                f"{_ms(limit):>11}{ms['maedfer LGI'] / limit:>11.2f}",
                flush=True,
            )
        print(f"{'':<6}matmul rate {dtype_name}: {rate:.0f} GFLOP/s")


def sdpa_kernels(model, x: torch.Tensor) -> str:
    """Whether every attention of ``model`` runs in a fused SDPA kernel (flash or memory-
    efficient) on the GPU: run it with the math fallback forbidden."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    try:
        with torch.inference_mode(), sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]):
            model(x)
        with torch.inference_mode(), sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
            model(x)
        return "flash"
    except RuntimeError as e:
        return "memory-efficient" if "flash" in str(e).lower() else f"math fallback ({str(e).splitlines()[0][:80]})"


def compile_table(args, device: torch.device) -> None:
    """torch.compile on and off for lgi_former_base at the largest batch, per precision."""
    batch = max(args.batch_sizes)
    print(f"\ntorch.compile, lgi_former_base, batch {batch}, ms per clip")
    print(f"{'dtype':<6}{'eager':>9}{'compiled':>10}{'speed-up':>10}{'compile s':>11}{'attention kernel':>20}")
    for dtype_name in args.dtypes:
        torch.manual_seed(0)
        model = maedfer.create_model("lgi_former_base", drop_path_rate=0.0).eval().to(device, DTYPES[dtype_name])
        x = torch.randn(batch, *model.input_shape, device=device, dtype=DTYPES[dtype_name])
        kernel = sdpa_kernels(model, x) if device.type == "cuda" else "cpu"
        start = time.perf_counter()
        try:
            compiled = torch.compile(model)
            with torch.inference_mode():
                compiled(x)
            sync(device)
        except Exception as e:  # no compiler, an unsupported op: eager is the fallback
            print(f"{dtype_name:<6}compile failed ({type(e).__name__}: {str(e).splitlines()[0][:80]}); eager only")
            continue
        seconds = time.perf_counter() - start

        def run(m):
            with torch.inference_mode():
                return m(x)

        t = interleaved({"eager": lambda: run(model), "compiled": lambda: run(compiled)}, args.repeats, device)
        print(
            f"{dtype_name:<6}{_ms(1e3 * t['eager'] / batch):>9}{_ms(1e3 * t['compiled'] / batch):>10}"
            f"{t['eager'] / t['compiled']:>9.2f}x{seconds:>11.0f}{kernel:>20}",
            flush=True,
        )


def train_table(args, device: torch.device) -> None:
    print(f"\ntraining step (batch {args.train_batch}: forward + backward + AdamW), ms per step")
    print(f"{'step':<14}{'dtype':>6}{'official':>11}{'maedfer':>10}{'speed-up':>10}")
    torch.manual_seed(0)
    for dtype_name in args.dtypes:
        for task in ("pre-training", "fine-tuning"):
            name = "mae_dfer_base" if task == "pre-training" else "lgi_former_base"
            ours = maedfer.create_model(name).train().to(device)
            theirs = copy.deepcopy(ours)
            ours_opt = build_optimizer(param_groups(ours, 0.05), 1e-4, (0.9, 0.95))
            # the original's optimiser: torch's default AdamW (multi-tensor), not fused
            theirs_opt = torch.optim.AdamW([p for p in theirs.parameters() if p.requires_grad], lr=1e-4)
            b = args.train_batch
            x = torch.randn(b, 3, 16, 160, 160, device=device)
            y = torch.arange(b, device=device) % 7
            mixup = Mixup(7)
            mask = ours.masking(b).to(device) if task == "pre-training" else None

            def step(model, opt, official_forward):
                with autocast(dtype_name, device):
                    if task == "pre-training":
                        pred = official.mae_dfer_prediction(model, x, mask) if official_forward else model(x, mask)
                        loss = model.loss(pred, model.targets(x, mask))[0]
                    elif official_forward:
                        mixed, soft = mixup(x, y)
                        logits = official.lgi_former_logits(model, mixed).float()
                        loss = torch.sum(-soft * F.log_softmax(logits, dim=-1), dim=-1).mean()
                    else:
                        loss = classification_loss(model, x, y, mixup, 0.1)[0]
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)

            t = interleaved(
                {
                    "official": functools.partial(step, theirs, theirs_opt, True),
                    "maedfer": functools.partial(step, ours, ours_opt, False),
                },
                args.repeats,
                device,
            )
            print(
                f"{task:<14}{dtype_name:>6}{1e3 * t['official']:>11.0f}{1e3 * t['maedfer']:>10.0f}"
                f"{t['official'] / t['maedfer']:>9.2f}x",
                flush=True,
            )
            del ours, theirs, ours_opt, theirs_opt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--dtypes", nargs="+", choices=list(DTYPES), default=["fp32", "bf16"])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per contender (median)")
    parser.add_argument("--train-batch", type=int, default=2, help="batch of the training steps")
    parser.add_argument("--no-train", action="store_true", help="forward passes only")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd lgi_former_base")
    args = parser.parse_args()
    device = torch.device(args.device)
    use_device(device)
    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU, {torch.get_num_threads()} threads, capability {torch.backends.cpu.get_cpu_capability()}"
    )
    print(f"torch {torch.__version__}, {where}")
    forward_table(args, device)
    if args.compile:
        compile_table(args, device)
    if not args.no_train:
        train_table(args, device)


if __name__ == "__main__":
    main()
