import numpy as np

from maedfer.cli import main
from maedfer.data.annotations import read_annotations, write_annotations
from maedfer.data.writers import write_frames, write_video


def _frames(n):
    return np.full((n, 32, 32, 3), 90, np.uint8)


def _dataset(tmp_path):
    good = write_video(tmp_path / "good.mp4", _frames(40))
    data = write_video(tmp_path / "tmp.mp4", _frames(200)).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 3])
    short = write_frames(tmp_path / "short", _frames(5))
    return write_annotations(
        tmp_path / "all.csv",
        [(str(good), 0), (str(tmp_path / "cut.mp4"), 1), (str(tmp_path / "gone.mp4"), 1), (str(short), 2)],
    )


def test_check_data_reports_bad_and_short_clips(tmp_path, capsys):
    ann = _dataset(tmp_path)
    code = main(["check-data", str(ann), "--workers", "0", "--write-good", str(tmp_path / "good.csv")])
    out = capsys.readouterr().out
    assert code == 1
    assert "unreadable  " + str(tmp_path / "gone.mp4") + ": no such file or folder" in out
    assert "unreadable  " + str(tmp_path / "cut.mp4") + ":" in out
    assert f"short       {tmp_path / 'short'}: 5 frames (< 16; frames will repeat)" in out
    assert "checked 4 clips: 2 readable, 2 unreadable, 1 short" in out
    assert [i.label for i in read_annotations(tmp_path / "good.csv")] == [0, 2]


def test_check_data_in_worker_processes_gives_the_same_report(tmp_path, capsys):
    ann = _dataset(tmp_path)
    assert main(["check-data", str(ann), "--workers", "2"]) == 1
    assert "checked 4 clips: 2 readable, 2 unreadable, 1 short" in capsys.readouterr().out
    clean = write_annotations(tmp_path / "clean.csv", [(str(tmp_path / "good.mp4"), 0)])
    assert main(["check-data", str(clean), "--workers", "0"]) == 0


def test_prepare_command_and_its_errors(tmp_path, capsys):
    root = tmp_path / "RAVDESS" / "face_aligned"
    for actor in range(1, 7):
        (root / f"Actor_{actor:02d}").mkdir(parents=True)
        (root / f"Actor_{actor:02d}" / f"02-01-03-01-01-01-{actor:02d}.mp4").write_bytes(b"")
    assert main(["prepare", "ravdess", "--root", str(tmp_path / "RAVDESS"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 'out'}/split01/test.csv  1 clips  (2:1)" in out
    assert main(["prepare", "dfew", "--root", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("maedfer: error: ") and "nope: no such folder" in err and err.count("\n") == 1
    assert main(["check-data", str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv: no such annotation file" in capsys.readouterr().err
