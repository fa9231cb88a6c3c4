"""Forward-pass speed of LGI-Former vs the VideoMAE ViT-B baseline, side by side in one run.

Also times LGI-Former with a plain explicit-softmax attention (what the original code
does) in place of scaled_dot_product_attention, the bar our implementation must clear.

    python bench/models.py                      # batch 1 and 8, fp32 and bf16 autocast
    python bench/models.py --batch-sizes 1 --dtypes fp32 --repeats 5
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch

import maedfer
from maedfer.models import layers
from maedfer.models.cost import count_macs


def explicit_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The original's attention: q pre-scaled, materialised softmax(q k^T), then @ v."""
    attn = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
    return attn.softmax(dim=-1) @ v


@contextlib.contextmanager
def attention_impl(fn):
    saved = layers.attention
    layers.attention = fn
    try:
        yield
    finally:
        layers.attention = saved


def time_forward(model: torch.nn.Module, x: torch.Tensor, dtype: str, repeats: int) -> float:
    """Median seconds of one forward pass (after one warm-up pass)."""
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if dtype == "bf16" else contextlib.nullcontext()
    times = []
    with torch.inference_mode(), autocast:
        model(x)
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--dtypes", nargs="+", choices=["fp32", "bf16"], default=["fp32", "bf16"])
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per setting (median)")
    args = parser.parse_args()

    torch.manual_seed(0)
    lgi = maedfer.create_model("lgi_former_base").eval()
    vit = maedfer.create_model("vit_base").eval()
    x1 = lgi.example_inputs(1)[0]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}"
    )
    print(f"GMACs/clip: lgi_former_base {count_macs(lgi, x1) / 1e9:.2f}, vit_base {count_macs(vit, x1) / 1e9:.2f}")
    contenders = [
        ("lgi_former_base", lgi, layers.attention),
        ("lgi_former_base explicit-softmax", lgi, explicit_attention),
        ("vit_base", vit, layers.attention),
    ]
    print(f"{'model':<34}{'batch':>6}{'dtype':>7}{'ms/clip':>10}")
    for dtype in args.dtypes:
        for batch in args.batch_sizes:
            x = torch.randn(batch, *lgi.input_shape)
            ms = {}
            for name, model, attn in contenders:
                with attention_impl(attn):
                    ms[name] = 1e3 * time_forward(model, x, dtype, args.repeats) / batch
                print(f"{name:<34}{batch:>6}{dtype:>7}{ms[name]:>10.1f}", flush=True)
            print(f"{'  ratio LGI / ViT':<34}{batch:>6}{dtype:>7}{ms['lgi_former_base'] / ms['vit_base']:>10.3f}")
            print(
                f"{'  ratio LGI / LGI explicit-softmax':<34}{batch:>6}{dtype:>7}"
                f"{ms['lgi_former_base'] / ms['lgi_former_base explicit-softmax']:>10.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
