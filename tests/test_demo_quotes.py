"""The README and the Results page say of the demo only what one named run's file says: every
table they quote from it sits between markers naming the run's demo.json, and is the table
that run's own numbers make (maedfer.engine.demo.tables and quoted_tables)."""

import json
import re
from pathlib import Path

import pytest

from maedfer.engine.demo import quoted_tables, tables

ROOT = Path(__file__).resolve().parents[1]
QUOTE = re.compile(
    r"<!-- demo (tables|claims) of (bench/results/\S+\.json) -->\n(.*?)<!-- end of the demo run -->", re.S
)
MAKERS = {"tables": tables, "claims": quoted_tables}


@pytest.mark.parametrize("page", ["README.md", "docs/results.md"])
def test_demo_figures_quoted_are_the_named_runs(page):
    quotes = QUOTE.findall((ROOT / page).read_text())
    assert quotes, f"{page} quotes no demo run between markers"
    for kind, path, quoted in quotes:
        run = json.loads((ROOT / path).read_text())
        assert run["quick"] is False, f"{path} is a --quick run"
        made = MAKERS[kind](run["summary"], sorted(int(s) for s in run["seeds"]))
        assert quoted.strip() == made.strip(), f"{page}: the {kind} quoted differ from {path}'s"


def test_readme_prose_quotes_no_demo_figure_outside_the_tables():
    # the demo's bullet points to the tables and the Results page: no UAR figure of its own
    bullet = re.search(r"- \*\*The evidence so far\*\*(.*?)\n\n", (ROOT / "README.md").read_text(), re.S)
    assert bullet is not None
    assert not re.search(r"\d+\.\d+ ?± ?\d|\d+\.\d+ ?%", bullet.group(1)), bullet.group(1)
