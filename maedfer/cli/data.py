"""``maedfer prepare`` and ``maedfer check-data``."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from ..data.annotations import read_annotations, write_annotations
from ..data.catalog import LABELLED, dataset_info
from ..data.check import check_clips, default_workers, label_count
from ..data.face_clips import FacesSettings, make_face_clips
from ..data.pack import CROPS, PackSettings, pack_pool
from ..data.prepare import DATASET_NAMES, FaceStep, prepare
from ..data.synth import SynthConfig, generate
from ..errors import MaedferError
from ..faces.align import ALIGNS, FaceCrop
from ..faces.detectors import DETECTORS
from ..files import refuse_existing


def _face_options(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """How the face step finds and crops faces (``maedfer faces``, ``prepare --faces``)."""
    d = FacesSettings()
    p.add_argument(
        "--align",
        choices=ALIGNS,
        default=d.crop.align,
        help="landmarks: turned, scaled and moved so the face's rigid landmarks sit where OpenFace's "
        "-simalign puts them (default); eyes: the eye-cascade alignment of maedfer 0.x (needs a box "
        "detector; haar by default); box: the tracked, smoothed square box",
    )
    p.add_argument(
        "--size",
        type=int,
        default=d.crop.size,
        help=f"side of the face crops in pixels (default {d.crop.size}, as the authors' scripts)",
    )
    p.add_argument(
        "--margin",
        type=float,
        default=d.crop.margin,
        help=f"the crop's side is the face's x (1 + margin) (default {d.crop.margin}: the face fills 70 %% "
        "of it, as OpenFace's -simscale 0.7)",
    )
    p.add_argument(
        "--detector",
        choices=DETECTORS,
        default=None,
        help="landmarks: BlazeFace starts a track and the face's landmarks follow it (default; haar "
        "for --align eyes); haar, yunet: a box detector every few frames",
    )
    p.add_argument(
        "--detect-every",
        type=int,
        default=d.detect_every,
        help="a box detector looks at every n-th frame where the face stays put (1-8; the landmark "
        "tracker follows every frame)",
    )
    p.add_argument(
        "--min-coverage",
        type=float,
        default=d.min_coverage,
        help=f"leave out a video whose face is in view in fewer of its frames (default {d.min_coverage})",
    )
    p.add_argument("--workers", type=int, default=default_workers(), help="processes, one thread each (0: none)")


def _face_settings(args: argparse.Namespace) -> FacesSettings:
    _at_least(args.workers, 0, "--workers")
    return FacesSettings(
        FaceCrop(args.align, args.size, args.margin), args.detector, args.detect_every, args.min_coverage
    ).check()


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="annotation files from a dataset's official layout")
    p.add_argument("name", choices=sorted(DATASET_NAMES), help="dataset")
    p.add_argument("--root", required=True, help="the dataset's top folder, as published")
    p.add_argument("--out", required=True, help="folder for the annotation files")
    p.add_argument("--overwrite", action="store_true", help="replace annotation files that exist already")
    step = p.add_argument_group("the face step (crema-d, ravdess, enterface05 as published: whole-scene videos)")
    step.add_argument("--faces", metavar="DIR", help="make the face clips in DIR first (as maedfer faces; resumable)")
    _face_options(step)
    p.set_defaults(run=run_prepare)

    f = sub.add_parser(
        "faces",
        help="face clips from raw videos: the main face found, tracked, aligned and cropped, "
        "one JPEG per frame; resumable",
    )
    f.add_argument("source", help="a folder of videos (searched recursively), one video, or an annotation file")
    f.add_argument("--out", required=True, help="folder for the face clips, faces.csv and faces.json")
    _face_options(f)
    f.set_defaults(run=run_faces)

    c = sub.add_parser("check-data", help="read every clip of an annotation file and report bad ones")
    c.add_argument("annotation", help="annotation file ('<path> <label>' lines)")
    c.add_argument("--root", help="folder that relative paths are under (default: the file's folder)")
    c.add_argument("--strip-prefix", help="path prefix to drop first, e.g. the authors' /mnt/data1/...")
    c.add_argument(
        "--dataset",
        choices=LABELLED,
        help="check labels against this dataset's classes (default: "
        "classes.txt beside the file or in its parent folder)",
    )
    c.add_argument("--min-frames", type=int, default=16, help="report clips shorter than this (default 16)")
    c.add_argument("--workers", type=int, default=default_workers(), help="decoding processes (0: none)")
    c.add_argument("--write-good", metavar="FILE", help="write the readable items to this annotation file")
    c.set_defaults(run=run_check)

    k = sub.add_parser(
        "pack",
        help="rewrite a pool of videos into what pre-training reads fastest "
        "(the recipe's crop, every frame a key frame); resumable",
    )
    k.add_argument("source", help="a folder of videos (searched recursively), one video, or an annotation file")
    k.add_argument("--out", required=True, help="folder for the packed videos and their pretrain.csv")
    k.add_argument(
        "--crop",
        choices=CROPS,
        default="voxceleb2",
        help="voxceleb2: keep the recipe's top-centre SIZExSIZE region of each frame (default); "
        "none: keep whole frames",
    )
    k.add_argument(
        "--size", type=int, default=None, help="side of the voxceleb2 crop: the model's input_size (default 160)"
    )
    k.add_argument(
        "--crf", type=int, default=PackSettings.crf, help=f"x264 quality, lower is better (default {PackSettings.crf})"
    )
    k.add_argument("--workers", type=int, default=default_workers(), help="packing processes (0: none)")
    k.set_defaults(run=run_pack)

    d = SynthConfig()
    s = sub.add_parser("synth", help="generate the built-in synthetic face-expression dataset")
    s.add_argument("--out", required=True, help="folder to write it to")
    s.add_argument("--clips-per-class", type=int, default=d.clips_per_class, help="labelled clips per class")
    s.add_argument("--pool", type=int, default=d.pool_size, help="unlabelled mp4 videos for pre-training")
    s.add_argument("--frames", type=int, default=d.frames, help="frames per labelled clip")
    s.add_argument("--pool-frames", type=int, default=d.pool_frames, help="frames per pool video")
    s.add_argument("--size", type=int, default=d.size, help="frame side in pixels (even)")
    s.add_argument("--identities", type=int, default=d.identities, help="distinct faces in the labelled set")
    s.add_argument("--folds", type=int, default=d.folds, help="identity-disjoint folds (0: one train/test split)")
    s.add_argument("--seed", type=int, default=d.seed)
    s.add_argument("--workers", type=int, default=default_workers(), help="rendering processes (0: none)")
    s.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    s.set_defaults(run=run_synth)


def _at_least(value: int, low: int, flag: str) -> None:
    if value < low:
        raise MaedferError(f"{flag} must be at least {low}, got {value}")


def run_prepare(args: argparse.Namespace) -> int:
    settings = _face_settings(args)
    faces = FaceStep(Path(args.faces), settings, args.workers) if args.faces else None
    summary = prepare(args.name, args.root, args.out, overwrite=args.overwrite, faces=faces)
    for split, counts in summary.items():
        per_label = " ".join(f"{label}:{counts[label]}" for label in sorted(counts))
        print(f"{args.out}/{split}.csv  {sum(counts.values())} clips  ({per_label})")
    for note in summary.notes:
        print(note)
    return 0


def run_faces(args: argparse.Namespace) -> int:
    summary = make_face_clips(args.source, args.out, _face_settings(args), workers=args.workers)
    total = summary.made + summary.kept
    print(
        f"{summary.annotation}  {total} face clips ({summary.made} made now, {summary.kept} earlier), "
        f"{len(summary.left_out)} videos left out (why, per video: {summary.annotation.parent / 'faces.json'})"
    )
    return 0


def run_pack(args: argparse.Namespace) -> int:
    _at_least(args.workers, 0, "--workers")
    if args.size is not None and args.crop != "voxceleb2":
        raise MaedferError("--size is the side of the voxceleb2 crop; --crop none keeps whole frames")
    settings = PackSettings(args.crop, args.size or PackSettings.size, args.crf)
    summary = pack_pool(args.source, args.out, settings, workers=args.workers)
    total = summary.packed + summary.kept
    print(
        f"{summary.annotation}  {total} videos ({summary.packed} packed now, {summary.kept} earlier), "
        f"{summary.bytes / 2**20:.1f} MiB, {len(summary.skipped)} unreadable skipped (listed in "
        f"{summary.annotation.parent / 'pack.json'})"
    )
    return 0


def run_check(args: argparse.Namespace) -> int:
    _at_least(args.min_frames, 1, "--min-frames")
    _at_least(args.workers, 0, "--workers")
    num_classes = dataset_info(args.dataset).num_classes if args.dataset else label_count(args.annotation)
    items = read_annotations(args.annotation, root=args.root, strip_prefix=args.strip_prefix, num_classes=num_classes)
    bad, short, good = [], [], []
    reports = check_clips(items, workers=min(args.workers, len(items)))
    for report in tqdm(reports, total=len(items), desc="checking clips", unit="clip", disable=None):
        if not report.ok:
            bad.append(report)
        else:
            good.append(report.item)
            if report.frames < args.min_frames:
                short.append(report)
    for report in bad:
        print(f"unreadable  {report.problem}")
    for report in short:
        print(f"short       {report.item.path}: {report.frames} frames (< {args.min_frames}; frames will repeat)")
    print(f"checked {len(items)} clips: {len(good)} readable, {len(bad)} unreadable, {len(short)} short")
    if args.write_good:
        refuse_existing(args.write_good, False, "annotation file", "another file name")
        write_annotations(args.write_good, good)
        print(f"wrote {len(good)} readable items to {args.write_good}")
    return 1 if bad else 0


def run_synth(args: argparse.Namespace) -> int:
    for flag, value, low in (
        ("--clips-per-class", args.clips_per_class, 1),
        ("--pool", args.pool, 0),
        ("--frames", args.frames, 1),
        ("--pool-frames", args.pool_frames, 1),
        ("--size", args.size, 32),
        ("--identities", args.identities, 2),
        ("--folds", args.folds, 0),
        ("--workers", args.workers, 0),
    ):
        _at_least(value, low, flag)
    if args.size % 2:
        raise MaedferError(f"--size must be even (H.264 needs even frame sizes), got {args.size}")
    cfg = SynthConfig(
        clips_per_class=args.clips_per_class,
        pool_size=args.pool,
        frames=args.frames,
        pool_frames=args.pool_frames,
        size=args.size,
        identities=args.identities,
        folds=args.folds,
        seed=args.seed,
    )
    summary = generate(args.out, cfg, workers=args.workers, progress=True, overwrite=args.overwrite)
    for split, n in summary["splits"].items():
        print(f"{args.out}/{split}.csv  {n} labelled clips")
    if summary["pool"]:
        print(f"{args.out}/pretrain.csv  {summary['pool']} unlabelled videos")
    print(f"{args.out}/contact_sheet.png")
    return 0
