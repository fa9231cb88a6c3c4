from pathlib import Path

import numpy as np
import pytest
import torch

from maedfer.data.annotations import AnnotationError, Item, read_annotations, write_annotations
from maedfer.data.readers import FolderReader, ImageReader, VideoReader, VideoReadError, open_clip
from maedfer.data.writers import write_frames, write_video


def _numbered(n, h=48, w=64):
    """Frame i shows i in binary as 8 vertical stripes (bright = 1), which survives lossy codecs."""
    frames = np.full((n, h, w, 3), 40, np.uint8)
    for i in range(n):
        for bit in range(8):
            if i >> bit & 1:
                frames[i, :, bit * 8 : (bit + 1) * 8] = 215
    return frames


def _indices_of(frames):
    stripes = frames.float().mean(dim=(1, 3)).view(len(frames), 8, -1).mean(-1)  # (T, 8)
    return [int(sum(1 << b for b in range(8) if stripes[t, b] > 128)) for t in range(len(frames))]


@pytest.fixture(scope="module")
def long_mp4(tmp_path_factory):
    """120 frames with a key frame every 10, so reads must seek."""
    path = tmp_path_factory.mktemp("v") / "long.mp4"
    return write_video(path, _numbered(120), crf=10, keyframe_interval=10)


@pytest.mark.parametrize(
    "ext,codec", [("mp4", "libx264"), ("mkv", "libx264"), ("webm", "libvpx-vp9"), ("avi", "mpeg4")]
)
def test_video_files_of_every_container(tmp_path, ext, codec):
    path = write_video(tmp_path / f"clip.{ext}", _numbered(40), codec=codec)
    reader = open_clip(path)
    assert isinstance(reader, VideoReader) and len(reader) == 40
    frames = reader.read([0, 7, 7, 39, 20])
    assert frames.dtype == torch.uint8 and frames.shape == (5, 48, 64, 3)
    assert _indices_of(frames) == [0, 7, 7, 39, 20]


def test_video_reads_seek_and_match_a_full_decode(long_mp4):
    reader = open_clip(long_mp4)
    assert len(reader) == 120
    full = reader.read(list(range(120)))
    assert _indices_of(full) == list(range(120))
    for idx in ([95, 99, 103], [33], [64, 68, 72, 76], [119, 0]):
        assert torch.equal(open_clip(long_mp4).read(idx), full[idx])


def test_the_same_frames_make_the_same_file_under_load(tmp_path):
    # x264's macroblock tree made 3 different files of this clip in 16 encodes on 4 threads
    # (2026-12-07, AMD EPYC): the synthetic data, and every demo figure, moved with the load.
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    from maedfer.data.synth import POOL, unlabelled_clip
    from maedfer.engine.demo import QUICK

    clip = unlabelled_clip(QUICK.synth, 5, POOL)

    def encode(i: int) -> str:
        return hashlib.sha256(write_video(tmp_path / f"{i}.mp4", clip).read_bytes()).hexdigest()

    with ThreadPoolExecutor(4) as pool:
        assert len(set(pool.map(encode, range(16)))) == 1


def test_frame_folders_jpg_and_png(tmp_path):
    write_frames(tmp_path / "a", _numbered(12), ext="jpg")
    write_frames(tmp_path / "b", _numbered(12), ext="png")
    for folder in ("a", "b"):
        reader = open_clip(tmp_path / folder)
        assert isinstance(reader, FolderReader) and len(reader) == 12
        assert _indices_of(reader.read([11, 0, 5])) == [11, 0, 5]
    # only the frames asked for are decoded: a corrupt frame elsewhere does not matter
    (tmp_path / "a" / "00003.jpg").write_bytes(b"not a jpeg")
    assert _indices_of(open_clip(tmp_path / "a").read([0, 4])) == [0, 4]
    with pytest.raises(VideoReadError, match=r"00003.jpg: cannot decode image"):
        open_clip(tmp_path / "a").read([2])


def test_single_image_is_repeated(tmp_path):
    write_frames(tmp_path / "img", _numbered(4)[3:], ext="png")
    reader = open_clip(tmp_path / "img" / "00001.png", image_repeat=16)
    assert isinstance(reader, ImageReader) and len(reader) == 16
    frames = reader.read(list(range(16)))
    assert frames.shape == (16, 48, 64, 3) and _indices_of(frames) == [3] * 16


