"""The Dockerfile builds an image that serves: built, started with a token and a tiny model,
asked for readiness and a prediction, and stopped with SIGTERM, where a container engine
answers; skipped with the reason where none does (no daemon, no network for the base image)."""

import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from test_hub import tiny_classifier

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "container-test-token-0123456789"


def engine() -> str:
    """The container engine that answers, or skip with why none does."""
    for name in ("docker", "podman"):
        if shutil.which(name) is None:
            continue
        info = subprocess.run([name, "info"], capture_output=True, text=True, timeout=60)
        if info.returncode == 0:
            return name
        why = (info.stderr.strip().splitlines() or ["no answer"])[-1]
        pytest.skip(f"{name} is installed but its engine does not answer: {why}")
    pytest.skip("no container engine (docker, podman) on this machine")


def test_dockerfile_is_what_the_docs_describe():
    text = (ROOT / "Dockerfile").read_text()
    assert "USER maedfer" in text and "HEALTHCHECK" in text and "/health/ready" in text
    assert '"serve", "--host", "0.0.0.0"' in text  # off loopback: it refuses to start without a token


def test_the_image_builds_and_serves(tmp_path):
    tool = engine()
    tag = "maedfer-serve-test"
    build = subprocess.run([tool, "build", "-t", tag, str(ROOT)], capture_output=True, text=True, timeout=1800)
    if build.returncode != 0 and "pull" in build.stderr.lower():
        pytest.skip(f"the base image cannot be pulled here: {build.stderr.strip().splitlines()[-1]}")
    assert build.returncode == 0, build.stderr[-2000:]
    models = tmp_path / "models"
    models.mkdir()
    tiny_classifier(models / "tiny.pth")
    models.chmod(0o755)
    # without a token it refuses, in one line
    refused = subprocess.run(
        [tool, "run", "--rm", "-v", f"{models}:/models:ro", tag, "--checkpoint", "/models/tiny.pth"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 2 and "reachable from the network" in refused.stderr
    name = "maedfer-serve-test-run"
    subprocess.run(
        [tool, "run", "-d", "--rm", "--name", name, "-p", "127.0.0.1:18765:8000", "-e", f"MAEDFER_TOKEN={TOKEN}",
         "-v", f"{models}:/models:ro", tag, "--checkpoint", "/models/tiny.pth", "--precision", "fp32"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    try:
        for _ in range(240):
            try:
                with urllib.request.urlopen("http://127.0.0.1:18765/health/ready", timeout=2) as r:
                    assert r.status == 200
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the container did not get ready")
        user = subprocess.run([tool, "exec", name, "id", "-u"], capture_output=True, text=True, timeout=60)
        assert user.stdout.strip() == "10001"  # not root
    finally:
        stopped = subprocess.run([tool, "stop", "-t", "30", name], capture_output=True, text=True, timeout=120)
        assert stopped.returncode == 0
