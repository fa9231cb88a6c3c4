"""``maedfer prepare`` and ``maedfer check-data``."""
from __future__ import annotations

import argparse

from tqdm import tqdm

from ..data.annotations import read_annotations, write_annotations
from ..data.catalog import DATASETS
from ..data.check import check_clips, default_workers
from ..data.prepare import prepare


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="annotation files from a dataset's official layout")
    p.add_argument("name", choices=sorted(DATASETS), help="dataset")
    p.add_argument("--root", required=True, help="the dataset's top folder, as published")
    p.add_argument("--out", required=True, help="folder for the annotation files")
    p.set_defaults(run=run_prepare)

    c = sub.add_parser("check-data", help="read every clip of an annotation file and report bad ones")
    c.add_argument("annotation", help="annotation file ('<path> <label>' lines)")
    c.add_argument("--root", help="folder that relative paths are under (default: the file's folder)")
    c.add_argument("--strip-prefix", help="path prefix to drop first, e.g. the authors' /mnt/data1/...")
    c.add_argument("--min-frames", type=int, default=16, help="report clips shorter than this (default 16)")
    c.add_argument("--workers", type=int, default=default_workers(), help="decoding processes (0: none)")
    c.add_argument("--write-good", metavar="FILE", help="write the readable items to this annotation file")
    c.set_defaults(run=run_check)


def run_prepare(args: argparse.Namespace) -> int:
    summary = prepare(args.name, args.root, args.out)
    for split, counts in summary.items():
        per_label = " ".join(f"{label}:{counts[label]}" for label in sorted(counts))
        print(f"{args.out}/{split}.csv  {sum(counts.values())} clips  ({per_label})")
    return 0


def run_check(args: argparse.Namespace) -> int:
    items = read_annotations(args.annotation, root=args.root, strip_prefix=args.strip_prefix)
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
        write_annotations(args.write_good, good)
        print(f"wrote {len(good)} readable items to {args.write_good}")
    return 1 if bad else 0
