"""MkDocs hook: the reference pages are generated while the site is built, from the code
itself, so they cannot drift from it.

- ``<!-- generated: settings -->`` becomes a table per task of every setting in
  :mod:`maedfer.settings` (type, default, what it does);
- ``<!-- generated: commands -->`` becomes every ``maedfer`` command with its usage and
  every option of its ``--help``.

Docstrings' Sphinx roles are dropped from the rendered API page.
"""

from __future__ import annotations

import argparse
import re

from maedfer.cli import build_parser
from maedfer.settings import SETTINGS, describe


def _cell(text: str) -> str:
    """``text`` as it reads, in a Markdown table cell."""
    text = re.sub(r"([\\`*_|])", r"\\\1", text.replace("\n", " "))
    return text.replace("<", "&lt;")


def settings_reference() -> str:
    out = []
    for task, cls in SETTINGS.items():
        out += [
            f"## `maedfer {task}`",
            "",
            f"{cls.__doc__.strip().splitlines()[0].rstrip('.')}. Python: `maedfer.{cls.__name__}`.",
            "",
            "| setting | type | default | what it does |",
            "|---|---|---|---|",
        ]
        out += [f"| `{key}` | {kind} | `{default}` | {_cell(text)} |" for key, kind, default, text in describe(cls)]
        out.append("")
    return "\n".join(out)


def _option(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    names = ", ".join(f"`{name}`" for name in action.option_strings)
    if action.nargs == 0:
        return names
    value = "{" + ",".join(map(str, action.choices)) + "}" if action.choices else action.metavar or action.dest.upper()
    return f"{names} `{value}`"


def _subcommands(parser: argparse.ArgumentParser, prog: str):
    """(name, parser, summary) of every command under ``parser``, nested ones too
    (``maedfer visualize embed``), in the order of ``--help``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            summaries = {a.dest: a.help for a in action._choices_actions}
            for name, command in action.choices.items():
                yield f"{prog} {name}", command, summaries.get(name) or command.description or ""
                yield from _subcommands(command, f"{prog} {name}")


def commands_reference() -> str:
    out = []
    for name, command, summary in _subcommands(build_parser(), "maedfer"):
        usage = re.sub(r"\s+", " ", command.format_usage().removeprefix("usage: ").strip())
        out += [f"## `{name}`", "", summary, "", "```text", usage, "```", ""]
        rows = [
            a
            for a in command._actions
            if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)) and a.help != argparse.SUPPRESS
        ]
        if rows:
            out += ["| argument | what it does | default |", "|---|---|---|"]
            for a in rows:
                shown = a.option_strings and a.default not in (None, False, argparse.SUPPRESS)
                default = f"`{a.default}`" if shown else ""
                help_text = command._get_formatter()._expand_help(a) if a.help else ""
                out.append(f"| {_option(a)} | {_cell(help_text)} | {default} |")
            out.append("")
    return "\n".join(out)


GENERATED = {"<!-- generated: settings -->": settings_reference, "<!-- generated: commands -->": commands_reference}


def on_page_content(html: str, **kwargs) -> str:
    # The docstrings cross-reference in Sphinx's roles (":class:`Predictor`"); the page shows
    # the name as code, without the role.
    return re.sub(r":(?:class|func|meth|mod|attr|data|exc):(?=<code>)", "", html)


def on_page_markdown(markdown: str, **kwargs) -> str:
    for marker, make in GENERATED.items():
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown
