"""Released models by name, the download cache, and the Hugging Face Hub; all offline."""

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import maedfer
from maedfer.checkpoint import save_checkpoint
from maedfer.cli import main
from maedfer.hub import (
    RELEASED,
    DownloadError,
    ReleasedModel,
    cached_file,
    check_released,
    download_released,
    gdown_fetch,
    released_model,
    released_path,
    resolve_checkpoint,
    sha256_of,
)
from maedfer.hub import cache as hub_cache
from maedfer.hub.huggingface import parse_repo
from maedfer.hub.push import FILES, push, write_repo_folder


def tiny_classifier(path: Path, num_classes: int = 7) -> Path:
    model = maedfer.create_model("lgi_former_tiny", num_classes=num_classes)
    return save_checkpoint(
        model,
        path,
        config={
            "dataset": "dfew" if num_classes == 7 else "mafw",
            "sampling_rate": 2,
            "epochs": 3,
            "lr": 1e-3,
            "seed": 0,
        },
    )


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MAEDFER_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def tiny_release(monkeypatch, tmp_path):
    """A catalogue entry whose file is a tiny maedfer classifier (the real ones are 340 MB)."""
    entry = ReleasedModel("tiny-test", "FAKE_ID", "dfew", "lgi_former_tiny", 50.0, 60.0)
    monkeypatch.setitem(RELEASED, entry.name, entry)
    source = tiny_classifier(tmp_path / "source.pth")
    return entry, source


class FakeDrive:
    """A downloader that copies a local file, counts its calls, and can fail half-way."""

    def __init__(self, source: Path, fail_after: int | None = None):
        self.data, self.fail_after, self.calls = source.read_bytes(), fail_after, []

    def __call__(self, url: str, path: Path) -> None:
        self.calls.append((url, path.exists() and path.stat().st_size))
        done = path.stat().st_size if path.exists() else 0  # resume like gdown does
        with open(path, "ab") as f:
            if self.fail_after is not None:
                f.write(self.data[done : self.fail_after])
                self.fail_after = None
                raise ConnectionResetError("connection reset by peer")
            f.write(self.data[done:])


# ---------------------------------------------------------------- catalogue


def test_the_catalogue_holds_the_official_files_with_their_scores():
    names = [m.name for m in RELEASED.values() if m.name != "tiny-test"]
    assert names == [
        *(f"dfew-fold{k}" for k in range(1, 6)),
        "ferv39k",
        *(f"mafw-fold{k}" for k in range(1, 6)),
        "voxceleb2-pretrain",
    ]
    dfew = [RELEASED[f"dfew-fold{k}"] for k in range(1, 6)]
    # the README's "Total" row is the mean of its folds
    assert np.mean([m.uar for m in dfew]) == pytest.approx(63.41, abs=0.01)
    assert np.mean([m.war for m in dfew]) == pytest.approx(74.43, abs=0.01)
    mafw = [RELEASED[f"mafw-fold{k}"] for k in range(1, 6)]
    assert np.mean([m.uar for m in mafw]) == pytest.approx(42.36, abs=0.01)
    assert dfew[0].classes == ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")
    assert mafw[0].num_classes == 11 and mafw[0].classes[-1] == "disappointment"
    assert RELEASED["ferv39k"].sampling_rate == 1 and dfew[0].sampling_rate == 4
    assert dfew[0].url == "https://drive.google.com/uc?id=1wRxwEZlrc3z3DqQ84xm_olmqRsj2obH3"
    assert len({m.drive_id for m in RELEASED.values()}) == len(RELEASED)
    vox = released_model("voxceleb2")
    assert vox.name == "voxceleb2-pretrain" and not vox.finetuned and vox.model_name == "mae_dfer_base"
    assert released_model("DFEW").name == "dfew-fold1" and released_model("mafw").name == "mafw-fold1"
    with pytest.raises(maedfer.errors.MaedferError, match="'dfew-fold9' is not a released model; known: dfew, "):
        released_model("dfew-fold9")


