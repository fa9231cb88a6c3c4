"""``maedfer export``: a fine-tuned classifier as ONNX or safetensors.

- ONNX: input ``clip`` (batch, 3, T, H, W), float32, normalised like the test pipeline
  (frames / 255, ImageNet mean/std); output ``probabilities`` (batch, classes), softmax
  included; dynamic batch. The class names and the spec are stored as metadata
  (``maedfer.classes``, ``maedfer.spec``).
- safetensors: the weights plus the spec as metadata; ``maedfer.load`` reads it back.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from ..errors import MaedferError
from ..files import atomic_output, refuse_existing, same_file
from .loading import ClassifierSpec, load_classifier

FORMATS = ("onnx", "safetensors")


class _Probabilities(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.model(clip).softmax(-1)


def export_safetensors(model: nn.Module, spec: ClassifierSpec, path: str | os.PathLike) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    # contiguous copies: safetensors refuses tensors that share storage
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"maedfer": spec.to_json(), "format": "pt"})
    return path


def export_onnx(model: nn.Module, spec: ClassifierSpec, path: str | os.PathLike, opset: int = 18) -> Path:
    try:
        import onnx
        import onnxscript  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise MaedferError("ONNX export needs onnx and onnxscript: pip install 'maedfer[export]'") from None
    path = Path(path)
    wrapper = _Probabilities(model.float().eval())
    example = torch.randn(2, *model.input_shape)
    batch = torch.export.Dim("batch", min=1, max=4096)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            wrapper,
            (example,),
            input_names=["clip"],
            output_names=["probabilities"],
            dynamic_shapes=({0: batch},),
            dynamo=True,
            opset_version=opset,
            verbose=False,
        )
    proto = program.model_proto
    for key, value in (("maedfer.classes", json.dumps(list(spec.classes))), ("maedfer.spec", spec.to_json())):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))
    return path


def export(
    checkpoint: str | os.PathLike,
    fmt: str,
    out: str | os.PathLike | None = None,
    dataset: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Export the classifier of ``checkpoint``; ``out`` defaults to the checkpoint's path with
    the format's suffix. An existing ``out`` is replaced only with ``overwrite``, and never
    when it is the checkpoint itself. The file is written atomically."""
    if fmt not in FORMATS:
        raise MaedferError(f"export format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    out = Path(out) if out else Path(checkpoint).with_suffix(f".{fmt}")
    if same_file(out, checkpoint):
        raise MaedferError(f"{out}: the export would replace its own input checkpoint; choose another --out")
    refuse_existing(out, overwrite, "export file")
    model, spec = load_classifier(checkpoint, dataset)
    write = export_onnx if fmt == "onnx" else export_safetensors
    return atomic_output(out, lambda tmp: write(model, spec, tmp))
