"""Annotation files from each dataset's own published layout and split files.

``prepare(name, root, out)`` writes, in the original format (``<path> <label>``, absolute
paths unless the clips lie below ``out``):
k-fold datasets ``out/split01/{train,test}.csv`` ... ; FERV39k ``out/{train,test}.csv``;
VoxCeleb2 ``out/pretrain.csv``; and ``out/classes.txt`` with the class names in label
order. Layouts (relative to ``root``) are those the datasets are published in (README, Data).

Folds of the lab datasets, which ship no split files, are subject-independent: subjects
sorted by id and cut into contiguous, near-equal groups (RAVDESS: 6 folds of 4 actors).
"""
from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import MaedferError
from ..files import output_dir, refuse_existing
from .annotations import Item, write_annotations
from .catalog import DatasetInfo, dataset_info
from .readers import VIDEO_SUFFIXES

Splits = dict[str, list[Item]]  # "split01/train" -> items


class PrepareError(MaedferError):
    """The dataset folder does not have the expected layout."""


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise PrepareError(f"{path}: {what} not found (is --root the dataset's top folder?)")
    return path


def _clip_path(path: Path, source: str) -> str:
    if not path.exists():
        raise PrepareError(f"{source}: lists clip {path.name}, but {path} does not exist")
    return str(path)


def _label(info: DatasetInfo, name: str, source: str) -> int:
    key = name.strip().lower()
    aliases = {c: i for i, c in enumerate(info.classes)}
    if key not in aliases:
        raise PrepareError(f"{source}: unknown {info.name} class {name!r} (expected one of {', '.join(info.classes)})")
    return aliases[key]


def _subject_folds(items_by_subject: dict[int, list[Item]], folds: int) -> Splits:
    subjects = sorted(items_by_subject)
    if len(subjects) < folds:
        raise PrepareError(f"found {len(subjects)} subjects, need at least {folds} for {folds} folds")
    splits: Splits = {}
    for k, test_subjects in enumerate(np.array_split(np.array(subjects), folds), 1):
        test = set(test_subjects.tolist())
        splits[f"split{k:02d}/train"] = [i for s in subjects if s not in test for i in items_by_subject[s]]
        splits[f"split{k:02d}/test"] = [i for s in subjects if s in test for i in items_by_subject[s]]
    return splits


