"""timm-style model registry: ``create_model(name, **overrides)`` and ``list_models()``.

A registered model is a class plus a named keyword configuration, so that a model can be
rebuilt from ``(name, config)`` alone, which is what our checkpoints store.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from torch import nn


@dataclass(frozen=True)
class ModelEntry:
    cls: type[nn.Module]
    description: str
    defaults: dict[str, Any]


_MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, cls: type[nn.Module], description: str, **defaults: Any) -> None:
    if name in _MODELS:
        raise ValueError(f"model {name!r} is registered twice")
    _MODELS[name] = ModelEntry(cls, description, defaults)


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern``, sorted."""
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def model_entry(name: str) -> ModelEntry:
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _MODELS[name]


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build a registered model; keyword overrides replace its defaults.

    The model remembers its name and full configuration (``model.model_name``,
    ``model.model_config``) so that a checkpoint can rebuild it.
    """
    entry = model_entry(name)
    config = {**entry.defaults, **overrides}
    try:
        model = entry.cls(**config)
    except TypeError as e:  # an override the model does not take
        raise TypeError(f"create_model({name!r}): {e}") from None
    model.model_name, model.model_config = name, config
    return model
