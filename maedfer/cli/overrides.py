"""``--set key=value`` model overrides shared by the commands that build a model."""

from __future__ import annotations

import ast
from typing import Any

from torch import nn

from ..errors import MaedferError
from ..registry import create_model

# YAML's words for true, false and null, as config files write them
_YAML_WORDS = {"true": True, "false": False, "null": None}


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["num_classes=11", "region_size=(2,10,10)"]`` -> dict; values are Python literals
    (``true``, ``false`` and ``null`` as in YAML files too), anything else is taken as a string."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise MaedferError(f"--set expects KEY=VALUE, got {pair!r}")
        value = value.strip()
        if value in _YAML_WORDS:
            out[key.strip()] = _YAML_WORDS[value]
            continue
        try:
            out[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
            out[key.strip()] = value
    return out


def build_model(name: str, pairs: list[str]) -> nn.Module:
    """create_model with command-line overrides (bad names, keys and values are one-line
    ModelConfigErrors)."""
    return create_model(name, **parse_overrides(pairs))
