"""The fast pre-training data path: packed (all-intra) videos, single-threaded decoding in
workers, augmentation on the device, and the pool decoded once."""

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from maedfer.cli import main
from maedfer.config import ConfigError, resolve_config
from maedfer.data.annotations import Item, read_annotations, write_annotations
from maedfer.data.datasets import VideoDataset, repeat_collate
from maedfer.data.pack import PackError, PackSettings, pack_pool
from maedfer.data.pool_cache import DecodedPool
from maedfer.data.readers import VideoReader, VideoReadError, open_clip
from maedfer.data.synth import make_identity, render_clip
from maedfer.data.transforms import BatchedCropResize, DrawPretrainCrop, pretrain_transform
from maedfer.data.writers import write_video
from maedfer.engine.pretrain import augment_on_device


def _face_video(path, seed, frames=40, size=224):
    rng = np.random.default_rng(seed)
    clip = render_clip(seed % 7, make_identity(rng), frames, size, rng)
    write_video(path, clip, crf=23)  # one key frame, as VoxCeleb2's
    return clip


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    root = tmp_path_factory.mktemp("pool")
    for i in range(3):
        _face_video(root / "src" / f"id{i}" / "00001.mp4", i)
    (root / "src" / "id9").mkdir()
    (root / "src" / "id9" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(3000))
    return root


def test_an_all_intra_video_decodes_only_the_frames_asked_for(tmp_path):
    clip = _face_video(tmp_path / "gop.mp4", 0, frames=30, size=128)
    write_video(tmp_path / "intra.mp4", clip, keyframe_interval=1)
    with VideoReader(tmp_path / "gop.mp4", threads=1) as gop, VideoReader(tmp_path / "intra.mp4", threads=1) as intra:
        assert gop._intra is None and intra._intra is not None and len(intra) == 30
        wanted = [29, 3, 3, 17, 0]
        got = intra.read(wanted)
        assert got.shape == (5, 128, 128, 3)
        assert torch.equal(got, intra.read(list(range(30)))[wanted])  # out of order and repeated: as asked
        assert torch.equal(intra.read([5]), intra.read(list(range(30)))[[5]])  # reads after reads
        # both encodings hold the rendered frames within the codec's loss (x264 in yuv420p: chroma at half resolution)
        for decoded in (got, gop.read(wanted)):
            assert (decoded.float() - torch.from_numpy(clip[wanted]).float()).abs().mean() < 6


def test_pack_keeps_the_recipe_region_within_codec_tolerance_and_skips_bad_videos(pool, tmp_path, capsys):
    out = tmp_path / "packed"
    summary = pack_pool(pool / "src", out, PackSettings(), workers=0, progress=False)
    assert summary.packed == 3 and summary.kept == 0
    assert list(summary.skipped) == [str(pool / "src" / "id9" / "broken.mp4")]
    assert "skipped unreadable video" in capsys.readouterr().out
    items = read_annotations(out / "pretrain.csv")
    assert [Path(i.path).relative_to(out).as_posix() for i in items] == [f"id{i}/00001.mp4" for i in range(3)]
    record = json.loads((out / "pack.json").read_text())
    assert record["settings"] == {"crop": "voxceleb2", "size": 160, "crf": 18} and len(record["skipped"]) == 1
    for i, item in enumerate(items):
        with open_clip(pool / "src" / f"id{i}" / "00001.mp4") as raw, VideoReader(item.path, threads=1) as packed:
            assert packed._intra is not None and len(packed) == len(raw) == 40
            idx = [0, 7, 39]
            a, b = raw.read(idx)[:, :160, 32:192].float(), packed.read(idx).float()
            assert b.shape == (3, 160, 160, 3)
            psnr = 10 * np.log10(255**2 / ((a - b) ** 2).mean().item())
            assert psnr > 35, psnr  # codec tolerance: measured 38-40 dB at crf 18


def test_pack_resumes_after_a_full_disk_and_keeps_what_was_written(pool, tmp_path, monkeypatch):
    from maedfer.data import writers

    out = tmp_path / "packed"
    real_write, calls = writers.VideoWriter.write, {"n": 0}

    def full_after_50_frames(self, frame):
        calls["n"] += 1
        if calls["n"] > 50:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, frame)

    monkeypatch.setattr(writers.VideoWriter, "write", full_after_50_frames)
    with pytest.raises(PackError, match=r"No space left on device\); the 1 videos packed so far are kept: free space"):
        pack_pool(pool / "src", out, workers=0, progress=False)
    first = out / "id0" / "00001.mp4"
    assert first.is_file() and not (out / "id1" / "00001.mp4").exists()
    assert not list(out.rglob("*.partial.mp4"))  # no torn file left
    stamp = first.stat().st_mtime_ns
    monkeypatch.setattr(writers.VideoWriter, "write", real_write)
    summary = pack_pool(pool / "src", out, workers=0, progress=False)
    assert (summary.kept, summary.packed) == (1, 2) and first.stat().st_mtime_ns == stamp
    assert len(read_annotations(out / "pretrain.csv")) == 3


