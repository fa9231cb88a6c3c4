"""Building the classifier that fine-tuning trains and evaluation tests, from a run config:
below both engines, so that neither imports the other."""

from __future__ import annotations

from torch import nn

from ..checkpoint import load_checkpoint
from ..registry import create_model
from ..settings import EvaluateSettings
from .trainer import check_input_size


def build_classifier(config: EvaluateSettings, num_classes: int, drop_path: float = 0.0) -> nn.Module:
    """``config.model`` with ``num_classes`` outputs and ``drop_path`` (fine-tuning's; none
    for testing), checked against the config's clip size, initialised from ``config.init``
    when set."""
    overrides = dict(config.model_overrides, num_classes=num_classes)
    if "drop_path_rate" not in config.model_overrides:
        overrides["drop_path_rate"] = drop_path
    model = create_model(config.model, **overrides)
    check_input_size(model, config)
    if config.init:
        result = load_checkpoint(model, config.init)
        print(f"initialised from {config.init} ({result.rule}; fresh: {', '.join(result.fresh_keys) or 'none'})")
    return model
