"""precision="auto" is decided by timing both precisions once per machine and model, and
the choice is cached; inference runs in a model converted to that precision."""

from __future__ import annotations

import json

import pytest
import torch

import maedfer
from maedfer.errors import MaedferError
from maedfer.files import cache_dir
from maedfer.precision import autocast, check_precision, choose_precision, resolve_device


def test_auto_precision_is_measured_then_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("MAEDFER_HOME", str(tmp_path))
    model = maedfer.create_model("lgi_former_tiny").eval()
    choice, reason = choose_precision(model, torch.device("cpu"), "lgi_former_tiny")
    assert choice in ("fp32", "bf16") and reason.startswith("measured on first use: fp32 ")
    fp32, bf16 = (float(part.split()[1]) for part in reason.split(": ", 1)[1].split(", "))
    # the faster one; the reason shows whole milliseconds, so a tie there says nothing
    assert (choice == "bf16") == (bf16 < fp32) or bf16 == fp32
    cache = json.loads((tmp_path / "precision.json").read_text())
    ((key, entry),) = cache.items()
    assert "lgi_former_tiny" in key and torch.__version__ in key and entry == {"precision": choice, "reason": reason}
    # a second use reads the cache (the flipped choice proves nothing was timed again)
    other = "fp32" if choice == "bf16" else "bf16"
    (tmp_path / "precision.json").write_text(json.dumps({key: {"precision": other, "reason": "flipped"}}))
    assert choose_precision(model, torch.device("cpu"), "lgi_former_tiny") == (
        other,
        f"flipped (cached in {tmp_path / 'precision.json'})",
    )
    # another model (other settings) is measured on its own
    assert choose_precision(
        maedfer.create_model("lgi_former_tiny", depth=1).eval(), torch.device("cpu"), "lgi_former_tiny"
    )[1].startswith("measured")
    # a damaged cache is measured again and rewritten
    (tmp_path / "precision.json").write_text("{nope")
    assert choose_precision(model, torch.device("cpu"), "lgi_former_tiny")[1].startswith("measured")
    assert key in json.loads((tmp_path / "precision.json").read_text())


def test_trial_leaves_the_model_in_fp32(tmp_path, monkeypatch):
    monkeypatch.setenv("MAEDFER_HOME", str(tmp_path))
    model = maedfer.create_model("lgi_former_tiny").eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    choose_precision(model, torch.device("cpu"), "x")
    assert all(torch.equal(before[k], v) and v.dtype == before[k].dtype for k, v in model.state_dict().items())
    assert cache_dir() == tmp_path


def test_converted_bf16_model_agrees_with_fp32():
    model = maedfer.create_model("lgi_former_tiny", drop_path_rate=0.0).eval()
    with torch.no_grad():
        model.head.weight.normal_(0, 1.0)
    x = torch.randn(2, *model.input_shape)
    with torch.no_grad():
        fp32 = model(x).softmax(-1)
        with autocast("bf16", torch.device("cpu")):
            auto = model(x).float().softmax(-1)
        converted = model.to(torch.bfloat16)(x.to(torch.bfloat16)).float().softmax(-1)
    assert (converted - fp32).abs().max() < 0.05 and (auto - fp32).abs().max() < 0.05


def test_precision_names_and_devices():
    assert check_precision("bf16", torch.device("cpu")) == "bf16"
    with pytest.raises(MaedferError, match="precision fp16 needs a GPU"):
        check_precision("fp16", torch.device("cpu"))
    with pytest.raises(MaedferError, match="precision must be one of auto, fp32, bf16, fp16"):
        check_precision("fp8", torch.device("cpu"), allow_auto=True)
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(MaedferError, match="only cpu and cuda devices are supported"):
        resolve_device("meta")


class _SlowFirstCall(torch.nn.Module):
    """Pays a one-off cost on its first call in each copy (like CUDA's lazy set-up), then
    runs faster in bf16 than in fp32."""

    input_shape = (3, 2, 4, 4)

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import time

        self.calls += 1
        time.sleep(0.3 if self.calls == 1 else 0.01 if x.dtype == torch.bfloat16 else 0.03)
        return x * self.weight


def test_one_off_first_call_costs_do_not_decide(tmp_path, monkeypatch):
    """Seen on an H200: the bf16 copy's first call took 347 ms (set-up), the next ones less
    than fp32's 14 ms; timing the warm-up call had picked fp32."""
    monkeypatch.setenv("MAEDFER_HOME", str(tmp_path))
    choice, reason = choose_precision(_SlowFirstCall(), torch.device("cpu"), "slow-first-call")
    assert choice == "bf16", reason