def test_pack_command_line(pool, tmp_path, capsys):
    out = tmp_path / "p"
    assert main(["pack", str(pool / "src"), "--out", str(out), "--workers", "2"]) == 0
    assert "3 videos (3 packed now, 0 earlier)" in capsys.readouterr().out
    assert main(["pack", str(pool / "src"), "--out", str(out), "--workers", "0"]) == 0
    assert "3 videos (0 packed now, 3 earlier)" in capsys.readouterr().out
    # other settings in the same folder, bad options, a missing source: one line each
    for argv, message in (
        (["--crop", "none"], "packed earlier with"),
        (["--crop", "none", "--size", "112"], "--size is the side of the voxceleb2 crop"),
        (["--size", "161"], "size must be an even number"),
        (["--crf", "60"], "crf must be in 0..51"),
    ):
        assert main(["pack", str(pool / "src"), "--out", str(out), *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("maedfer: error:") and message in err and err.count("\n") == 1
    # an output folder inside the source is not packed again by the next run
    inside = pool / "src" / "packed-here"
    assert main(["pack", str(pool / "src"), "--out", str(inside), "--workers", "0"]) == 0
    assert main(["pack", str(pool / "src"), "--out", str(inside), "--workers", "0"]) == 0
    assert "3 videos (0 packed now, 3 earlier)" in capsys.readouterr().out
    assert len(read_annotations(inside / "pretrain.csv")) == 3
    import shutil

    shutil.rmtree(inside)
    assert main(["pack", str(tmp_path / "nowhere"), "--out", str(tmp_path / "q")]) == 2
    assert "no such folder, video or annotation file" in capsys.readouterr().err
    # whole frames of any folder of videos, from an annotation file
    write_annotations(tmp_path / "list.csv", [Item(str(pool / "src" / "id1" / "00001.mp4"), 0)])
    assert main(["pack", str(tmp_path / "list.csv"), "--out", str(tmp_path / "whole"), "--crop", "none"]) == 0
    with open_clip(tmp_path / "whole" / "00001.mp4") as r:
        assert r.read([0]).shape == (1, 224, 224, 3)


def test_device_augmentation_equals_the_loaders_under_the_same_draws(pool):
    """The same clips, crops and masks whichever side augments; on the CPU the float
    operations are the same too (tolerance 1e-5 of normalised pixel values)."""
    from maedfer.registry import create_model

    masking = create_model("mae_dfer_tiny").masking
    items = [Item(str(p), 0) for p in sorted((pool / "src").glob("id[0-2]/*.mp4"))]
    for voxceleb_crop, size in ((True, 160), (False, 112)):
        loader = VideoDataset(items, pretrain_transform(size, voxceleb_crop), masking=masking, repeats=2, stride=2)
        split = VideoDataset(items, DrawPretrainCrop(size, voxceleb_crop), masking=masking, repeats=2, stride=2)
        for ds in (loader, split):
            ds.set_seed(7)
        a = repeat_collate([loader[i] for i in range(3)])
        b = repeat_collate([split[i] for i in range(3)])
        frames, crops = b[0]
        side = size if voxceleb_crop else 224  # whole frames stay whole until the device crops them
        assert frames.dtype == torch.uint8 and frames.shape == (6, 16, side, side, 3) and crops.shape == (6, 4)
        assert len({tuple(c) for c in crops.tolist()}) > 1  # several crop sizes in one batch
        x = BatchedCropResize(size)(frames, crops)
        assert x.shape == a[0].shape == (6, 3, 16, size, size)
        assert (x - a[0]).abs().max() < 1e-5
        assert torch.equal(a[1], b[1])  # the same masks


def test_pool_decoded_once_reads_the_same_frames_and_is_reused(pool, tmp_path):
    items = [Item(str(p), 0) for p in sorted((pool / "src").glob("id[0-2]/*.mp4"))]
    cache = tmp_path / "pool.u8"
    decoded = DecodedPool.build(items, str(cache), workers=2, progress=False)
    assert len(decoded) == 3 and decoded.nbytes == 3 * 40 * 224 * 224 * 3 and cache.is_file()
    with open_clip(items[1].path) as reader, decoded.reader(1) as cached:
        assert torch.equal(reader.read([0, 5, 39]), cached.read([0, 5, 39]))
    stamp = cache.stat().st_mtime_ns
    again = DecodedPool.build(items, str(cache), progress=False)  # unchanged videos: reused, not decoded
    assert cache.stat().st_mtime_ns == stamp and again.entries == decoded.entries
    plain = VideoDataset(items, pretrain_transform(160), stride=2)
    cached = VideoDataset(items, pretrain_transform(160), stride=2, cache=again)
    plain.set_seed(1)
    cached.set_seed(1)
    assert torch.equal(plain[2], cached[2])
    ram = DecodedPool.build(items, "ram", progress=False)
    assert not ram.path.exists() and torch.equal(ram.reader(0).read([3]), decoded.reader(0).read([3]))
    # a bad video: one line when building, or recorded and skipped
    bad = items + [Item(str(pool / "src" / "id9" / "broken.mp4"), 0)]
    with pytest.raises(VideoReadError, match="broken.mp4: cannot open video"):
        DecodedPool.build(bad, "ram", progress=False)
    skipping = DecodedPool.build(bad, str(tmp_path / "skip.u8"), on_error="skip", progress=False)
    with pytest.raises(VideoReadError, match="broken.mp4"):
        skipping.reader(3)
    ds = VideoDataset(bad, pretrain_transform(160), stride=2, cache=skipping, on_error="skip")
    assert ds[3].shape == (3, 16, 160, 160) and list(ds.skipped) == [bad[3].path]


def test_pretrain_with_device_augmentation_and_a_cached_pool_learns_the_same_as_the_loader_path(tmp_path):
    """On the CPU (augment_on device runs in the main process) the two paths end with the
    same weights: same clips, crops and masks, same float operations; over 2 epochs, read by
    2 persistent loader workers on one side and none on the other (the epoch reaches the
    workers with the indices)."""
    from maedfer.checkpoint import read_checkpoint
    from maedfer.data import synth

    data = tmp_path / "data"
    synth.generate(
        data, synth.SynthConfig(clips_per_class=2, pool_size=8, frames=16, pool_frames=20, size=48, identities=2)
    )
    args = [
        "pretrain",
        "--preset",
        "synth-tiny-pretrain",
        "--set",
        f"data={data / 'pretrain.csv'}",
        "--set",
        "epochs=2",
        "--set",
        "batch_size=4",
        "--set",
        "warmup_epochs=0.5",
        "--set",
        "repeated_aug=2",
        "--set",
        "figure_every=2",
    ]
    assert (
        main([*args, "--set", f"output_dir={tmp_path / 'loader'}", "--set", "augment_on=loader", "--set", "workers=0"])
        == 0
    )
    assert (
        main(
            [
                *args,
                "--set",
                f"output_dir={tmp_path / 'device'}",
                "--set",
                "augment_on=device",
                "--set",
                f"pool_cache={tmp_path / 'pool.u8'}",
                "--set",
                "workers=2",
            ]
        )
        == 0
    )
    a = read_checkpoint(tmp_path / "loader" / "checkpoint-last.pth")["model"]
    b = read_checkpoint(tmp_path / "device" / "checkpoint-last.pth")["model"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6, rtol=0) for k in a)
    assert (tmp_path / "pool.u8").is_file() and (
        tmp_path / "device" / "figures" / "reconstruction-epoch002.png"
    ).is_file()


def test_augment_on_setting():
    assert augment_on_device("auto", torch.device("cpu")) is False
    assert augment_on_device("auto", torch.device("cuda", 0)) is True
    assert augment_on_device("device", torch.device("cpu")) is True
    assert augment_on_device("loader", torch.device("cuda", 0)) is False
    with pytest.raises(ConfigError, match="augment_on must be one of auto, loader, device"):
        resolve_config("pretrain", overrides={"augment_on": "gpu"})


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_device_augmentation_on_a_gpu_matches_the_loaders_on_the_cpu(pool):
    """The GPU's bilinear resize rounds differently from the CPU's: 1e-4 of normalised pixel
    values (about 0.006 of a grey level) is the tolerance."""
    items = [Item(str(p), 0) for p in sorted((pool / "src").glob("id[0-2]/*.mp4"))]
    loader = VideoDataset(items, pretrain_transform(160), repeats=4)
    split = VideoDataset(items, DrawPretrainCrop(160), repeats=4)
    for ds in (loader, split):
        ds.set_seed(3)
    a = repeat_collate([loader[i] for i in range(3)])
    frames, crops = repeat_collate([split[i] for i in range(3)])
    x = BatchedCropResize(160)(frames.cuda(), crops)
    assert x.device.type == "cuda" and x.shape == a.shape
    assert (x.cpu() - a).abs().max() < 1e-4
