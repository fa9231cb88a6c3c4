from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from maedfer.cli import main
from maedfer.data import synth, synth_faces
from maedfer.data.annotations import read_annotations
from maedfer.data.readers import open_clip
from maedfer.errors import MaedferError

SMALL = synth.SynthConfig(clips_per_class=4, pool_size=3, frames=16, pool_frames=20, size=48, identities=6)


def test_rendering_is_deterministic_and_seed_dependent():
    ident = synth.make_identity(np.random.default_rng(1))
    a = synth.render_clip(3, ident, 16, 48, np.random.default_rng(7))
    b = synth.render_clip(3, ident, 16, 48, np.random.default_rng(7))
    c = synth.render_clip(3, ident, 16, 48, np.random.default_rng(8))
    assert a.shape == (16, 48, 48, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_expressions_unfold_over_time():
    rng = np.random.default_rng(0)
    assert not synth.intensity_curve("neutral", 32, rng).any()
    for name in ("happy", "sad", "angry", "surprise", "disgust", "fear"):
        curves = np.stack([synth.intensity_curve(name, 32, np.random.default_rng(i)) for i in range(50)])
        assert curves.max() > 0.4 and (curves[:, 0] < curves.max(axis=1)).mean() > 0.6  # rises after the start

    # same apex face, different dynamics: surprise peaks within ~3 frames of its onset, fear over many
    def rise_time(c):
        return int(np.argmax(c)) - int(np.argmax(c > 0.1 * c.max()))

    rise = {
        name: np.mean([rise_time(synth.intensity_curve(name, 32, np.random.default_rng(i))) for i in range(50)])
        for name in ("surprise", "fear")
    }
    assert rise["surprise"] < 3 and rise["fear"] > 3 * rise["surprise"]
    assert synth.APEX["surprise"] == synth.APEX["fear"] and synth.APEX["angry"] == synth.APEX["disgust"]


def test_generate_writes_a_real_dataset_layout(tmp_path):
    summary = synth.generate(tmp_path / "a", SMALL)
    # 4 clips per class: identities 0..3 each show every class once; one identity is held out
    assert summary["splits"] == {"train": 21, "test": 7} and summary["pool"] == 3
    train = read_annotations(tmp_path / "a" / "train.csv", num_classes=7)
    test = read_annotations(tmp_path / "a" / "test.csv", num_classes=7)
    assert Counter(i.label for i in train + test) == {k: 4 for k in range(7)}  # balanced
    assert not {Path(i.path).name for i in train} & {Path(i.path).name for i in test}
    with open_clip(test[0].path) as r:
        assert len(r) == 16 and r.read([0]).shape == (1, 48, 48, 3)
    pool = read_annotations(tmp_path / "a" / "pretrain.csv")
    with open_clip(pool[0].path) as r:
        assert len(r) == 20 and pool[0].path.endswith(".mp4")
    assert (tmp_path / "a" / "classes.txt").read_text().split()[0] == "happy"
    assert (tmp_path / "a" / "contact_sheet.png").stat().st_size > 1000
    # deterministic: a second run writes identical frames
    synth.generate(tmp_path / "b", SMALL)
    frame = "frames/00005/00003.jpg"
    assert (tmp_path / "a" / frame).read_bytes() == (tmp_path / "b" / frame).read_bytes()


def test_ensure_generated_reuses_the_same_dataset_and_refuses_another(tmp_path):
    tiny = synth.SynthConfig(clips_per_class=2, pool_size=1, frames=8, pool_frames=8, size=32, identities=2)
    out = tmp_path / "d"
    assert synth.ensure_generated(out, tiny) is False
    frame = out / "frames" / "00000" / "00001.jpg"
    before = frame.stat().st_mtime_ns
    assert synth.ensure_generated(out, tiny) is True and frame.stat().st_mtime_ns == before  # not rendered again
    with pytest.raises(MaedferError, match=f"^{out}: holds another synthetic dataset"):
        synth.ensure_generated(
            out, synth.SynthConfig(clips_per_class=2, pool_size=1, frames=8, pool_frames=8, size=48, identities=2)
        )
    (out / "synth.json").write_text("{not json")
    with pytest.raises(MaedferError, match="damaged synth.json"):
        synth.ensure_generated(out, tiny)


def test_splits_are_identity_disjoint_and_folds_cover_everyone():
    cfg = synth.SynthConfig(clips_per_class=6, identities=6, folds=3)
    items = synth.labelled_items(cfg, Path("/x"))
    splits = synth.identity_splits(cfg, items)
    identity = {p: i for p, _, i in items}
    tested = set()
    for k in (1, 2, 3):
        train_ids = {identity[p] for p, _ in splits[f"split0{k}/train"]}
        test_ids = {identity[p] for p, _ in splits[f"split0{k}/test"]}
        assert not train_ids & test_ids and len(test_ids) == 2
        tested |= test_ids
    assert tested == set(range(6))


def test_synth_command(tmp_path, capsys):
    code = main(
        [
            "synth",
            "--out",
            str(tmp_path / "s"),
            "--clips-per-class",
            "2",
            "--pool",
            "2",
            "--frames",
            "8",
            "--pool-frames",
            "8",
            "--size",
            "32",
            "--identities",
            "4",
            "--folds",
            "2",
            "--workers",
            "2",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 's'}/split01/train.csv" in out and "2 unlabelled videos" in out
    assert len(read_annotations(tmp_path / "s" / "split02" / "test.csv")) == 7
    assert main(["synth", "--out", str(tmp_path / "t"), "--size", "33"]) == 2
    assert "--size must be even" in capsys.readouterr().err
    with pytest.raises(ValueError, match="folds must be 0"):
        synth.generate(tmp_path / "u", synth.SynthConfig(folds=1))


def test_version_3_expressions_move_brows_eyes_and_mouth_together():
    # the same person, head motion and light (same rng) at intensity 0 and at the apex: every
    # expression but neutral changes the upper face (brows, eyes) and the lower face (mouth)
    identity = synth_faces.make_identity3(np.random.default_rng(1))
    for name in synth.CLASSES:
        still = synth_faces.render_clip3(name, identity, np.zeros(2), 64, np.random.default_rng(2)).astype(float)
        apex = synth_faces.render_clip3(name, identity, np.ones(2), 64, np.random.default_rng(2)).astype(float)
        change = np.abs(apex - still).mean(axis=(0, 2, 3))  # per image row
        upper, lower = change[12:34].mean(), change[40:62].mean()
        if name == "neutral":
            assert upper == lower == 0
        else:
            assert upper > 5 and lower > 0.5, (name, upper, lower)
    # apex faces differ between every two classes (version 2 shared them in two pairs)
    faces = [tuple(sorted(synth_faces.APEX3[name].items())) for name in synth.CLASSES]
    assert len(set(faces)) == len(faces)


def test_version_3_is_textured_deterministic_and_version_2_still_renders(tmp_path):
    identity = synth_faces.make_identity3(np.random.default_rng(1))
    clip = synth_faces.render_clip3("happy", identity, np.zeros(4), 80, np.random.default_rng(3))
    assert np.array_equal(clip, synth_faces.render_clip3("happy", identity, np.zeros(4), 80, np.random.default_rng(3)))
    # few flat 8x8 patches: the per-tubelet normalised motion target of a flat patch is noise
    flat = []
    for i in range(8):
        person = synth_faces.make_identity3(np.random.default_rng(i))
        frame = synth_faces.render_clip3(synth.CLASSES[i % 7], person, np.zeros(1), 80, np.random.default_rng(i))[0]
        flat.append((frame.astype(float).reshape(10, 8, 10, 8, 3).std(axis=(1, 3)) < 2).mean())
    assert np.mean(flat) < 0.1
    # the pool, the labelled clips and the held-out videos show different people
    cfg = synth.SynthConfig(
        clips_per_class=2, pool_size=2, heldout_size=2, frames=8, pool_frames=8, size=32, identities=2
    )
    summary = synth.generate(tmp_path / "v3", cfg)
    assert summary["version"] == 3 and summary["heldout"] == 2
    assert len(read_annotations(tmp_path / "v3" / "heldout.csv")) == 2
    v2 = synth.generate(tmp_path / "v2", synth.SynthConfig(**{**cfg.__dict__, "version": 2}))
    assert v2["version"] == 2
    with open_clip(str(tmp_path / "v2" / "frames" / "00000")) as r:
        assert r.read([0]).shape == (1, 32, 32, 3)


def test_a_folder_of_an_older_version_is_refused_in_one_line(tmp_path):
    cfg = synth.SynthConfig(clips_per_class=2, pool_size=1, frames=8, pool_frames=8, size=32, identities=2)
    synth.generate(tmp_path / "old", synth.SynthConfig(**{**cfg.__dict__, "version": 2}))
    with pytest.raises(MaedferError, match=r"holds synthetic data of version 2, .* renders version 3") as e:
        synth.ensure_generated(tmp_path / "old", cfg)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="synth version must be one of 2, 3"):
        synth.generate(tmp_path / "x", synth.SynthConfig(version=4))


def test_an_ideal_render_is_the_same_clip_without_noise_light_and_rounding():
    cfg = synth.SynthConfig(size=48)
    identity = synth._identity(cfg, np.random.default_rng(1))
    curve = synth.intensity_curve("happy", 12, np.random.default_rng(2))
    real = synth_faces.render_clip3("happy", identity, curve, 48, np.random.default_rng(3))
    ideal = synth_faces.render_clip3("happy", identity, curve, 48, np.random.default_rng(3), ideal=True)
    assert real.dtype == np.uint8 and ideal.dtype == np.float32 and real.shape == ideal.shape
    assert not np.allclose(ideal, ideal.round())  # unrounded
    # the same scene: what differs is lighting (within 4 % of the drift's amplitude), noise, rounding
    diff = real.astype(np.float32) - ideal
    assert np.abs(diff).max() <= 0.045 * 255 + 6 * 0.002 * 255 + 1 and np.abs(diff).mean() < 4


def test_render_arrays_holds_the_dataset_in_memory():
    cfg = synth.SynthConfig(
        clips_per_class=2, pool_size=3, heldout_size=2, frames=4, pool_frames=5, size=16, identities=2
    )
    arrays = synth.render_arrays(cfg)
    assert arrays["pool"].shape == (3, 5, 16, 16, 3) and arrays["heldout"].shape == (2, 5, 16, 16, 3)
    assert arrays["labelled"].shape == (14, 4, 16, 16, 3) and arrays["pool"].dtype == np.uint8
    assert (arrays["labelled"][3] == synth.labelled_clip(cfg, 3)).all()
    assert (arrays["heldout"][1] == synth.unlabelled_clip(cfg, 1, synth.HELDOUT)).all()
    assert arrays["labels"].tolist() == [i % 7 for i in range(14)]
    # the train split is the files' one: identity-disjoint from the test clips
    items = synth.labelled_items(cfg, Path("frames"))
    train = {p for p, _ in synth.identity_splits(cfg, items)["train"]}
    assert arrays["train"].tolist() == [p in train for p, _, _ in items] and 0 < arrays["train"].sum() < 14
