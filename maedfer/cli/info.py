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
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a model setting, e.g. --set num_classes=11 (repeatable)",
    )
    p.set_defaults(run=run_info)
    m = sub.add_parser("models", help="list the registered models (--released: the official checkpoints)")
    m.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'lgi*' or 'dfew*'")
    m.add_argument(
        "--released",
        action="store_true",
        help="list the officially released MAE-DFER checkpoints that 'maedfer download' fetches",
    )
    m.set_defaults(run=run_models)


def describe(model) -> list[tuple[str, str]]:
    """(label, value) rows describing a built model."""
    c, t, h, w = model.input_shape
    trunk = getattr(model, "encoder", model)
    gt, gh, gw = trunk.grid
    params = count_parameters(model)
    rows = [
        ("model", f"{model.model_name} ({type(model).__name__})"),
        ("input", f"{c}x{t}x{h}x{w} clip -> {gt}x{gh}x{gw} = {gt * gh * gw} tokens"),
    ]
    if hasattr(trunk, "regions"):
        rt, rh, rw = trunk.regions.region_size
        rows.append(("regions", f"{trunk.regions.num_regions} of {rt}x{rh}x{rw} tokens"))
    if hasattr(model, "masking"):
        mk = model.masking
        rows.append(
            (
                "masking",
                f"{type(mk).__name__} ratio {mk.mask_ratio}: {mk.num_masked} masked, "
                f"{mk.num_tokens - mk.num_masked} visible",
            )
        )
    inputs = model.example_inputs(1)
    macs = f"{count_macs(model, *inputs) / 1e9:.2f}"
    if isinstance(model, LGIFormer):
        # The original also runs the last block's local-token steps, which cannot change
        # the logits; its figure is the one papers quote.
        full = count_macs(
            model, *inputs, forward=lambda x: model.head(model.fc_norm(model.forward_tokens(x)[0].mean(dim=1)))
        )
        macs += f" ({full / 1e9:.2f} as the original runs it)"
    rows += [("parameters", f"{params:,} ({params / 1e6:.2f} M)"), ("GMACs/clip", macs)]
    return rows


def run_info(args: argparse.Namespace) -> int:
    model = build_model(args.model, args.overrides)
    for label, value in describe(model):
        print(f"{label:<12}{value}")
    return 0


def run_models(args: argparse.Namespace) -> int:
    if args.released:
        return _print_released(args.pattern)
    names = list_models(args.pattern)
    width = max((len(n) for n in names), default=0)
    for name in names:
        print(f"{name:<{width}}  {model_entry(name).description}")
    return 0


def _print_released(pattern: str) -> int:
    import fnmatch

    from ..hub import ALIASES, RELEASED, released_path

    print(f"{'name':<19}{'dataset':<10}{'classes':>8}{'rate':>6}{'UAR':>7}{'WAR':>7}  cached  model")
    for m in RELEASED.values():
        if not fnmatch.fnmatch(m.name, pattern):
            continue
        score = lambda v: f"{v:7.2f}" if v is not None else f"{'-':>7}"  # noqa: E731
        cached = "yes" if released_path(m).is_file() else "no"
        print(
            f"{m.name:<19}{m.dataset:<10}{m.num_classes or '-':>8}{m.sampling_rate:>6}{score(m.uar)}{score(m.war)}"
            f"  {cached:<6}  {m.model_name}{'  (' + m.note + ')' if m.note else ''}"
        )
    print(
        "aliases: " + ", ".join(f"{a} = {n}" for a, n in ALIASES.items()) + ". Scores: the original README's, "
        "for these files. Download: maedfer download NAME (needs pip install 'maedfer[hub]')"
    )
    return 0
