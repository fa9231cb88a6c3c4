from pathlib import Path

import pytest

from maedfer.data.annotations import read_annotations
from maedfer.data.prepare import PrepareError, prepare


def _mk(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _labels(file):
    return [i.label for i in read_annotations(file)]


def test_dfew(tmp_path):
    root = tmp_path / "DFEW"
    for vid in range(1, 11):
        _mk(root / "Clip" / "jpg_256" / f"{vid:05d}")
    for k in range(1, 6):
        for part, vids in (("train", range(1, 9)), ("test", range(9, 11))):
            folder = _mk(root / "EmoLabel_DataSplit" / f"{part}(single-labeled)")
            rows = "".join(f"{v},{(v % 7) + 1}\n" for v in vids)
            (folder / f"set_{k}.csv").write_text("video_name,label\n" + rows)
    summary = prepare("dfew", root, tmp_path / "out")
    assert sorted(summary) == [f"split0{k}/{p}" for k in range(1, 6) for p in ("test", "train")]
    items = read_annotations(tmp_path / "out" / "split03" / "train.csv")
    assert len(items) == 8 and items[0].path == str(root / "Clip/jpg_256/00001") and items[0].label == 1
    assert _labels(tmp_path / "out" / "split01" / "test.csv") == [2, 3]  # DFEW labels 1..7 minus 1
    assert (tmp_path / "out" / "classes.txt").read_text().split() == [
        "happy",
        "sad",
        "neutral",
        "angry",
        "surprise",
        "disgust",
        "fear",
    ]


def test_dfew_errors(tmp_path):
    root = tmp_path / "DFEW"
    _mk(root / "Clip" / "jpg_256" / "00001")
    with pytest.raises(PrepareError, match=r"DFEW/EmoLabel_DataSplit: DFEW split folder"):
        prepare("dfew", root, tmp_path / "out")
    folder = _mk(root / "EmoLabel_DataSplit" / "train(single-labeled)")
    (folder / "set_1.csv").write_text("video_name,label\n1,3\n2,3\n")
    with pytest.raises(PrepareError, match=r"set_1.csv:3: lists clip 00002, but .*00002 does not exist"):
        prepare("dfew", root, tmp_path / "out")
    (folder / "set_1.csv").write_text("video_name,label\n1,9\n")
    with pytest.raises(PrepareError, match=r"set_1.csv:2: DFEW label 9 out of range 1..7"):
        prepare("dfew", root, tmp_path / "out")
    with pytest.raises(PrepareError, match=r"nowhere: no such folder"):
        prepare("dfew", tmp_path / "nowhere", tmp_path / "out")
    with pytest.raises(ValueError, match="no preparer for dataset 'affectnet'"):
        prepare("affectnet", root, tmp_path / "out")


def test_ferv39k(tmp_path):
    root = tmp_path / "FERV39k"
    lines = {"train": [], "test": []}
    for i, (scene, emo) in enumerate([("Action", "Happy"), ("Action", "Fear"), ("Daily", "Sad"), ("Daily", "Neutral")]):
        _mk(root / "2_ClipsforFaceCrop" / scene / emo / f"{i:04d}")
        lines["train" if i < 3 else "test"].append(f"{scene}/{emo}/{i:04d} 9")
    setups = _mk(root / "4_setups" / "All_scenes")
    for part, rows in lines.items():
        (setups / f"{part}_All.csv").write_text("\n".join(rows) + "\n")
    summary = prepare("ferv39k", root, tmp_path / "out")
    assert _labels(tmp_path / "out" / "train.csv") == [0, 6, 1]  # from the emotion folder, spec order
    assert _labels(tmp_path / "out" / "test.csv") == [2] and sum(summary["train"].values()) == 3


def test_mafw(tmp_path):
    root = tmp_path / "MAFW"
    names = ["anger", "contempt", "disappointment", "happiness", "helplessness", "anxiety"]
    for i in range(6):
        _mk(root / "data" / "frames" / f"{i:05d}")
    for k in range(1, 6):
        folder = _mk(root / "split" / "single" / "no_caption" / f"set_{k}")
        (folder / "train.txt").write_text("".join(f"{i:05d}.mp4 {names[i]}\n" for i in range(4)))
        (folder / "test.txt").write_text("".join(f"{i:05d}.mp4 {names[i]}\n" for i in range(4, 6)))
    prepare("mafw", root, tmp_path / "out")
    assert _labels(tmp_path / "out" / "split05" / "train.csv") == [0, 7, 10, 3]
    assert _labels(tmp_path / "out" / "split05" / "test.csv") == [9, 8]
    (root / "split/single/no_caption/set_2/test.txt").write_text("00004.mp4 joy\n")
    with pytest.raises(PrepareError, match=r"test.txt:1: unknown mafw class 'joy'"):
        prepare("mafw", root, tmp_path / "out")


def test_crema_d_subject_independent_folds(tmp_path):
    root = tmp_path / "CREMA-D"
    codes = ["ANG", "DIS", "FEA", "HAP", "NEU", "SAD"]
    for actor in range(1001, 1092):
        for j, code in enumerate(codes):
            _mk(root / "face_aligned" / f"{actor}_IEO_{code}_{'HI' if j % 2 else 'LO'}")
    summary = prepare("crema-d", root, tmp_path / "out")
    tests = [read_annotations(tmp_path / "out" / f"split0{k}" / "test.csv") for k in range(1, 6)]
    actors = [{Path(i.path).name[:4] for i in t} for t in tests]
    assert [len(a) for a in actors] == [19, 18, 18, 18, 18]
    assert set().union(*actors) == {str(a) for a in range(1001, 1092)} and sum(map(len, actors)) == 91
    train1 = {Path(i.path).name[:4] for i in read_annotations(tmp_path / "out" / "split01" / "train.csv")}
    assert not train1 & actors[0]
    assert summary["split01/test"] == {label: 19 for label in range(6)}


def test_ravdess_keeps_video_only_speech_and_six_folds(tmp_path):
    root = tmp_path / "RAVDESS"
    for actor in range(1, 25):
        folder = _mk(root / "face_aligned" / f"Actor_{actor:02d}")
        for emo in range(1, 9):
            for modality in ("01", "02"):  # 01 = audio-video, dropped
                (folder / f"{modality}-01-{emo:02d}-01-01-01-{actor:02d}.mp4").write_bytes(b"")
        (folder / f"02-02-01-01-01-01-{actor:02d}.mp4").write_bytes(b"")  # song, dropped
    prepare("ravdess", root, tmp_path / "out")
    test6 = read_annotations(tmp_path / "out" / "split06" / "test.csv")
    assert len(test6) == 4 * 8 and {Path(i.path).stem[-2:] for i in test6} == {"21", "22", "23", "24"}
    assert sorted({i.label for i in test6}) == list(range(8))
    assert len(read_annotations(tmp_path / "out" / "split06" / "train.csv")) == 20 * 8


def test_enterface05(tmp_path):
    root = tmp_path / "eNTERFACE"
    emotions = ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]
    for subject in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15]:  # no subject 14, as the real set
        for emo in emotions:
            for sentence in (1, 2):
                _mk(
                    root
                    / "face_aligned"
                    / f"subject_{subject}"
                    / emo
                    / f"sentence_{sentence}"
                    / f"s{subject}_{emo[:2]}_{sentence}"
                )
    summary = prepare("enterface05", root, tmp_path / "out")
    assert [sum(summary[f"split0{k}/test"].values()) for k in range(1, 6)] == [
        36,
        36,
        36,
        36,
        24,
    ]  # 14 subjects: 3,3,3,3,2
    assert summary["split01/test"] == {label: 6 for label in range(6)}


def test_voxceleb2(tmp_path):
    root = tmp_path / "VoxCeleb2" / "dev" / "mp4"
    for spk in ("id00012", "id00015"):
        for yt in ("abc", "xyz"):
            for clip in ("00001", "00002"):
                (_mk(root / spk / yt) / f"{clip}.mp4").write_bytes(b"")
    summary = prepare("voxceleb2", tmp_path / "VoxCeleb2", tmp_path / "out")
    items = read_annotations(tmp_path / "out" / "pretrain.csv")
    assert len(items) == 8 and summary["pretrain"] == {0: 8} and items[0].path.endswith("id00012/abc/00001.mp4")
    assert not (tmp_path / "out" / "classes.txt").exists()
    with pytest.raises(PrepareError, match="no .mp4 files found"):
        prepare("voxceleb2", _mk(tmp_path / "empty"), tmp_path / "out2")
