"""timm-style model registry: ``create_model(name, **overrides)`` and ``list_models()``.

A registered model is a class plus a named keyword configuration, so that a model can be
rebuilt from ``(name, config)`` alone, which is what our checkpoints store. Because such
configurations also come from files and the command line, every setting is checked here
against the class's signature: unknown keys, wrong types and impossible values are a
:class:`ModelConfigError` in one line, not an error from deep inside a layer.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import math
from dataclasses import dataclass
from typing import Any

from torch import nn

from .errors import MaedferError, one_line


class ModelConfigError(MaedferError):
    """An unknown model, or a model setting of the wrong name, type or value."""


@dataclass(frozen=True)
class ModelEntry:
    cls: type[nn.Module]
    description: str
    defaults: dict[str, Any]


_MODELS: dict[str, ModelEntry] = {}

# Float settings with a range narrower than "finite" (inclusive bounds unless noted).
_FLOAT_RANGES = {
    "drop_path_rate": (0.0, 1.0, "0 <= x < 1"),
    "mask_ratio": (0.0, 1.0, "0 < x < 1"),
    "decoder_mask_ratio": (0.0, 1.0, "0 <= x < 1"),
    "appearance_weight": (0.0, 1.0, "0 <= x <= 1"),
    "mlp_ratio": (0.0, math.inf, "x > 0"),
    "init_scale": (0.0, math.inf, "x >= 0"),
}


def register_model(name: str, cls: type[nn.Module], description: str, **defaults: Any) -> None:
    if name in _MODELS:
        raise ValueError(f"model {name!r} is registered twice")
    _MODELS[name] = ModelEntry(cls, description, defaults)


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern``, sorted."""
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def model_entry(name: str) -> ModelEntry:
    if not isinstance(name, str) or name not in _MODELS:
        raise ModelConfigError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _MODELS[name]


def model_settings(name: str) -> dict[str, Any]:
    """Every setting of a registered model with its default (the class's, then the entry's)."""
    entry = model_entry(name)
    settings: dict[str, Any] = {}
    for cls in entry.cls.__mro__:  # a class taking **kwargs passes them to its base class
        params = inspect.signature(cls.__init__).parameters.values()
        for p in params:
            if p.default is not inspect.Parameter.empty:
                settings.setdefault(p.name, p.default)
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            break
    return {**settings, **entry.defaults}


def _check_value(name: str, key: str, value: Any, default: Any) -> Any:
    where = f"model {name}: setting {key}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ModelConfigError(f"{where} must be True or False, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ModelConfigError(f"{where} must be a whole number, got {value!r}")
        low = 0 if key == "num_classes" else 1  # num_classes=0: no head, the model gives features
        if value < low:  # every integer setting is a size or a count
            raise ModelConfigError(f"{where} must be at least {low}, got {value}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ModelConfigError(f"{where} must be a finite number, got {value!r}")
        low, high, rule = _FLOAT_RANGES.get(key, (-math.inf, math.inf, ""))
        value = float(value)
        strict_low = rule.startswith(("0 < x", "x > 0"))
        strict_high = "< 1" in rule and "<= 1" not in rule
        if value < low or value > high or (strict_low and value == low) or (strict_high and value == high):
            raise ModelConfigError(f"{where} must satisfy {rule}, got {value}")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or len(value) != len(default):
            raise ModelConfigError(f"{where} needs {len(default)} values like {default}, got {value!r}")
        return tuple(_check_value(name, f"{key}[{i}]", v, d) for i, (v, d) in enumerate(zip(value, default)))
    if isinstance(default, str) and not isinstance(value, str):
        raise ModelConfigError(f"{where} must be a string, got {value!r}")
    return value


def check_settings(name: str, overrides: Any) -> dict[str, Any]:
    """``overrides`` checked against model ``name``'s settings (names, types, ranges)."""
    if not isinstance(overrides, dict):
        raise ModelConfigError(f"model {name}: settings must be a mapping of name: value, got {overrides!r}")
    settings = model_settings(name)
    checked = {}
    for key, value in overrides.items():
        if key not in settings:
            near = difflib.get_close_matches(str(key), settings, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ModelConfigError(f"model {name}: unknown setting {key!r}{hint}")
        checked[key] = _check_value(name, key, value, settings[key])
    return checked


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build a registered model; keyword overrides replace its defaults (checked first).

    The model remembers its name and full configuration (``model.model_name``,
    ``model.model_config``) so that a checkpoint can rebuild it.
    """
    entry = model_entry(name)
    config = {**entry.defaults, **check_settings(name, overrides)}
    try:
        model = entry.cls(**config)
    except MaedferError:
        raise
    except ValueError as e:  # a combination of settings the model cannot build
        raise ModelConfigError(f"model {name}: {e}") from None
    except (MemoryError, RuntimeError) as e:  # torch's allocator raises RuntimeError
        if not isinstance(e, MemoryError) and "alloc" not in str(e):
            raise
        raise ModelConfigError(
            f"model {name}: these settings need more memory than there is ({one_line(e)[:160]})"
        ) from None
    model.model_name, model.model_config = name, config
    return model
