from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from maedfer.cli import main
from maedfer.data import synth
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