def _is_clip(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() in VIDEO_SUFFIXES


# --- one function per dataset: (info, root) -> splits -----------------------------------

def _dfew(info: DatasetInfo, root: Path) -> Splits:
    clips = _require(root / "Clip" / "jpg_256", "DFEW clip folder Clip/jpg_256")
    split_dir = _require(root / "EmoLabel_DataSplit", "DFEW split folder EmoLabel_DataSplit")
    splits: Splits = {}
    for k in range(1, info.folds + 1):
        for part in ("train", "test"):
            file = _require(split_dir / f"{part}(single-labeled)" / f"set_{k}.csv", "DFEW split file")
            items = []
            with file.open(newline="") as f:
                for n, row in enumerate(csv.DictReader(f), 2):
                    try:
                        name, label = row["video_name"].strip(), int(row["label"])
                    except (KeyError, TypeError, ValueError):
                        raise PrepareError(f"{file}:{n}: expected columns video_name,label, got {row}") from None
                    if not 1 <= label <= info.num_classes:
                        raise PrepareError(f"{file}:{n}: DFEW label {label} out of range 1..{info.num_classes}")
                    name = f"{int(name):05d}" if name.isdigit() else name
                    items.append(Item(_clip_path(clips / name, f"{file}:{n}"), label - 1))
            splits[f"split{k:02d}/{part}"] = items
    return splits


def _ferv39k(info: DatasetInfo, root: Path) -> Splits:
    clips = _require(root / "2_ClipsforFaceCrop", "FERV39k clip folder 2_ClipsforFaceCrop")
    splits: Splits = {}
    for part in ("train", "test"):
        file = _require(root / "4_setups" / "All_scenes" / f"{part}_All.csv", "FERV39k split file")
        items = []
        for n, line in enumerate(file.read_text().splitlines(), 1):
            fields = [f for f in re.split(r"[\s,]+", line.strip()) if f]
            if not fields or (n == 1 and "/" not in fields[0]):
                continue  # blank line or header
            parts = fields[0].strip("/").split("/")
            if len(parts) < 3:
                raise PrepareError(f"{file}:{n}: expected a clip path <Scene>/<Emotion>/<id>, got {fields[0]!r}")
            scene, emotion, clip = parts[-3:]
            label = _label(info, emotion, f"{file}:{n}")
            items.append(Item(_clip_path(clips / scene / emotion / clip, f"{file}:{n}"), label))
        splits[part] = items
    return splits


def _mafw(info: DatasetInfo, root: Path) -> Splits:
    frames = _require(root / "data" / "frames", "MAFW frame folder data/frames")
    splits: Splits = {}
    for k in range(1, info.folds + 1):
        for part in ("train", "test"):
            file = _require(root / "split" / "single" / "no_caption" / f"set_{k}" / f"{part}.txt", "MAFW split file")
            items = []
            for n, line in enumerate(file.read_text().splitlines(), 1):
                fields = line.split()
                if not fields:
                    continue
                if len(fields) != 2:
                    raise PrepareError(f"{file}:{n}: expected '<clip> <emotion>', got {line!r}")
                name = Path(fields[0]).stem
                items.append(Item(_clip_path(frames / name, f"{file}:{n}"), _label(info, fields[1], f"{file}:{n}")))
            splits[f"split{k:02d}/{part}"] = items
    return splits


_CREMA_CODES = {"ANG": 0, "DIS": 1, "FEA": 2, "HAP": 3, "NEU": 4, "SAD": 5}


def _crema_d(info: DatasetInfo, root: Path) -> Splits:
    folder = _require(root / "face_aligned", "CREMA-D clip folder face_aligned")
    by_subject: dict[int, list[Item]] = {}
    for clip in sorted(p for p in folder.iterdir() if _is_clip(p)):
        m = re.fullmatch(r"(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})", Path(clip.name).stem)
        if not m or m.group(3) not in _CREMA_CODES:
            raise PrepareError(f"{clip}: not a CREMA-D clip name <actor>_<sentence>_<EMO>_<level>")
        by_subject.setdefault(int(m.group(1)), []).append(Item(str(clip), _CREMA_CODES[m.group(3)]))
    return _subject_folds(by_subject, info.folds)


def _ravdess(info: DatasetInfo, root: Path) -> Splits:
    folder = _require(root / "face_aligned", "RAVDESS clip folder face_aligned")
    by_subject: dict[int, list[Item]] = {}
    for actor in sorted(folder.glob("Actor_*")):
        for clip in sorted(p for p in actor.iterdir() if _is_clip(p)):
            fields = Path(clip.name).stem.split("-")
            if len(fields) != 7 or not all(f.isdigit() for f in fields):
                raise PrepareError(f"{clip}: not a RAVDESS file name (7 numeric fields MM-VV-EE-II-SS-RR-AA)")
            if fields[0] != "02" or fields[1] != "01":
                continue  # keep video-only (02) speech (01), as the original
            label = int(fields[2]) - 1
            if not 0 <= label < info.num_classes:
                raise PrepareError(f"{clip}: RAVDESS emotion {fields[2]} out of range 01..08")
            by_subject.setdefault(int(fields[6]), []).append(Item(str(clip), label))
    if not by_subject:
        raise PrepareError(f"{folder}: no RAVDESS video-only speech clips (02-01-*) in Actor_* folders")
    return _subject_folds(by_subject, info.folds)


def _enterface05(info: DatasetInfo, root: Path) -> Splits:
    folder = _require(root / "face_aligned", "eNTERFACE05 clip folder face_aligned")
    by_subject: dict[int, list[Item]] = {}
    for subject in sorted(folder.glob("subject_*")):
        m = re.fullmatch(r"subject_(\d+)", subject.name)
        if not m:
            continue
        for emotion in sorted(p for p in subject.iterdir() if p.is_dir()):
            label = _label(info, emotion.name, str(emotion))
            for clip in sorted(c for c in emotion.glob("sentence_*/*") if _is_clip(c)):
                by_subject.setdefault(int(m.group(1)), []).append(Item(str(clip), label))
    if not by_subject:
        raise PrepareError(f"{folder}: no clips under subject_N/<emotion>/sentence_K/")
    return _subject_folds(by_subject, info.folds)


def _voxceleb2(info: DatasetInfo, root: Path) -> Splits:
    videos = sorted(root.rglob("*.mp4"))
    if not videos:
        raise PrepareError(f"{root}: no .mp4 files found below it")
    return {"pretrain": [Item(str(v), 0) for v in videos]}


PREPARERS: dict[str, Callable[[DatasetInfo, Path], Splits]] = {
    "dfew": _dfew, "ferv39k": _ferv39k, "mafw": _mafw, "crema-d": _crema_d, "ravdess": _ravdess,
    "enterface05": _enterface05, "voxceleb2": _voxceleb2,
}


def prepare(name: str, root: str | Path, out: str | Path, overwrite: bool = False) -> dict[str, Counter]:
    """Write the annotation files of dataset ``name`` found at ``root`` into ``out``
    (existing ones are replaced only with ``overwrite``). Returns, per written split, the
    count of clips per label."""
    if name.lower() not in PREPARERS:
        raise PrepareError(f"no preparer for dataset {name!r}; known: {', '.join(PREPARERS)}")
    info = dataset_info(name)
    root = Path(root).resolve()
    if not root.is_dir():
        raise PrepareError(f"{root}: no such folder")
    splits = PREPARERS[info.name](info, root)
    out = output_dir(out)
    for split, items in splits.items():
        if not items:
            raise PrepareError(f"{info.name}: split {split} came out empty")
        refuse_existing(out / f"{split}.csv", overwrite, "annotation file")
    summary = {}
    for split, items in splits.items():
        write_annotations(out / f"{split}.csv", items)
        summary[split] = Counter(i.label for i in items)
    if info.classes:
        (out / "classes.txt").write_text("".join(f"{c}\n" for c in info.classes))
    return summary