def test_models_released_lists_names_scores_and_cache_state(home, capsys):
    assert main(["models", "--released", "mafw*"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len([line for line in out if line.startswith("mafw-fold")]) == 5
    assert "mafw-fold3" in out[3] and "46.25" in out[3] and "58.87" in out[3] and " no " in out[3]


# ---------------------------------------------------------------- the cache


def test_a_release_is_downloaded_once_checked_recorded_and_verified(home, tiny_release):
    entry, source = tiny_release
    drive = FakeDrive(source)
    path = download_released("tiny-test", drive)
    assert path == home / "released" / "tiny-test.pth" and path.read_bytes() == source.read_bytes()
    assert drive.calls == [(entry.url, False)]
    assert json.loads((home / "released" / "sha256.json").read_text()) == {"tiny-test.pth": sha256_of(source)}
    assert download_released("tiny-test", drive) == path and len(drive.calls) == 1  # from the cache
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(
        DownloadError,
        match=r"tiny-test.pth: differs from the file downloaded for tiny-test "
        r"\(sha256 changed",
    ):
        download_released("tiny-test", drive)


def test_an_interrupted_download_resumes_and_nothing_partial_is_in_the_cache(home, tiny_release):
    entry, source = tiny_release
    drive = FakeDrive(source, fail_after=5000)
    with pytest.raises(
        DownloadError,
        match=rf"could not download tiny-test \(connection reset by peer\); download it "
        rf"from {entry.page} and put it at {home}/released/tiny-test.pth",
    ):
        download_released("tiny-test", drive)
    assert not released_path(entry).exists()
    assert (home / "released" / "tiny-test.pth.download").stat().st_size == 5000
    path = download_released("tiny-test", drive)
    assert drive.calls[1][1] == 5000  # the second call found the partial file
    assert sha256_of(path) == sha256_of(source)
    assert not (home / "released" / "tiny-test.pth.download").exists()


def test_a_download_of_the_wrong_model_is_refused_and_removed(home, tiny_release, tmp_path):
    wrong = tiny_classifier(tmp_path / "mafw.pth", num_classes=11)
    with pytest.raises(DownloadError, match=r"tiny-test: the downloaded file was refused: .*shape mismatches"):
        download_released("tiny-test", FakeDrive(wrong))
    assert not list((home / "released").iterdir())
    (tmp_path / "page.html").write_text("<html>Google Drive - Virus scan warning</html>")
    with pytest.raises(DownloadError, match="refused: .*not a readable PyTorch checkpoint"):
        download_released("tiny-test", FakeDrive(tmp_path / "page.html"))


def test_offline_says_where_to_put_the_file_and_a_file_put_there_is_used(home, tiny_release):
    entry, source = tiny_release

    def offline(url, path):
        raise OSError("Max retries exceeded with url: /uc (Caused by NameResolutionError)")

    with pytest.raises(DownloadError) as e:
        download_released("tiny-test", offline)
    assert str(e.value) == (
        f"could not download tiny-test (cannot reach drive.google.com: offline?); download it "
        f"from https://drive.google.com/file/d/FAKE_ID/view and put it at "
        f"{home}/released/tiny-test.pth"
    )
    with pytest.raises(DownloadError, match="tiny-test is not in the cache; download it from"):
        download_released("tiny-test", offline, download=False)
    released_path(entry).parent.mkdir(parents=True, exist_ok=True)
    released_path(entry).write_bytes(source.read_bytes())  # as the message says
    assert download_released("tiny-test", offline) == released_path(entry)
    assert json.loads((home / "released" / "sha256.json").read_text())["tiny-test.pth"] == sha256_of(source)


def test_names_resolve_to_the_cache_and_load_downloads_on_first_use(home, tiny_release, monkeypatch, tmp_path):
    entry, source = tiny_release
    drive = FakeDrive(source)
    monkeypatch.setattr(hub_cache, "gdown_fetch", drive)
    predictor = maedfer.load("tiny-test", device="cpu", precision="fp32")
    assert drive.calls == [(entry.url, False)]
    assert predictor.classes == entry.classes and predictor.spec.model_name == "lgi_former_tiny"
    assert resolve_checkpoint("tiny-test") == (released_path(entry), "dfew")
    # a file of that name in the working folder wins over the catalogue
    monkeypatch.chdir(tmp_path)
    Path("tiny-test").write_bytes(source.read_bytes())
    assert resolve_checkpoint("tiny-test") == (Path("tiny-test"), None)


def test_the_official_key_check_accepts_the_real_layout_and_names_what_differs(tmp_path):
    from conftest import REFERENCE_KEYS

    shapes = json.loads(REFERENCE_KEYS.read_text())["finetune_dfew_7cls"]
    # the released files' layout (every key and shape of the official DFEW checkpoint), with
    # one-element storage expanded to the shape so that the file stays small
    state = {k: torch.zeros(1).expand(*v) if v else torch.zeros(()) for k, v in shapes.items()}
    torch.save({"model": state}, tmp_path / "official.pth")
    check_released(released_model("dfew-fold2"), tmp_path / "official.pth")
    with pytest.raises(
        maedfer.CheckpointError,
        match=r"does not fit model lgi_former_base: 2 shape mismatches "
        r"\(head.weight: checkpoint \[7, 512\] vs model \[11, 512\]",
    ):
        check_released(released_model("mafw-fold2"), tmp_path / "official.pth")
    del state["head.bias"]
    torch.save({"model": state}, tmp_path / "official.pth")
    with pytest.raises(maedfer.CheckpointError, match=r"1 missing keys \(head.bias\)"):
        check_released(released_model("dfew-fold2"), tmp_path / "official.pth")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def local_server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_gdown_fetches_from_a_local_server_into_the_cache(home, tiny_release, local_server, capfd):
    entry, source = tiny_release
    root, base = local_server
    (root / "model.pth").write_bytes(source.read_bytes())
    dest = home / "released" / "tiny-test.pth"
    path = cached_file("tiny-test", f"{base}/model.pth", dest, gdown_fetch, lambda p: check_released(entry, p))
    assert path == dest and sha256_of(path) == sha256_of(source)
    assert "Downloading" in capfd.readouterr().err  # gdown's progress
    with pytest.raises(DownloadError, match=r"could not download x \(.*404"):
        cached_file("x", f"{base}/missing.pth", home / "x.pth", gdown_fetch, lambda p: None)
    assert not (home / "x.pth").exists()


# ---------------------------------------------------------------- the Hub


def test_repo_ids_are_parsed_and_bad_ones_refused():
    assert parse_repo("hf://me/maedfer-dfew") == ("me/maedfer-dfew", None)
    assert parse_repo("hf://me/m@v1.0") == ("me/m", "v1.0")
    for bad in ("hf://nobody", "hf://a/b/c", "hf:///x"):
        with pytest.raises(maedfer.errors.MaedferError, match="not a Hub repository id; expected OWNER/NAME"):
            parse_repo(bad)


def test_push_dry_run_writes_exactly_the_files_it_would_upload(tmp_path, capsys):
    ckpt = tiny_classifier(tmp_path / "run" / "checkpoint-last.pth")
    (tmp_path / "run" / "eval").mkdir()
    (tmp_path / "run" / "eval" / "metrics.json").write_text(
        json.dumps(
            {
                "uar": 41.25,
                "war": 52.5,
                "macro_f1": 40.0,
                "weighted_f1": 50.0,
                "videos": 120,
                "per_class_accuracy": {"happy": 80.0},
            }
        )
    )
    assert main(["push", str(ckpt), "me/tiny", "--dry-run", str(tmp_path / "hub")]) == 0
    assert "nothing uploaded" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "hub").iterdir()) == sorted(FILES)
    config = json.loads((tmp_path / "hub" / "config.json").read_text())
    assert config["model_name"] == "lgi_former_tiny" and config["labels"][0] == "happy"
    assert config["id2label"]["6"] == "fear" and config["sampling_rate"] == 2 and config["num_frames"] == 16
    card = (tmp_path / "hub" / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: maedfer\n")
    assert "| UAR | 41.25 |" in card and "| WAR | 52.50 |" in card and "| test videos | 120 |" in card
    assert "**dfew**" in card and "- epochs: `3`" in card and 'maedfer.load("hf://me/tiny")' in card
    # the uploaded weights give the checkpoint's outputs
    a, _ = maedfer.inference.load_classifier(ckpt)
    clip = torch.randn(1, *a.input_shape)
    b, _ = maedfer.inference.load_classifier(tmp_path / "hub" / "model.safetensors")
    assert torch.equal(a(clip), b(clip))


def test_push_uploads_that_folder_through_huggingface_hub(tmp_path):
    ckpt = tiny_classifier(tmp_path / "c.pth")

    class FakeApi:
        def create_repo(self, repo_id, private, exist_ok):
            self.created = (repo_id, private, exist_ok)

        def upload_folder(self, repo_id, folder_path, commit_message):
            self.uploaded = {p.name: p.stat().st_size for p in Path(folder_path).iterdir()}

    api = FakeApi()
    assert push(ckpt, "me/tiny", private=True, api=api) == "https://huggingface.co/me/tiny"
    assert api.created == ("me/tiny", True, True) and sorted(api.uploaded) == sorted(FILES)

    class Refusing(FakeApi):
        def create_repo(self, *a, **k):
            raise RuntimeError("401 Client Error: Unauthorized")

    with pytest.raises(maedfer.errors.MaedferError, match=r"could not upload to me/tiny: 401 Client Error"):
        push(ckpt, "me/tiny", api=Refusing())


def _hub_cache(root: Path, repo_id: str, files: dict[str, Path]) -> None:
    """A Hugging Face cache holding ``files`` at the main revision of ``repo_id``, laid
    out as huggingface_hub lays it out (refs/main -> snapshots/<commit>/...)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = root / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, src in files.items():
        (snapshot / name).write_bytes(src.read_bytes())


def test_hf_names_load_from_the_hub_cache_offline(tmp_path):
    ckpt = tiny_classifier(tmp_path / "run" / "c.pth")
    files = write_repo_folder(ckpt, tmp_path / "hub", repo_id="me/tiny")
    _hub_cache(tmp_path / "hf", "me/tiny", {p.name: p for p in files})
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    code = (
        "import maedfer, torch; p = maedfer.load('hf://me/tiny', device='cpu', precision='fp32'); "
        "print(p.classes[0], p.spec.model_name)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["happy", "lgi_former_tiny"]
    # a repository that is not in the cache, offline: one line that names it
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "maedfer",
            "export",
            "hf://me/other",
            "--format",
            "safetensors",
            "--out",
            str(tmp_path / "x.safetensors"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert out.stderr.startswith("maedfer: error: hf://me/other: could not get it from the Hugging Face Hub (")


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Serves one file; the first whole-file request breaks off half-way; byte ranges work."""

    data = b""
    broke = False
    ranges: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        cls = type(self)
        start = 0
        if "Range" in self.headers:
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            cls.ranges.append(start)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(cls.data) - 1}/{len(cls.data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(cls.data) - start))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if not cls.broke and start == 0:
            cls.broke = True
            self.wfile.write(cls.data[: len(cls.data) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)  # the connection drops mid-file
            return
        self.wfile.write(cls.data[start:])


def test_gdown_resumes_an_interrupted_download(home, tiny_release):
    entry, source = tiny_release
    _Flaky.data, _Flaky.broke, _Flaky.ranges = source.read_bytes(), False, []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/model.pth"
    dest = home / "released" / "tiny-test.pth"
    try:
        with pytest.raises(DownloadError, match="could not download tiny-test"):
            cached_file("tiny-test", url, dest, gdown_fetch, lambda p: check_released(entry, p))
        assert not dest.exists()
        path = cached_file("tiny-test", url, dest, gdown_fetch, lambda p: check_released(entry, p))
    finally:
        server.shutdown()
    assert sha256_of(path) == sha256_of(source)
    assert _Flaky.ranges and _Flaky.ranges[0] > 0  # the second request asked for the rest only
    assert not [p for p in dest.parent.iterdir() if p.name.endswith(".part")]
