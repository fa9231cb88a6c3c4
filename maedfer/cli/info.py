"""``maedfer info MODEL``: size and cost of a registered model; ``maedfer models``: the list."""
from __future__ import annotations

import argparse

from ..models import LGIFormer
from ..models.cost import count_macs, count_parameters
from ..registry import list_models, model_entry
from .overrides import build_model


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="parameters and GMACs per clip of a model")
    p.add_argument("model", help="registered model name (see 'maedfer models')")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a model setting, e.g. --set num_classes=11 (repeatable)")
    p.set_defaults(run=run_info)
    m = sub.add_parser("models", help="list the registered models")
    m.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'lgi*'")
    m.set_defaults(run=run_models)


def describe(model) -> list[tuple[str, str]]:
    """(label, value) rows describing a built model."""
    c, t, h, w = model.input_shape
    trunk = getattr(model, "encoder", model)
    gt, gh, gw = trunk.grid
    params = count_parameters(model)
    rows = [("model", f"{model.model_name} ({type(model).__name__})"),
            ("input", f"{c}x{t}x{h}x{w} clip -> {gt}x{gh}x{gw} = {gt * gh * gw} tokens")]
    if hasattr(trunk, "regions"):
        rt, rh, rw = trunk.regions.region_size
        rows.append(("regions", f"{trunk.regions.num_regions} of {rt}x{rh}x{rw} tokens"))
    if hasattr(model, "masking"):
        mk = model.masking
        rows.append(("masking", f"{type(mk).__name__} ratio {mk.mask_ratio}: {mk.num_masked} masked, "
                                f"{mk.num_tokens - mk.num_masked} visible"))
    inputs = model.example_inputs(1)
    macs = f"{count_macs(model, *inputs) / 1e9:.2f}"
    if isinstance(model, LGIFormer):
        # The original also runs the last block's local-token steps, which cannot change
        # the logits; its figure is the one papers quote.
        full = count_macs(model, *inputs, forward=lambda x: model.head(model.fc_norm(
            model.forward_tokens(x)[0].mean(dim=1))))
        macs += f" ({full / 1e9:.2f} as the original runs it)"
    rows += [("parameters", f"{params:,} ({params / 1e6:.2f} M)"), ("GMACs/clip", macs)]
    return rows


def run_info(args: argparse.Namespace) -> int:
    model = build_model(args.model, args.overrides)
    for label, value in describe(model):
        print(f"{label:<12}{value}")
    return 0


def run_models(args: argparse.Namespace) -> int:
    names = list_models(args.pattern)
    width = max((len(n) for n in names), default=0)
    for name in names:
        print(f"{name:<{width}}  {model_entry(name).description}")
    return 0