def test_bad_clips_are_one_line_errors(tmp_path):
    with pytest.raises(VideoReadError, match=r"nothing.mp4: no such file or folder$"):
        open_clip(tmp_path / "nothing.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoReadError, match=r"empty: frame folder holds no .jpg/.jpeg/.png files$"):
        open_clip(tmp_path / "empty")
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 1000)
    with pytest.raises(VideoReadError, match=r"junk.mp4: cannot open video") as err:
        open_clip(tmp_path / "junk.mp4")
    assert "\n" not in str(err.value)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(VideoReadError, match=r"notes.txt: unknown clip type '.txt'"):
        open_clip(tmp_path / "notes.txt")
    good = write_video(tmp_path / "good.mp4", _numbered(30))
    with pytest.raises(VideoReadError, match=r"good.mp4: frame index 30 out of range \(the clip has 30 frames\)"):
        open_clip(good).read([29, 30])


def test_truncated_video_is_an_error_not_missing_frames(tmp_path):
    data = write_video(tmp_path / "full.mp4", _numbered(60)).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoReadError, match=r"cut.mp4: "):
        open_clip(cut).read(list(range(0, 60, 4)))


def test_annotations_round_trip_and_remap(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    items = [Item("/mnt/data1/brain/AC/Dataset/DFEW/Clip/jpg_256/00001", 3), Item("rel/00002", 0)]
    file = write_annotations("train.csv", items)
    assert file.read_text() == "/mnt/data1/brain/AC/Dataset/DFEW/Clip/jpg_256/00001 3\nrel/00002 0\n"
    file = tmp_path / "train.csv"
    got = read_annotations(file, root="/data", strip_prefix="/mnt/data1/brain/AC/Dataset")
    assert got == [Item("/data/DFEW/Clip/jpg_256/00001", 3), Item("/data/rel/00002", 0)]
    # relative paths default to the annotation file's folder
    assert read_annotations(file)[1] == Item(str(tmp_path / "rel/00002"), 0)


def test_written_annotations_read_the_same_from_any_directory(tmp_path, monkeypatch):
    """Paths given relative to the working directory are written relative to the
    annotation file's folder when they lie below it, else absolute."""
    (tmp_path / "work" / "out").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work")
    file = write_annotations("out/split/train.csv", [("out/split/clips/1", 1), ("out/pool/2.mp4", 0)])
    assert file.read_text() == f"clips/1 1\n{tmp_path}/work/out/pool/2.mp4 0\n"
    expected = [Item(str(tmp_path / "work/out/split/clips/1"), 1), Item(f"{tmp_path}/work/out/pool/2.mp4", 0)]
    for cwd in (tmp_path, tmp_path / "work" / "out"):
        monkeypatch.chdir(cwd)
        got = read_annotations(tmp_path / "work/out/split/train.csv")
        assert [Item(str(Path(i.path).resolve()), i.label) for i in got] == expected


@pytest.mark.parametrize(
    "text,message",
    [
        ("a/b 1\nc/d x\n", r"train.csv:2: label 'x' is not an integer"),
        ("a/b 7\n", r"train.csv:1: label 7 out of range \(0..6\)"),
        ("a/b -1\n", r"train.csv:1: label -1 out of range"),
        ("my clip 1\n", r"train.csv:1: expected '<path> <label>' .* \(paths must not contain spaces\)"),
        ("a/b\n", r"train.csv:1: expected '<path> <label>'"),
        ("\n\n", r"train.csv: holds no annotations"),
    ],
)
def test_bad_annotations(tmp_path, text, message):
    (tmp_path / "train.csv").write_text(text)
    with pytest.raises(AnnotationError, match=message):
        read_annotations(tmp_path / "train.csv", num_classes=7)


def test_missing_annotation_file_and_unwritable_paths(tmp_path):
    with pytest.raises(AnnotationError, match=r"nope.csv: no such annotation file"):
        read_annotations(tmp_path / "nope.csv")
    with pytest.raises(AnnotationError, match=r"forbids spaces"):
        write_annotations(tmp_path / "x.csv", [("my clip", 1)])
